package csi

import (
	"context"
	"errors"
)

// Fabric is how a node reaches its storage: the NFS mount of an export, and the iSCSI session
// and block device of a LUN. It is the node plugin's only seam. Everything above it (formatting,
// mounting a device, bind mounts, resizing, the state kept across restarts) is the Node's, and
// is real in every test: hostFabric does the attach with mount.nfs and iscsiadm, simFabric with
// a bind mount of the simulator's volume directory and a loop device on its LUN image.
//
// Every method is idempotent and honours ctx.
type Fabric interface {
	// MountNFS mounts server:path (path is the export's junction path) on target, an existing
	// directory, read-only when readOnly, with the mount options given (nfsvers=4.1, ...). An
	// export that refuses this node is an error matching ErrAccessDenied.
	MountNFS(ctx context.Context, server, path, target string, readOnly bool, options []string) error
	// LoginISCSI opens a session with the target through each of its portals; a session that
	// exists counts. It fails only when no portal lets the node in.
	LoginISCSI(ctx context.Context, t ISCSITarget) error
	// FindLUN returns the block device (/dev/...) of the target's LUN lun whose serial is
	// serial, once the host sees it. Until then it returns an error matching ErrNoDevice, and the
	// caller asks again: devices appear some time after a login or a map.
	FindLUN(ctx context.Context, t ISCSITarget, lun int, serial string) (device string, err error)
	// RescanISCSI makes the host read again the size of a device FindLUN returned, after the
	// LUN grew.
	RescanISCSI(ctx context.Context, device string) error
	// DetachLUN makes the host forget a device FindLUN returned, which nothing uses any more.
	// A device that is gone is detached.
	DetachLUN(ctx context.Context, device string) error
	// LogoutISCSI ends the node's sessions with the target on each portal; no session counts as
	// logged out.
	LogoutISCSI(ctx context.Context, t ISCSITarget) error
}

// ISCSITarget is an iSCSI target as a publish context names it.
type ISCSITarget struct {
	// IQN is the target's name (publish context targetIQN).
	IQN string
	// Portals are its addresses, ip:port (publish context portals).
	Portals []string
}

var (
	// ErrAccessDenied is what a Fabric returns when the storage refuses this node (an export
	// policy without a rule for it). The node answers FailedPrecondition: the controller's
	// configuration, not the request, must change.
	ErrAccessDenied = errors.New("access denied by the storage")
	// ErrNoDevice is what FindLUN returns while the LUN's device has not appeared.
	ErrNoDevice = errors.New("no such device yet")
)
