package csi_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/mount-utils"
	"k8s.io/utils/exec"
	exectesting "k8s.io/utils/exec/testing"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
)

// expect is a command the host fabric must run, exactly, and what it answers.
type expect struct {
	// argv is the command line.
	argv []string
	// out is its output.
	out string
	// exit is its exit status; 0 succeeds.
	exit int
}

// fakeHost is a FakeExec that fails the test on any command line other than those expected,
// in that order.
func fakeHost(t *testing.T, cmds ...expect) *exectesting.FakeExec {
	t.Helper()
	fe := &exectesting.FakeExec{ExactOrder: true}
	for _, c := range cmds {
		fe.CommandScript = append(fe.CommandScript, func(string, ...string) exec.Cmd {
			return &exectesting.FakeCmd{Argv: c.argv, CombinedOutputScript: []exectesting.FakeAction{func() ([]byte, []byte, error) {
				if c.exit != 0 {
					return []byte(c.out), nil, exectesting.FakeExitError{Status: c.exit}
				}
				return []byte(c.out), nil, nil
			}}}
		})
	}
	t.Cleanup(func() {
		if fe.CommandCalls != len(cmds) {
			t.Errorf("ran %d of the %d commands expected", fe.CommandCalls, len(cmds))
		}
	})
	return fe
}

var target = csi.ISCSITarget{IQN: "iqn.1992-08.com.netapp:sn.1234:vs.5", Portals: []string{"10.0.0.1:3260", "10.0.0.2:3260"}}

// TestHostFabricISCSI checks the iscsiadm command lines of a login and a logout through two
// portals, where one session exists already and one is gone already.
func TestHostFabricISCSI(t *testing.T) {
	fe := fakeHost(t,
		expect{argv: []string{"iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", "10.0.0.1:3260"}},
		expect{argv: []string{"iscsiadm", "-m", "node", "-T", target.IQN, "-p", "10.0.0.1:3260", "--login"}},
		expect{argv: []string{"iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", "10.0.0.2:3260"}},
		expect{argv: []string{"iscsiadm", "-m", "node", "-T", target.IQN, "-p", "10.0.0.2:3260", "--login"}, out: "iscsiadm: default: 1 session requested, but 1 already present.", exit: 15},
		expect{argv: []string{"iscsiadm", "-m", "node", "-T", target.IQN, "-p", "10.0.0.1:3260", "--logout"}},
		expect{argv: []string{"iscsiadm", "-m", "node", "-T", target.IQN, "-p", "10.0.0.2:3260", "--logout"}, out: "iscsiadm: No matching sessions found", exit: 21},
	)
	f := csi.NewHostFabric(csi.HostFabricConfig{Exec: fe, Mounter: mount.NewFakeMounter(nil), Root: t.TempDir()})
	if err := f.LoginISCSI(t.Context(), target); err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := f.LogoutISCSI(t.Context(), target); err != nil {
		t.Fatalf("logout: %v", err)
	}
}

// TestHostFabricLoginFails checks that a login that no portal lets in fails, saying why.
func TestHostFabricLoginFails(t *testing.T) {
	one := csi.ISCSITarget{IQN: target.IQN, Portals: target.Portals[:1]}
	fe := fakeHost(t,
		expect{argv: []string{"iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", "10.0.0.1:3260"}},
		expect{argv: []string{"iscsiadm", "-m", "node", "-T", target.IQN, "-p", "10.0.0.1:3260", "--login"}, out: "iscsiadm: initiator reported error (24 - iSCSI login failed due to authorization failure)", exit: 24},
	)
	f := csi.NewHostFabric(csi.HostFabricConfig{Exec: fe, Mounter: mount.NewFakeMounter(nil), Root: t.TempDir()})
	err := f.LoginISCSI(t.Context(), one)
	if err == nil || !contains(err.Error(), "authorization failure") {
		t.Fatalf("login: %v, want the authorization failure", err)
	}
}

// TestHostFabricDevices checks that a LUN's device is found by the udev link of its NAA
// identifier (600a0980, then the serial in hexadecimal), that one not there yet is rescanned
// for and reported missing, and the sysfs writes and commands of a rescan and a detach.
func TestHostFabricDevices(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"dev/disk/by-id", "sys/block/sdb/device"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "dev/sdb"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The serial 80C0X+Ff2bEa, in hexadecimal.
	if err := os.Symlink("../../sdb", filepath.Join(root, "dev/disk/by-id/scsi-3600a098038304330582b466632624561")); err != nil {
		t.Fatal(err)
	}
	fe := fakeHost(t,
		expect{argv: []string{"iscsiadm", "-m", "session", "--rescan"}},
		expect{argv: []string{"blockdev", "--flushbufs", "/dev/sdb"}},
	)
	f := csi.NewHostFabric(csi.HostFabricConfig{Exec: fe, Mounter: mount.NewFakeMounter(nil), Root: root})
	dev, err := f.FindLUN(t.Context(), target, 0, "80C0X+Ff2bEa")
	if err != nil || dev != "/dev/sdb" {
		t.Fatalf("FindLUN = %q, %v; want /dev/sdb", dev, err)
	}
	if _, err := f.FindLUN(t.Context(), target, 1, "80C0X+Ff2bEb"); !errors.Is(err, csi.ErrNoDevice) {
		t.Fatalf("FindLUN of a LUN not there: %v, want ErrNoDevice", err)
	}
	if err := f.RescanISCSI(t.Context(), dev); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "sys/block/sdb/device/rescan")); err != nil || string(b) != "1" {
		t.Errorf("rescan wrote %q, %v; want 1 in /sys/block/sdb/device/rescan", b, err)
	}
	if err := f.DetachLUN(t.Context(), dev); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "sys/block/sdb/device/delete")); err != nil || string(b) != "1" {
		t.Errorf("detach wrote %q, %v; want 1 in /sys/block/sdb/device/delete", b, err)
	}
	// A device that is gone is detached.
	if err := f.DetachLUN(t.Context(), "/dev/sdc"); err != nil {
		t.Errorf("detach of a device that is gone: %v", err)
	}
}

// TestHostFabricNFS checks the NFS mount: server:path, type nfs, the capability's options and
// ro; an IPv6 server in brackets.
func TestHostFabricNFS(t *testing.T) {
	m := mount.NewFakeMounter(nil)
	f := csi.NewHostFabric(csi.HostFabricConfig{Exec: fakeHost(t), Mounter: m, Root: t.TempDir()})
	if err := f.MountNFS(t.Context(), "10.0.0.9", "/trident_pvc_1", "/staging/a", true, []string{"nfsvers=4.1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.MountNFS(t.Context(), "fd00::9", "/trident_pvc_2", "/staging/b", false, nil); err != nil {
		t.Fatal(err)
	}
	mps, _ := m.List()
	want := []mount.MountPoint{
		{Device: "10.0.0.9:/trident_pvc_1", Path: "/staging/a", Type: "nfs", Opts: []string{"nfsvers=4.1", "ro"}},
		{Device: "[fd00::9]:/trident_pvc_2", Path: "/staging/b", Type: "nfs"},
	}
	if len(mps) != len(want) {
		t.Fatalf("mounts %+v, want %+v", mps, want)
	}
	for i := range want {
		if mps[i].Device != want[i].Device || mps[i].Path != want[i].Path || mps[i].Type != want[i].Type || !slices.Equal(mps[i].Opts, want[i].Opts) {
			t.Errorf("mount %d: %+v, want %+v", i, mps[i], want[i])
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
