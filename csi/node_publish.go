package csi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"k8s.io/mount-utils"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// publishVolume bind mounts the staging path on the target path, read-only when the request
// says readonly, the access mode only reads, or the volume is staged read-only. It is
// idempotent: a target path that holds the volume as asked is published; one that holds it
// with the other read-only state is AlreadyExists.
func (n *Node) publishVolume(_ context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	id, staging, target, vc := req.GetVolumeId(), req.GetStagingTargetPath(), req.GetTargetPath(), req.GetVolumeCapability()
	switch {
	case id == "":
		return nil, refuse(errInvalid, "volume_id is required")
	case staging == "":
		return nil, refuse(errInvalid, "staging_target_path is required: the node stages every volume (STAGE_UNSTAGE_VOLUME)")
	case target == "":
		return nil, refuse(errInvalid, "target_path is required")
	case vc == nil:
		return nil, refuse(errInvalid, "volume_capability is required")
	}
	if err := checkAccessType(vc); err != nil {
		return nil, err
	}
	end, err := n.lock(id)
	if err != nil {
		return nil, err
	}
	defer end()
	staged, err := mountAt(staging)
	if err != nil {
		return nil, err
	}
	if staged == nil {
		return nil, refuse(errPrecondition, "volume %s is not staged at %s: NodeStageVolume first", id, staging)
	}
	readOnly := req.GetReadonly() || readOnlyMode(vc.GetAccessMode().GetMode()) || readOnlyMount(staged)
	m, err := mountAt(target)
	if err != nil {
		return nil, err
	}
	if m != nil {
		// A bind mount names the staged mount's source and root.
		if m.Source != staged.Source || m.Root != staged.Root {
			return nil, refuse(errExists, "target path %s holds another mount (%s): unpublish it first", target, m.Source)
		}
		if readOnlyMount(m) != readOnly {
			return nil, refuse(errExists, "volume %s is published at %s %s, and this publish asks readonly=%t: unpublish it first", id, target, mountMode(m), readOnly)
		}
		return &csi.NodePublishVolumeResponse{}, nil
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, fmt.Errorf("target path: %w", err)
	}
	// The capability's mount flags were the stage's (nfsvers=4.1, discard, ...): a bind mount
	// takes none of them.
	opts := []string{"bind"}
	if readOnly {
		opts = append(opts, "ro")
	}
	if err := n.mounter.Mount(staging, target, "", opts); err != nil {
		return nil, fmt.Errorf("bind mount %s on %s: %w", staging, target, err)
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// unpublishVolume unmounts the target path and removes it; one that is not mounted, or
// missing, is unpublished.
func (n *Node) unpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	id, target := req.GetVolumeId(), req.GetTargetPath()
	switch {
	case id == "":
		return nil, refuse(errInvalid, "volume_id is required")
	case target == "":
		return nil, refuse(errInvalid, "target_path is required")
	}
	end, err := n.lock(id)
	if err != nil {
		return nil, err
	}
	defer end()
	if err := mount.CleanupMountPoint(target, n.mounter, true); err != nil {
		return nil, fmt.Errorf("unmount target path %s: %w", target, err)
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// expandVolume grows the filesystem of an iSCSI volume to its LUN's new size, after the
// fabric rescanned the device; an NFS volume grows with its FlexVol, so there is nothing to do.
// It answers the capacity the volume path now has.
func (n *Node) expandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	id, path := req.GetVolumeId(), req.GetVolumePath()
	switch {
	case id == "":
		return nil, refuse(errInvalid, "volume_id is required")
	case path == "":
		return nil, refuse(errInvalid, "volume_path is required")
	}
	if vc := req.GetVolumeCapability(); vc != nil {
		if err := checkAccessType(vc); err != nil {
			return nil, err
		}
	}
	end, err := n.lock(id)
	if err != nil {
		return nil, err
	}
	defer end()
	v, _, err := n.ourMount(id, path)
	if err != nil {
		return nil, err
	}
	if v.Protocol == protocolISCSI && v.Device != "" {
		if err := n.fabric.RescanISCSI(ctx, v.Device); err != nil {
			return nil, fmt.Errorf("rescan %s: %w", v.Device, err)
		}
		rs := mount.NewResizeFs(n.exec)
		need, err := rs.NeedResize(v.Device, path)
		if err != nil {
			return nil, fmt.Errorf("compare the filesystem on %s with its device: %w", v.Device, err)
		}
		if need {
			if _, err := rs.Resize(v.Device, path); err != nil {
				return nil, fmt.Errorf("grow the filesystem on %s: %w", v.Device, err)
			}
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	return &csi.NodeExpandVolumeResponse{CapacityBytes: int64(st.Blocks) * st.Bsize}, nil
}

// volumeStats reports the bytes and inodes of a volume path: NotFound when it is not a mount
// of that volume staged on this node.
func (n *Node) volumeStats(_ context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	id, path := req.GetVolumeId(), req.GetVolumePath()
	switch {
	case id == "":
		return nil, refuse(errInvalid, "volume_id is required")
	case path == "":
		return nil, refuse(errInvalid, "volume_path is required")
	}
	if _, _, err := n.ourMount(id, path); err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := st.Bsize
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: int64(st.Blocks) * bs, Available: int64(st.Bavail) * bs, Used: int64(st.Blocks-st.Bfree) * bs},
		{Unit: csi.VolumeUsage_INODES, Total: int64(st.Files), Available: int64(st.Ffree), Used: int64(st.Files - st.Ffree)},
	}}, nil
}

// ourMount returns the volume's record and the mount at path, which must be its staging path
// or a bind mount of it: NotFound otherwise.
func (n *Node) ourMount(id, path string) (*stagedVolume, *mount.MountInfo, error) {
	v, err := n.state.load(id)
	if err != nil {
		return nil, nil, err
	}
	if v == nil {
		return nil, nil, refuse(ontap.ErrNotFound, "volume %s is not staged on this node", id)
	}
	m, err := mountAt(path)
	if err != nil {
		return nil, nil, err
	}
	if m == nil {
		return nil, nil, refuse(ontap.ErrNotFound, "volume path %s is not mounted", path)
	}
	if filepath.Clean(path) != v.StagingPath {
		staged, err := mountAt(v.StagingPath)
		if err != nil {
			return nil, nil, err
		}
		if staged == nil || staged.Source != m.Source || staged.Root != m.Root {
			return nil, nil, refuse(ontap.ErrNotFound, "volume path %s is no mount of volume %s", path, id)
		}
	}
	return v, m, nil
}
