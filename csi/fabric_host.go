package csi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"
)

// iscsiadm's exit statuses that mean the work is done already (open-iscsi's iscsi_err.h).
const (
	// iscsiErrSessExists: a session to that target and portal exists (login).
	iscsiErrSessExists = 15
	// iscsiErrNoObjsFound: no session, or no node record, to act on (logout).
	iscsiErrNoObjsFound = 21
)

// The NAA identifier of an ONTAP LUN is a NetApp prefix, then the LUN's serial number in
// hexadecimal ASCII: 600a0980 (NAA type 6, NetApp's OUI 00a098) on clustered ONTAP, 60a98000 on
// 7-Mode systems. udev names the device /dev/disk/by-id/scsi-3<NAA> (3: an NAA designator).
var ontapNAAPrefixes = []string{"600a0980", "60a98000"}

// HostFabricConfig wires the production fabric.
type HostFabricConfig struct {
	// Mounter mounts NFS exports; default mount.New("").
	Mounter mount.Interface
	// Exec runs iscsiadm and blockdev; default the host's.
	Exec utilexec.Interface
	// Root is prefixed to /dev and /sys; "" on a host. Tests point it at a tree of their own.
	Root string
}

// hostFabric is the production Fabric: mount.nfs through mount-utils, and open-iscsi's
// iscsiadm, with devices found through udev's /dev/disk/by-id links or, failing that, sysfs.
type hostFabric struct {
	mounter mount.Interface
	exec    utilexec.Interface
	root    string
}

// NewHostFabric builds the fabric of a real node.
func NewHostFabric(cfg HostFabricConfig) Fabric {
	f := &hostFabric{mounter: cfg.Mounter, exec: cfg.Exec, root: cfg.Root}
	if f.mounter == nil {
		f.mounter = mount.New("")
	}
	if f.exec == nil {
		f.exec = utilexec.New()
	}
	return f
}

// MountNFS runs mount -t nfs [-o options[,ro]] server:path target.
func (f *hostFabric) MountNFS(_ context.Context, server, path, target string, readOnly bool, options []string) error {
	opts := append([]string(nil), options...)
	if readOnly {
		opts = append(opts, "ro")
	}
	if ip := net.ParseIP(server); ip != nil && ip.To4() == nil {
		server = "[" + server + "]"
	}
	err := f.mounter.Mount(server+":"+path, target, "nfs", opts)
	if err != nil && strings.Contains(err.Error(), "access denied by server") {
		return fmt.Errorf("%w: %w", ErrAccessDenied, err)
	}
	return err
}

// iscsiadm runs iscsiadm and reports its exit status (0 when it ran and succeeded).
func (f *hostFabric) iscsiadm(ctx context.Context, args ...string) (int, error) {
	out, err := f.exec.CommandContext(ctx, "iscsiadm", args...).CombinedOutput()
	var exit utilexec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitStatus(), fmt.Errorf("iscsiadm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	if err != nil {
		return -1, fmt.Errorf("iscsiadm %s: %w", strings.Join(args, " "), err)
	}
	return 0, nil
}

// LoginISCSI runs, for each portal, iscsiadm -m discovery -t sendtargets -p <portal> (which
// makes the node records), then iscsiadm -m node -T <iqn> -p <portal> --login.
func (f *hostFabric) LoginISCSI(ctx context.Context, t ISCSITarget) error {
	var errs []error
	in := 0
	for _, p := range t.Portals {
		if _, err := f.iscsiadm(ctx, "-m", "discovery", "-t", "sendtargets", "-p", p); err != nil {
			errs = append(errs, err)
			continue
		}
		if code, err := f.iscsiadm(ctx, "-m", "node", "-T", t.IQN, "-p", p, "--login"); err != nil && code != iscsiErrSessExists {
			errs = append(errs, err)
			continue
		}
		in++
	}
	if in == 0 {
		return errors.Join(errs...)
	}
	// Multipath serves the LUN through the portals that answered; the others are logged only
	// by the caller's retry of a later stage.
	return nil
}

// FindLUN looks for /dev/disk/by-id/scsi-3600a0980<hex serial> (or the 7-Mode prefix), then for a SCSI disk whose
// unit serial number page (sysfs vpd_pg80) holds the serial; when neither is there it asks
// iscsiadm -m session --rescan for LUNs mapped since the login, and answers ErrNoDevice.
func (f *hostFabric) FindLUN(ctx context.Context, t ISCSITarget, lun int, serial string) (string, error) {
	naa := hex.EncodeToString([]byte(serial))
	for _, prefix := range ontapNAAPrefixes {
		if dev, err := filepath.EvalSymlinks(filepath.Join(f.root, "/dev/disk/by-id", "scsi-3"+prefix+naa)); err == nil {
			return strings.TrimPrefix(dev, f.root), nil
		}
	}
	pages, _ := filepath.Glob(filepath.Join(f.root, "/sys/block/sd*/device/vpd_pg80"))
	for _, p := range pages {
		b, err := os.ReadFile(p)
		// The page is a 4-byte header, then the serial.
		if err == nil && len(b) > 4 && strings.TrimSpace(string(b[4:])) == serial {
			return "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(p))), nil
		}
	}
	if _, err := f.iscsiadm(ctx, "-m", "session", "--rescan"); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%w: no disk with the NAA identifier of serial %q (LUN %d of %s)", ErrNoDevice, serial, lun, t.IQN)
}

// RescanISCSI writes 1 to /sys/block/<disk>/device/rescan: the kernel reads the disk's
// capacity again.
func (f *hostFabric) RescanISCSI(_ context.Context, device string) error {
	return f.writeSys(device, "rescan")
}

// DetachLUN runs blockdev --flushbufs <device>, then writes 1 to
// /sys/block/<disk>/device/delete.
func (f *hostFabric) DetachLUN(ctx context.Context, device string) error {
	if _, err := os.Stat(filepath.Join(f.root, "/sys/block", filepath.Base(device))); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := f.exec.CommandContext(ctx, "blockdev", "--flushbufs", device).CombinedOutput(); err != nil {
		return fmt.Errorf("blockdev --flushbufs %s: %w: %s", device, err, strings.TrimSpace(string(out)))
	}
	return f.writeSys(device, "delete")
}

func (f *hostFabric) writeSys(device, file string) error {
	p := filepath.Join(f.root, "/sys/block", filepath.Base(device), "device", file)
	if err := os.WriteFile(p, []byte("1"), 0); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// LogoutISCSI runs iscsiadm -m node -T <iqn> -p <portal> --logout for each portal.
func (f *hostFabric) LogoutISCSI(ctx context.Context, t ISCSITarget) error {
	var errs []error
	for _, p := range t.Portals {
		if code, err := f.iscsiadm(ctx, "-m", "node", "-T", t.IQN, "-p", p, "--logout"); err != nil && code != iscsiErrNoObjsFound {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
