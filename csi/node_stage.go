package csi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/mount-utils"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// stageVolume mounts a volume at its staging path, as the publish context says:
//   - protocol=nfs: the export nfsServer:nfsPath, through the fabric;
//   - protocol=iscsi: the fabric logs in to targetIQN on each of portals and finds the device of
//     LUN lunNumber with serial lunSerial; a blank one is formatted (the capability's fs_type,
//     else the volume context's fsType, else ext4), then mounted.
//
// It mounts read-only when the publish context says readOnly=true (a SnapMirror destination,
// whatever the access mode asks) or the access mode only reads; a read-only stage never
// formats. It is idempotent: a volume staged as asked is staged; a staging path that holds
// something else is refused. Every step can be repeated, so a stage cut short (between the
// format and the mount, say) completes on the next call.
func (n *Node) stageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	id, path, vc := req.GetVolumeId(), req.GetStagingTargetPath(), req.GetVolumeCapability()
	switch {
	case id == "":
		return nil, refuse(errInvalid, "volume_id is required")
	case path == "":
		return nil, refuse(errInvalid, "staging_target_path is required")
	case vc == nil:
		return nil, refuse(errInvalid, "volume_capability is required")
	}
	if err := checkAccessType(vc); err != nil {
		return nil, err
	}
	pc := req.GetPublishContext()
	v := &stagedVolume{VolumeID: id, StagingPath: filepath.Clean(path), Protocol: pc["protocol"]}
	switch ro := pc["readOnly"]; ro {
	case "true":
		v.ReadOnly = true
		if !readOnlyMode(vc.GetAccessMode().GetMode()) {
			n.log.Info("Staging read-only: the volume is a SnapMirror destination, read-only until promoted", "volume", id, "accessMode", vc.GetAccessMode().GetMode().String())
		}
	case "", "false":
		v.ReadOnly = readOnlyMode(vc.GetAccessMode().GetMode())
	default:
		return nil, refuse(errInvalid, "publish_context.readOnly %q: want true or false", ro)
	}
	switch v.Protocol {
	case protocolNFS:
		v.Server, v.Export = pc["nfsServer"], pc["nfsPath"]
		switch {
		case v.Server == "":
			return nil, refuse(errInvalid, "publish_context.nfsServer is required for protocol nfs")
		case !strings.HasPrefix(v.Export, "/"):
			return nil, refuse(errInvalid, "publish_context.nfsPath %q: want the junction path, /<volume>", v.Export)
		}
	case protocolISCSI:
		if err := iscsiContext(pc, v); err != nil {
			return nil, err
		}
		v.FsType = vc.GetMount().GetFsType()
		if v.FsType == "" {
			v.FsType = req.GetVolumeContext()[ParamFsType]
		}
		if v.FsType == "" {
			v.FsType = defaultSANFsType
		}
	default:
		return nil, refuse(errInvalid, "publish_context.protocol %q: want nfs or iscsi (publish the volume with ControllerPublishVolume first)", v.Protocol)
	}

	end, err := n.lock(id)
	if err != nil {
		return nil, err
	}
	defer end()
	staged, err := n.staged(v)
	if staged || err != nil {
		return &csi.NodeStageVolumeResponse{}, err
	}
	if err := os.MkdirAll(v.StagingPath, 0o750); err != nil {
		return nil, fmt.Errorf("staging path: %w", err)
	}
	if v.Protocol == protocolNFS {
		return &csi.NodeStageVolumeResponse{}, n.stageNFS(ctx, v, vc.GetMount().GetMountFlags())
	}
	return &csi.NodeStageVolumeResponse{}, n.stageISCSI(ctx, v, vc.GetMount().GetMountFlags())
}

// iscsiContext reads the iSCSI fields of a publish context into v.
func iscsiContext(pc map[string]string, v *stagedVolume) error {
	lun, err := strconv.Atoi(pc["lunNumber"])
	if err != nil || lun < 0 {
		return refuse(errInvalid, "publish_context.lunNumber %q: want the LUN's number, 0 or more", pc["lunNumber"])
	}
	v.LUN, v.Serial, v.Target.IQN = lun, pc["lunSerial"], pc["targetIQN"]
	if pc["portals"] != "" {
		v.Target.Portals = strings.Split(pc["portals"], ",")
	}
	switch {
	case v.Serial == "":
		return refuse(errInvalid, "publish_context.lunSerial is required for protocol iscsi")
	case v.Target.IQN == "":
		return refuse(errInvalid, "publish_context.targetIQN is required for protocol iscsi")
	case len(v.Target.Portals) == 0:
		return refuse(errInvalid, "publish_context.portals is required for protocol iscsi (ip:3260[,ip:3260...])")
	}
	return nil
}

// staged reports whether v is staged already, as asked; a staging path that holds something
// else is refused, saying what.
func (n *Node) staged(v *stagedVolume) (bool, error) {
	m, err := mountAt(v.StagingPath)
	if m == nil || err != nil {
		return false, err
	}
	old, err := n.state.load(v.VolumeID)
	if err != nil {
		return false, err
	}
	switch {
	case old == nil || old.StagingPath != v.StagingPath:
		return false, refuse(errPrecondition, "staging path %s is mounted (%s), and not by a stage of volume %s on this node: unmount it", v.StagingPath, m.Source, v.VolumeID)
	case old.Protocol != v.Protocol || old.Server != v.Server || old.Export != v.Export || old.Target.IQN != v.Target.IQN || old.LUN != v.LUN || old.Serial != v.Serial:
		return false, refuse(errExists, "volume %s is staged at %s from another source (%s): unstage it first", v.VolumeID, v.StagingPath, describe(old))
	case old.Device != "" && m.Source != old.Device:
		return false, refuse(errExists, "staging path %s holds %s, and volume %s is on %s: unstage it first", v.StagingPath, m.Source, v.VolumeID, old.Device)
	case v.ReadOnly != old.ReadOnly || (v.ReadOnly && !readOnlyMount(m)):
		return false, refuse(errExists, "volume %s is staged at %s with readOnly=%t (mounted %s), and this stage asks readOnly=%t: unstage it first", v.VolumeID, v.StagingPath, old.ReadOnly, mountMode(m), v.ReadOnly)
	}
	return true, nil
}

// describe names a staged volume's source for a message.
func describe(v *stagedVolume) string {
	if v.Protocol == protocolNFS {
		return "nfs " + v.Server + ":" + v.Export
	}
	return fmt.Sprintf("iscsi %s LUN %d serial %s", v.Target.IQN, v.LUN, v.Serial)
}

func mountMode(m *mount.MountInfo) string {
	if readOnlyMount(m) {
		return "read-only"
	}
	return "read-write"
}

// stageNFS mounts the export at the staging path.
func (n *Node) stageNFS(ctx context.Context, v *stagedVolume, flags []string) error {
	if err := n.state.save(v); err != nil {
		return err
	}
	err := n.fabric.MountNFS(ctx, v.Server, v.Export, v.StagingPath, v.ReadOnly, flags)
	if errors.Is(err, ErrAccessDenied) {
		return refuse(errPrecondition, "mount %s:%s on this node: %v (the export policy of the volume's SVM must admit this node's address)", v.Server, v.Export, err)
	}
	if err != nil {
		return fmt.Errorf("mount %s:%s: %w", v.Server, v.Export, err)
	}
	return nil
}

// stageISCSI logs in to the target, waits for the LUN's device, formats it when it is blank
// and mounts it at the staging path.
func (n *Node) stageISCSI(ctx context.Context, v *stagedVolume, flags []string) error {
	if err := n.login(ctx, v); err != nil {
		return err
	}
	device, err := n.waitForDevice(ctx, v)
	if err != nil {
		return err
	}
	if v.Device != device {
		v.Device = device
		if err := n.state.save(v); err != nil {
			return err
		}
	}
	opts := append([]string(nil), flags...)
	if v.ReadOnly {
		opts = append(opts, readOnlyOptions(v.FsType)...)
	}
	fm := mount.NewSafeFormatAndMount(n.mounter, n.exec)
	err = fm.FormatAndMount(device, v.StagingPath, v.FsType, opts)
	var me mount.MountError
	switch {
	case errors.As(err, &me) && me.Type == mount.UnformattedReadOnly:
		return refuse(errPrecondition, "volume %s (LUN serial %s) is blank and staged read-only, so it is not formatted: a mirror destination gets its filesystem from its source with the first transfer", v.VolumeID, v.Serial)
	case err != nil:
		return fmt.Errorf("format and mount %s (%s) at %s: %w", device, v.FsType, v.StagingPath, err)
	}
	return nil
}

// readOnlyOptions mount a filesystem read-only without replaying its journal. A mirror
// destination's LUN holds its source's filesystem as it was at a snapshot, crash-consistent:
// its journal may need recovery, which a read-only device cannot take (the mount would fail),
// and which must not happen on a volume other nodes may read too. It then shows the source as
// of its last journal checkpoint (everything, when the source was frozen for the snapshot).
func readOnlyOptions(fsType string) []string {
	switch fsType {
	case "ext3", "ext4":
		return []string{"ro", "noload"}
	case "xfs":
		return []string{"ro", "norecovery"}
	}
	return []string{"ro"}
}

// login records the volume, then logs in to its target: in that order, so that an unstage
// after a crash between the two still logs out.
func (n *Node) login(ctx context.Context, v *stagedVolume) error {
	n.sessions.Lock()
	defer n.sessions.Unlock()
	if old, err := n.state.load(v.VolumeID); err != nil {
		return err
	} else if old != nil && old.Serial == v.Serial {
		// A device found by an earlier attempt is checked again below.
		v.Device = old.Device
	}
	if err := n.state.save(v); err != nil {
		return err
	}
	if err := n.fabric.LoginISCSI(ctx, v.Target); err != nil {
		return fmt.Errorf("log in to iSCSI target %s: %w", v.Target.IQN, err)
	}
	return nil
}

// waitForDevice asks the fabric for the LUN's device until it appears, for at most the
// node's device timeout: NotFound then.
func (n *Node) waitForDevice(ctx context.Context, v *stagedVolume) (string, error) {
	var device string
	var missing error // the last ErrNoDevice
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, n.deviceTimeout, true, func(pctx context.Context) (bool, error) {
		d, err := n.fabric.FindLUN(pctx, v.Target, v.LUN, v.Serial)
		switch {
		case errors.Is(err, ErrNoDevice):
			missing = err
			return false, nil
		case err != nil && pctx.Err() != nil:
			// The wait ended during the call.
			return false, nil
		case err != nil:
			return false, fmt.Errorf("find LUN %d (serial %s) of %s: %w", v.LUN, v.Serial, v.Target.IQN, err)
		}
		device = d
		return true, nil
	})
	switch {
	case err == nil:
		return device, nil
	case ctx.Err() == nil && wait.Interrupted(err) && missing != nil:
		return "", refuse(ontap.ErrNotFound, "LUN %d (serial %s) of iSCSI target %s did not appear on this node within %s: %v", v.LUN, v.Serial, v.Target.IQN, n.deviceTimeout, missing)
	case ctx.Err() == nil && wait.Interrupted(err):
		return "", fmt.Errorf("find LUN %d (serial %s) of %s: no answer within %s", v.LUN, v.Serial, v.Target.IQN, n.deviceTimeout)
	}
	return "", err
}

// unstageVolume unmounts the staging path and, for an iSCSI volume, detaches its device and
// logs out of its target when no other volume staged on this node uses it. A staging path
// that is not mounted, or missing, is unstaged.
func (n *Node) unstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	id, path := req.GetVolumeId(), req.GetStagingTargetPath()
	switch {
	case id == "":
		return nil, refuse(errInvalid, "volume_id is required")
	case path == "":
		return nil, refuse(errInvalid, "staging_target_path is required")
	}
	end, err := n.lock(id)
	if err != nil {
		return nil, err
	}
	defer end()
	if err := mount.CleanupMountPoint(path, n.mounter, true); err != nil {
		return nil, fmt.Errorf("unmount staging path %s: %w", path, err)
	}
	v, err := n.state.load(id)
	if err != nil || v == nil {
		return &csi.NodeUnstageVolumeResponse{}, err
	}
	if v.Protocol != protocolISCSI {
		return &csi.NodeUnstageVolumeResponse{}, n.state.remove(id)
	}
	if v.Device != "" {
		if err := n.fabric.DetachLUN(ctx, v.Device); err != nil {
			return nil, fmt.Errorf("detach %s: %w", v.Device, err)
		}
	}
	n.sessions.Lock()
	defer n.sessions.Unlock()
	used, err := n.state.usesTarget(v.Target.IQN, id)
	if err != nil {
		return nil, err
	}
	if !used {
		if err := n.fabric.LogoutISCSI(ctx, v.Target); err != nil {
			return nil, fmt.Errorf("log out of iSCSI target %s: %w", v.Target.IQN, err)
		}
	}
	return &csi.NodeUnstageVolumeResponse{}, n.state.remove(id)
}
