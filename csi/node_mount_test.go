package csi_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
)

// These tests mount for real: bind mounts of exported directories, and ext4 on loop devices.

// TestNodeNFS walks an NFS volume through stage, publish, a write from the pod's side,
// unpublish and unstage, each one twice.
func TestNodeNFS(t *testing.T) {
	requireRoot(t)
	e := newNodeEnv(t)
	dir, pc := e.nfsVolume(t, "pvc_1", false)
	ok(t, "stage", e.stage(t, "pvc-1", pc, rwo))
	ok(t, "stage again", e.stage(t, "pvc-1", pc, rwo))
	if n := mounts(t, e.path("staging/pvc-1")); n != 1 {
		t.Fatalf("%d mounts at the staging path, want 1", n)
	}
	ok(t, "publish", e.publish(t, "pvc-1", rwo, false))
	ok(t, "publish again", e.publish(t, "pvc-1", rwo, false))
	must(t, os.WriteFile(e.path("pods/pvc-1/hello"), []byte("from the pod"), 0o644))
	if b, err := os.ReadFile(dir + "/hello"); err != nil || string(b) != "from the pod" {
		t.Fatalf("the volume holds %q, %v; want what the pod wrote", b, err)
	}
	ok(t, "unpublish", e.unpublish(t, "pvc-1"))
	ok(t, "unpublish again", e.unpublish(t, "pvc-1"))
	ok(t, "unstage", e.unstage(t, "pvc-1"))
	ok(t, "unstage again", e.unstage(t, "pvc-1"))
	if mounts(t, e.path("staging/pvc-1"))+mounts(t, e.path("pods/pvc-1")) != 0 {
		t.Fatal("a mount is left")
	}
	if _, err := os.Stat(e.path("pods/pvc-1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the target path is left: %v", err)
	}
}

// TestNodeNFSReadOnly checks that a mirror destination (readOnly=true in the publish context)
// asked for writing is mounted read-only, and that an export whose rules do not admit the node
// is FailedPrecondition naming the export policy.
func TestNodeNFSReadOnly(t *testing.T) {
	requireRoot(t)
	e := newNodeEnv(t)
	_, pc := e.nfsVolume(t, "pvc_dp", true)
	ok(t, "stage", e.stage(t, "pvc-dp", pc, rwo))
	ok(t, "publish", e.publish(t, "pvc-dp", rwo, false))
	if err := os.WriteFile(e.path("pods/pvc-dp/x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write to a mirror destination: %v, want EROFS", err)
	}

	_, pc = e.nfsVolume(t, "pvc_other", false)
	e.sim.export("10.0.0.1", "/trident_pvc_other", e.path("exports/pvc_other"), false, "10.9.9.9")
	wantCode(t, "stage", e.stage(t, "pvc-other", pc, rwo), codes.FailedPrecondition, "export policy")
}

// TestNodeStageConflicts checks that a staging path that holds the volume with another
// read-only state, or something else, is refused.
func TestNodeStageConflicts(t *testing.T) {
	requireRoot(t)
	e := newNodeEnv(t)
	_, pc := e.nfsVolume(t, "pvc_1", false)
	ok(t, "stage read-only", e.stage(t, "pvc-1", pc, csispec.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY))
	wantCode(t, "stage for writing", e.stage(t, "pvc-1", pc, rwo), codes.AlreadyExists, "readOnly=true")

	// A mount that no stage of this volume made.
	_, pc2 := e.nfsVolume(t, "pvc_2", false)
	must(t, os.MkdirAll(e.path("staging/pvc-2"), 0o755))
	must(t, syscall.Mount(e.path("exports/pvc_1"), e.path("staging/pvc-2"), "", syscall.MS_BIND, ""))
	wantCode(t, "stage on a foreign mount", e.stage(t, "pvc-2", pc2, rwo), codes.FailedPrecondition, "not by a stage of volume pvc-2")
}

// TestNodeSAN walks an iSCSI volume through stage (format), publish, a write, unstage, and a
// new stage that finds what was written; the loop device goes with the unstage.
func TestNodeSAN(t *testing.T) {
	requireRoot(t)
	e := newNodeEnv(t)
	image, pc := e.sanVolume(t, 0, "80C0X+Ff2bEa", 64<<20, false)
	ok(t, "stage", e.stage(t, "pvc-1", pc, rwo))
	ok(t, "stage again", e.stage(t, "pvc-1", pc, rwo))
	if n := mounts(t, e.path("staging/pvc-1")); n != 1 {
		t.Fatalf("%d mounts at the staging path, want 1", n)
	}
	ok(t, "publish", e.publish(t, "pvc-1", rwo, false))
	must(t, os.WriteFile(e.path("pods/pvc-1/hello"), []byte("kept"), 0o644))
	ok(t, "unpublish", e.unpublish(t, "pvc-1"))
	ok(t, "unstage", e.unstage(t, "pvc-1"))
	ok(t, "unstage again", e.unstage(t, "pvc-1"))
	if l := loops(t, image); l != "" {
		t.Fatalf("loop device left after unstage: %s", l)
	}

	ok(t, "stage after unstage", e.stage(t, "pvc-1", pc, rwo))
	ok(t, "publish", e.publish(t, "pvc-1", rwo, true))
	if b, err := os.ReadFile(e.path("pods/pvc-1/hello")); err != nil || string(b) != "kept" {
		t.Fatalf("after a new stage the volume holds %q, %v; want what was written", b, err)
	}
	if err := os.WriteFile(e.path("pods/pvc-1/x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write to a read-only publish: %v, want EROFS", err)
	}
	ok(t, "unpublish", e.unpublish(t, "pvc-1"))
	ok(t, "unstage", e.unstage(t, "pvc-1"))
}

// TestNodeSANReadOnly checks that a mirror destination's LUN is staged read-only whatever the
// access mode, and that a blank one is not formatted but refused.
func TestNodeSANReadOnly(t *testing.T) {
	requireRoot(t)
	e := newNodeEnv(t)
	_, pc := e.sanVolume(t, 0, "80C0X+Ff2bEa", 64<<20, false)
	ok(t, "stage", e.stage(t, "pvc-1", pc, rwo))
	ok(t, "unstage", e.unstage(t, "pvc-1"))
	pc["readOnly"] = "true"
	ok(t, "stage read-only", e.stage(t, "pvc-1", pc, rwo))
	ok(t, "publish", e.publish(t, "pvc-1", rwo, false))
	if err := os.WriteFile(e.path("pods/pvc-1/x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write to a mirror destination: %v, want EROFS", err)
	}

	_, blank := e.sanVolume(t, 1, "80C0X+Ff2bEb", 64<<20, true)
	wantCode(t, "stage a blank destination", e.stage(t, "pvc-2", blank, rwo), codes.FailedPrecondition, "blank")
	ok(t, "unstage the refused stage", e.unstage(t, "pvc-2"))
}

// TestNodeSANMirrorOfMounted: a mirror destination's LUN is its source's at a snapshot taken
// while the source was mounted, so its ext4 journal may need recovery, which a read-only device
// cannot take; it stages read-only all the same (the journal is not replayed). What it shows is
// the source as of its last journal checkpoint; a source frozen for the snapshot (fsfreeze, as
// an application-consistent snapshot is taken) shows everything written before.
func TestNodeSANMirrorOfMounted(t *testing.T) {
	// Linux's FIFREEZE and FITHAW, _IOWR('X', 119 and 120, int); x/sys/unix does not name them.
	const fiFreeze, fiThaw = 0xC0045877, 0xC0045878
	requireRoot(t)
	e := newNodeEnv(t)
	src, pc := e.sanVolume(t, 0, "80C0X+Ff2bEa", 64<<20, false)
	ok(t, "stage", e.stage(t, "pvc-1", pc, rwo))
	ok(t, "publish", e.publish(t, "pvc-1", rwo, false))
	f, err := os.Create(e.path("pods/pvc-1/orders.db"))
	must(t, err)
	_, err = f.WriteString("order 1\n")
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	// snapshot copies the source's image, as it is, into a read-only LUN's image.
	snapshot := func(number int, serial, id string) {
		t.Helper()
		dst, dpc := e.sanVolume(t, number, serial, 64<<20, true)
		data, err := os.ReadFile(src)
		must(t, err)
		must(t, os.WriteFile(dst, data, 0o600))
		ok(t, "stage the destination "+id+" read-only", e.stage(t, id, dpc, rwo))
		ok(t, "publish the destination "+id, e.publish(t, id, rwo, false))
	}
	snapshot(1, "80C0X+Ff2bEb", "pvc-2") // needs_recovery: would not mount read-only with a replay
	if _, err := os.ReadDir(e.path("pods/pvc-2")); err != nil {
		t.Errorf("the crash-consistent destination's root: %v", err)
	}
	root, err := os.Open(e.path("pods/pvc-1"))
	must(t, err)
	defer root.Close()
	must(t, unix.IoctlSetInt(int(root.Fd()), fiFreeze, 0))
	snapshot(2, "80C0X+Ff2bEc", "pvc-3")
	must(t, unix.IoctlSetInt(int(root.Fd()), fiThaw, 0))
	if b, err := os.ReadFile(e.path("pods/pvc-3/orders.db")); err != nil || string(b) != "order 1\n" {
		t.Errorf("the frozen source's destination: orders.db %q, %v", b, err)
	}
}

// TestNodeDeviceNeverAppears checks that a LUN the target does not map to the node is NotFound
// once the wait for its device ends.
func TestNodeDeviceNeverAppears(t *testing.T) {
	requireRoot(t)
	e := newNodeEnv(t)
	_, pc := e.sanVolume(t, 0, "80C0X+Ff2bEa", 64<<20, false)
	pc["lunSerial"] = "80C0X+Ff2bEz"
	wantCode(t, "stage", e.stage(t, "pvc-1", pc, rwo), codes.NotFound, "did not appear")
	ok(t, "unstage", e.unstage(t, "pvc-1"))
}

// crashingMounter fails the first mount of a device, as a node that crashed between the
// format and the mount would have left it.
type crashingMounter struct {
	mount.Interface
	crashed atomic.Bool
}

func (m *crashingMounter) crash(source string) error {
	if strings.HasPrefix(source, "/dev/") && m.crashed.CompareAndSwap(false, true) {
		return errors.New("the node crashed before the mount")
	}
	return nil
}

func (m *crashingMounter) Mount(source, target, fstype string, options []string) error {
	if err := m.crash(source); err != nil {
		return err
	}
	return m.Interface.Mount(source, target, fstype, options)
}

func (m *crashingMounter) MountSensitive(source, target, fstype string, options, sensitive []string) error {
	if err := m.crash(source); err != nil {
		return err
	}
	return m.Interface.MountSensitive(source, target, fstype, options, sensitive)
}

// countingExec counts the filesystems made.
type countingExec struct {
	utilexec.Interface
	mkfs atomic.Int32
}

func (e *countingExec) Command(cmd string, args ...string) utilexec.Cmd {
	if strings.HasPrefix(cmd, "mkfs") {
		e.mkfs.Add(1)
	}
	return e.Interface.Command(cmd, args...)
}

func (e *countingExec) CommandContext(ctx context.Context, cmd string, args ...string) utilexec.Cmd {
	if strings.HasPrefix(cmd, "mkfs") {
		e.mkfs.Add(1)
	}
	return e.Interface.CommandContext(ctx, cmd, args...)
}

// TestNodeSANCrashAfterFormat checks that a stage cut short between the format and the mount
// completes on the next call, without a second format.
func TestNodeSANCrashAfterFormat(t *testing.T) {
	requireRoot(t)
	m := &crashingMounter{Interface: mount.New("")}
	x := &countingExec{Interface: utilexec.New()}
	e := newNodeEnv(t, func(c *csi.NodeConfig) { c.Mounter, c.Exec = m, x })
	_, pc := e.sanVolume(t, 0, "80C0X+Ff2bEa", 64<<20, false)
	if err := e.stage(t, "pvc-1", pc, rwo); err == nil || !strings.Contains(err.Error(), "crashed") {
		t.Fatalf("stage: %v, want the crash", err)
	}
	ok(t, "stage again", e.stage(t, "pvc-1", pc, rwo))
	if n := x.mkfs.Load(); n != 1 {
		t.Errorf("%d formats, want 1", n)
	}
	if n := mounts(t, e.path("staging/pvc-1")); n != 1 {
		t.Errorf("%d mounts at the staging path, want 1", n)
	}
	ok(t, "unstage", e.unstage(t, "pvc-1"))
}

// TestNodeSANExpand grows a LUN's image and checks that NodeExpandVolume grows the filesystem
// and that the volume's stats show it.
func TestNodeSANExpand(t *testing.T) {
	requireRoot(t)
	e := newNodeEnv(t)
	image, pc := e.sanVolume(t, 0, "80C0X+Ff2bEa", 64<<20, false)
	ok(t, "stage", e.stage(t, "pvc-1", pc, rwo))
	ok(t, "publish", e.publish(t, "pvc-1", rwo, false))
	before := totalBytes(t, e, "pvc-1")
	must(t, os.Truncate(image, 256<<20))
	resp, err := e.node.NodeExpandVolume(t.Context(), &csispec.NodeExpandVolumeRequest{
		VolumeId: "pvc-1", VolumePath: e.path("pods/pvc-1"), CapacityRange: &csispec.CapacityRange{RequiredBytes: 256 << 20}, VolumeCapability: mountCap(rwo),
	})
	if !capable(t, capSysResource) {
		// ext4 grows online only for a process with CAP_SYS_RESOURCE (a node plugin runs
		// privileged). Without it, the rescan is still checked: the device took the new size.
		wantCode(t, "expand without CAP_SYS_RESOURCE", err, codes.Internal, "resize")
		dev := strings.TrimSuffix(strings.Fields(loops(t, image))[0], ":")
		out, err := exec.Command("blockdev", "--getsize64", dev).Output()
		if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(256<<20) {
			t.Fatalf("after the rescan %s has %s bytes (%v), want %d", dev, out, err, 256<<20)
		}
		t.Skip("the device grew, but ext4 cannot grow online here: this process lacks CAP_SYS_RESOURCE")
	}
	ok(t, "expand", err)
	after := totalBytes(t, e, "pvc-1")
	if after < 3*before || resp.GetCapacityBytes() != after {
		t.Fatalf("filesystem of %d bytes before, %d after (expand said %d); want about 4 times bigger", before, after, resp.GetCapacityBytes())
	}
}

// capSysResource is the capability that growing ext4 online needs.
const capSysResource = 24

// capable reports whether this process has a capability in its effective set.
func capable(t *testing.T, c uint) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	must(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			must(t, err)
			return n&(1<<c) != 0
		}
	}
	return false
}

// totalBytes is the volume's size as NodeGetVolumeStats reports it at the target path.
func totalBytes(t *testing.T, e *nodeEnv, id string) int64 {
	t.Helper()
	st, err := e.node.NodeGetVolumeStats(t.Context(), &csispec.NodeGetVolumeStatsRequest{VolumeId: id, VolumePath: e.path("pods/" + id)})
	ok(t, "stats", err)
	var bytes, inodes int64
	for _, u := range st.GetUsage() {
		switch u.GetUnit() {
		case csispec.VolumeUsage_BYTES:
			bytes = u.GetTotal()
		case csispec.VolumeUsage_INODES:
			inodes = u.GetTotal()
		}
	}
	if bytes <= 0 || inodes <= 0 {
		t.Fatalf("stats %v: want bytes and inodes", st)
	}
	return bytes
}

// TestNodeStats checks that the stats of a path that is not a mount of the volume are NotFound.
func TestNodeStats(t *testing.T) {
	requireRoot(t)
	e := newNodeEnv(t)
	_, pc := e.nfsVolume(t, "pvc_1", false)
	ok(t, "stage", e.stage(t, "pvc-1", pc, rwo))
	ok(t, "publish", e.publish(t, "pvc-1", rwo, false))
	totalBytes(t, e, "pvc-1")
	must(t, os.MkdirAll(e.path("plain"), 0o755))
	for _, c := range []struct{ id, path string }{{"pvc-1", e.path("plain")}, {"pvc-1", e.path("missing")}, {"pvc-2", e.path("pods/pvc-1")}} {
		_, err := e.node.NodeGetVolumeStats(t.Context(), &csispec.NodeGetVolumeStatsRequest{VolumeId: c.id, VolumePath: c.path})
		wantCode(t, "stats of "+c.id+" at "+c.path, err, codes.NotFound, "")
	}
}

// sessionCounter counts the iSCSI logouts of the fabric it wraps.
type sessionCounter struct {
	csi.Fabric
	logouts atomic.Int32
}

func (f *sessionCounter) wrap(inner csi.Fabric) { f.Fabric = inner }

func (f *sessionCounter) LogoutISCSI(ctx context.Context, t csi.ISCSITarget) error {
	f.logouts.Add(1)
	return f.Fabric.LogoutISCSI(ctx, t)
}

// TestNodeLogsOutWithLastVolume checks that the node keeps its session with a target while a
// volume from it is staged, and logs out when the last goes, even after a restart of the
// plugin between the two (it remembers in its state directory).
func TestNodeLogsOutWithLastVolume(t *testing.T) {
	requireRoot(t)
	sessions := &sessionCounter{}
	e := newNodeEnv(t, func(c *csi.NodeConfig) { c.Fabric = sessions })
	imageA, a := e.sanVolume(t, 0, "80C0X+Ff2bEa", 64<<20, false)
	imageB, b := e.sanVolume(t, 1, "80C0X+Ff2bEb", 64<<20, false)
	ok(t, "stage a", e.stage(t, "pvc-a", a, rwo))
	ok(t, "stage b", e.stage(t, "pvc-b", b, rwo))
	ok(t, "unstage a", e.unstage(t, "pvc-a"))
	if n := sessions.logouts.Load(); n != 0 {
		t.Fatalf("%d logouts while pvc-b is staged from the target, want 0", n)
	}
	must(t, os.WriteFile(e.path("staging/pvc-b/still"), []byte("here"), 0o644))

	restarted, err := csi.NewNode(e.cfg)
	must(t, err)
	e.node = restarted
	ok(t, "unstage b after a restart", e.unstage(t, "pvc-b"))
	if n := sessions.logouts.Load(); n != 1 {
		t.Fatalf("%d logouts after the last volume of the target went, want 1", n)
	}
	if l := loops(t, imageA) + loops(t, imageB); l != "" {
		t.Errorf("loop devices left: %s", l)
	}
}
