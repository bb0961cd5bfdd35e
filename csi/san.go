package csi

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// An ontap-san volume is a FlexVol holding one LUN, lun0, as Trident makes it: the FlexVol is
// what SnapMirror replicates and snapshots, the LUN what a node logs in to over iSCSI and
// formats. A mirror destination is a DP FlexVol with no LUN: its LUN arrives with the baseline.

const (
	// lunName is the LUN of every ontap-san volume: /vol/<flexvol>/lun0.
	lunName = "lun0"
	// fsTypeAttribute is the LUN attribute that records the filesystem the node makes on it
	// (Trident's name, so that either driver reads the other's LUNs).
	fsTypeAttribute = "com.netapp.ndvp.fstype"
	// sanSnapshotReserve is the snapshot reserve of an ontap-san FlexVol, in percent: ONTAP's
	// default for a FlexVol, set explicitly so that the sizing below holds whatever the SVM's
	// defaults.
	sanSnapshotReserve = 5
	// lunMetadataPercent is what a LUN needs in its volume beyond its size, in percent of it:
	// Trident's LUNMetadataBufferMultiplier, 1.1.
	lunMetadataPercent = 110
	// sanSizeDelta is how far above the requested size ONTAP may round a LUN and the LUN still
	// count as that size (Trident's SANResizeDelta, 50 MB).
	sanSizeDelta = 50 << 20
)

// flexvolFor is the size of the FlexVol that holds a LUN of lunSize bytes: the LUN plus 10% for
// its metadata must fit in what the snapshot reserve leaves to the active file system, so
// size × (100 − 5)% ≥ lunSize × 110%; rounded up to whole MiB. A 1 GiB LUN gets a FlexVol of
// 1186 MiB. (Thin: neither the FlexVol nor the LUN reserves its space in the aggregate.)
func flexvolFor(lunSize int64) int64 {
	need := (lunSize*lunMetadataPercent + (100 - sanSnapshotReserve) - 1) / (100 - sanSnapshotReserve)
	return (need + sizeGranularity - 1) / sizeGranularity * sizeGranularity
}

// flexvolOn is the size of the FlexVol that a volume of size bytes takes on backend b.
func flexvolOn(b *ontap.Backend, size int64) int64 {
	if b.Driver == ontap.DriverSAN {
		return flexvolFor(size)
	}
	return size
}

// lunPath is the path of a FlexVol's LUN.
func lunPath(flexvol string) string { return ontap.LUNPath(flexvol, lunName) }

// newVolume says how finishSAN came to a FlexVol.
type newVolume struct {
	// existing: found, not just made: its LUN may be there or not (a call that was cut short
	// between the FlexVol and the LUN), and must fit the request.
	existing bool
	// cloned: a FlexClone, which brings its source's LUN (serial of its own, size and
	// filesystem of the source's).
	cloned bool
}

// finishSAN completes an ontap-san volume and answers its CreateVolume: a read-write FlexVol
// gets its LUN, unless it has one (a clone's, or one an earlier call made); a mirror
// destination gets none. A LUN that ONTAP refuses to make leaves no FlexVol behind. A retry of
// a call cut short between the two finds the FlexVol (existing) and makes the LUN.
func (d *Driver) finishSAN(ctx context.Context, req *csi.CreateVolumeRequest, b *ontap.Backend, v *ontap.Volume, size int64, a access, nv newVolume) (*csi.CreateVolumeResponse, error) {
	if v.Type == ontap.VolumeDP {
		return d.sanResponse(req, b, v, nil, size, a), nil
	}
	path := lunPath(v.Name)
	var lun *ontap.LUN
	if nv.existing || nv.cloned {
		found, err := b.GetLUN(ctx, b.SVM, path)
		if err != nil && !errors.Is(err, ontap.ErrNotFound) {
			return nil, err
		}
		lun = found
	}
	switch {
	case lun == nil:
		spec := ontap.LUNSpec{
			SVM: b.SVM, Path: path, Size: size, Attributes: map[string]string{fsTypeAttribute: a.sanFsType()},
			Comment: volumeComment(req.GetName(), req.GetParameters()[ParamPVCNamespace], req.GetParameters()[ParamPVCName]),
		}
		err := run(ctx, b, func() (*ontap.Job, error) { return b.CreateLUN(ctx, spec) })
		// Busy: another call is making this LUN in this FlexVol, which must stay.
		if ontap.IsRefusal(err) && !ontap.IsAlreadyExists(err) && !ontap.IsBusy(err) {
			return nil, errors.Join(err, d.discard(ctx, b, v))
		}
		if err != nil && !ontap.IsAlreadyExists(err) {
			return nil, err
		}
		if lun, err = b.GetLUN(ctx, b.SVM, path); err != nil {
			return nil, err
		}
	case nv.existing:
		limit := req.GetCapacityRange().GetLimitBytes()
		if lun.Size < size || (limit > 0 && lun.Size > limit && lun.Size-size >= sanSizeDelta) {
			return nil, refuse(errExists, "volume %s exists with a LUN of %d bytes, not the %d requested", req.GetName(), lun.Size, size)
		}
	case lun.Size < size:
		// A clone asked to be larger than its source.
		if err := run(ctx, b, func() (*ontap.Job, error) { return b.ResizeLUN(ctx, lun.UUID, size) }); err != nil {
			return nil, err
		}
		lun.Size = size
	}
	if _, ok := lun.Attributes[fsTypeAttribute]; !ok && !lun.ReadOnly {
		// A LUN made without the attribute (by hand, or by an older driver) gets it now.
		if err := run(ctx, b, func() (*ontap.Job, error) { return b.SetLUNAttribute(ctx, lun.UUID, fsTypeAttribute, a.sanFsType()) }); err != nil && !ontap.IsAlreadyExists(err) {
			return nil, err
		}
	}
	return d.sanResponse(req, b, v, lun, size, a), nil
}

// discard deletes a FlexVol whose LUN ONTAP refused to make, so that a refused CreateVolume
// leaves nothing behind.
func (d *Driver) discard(ctx context.Context, b *ontap.Backend, v *ontap.Volume) error {
	uuid := v.UUID
	if uuid == "" {
		found, err := b.GetVolume(ctx, b.SVM, v.Name)
		if errors.Is(err, ontap.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		uuid = found.UUID
	}
	err := run(ctx, b, func() (*ontap.Job, error) { return b.DeleteVolume(ctx, uuid) })
	if err != nil && !errors.Is(err, ontap.ErrNotFound) {
		return err
	}
	return nil
}

// sanResponse answers a CreateVolume of an ontap-san volume. Its context carries, besides what
// every volume's does (backend, svm, internalName, type), what the node needs: protocol
// (iscsi), lunPath, lunSerial (none for a mirror destination before promotion: its LUN has a
// serial of its own, which ControllerPublishVolume gives), targetIQN, portals (host:3260,
// comma-separated) and fsType (the LUN's fsType attribute, which a clone takes from its source).
func (d *Driver) sanResponse(req *csi.CreateVolumeRequest, b *ontap.Backend, v *ontap.Volume, lun *ontap.LUN, size int64, a access) *csi.CreateVolumeResponse {
	resp := d.createResponse(req, b, v)
	vc := resp.Volume.VolumeContext
	delete(vc, "server")
	delete(vc, "path")
	vc["protocol"], vc["lunPath"], vc["fsType"] = ontap.SANiSCSI, lunPath(v.Name), a.sanFsType()
	if t := b.ISCSI(); t != nil {
		vc["targetIQN"], vc["portals"] = t.IQN, strings.Join(t.Portals, ",")
	}
	resp.Volume.CapacityBytes = size
	if lun != nil {
		vc["lunSerial"] = lun.Serial
		if fs := lun.Attributes[fsTypeAttribute]; fs != "" {
			vc["fsType"] = fs
		}
		resp.Volume.CapacityBytes = lunCapacity(lun.Size, size)
	}
	return resp
}

// lunCapacity is the capacity of a LUN asked to be size bytes: size, unless ONTAP made it
// larger by more than its rounding.
func lunCapacity(lunSize, size int64) int64 {
	if lunSize >= size && lunSize-size < sanSizeDelta {
		return size
	}
	return lunSize
}

// expandSAN grows an ontap-san volume to hold a LUN of size bytes: the FlexVol first, if it
// needs to, then the LUN; a mirror destination's read-only LUN (or the LUN its baseline has
// not brought yet) is left to the mirror. It returns the new capacity.
func expandSAN(ctx context.Context, f *found, size int64) (int64, error) {
	b, v := f.backend, f.volume
	lun, err := b.GetLUN(ctx, b.SVM, lunPath(v.Name))
	switch {
	case errors.Is(err, ontap.ErrNotFound):
		lun = nil
	case err != nil:
		return 0, err
	case lun.Size >= size:
		return lunCapacity(lun.Size, size), nil
	}
	if need := flexvolFor(size); v.Size < need {
		if _, err := withinMaximum([]*ontap.Backend{b}, size); err != nil {
			return 0, err
		}
		if err := run(ctx, b, func() (*ontap.Job, error) { return b.ResizeVolume(ctx, v.UUID, need) }); err != nil {
			return 0, err
		}
	}
	if lun == nil || lun.ReadOnly || v.Type == ontap.VolumeDP {
		return size, nil
	}
	if err := run(ctx, b, func() (*ontap.Job, error) { return b.ResizeLUN(ctx, lun.UUID, size) }); err != nil {
		return 0, err
	}
	return size, nil
}

// lunSizes returns the size of the LUN of each of the driver's FlexVols on an ontap-san backend,
// by FlexVol name, from one list; nil for an ontap-nas backend.
func lunSizes(ctx context.Context, b *ontap.Backend) (map[string]int64, error) {
	if b.Driver != ontap.DriverSAN {
		return nil, nil
	}
	luns, err := b.ListLUNs(ctx, b.SVM, lunPath(b.Prefix()+"*"))
	if err != nil {
		return nil, answered(ctx, b, err)
	}
	sizes := make(map[string]int64, len(luns))
	for _, l := range luns {
		sizes[l.Volume] = l.Size
	}
	return sizes, nil
}

// unmapAll unmaps an ontap-san volume's LUN from every igroup, before the volume is deleted.
func (d *Driver) unmapAll(ctx context.Context, f *found) error {
	return d.unmapWhere(ctx, f, func(string) bool { return true })
}

// unmapWhere unmaps the volume's LUN from the igroups that match, deleting each igroup of this
// installation that maps nothing more. A LUN or map that is gone counts as unmapped.
func (d *Driver) unmapWhere(ctx context.Context, f *found, match func(igroup string) bool) error {
	b := f.backend
	lun, err := b.GetLUN(ctx, b.SVM, lunPath(f.volume.Name))
	if errors.Is(err, ontap.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, m := range lun.Maps {
		if !match(m.Igroup) {
			continue
		}
		if err := b.UnmapLUN(ctx, lun.UUID, m.IgroupUUID); err != nil && !errors.Is(err, ontap.ErrNotFound) {
			return err
		}
		if !ownIgroup(m.Igroup, d.installation) {
			continue
		}
		if err := dropIgroup(ctx, b, m.IgroupUUID); err != nil {
			return err
		}
	}
	return nil
}

// lunNumber formats a logical unit number for the publish context.
func lunNumber(n int64) string { return strconv.FormatInt(n, 10) }
