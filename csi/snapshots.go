package csi

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// createSnapshot takes a snapshot of a read-write volume; ONTAP refuses snapshots of DP
// destinations, and so does the driver. It is idempotent by name.
func (d *Driver) createSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	name, source := req.GetName(), req.GetSourceVolumeId()
	switch {
	case name == "":
		return nil, refuse(errInvalid, "name is required")
	case source == "":
		return nil, refuse(errInvalid, "source_volume_id is required")
	case !snapshotName.MatchString(name):
		return nil, refuse(errInvalid, "name %q: ONTAP snapshot names take letters, digits, '_', '-' and '.', up to 255", name)
	}
	if len(req.GetParameters()) > 0 {
		return nil, refuse(errInvalid, "parameters: the VolumeSnapshotClass takes none")
	}
	missing := refuse(ontap.ErrNotFound, "source volume %s does not exist", source)
	if !volumeID.MatchString(source) {
		return nil, missing
	}
	var resp *csi.CreateSnapshotResponse
	err := d.withVolume(ctx, "snapshot "+name, source, missing, func(f *found) error {
		b := f.backend
		// Snapshot names are unique per driver: look for the name on every volume at once.
		same, err := b.FindSnapshots(ctx, b.SVM, b.Prefix()+"*", name)
		if err != nil {
			return err
		}
		if len(same) > 0 {
			s := same[0]
			if s.VolumeUUID != f.volume.UUID {
				return refuse(errExists, "snapshot %s exists on another volume, %s", name, s.Volume)
			}
			resp = snapshotResponse(source, s)
			return nil
		}
		if f.volume.Type == ontap.VolumeDP {
			return refuse(errPrecondition, "volume %s is a SnapMirror destination (DP), on which ONTAP refuses snapshots: take the snapshot of the source volume, and it will be mirrored", source)
		}
		// A duplicate is another replica's work since the look: the snapshot is the answer.
		if err := run(ctx, b, func() (*ontap.Job, error) { return b.CreateSnapshot(ctx, f.volume.UUID, name) }); err != nil && !ontap.HasCode(err, ontap.CodeSnapshotDuplicate) {
			return err
		}
		s, err := b.GetSnapshot(ctx, f.volume.UUID, name)
		if err != nil {
			return err
		}
		resp = snapshotResponse(source, *s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func snapshotResponse(pv string, s ontap.Snapshot) *csi.CreateSnapshotResponse {
	return &csi.CreateSnapshotResponse{Snapshot: csiSnapshot(pv, s)}
}

func csiSnapshot(pv string, s ontap.Snapshot) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId: snapshotID(pv, s.Name), SourceVolumeId: pv, SizeBytes: s.Size,
		CreationTime: timestamppb.New(s.Created), ReadyToUse: true,
	}
}

// snapshotOn gets snapshot name of volume f; nil, nil when the volume has none of that name.
func snapshotOn(ctx context.Context, f *found, name string) (*ontap.Snapshot, error) {
	s, err := f.backend.GetSnapshot(ctx, f.volume.UUID, name)
	if errors.Is(err, ontap.ErrNotFound) {
		return nil, nil
	}
	return s, err
}

// findSnapshotSource resolves a snapshot ID for a clone: the volume and the snapshot name.
func (d *Driver) findSnapshotSource(ctx context.Context, id string) (*found, string, error) {
	missing := refuse(ontap.ErrNotFound, "source snapshot %s does not exist", id)
	pv, snap, ok := ParseSnapshotID(id)
	if !ok {
		return nil, "", missing
	}
	var source *found
	err := d.withVolume(ctx, "", pv, refuse(ontap.ErrNotFound, "source snapshot %s does not exist: no volume %s", id, pv), func(f *found) error {
		s, err := snapshotOn(ctx, f, snap)
		if err != nil {
			return err
		}
		if s == nil {
			return missing
		}
		source = f
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return source, snap, nil
}

// deleteSnapshot deletes a snapshot; one that is gone, or an ID this driver never gave,
// counts as deleted.
func (d *Driver) deleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, refuse(errInvalid, "snapshot_id is required")
	}
	pv, snap, ok := ParseSnapshotID(req.GetSnapshotId())
	if !ok {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	err := d.withVolume(ctx, "snapshot "+snap, pv, nil, func(f *found) error {
		s, err := snapshotOn(ctx, f, snap)
		if s == nil || err != nil {
			return err
		}
		if err := run(ctx, f.backend, func() (*ontap.Job, error) { return f.backend.DeleteSnapshot(ctx, f.volume.UUID, s.UUID) }); err != nil && !errors.Is(err, ontap.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

// listSnapshots lists snapshots by ID, by source volume, or all of this driver's volumes'
// (SnapMirror's own base snapshots left out), in ID order and in pages.
func (d *Driver) listSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	var entries []*csi.ListSnapshotsResponse_Entry
	add := func(id string, s ontap.Snapshot) {
		if !strings.HasPrefix(s.Name, "snapmirror.") {
			entries = append(entries, &csi.ListSnapshotsResponse_Entry{Snapshot: csiSnapshot(id, s)})
		}
	}
	switch {
	case req.GetSnapshotId() != "":
		pv, snap, ok := ParseSnapshotID(req.GetSnapshotId())
		if !ok {
			break
		}
		err := d.withVolume(ctx, "", pv, nil, func(f *found) error {
			s, err := snapshotOn(ctx, f, snap)
			if s != nil {
				add(pv, *s)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	case req.GetSourceVolumeId() != "":
		pv := req.GetSourceVolumeId()
		if !volumeID.MatchString(pv) {
			break
		}
		err := d.withVolume(ctx, "", pv, nil, func(f *found) error {
			snaps, err := f.backend.ListSnapshots(ctx, f.volume.UUID)
			for _, s := range snaps {
				add(pv, s)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	default:
		for _, b := range d.backends {
			vols, err := volumesOf(ctx, b)
			if err != nil {
				return nil, err
			}
			ids := map[string]string{}
			for _, v := range vols {
				if id, ok := idOf(v); ok {
					ids[v.UUID] = id
				}
			}
			snaps, err := b.FindSnapshots(ctx, b.SVM, b.Prefix()+"*", "")
			if err != nil {
				return nil, answered(ctx, b, err)
			}
			for _, s := range snaps {
				if id, ok := ids[s.VolumeUUID]; ok {
					add(id, s)
				}
			}
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Snapshot.SnapshotId < entries[j].Snapshot.SnapshotId })
	page, next, err := paginate(entries, req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	return &csi.ListSnapshotsResponse{Entries: page, NextToken: next}, nil
}
