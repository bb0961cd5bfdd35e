package ontap

import (
	"context"
	"fmt"
	"time"

	"github.com/go-openapi/runtime"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/storage"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// Snapshot is a snapshot of a volume.
type Snapshot struct {
	UUID    string
	Name    string
	Created time.Time
	Size    int64
	// Owners are the services that hold the snapshot, e.g. SnapMirror; such snapshots
	// cannot be deleted.
	Owners []string
	// Volume and VolumeUUID identify the snapshot's volume.
	Volume, VolumeUUID string
}

var snapshotFields = []string{"uuid", "name", "create_time", "size", "owners", "volume.name", "volume.uuid"}

// CreateSnapshot takes a snapshot; a duplicate name fails with IsAlreadyExists, and a DP
// volume refuses with CodeSnapshotOnDP.
func (c *Client) CreateSnapshot(ctx context.Context, volumeUUID, name string) (*Job, error) {
	params := storage.NewSnapshotCreateParams().WithVolumeUUID(volumeUUID).
		WithInfo(&models.Snapshot{Name: name}).WithReturnTimeout(&c.returnTimeout)
	_, accepted, err := c.api.Storage.SnapshotCreateContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("create snapshot %s of volume %s: %w", name, volumeUUID, apiError(err))
	}
	return pending(accepted)
}

// GetSnapshot finds a snapshot by name, or fails with ErrNotFound.
func (c *Client) GetSnapshot(ctx context.Context, volumeUUID, name string) (*Snapshot, error) {
	snap, err := first(c.listSnapshots(ctx, volumeUUID, &name, nil, nil))
	if err != nil {
		return nil, fmt.Errorf("get snapshot %s of volume %s: %w", name, volumeUUID, err)
	}
	return snap, nil
}

// ListSnapshots lists the volume's snapshots, oldest first.
func (c *Client) ListSnapshots(ctx context.Context, volumeUUID string) ([]Snapshot, error) {
	snaps, err := c.listSnapshots(ctx, volumeUUID, nil, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("list snapshots of volume %s: %w", volumeUUID, err)
	}
	return snaps, nil
}

// FindSnapshots finds, with one query, the snapshots whose name matches name on every
// volume of the SVM whose name matches volume (ONTAP's * wildcard; empty matches all).
func (c *Client) FindSnapshots(ctx context.Context, svm, volume, name string) ([]Snapshot, error) {
	snaps, err := c.listSnapshots(ctx, "*", nonEmpty(name), nonEmpty(svm), nonEmpty(volume))
	if err != nil {
		return nil, fmt.Errorf("find snapshots %s of volumes %s: %w", name, volume, err)
	}
	return snaps, nil
}

// listSnapshots lists snapshots of one volume, or of every volume ("*") filtered by SVM and
// volume name.
func (c *Client) listSnapshots(ctx context.Context, volumeUUID string, name, svm, volume *string) ([]Snapshot, error) {
	params := storage.NewSnapshotCollectionGetParams().WithVolumeUUID(volumeUUID).WithName(name).
		WithFields(snapshotFields).WithOrderBy([]string{"create_time"}).WithMaxRecords(c.pageSize)
	params.SetVolumeName(volume)
	params.SetSvmName(svm)
	return listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.Snapshot, *models.CollectionLinks, error) {
		resp, err := c.api.Storage.SnapshotCollectionGetContext(ctx, params, nil, opts[storage.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(func(r *models.Snapshot) Snapshot {
		s := Snapshot{UUID: r.UUID, Name: r.Name, Size: r.Size, Owners: r.Owners}
		if r.Volume != nil {
			s.Volume, s.VolumeUUID = r.Volume.Name, r.Volume.UUID
		}
		if r.CreateTime != nil {
			s.Created = time.Time(*r.CreateTime)
		}
		return s
	}))
}

// WrittenSince reports how many bytes of the "svm:volume" path's active file system
// differ from its snapshot (ONTAP's expensive delta field), with one query; ErrNotFound
// when the snapshot is not there.
func (c *Client) WrittenSince(ctx context.Context, path, snapshot string) (int64, error) {
	svm, volume, _ := SplitPath(path)
	params := storage.NewSnapshotCollectionGetParams().WithVolumeUUID("*").WithName(&snapshot).
		WithFields([]string{"name", "delta.size_consumed"})
	params.SetSvmName(&svm)
	params.SetVolumeName(&volume)
	resp, err := c.api.Storage.SnapshotCollectionGetContext(ctx, params, nil)
	if err != nil {
		return 0, fmt.Errorf("delta of %s since snapshot %s: %w", path, snapshot, apiError(err))
	}
	for _, r := range resp.Payload.Records {
		if r.Name == snapshot && r.Delta != nil {
			return r.Delta.SizeConsumed, nil
		}
	}
	return 0, fmt.Errorf("delta of %s since snapshot %s: %w", path, snapshot, ErrNotFound)
}

// DeleteSnapshot deletes a snapshot by UUID.
func (c *Client) DeleteSnapshot(ctx context.Context, volumeUUID, uuid string) (*Job, error) {
	params := storage.NewSnapshotDeleteParams().WithVolumeUUID(volumeUUID).WithUUID(uuid).WithReturnTimeout(&c.returnTimeout)
	_, accepted, err := c.api.Storage.SnapshotDeleteContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("delete snapshot %s of volume %s: %w", uuid, volumeUUID, apiError(err))
	}
	return pending(accepted)
}
