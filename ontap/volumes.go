package ontap

import (
	"context"
	"fmt"
	"regexp"

	"github.com/go-openapi/runtime"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/storage"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// Volume types.
const (
	VolumeRW = "rw"
	VolumeDP = "dp"
)

// Volume is a FlexVol.
type Volume struct {
	UUID      string
	Name      string
	SVM       string
	Aggregate string
	// Size is the provisioned size in bytes; Used is what the data takes.
	Size, Used int64
	// Type is VolumeRW or VolumeDP.
	Type  string
	State string
	// JunctionPath is the NFS mount path, empty when unmounted.
	JunctionPath string
	// ExportPolicy and ExportPolicyID name the volume's NFS export policy.
	ExportPolicy   string
	ExportPolicyID int64
	Comment        string
	// Protected is true while the volume is a SnapMirror source.
	Protected    bool
	AutosizeMode string
	AutosizeMax  int64
}

// VolumeSpec is what CreateVolume makes.
type VolumeSpec struct {
	Name      string
	SVM       string
	Aggregate string
	Size      int64
	// Type is VolumeRW (the default) or VolumeDP.
	Type string
	// JunctionPath mounts the volume for NFS; ExportPolicy names its export policy.
	JunctionPath   string
	ExportPolicy   string
	SnapshotPolicy string
	// SnapshotReserve is the percentage kept for snapshots; nil keeps ONTAP's default.
	SnapshotReserve *int64
	Comment         string
	// AutosizeMode ("grow", "grow_shrink", "off") and AutosizeMax (bytes): how the volume
	// grows by itself, as a DP destination must when its source outgrows it.
	AutosizeMode string
	AutosizeMax  int64
	// CloneOf and CloneSnapshot, when set, make the volume a FlexClone of that volume's
	// snapshot, in the same SVM.
	CloneOf, CloneSnapshot string
}

var volumeFields = []string{
	"uuid", "name", "svm.name", "aggregates.name", "size", "space.used", "type", "state", "nas.path",
	"nas.export_policy.name", "nas.export_policy.id", "comment", "snapmirror.is_protected", "autosize.mode", "autosize.maximum",
}

// CreateVolume creates a volume; a duplicate name fails with IsAlreadyExists.
func (c *Client) CreateVolume(ctx context.Context, spec VolumeSpec) (*Job, error) {
	v := &models.Volume{
		Name: spec.Name, Svm: &models.SvmReference{Name: spec.SVM}, Size: spec.Size, Type: spec.Type,
		Aggregates: []*models.AggregateReference{{Name: spec.Aggregate}}, Comment: spec.Comment,
	}
	if spec.JunctionPath != "" || spec.ExportPolicy != "" {
		v.Nas = &models.VolumeNas{}
		if spec.JunctionPath != "" {
			v.Nas.Path = &spec.JunctionPath
		}
		if spec.ExportPolicy != "" {
			v.Nas.ExportPolicy = &models.VolumeNasExportPolicy{Name: spec.ExportPolicy}
		}
	}
	if spec.SnapshotPolicy != "" {
		v.SnapshotPolicy = &models.NamedReference{Name: spec.SnapshotPolicy}
	}
	if spec.SnapshotReserve != nil {
		v.Space = &models.VolumeSpace{Snapshot: &models.VolumeSpaceSnapshot{ReservePercent: spec.SnapshotReserve}}
	}
	if spec.AutosizeMode != "" {
		v.Autosize = &models.VolumeAutosize{Mode: spec.AutosizeMode, Maximum: spec.AutosizeMax}
	}
	if spec.CloneOf != "" {
		v.Clone = &models.VolumeClone{
			IsFlexclone: true, ParentVolume: &models.NamedReference{Name: spec.CloneOf},
			ParentSnapshot: &models.NamedReference{Name: spec.CloneSnapshot},
		}
	}
	params := storage.NewVolumeCreateParams().WithInfo(v).WithReturnTimeout(&c.returnTimeout)
	_, accepted, err := c.api.Storage.VolumeCreateContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("create volume %s:%s: %w", spec.SVM, spec.Name, apiError(err))
	}
	return pending(accepted)
}

// GetVolume finds a volume by SVM and name, or fails with ErrNotFound.
func (c *Client) GetVolume(ctx context.Context, svm, name string) (*Volume, error) {
	vol, err := first(c.listVolumes(ctx, svm, name))
	if err != nil {
		return nil, fmt.Errorf("get volume %s:%s: %w", svm, name, err)
	}
	return vol, nil
}

// ListVolumes lists an SVM's volumes whose name matches pattern (ONTAP's * wildcard).
func (c *Client) ListVolumes(ctx context.Context, svm, pattern string) ([]Volume, error) {
	vols, err := c.listVolumes(ctx, svm, pattern)
	if err != nil {
		return nil, fmt.Errorf("list volumes %s:%s: %w", svm, pattern, err)
	}
	return vols, nil
}

func (c *Client) listVolumes(ctx context.Context, svm, name string) ([]Volume, error) {
	params := storage.NewVolumeCollectionGetParams().WithSvmName(&svm).WithName(&name).
		WithFields(volumeFields).WithMaxRecords(c.pageSize)
	return listAll(c.volumePages(ctx, params), infallible(volumeFromModel))
}

// volumePages fetches the pages of a volume collection.
func (c *Client) volumePages(ctx context.Context, params *storage.VolumeCollectionGetParams) fetchPage[*models.Volume] {
	return func(o ...func(*runtime.ClientOperation)) ([]*models.Volume, *models.CollectionLinks, error) {
		resp, err := c.api.Storage.VolumeCollectionGetContext(ctx, params, nil, opts[storage.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}
}

// WriteCounts returns, for every volume of the SVM by name, the writes clients have made to
// it (statistics.iops_raw.write, cumulative since the cluster booted): a counter that moved
// says the volume was written, at the cost of one list for the whole SVM.
func (c *Client) WriteCounts(ctx context.Context, svm string) (map[string]int64, error) {
	params := storage.NewVolumeCollectionGetParams().WithSvmName(&svm).
		WithFields([]string{"name", "statistics.iops_raw.write"}).WithMaxRecords(c.pageSize)
	vols, err := listAll(c.volumePages(ctx, params), infallible(func(v *models.Volume) *models.Volume { return v }))
	if err != nil {
		return nil, fmt.Errorf("write counts of the volumes of SVM %s: %w", svm, err)
	}
	counts := make(map[string]int64, len(vols))
	for _, v := range vols {
		if v.Statistics != nil && v.Statistics.IopsRaw != nil {
			counts[v.Name] = v.Statistics.IopsRaw.Write
		}
	}
	return counts, nil
}

// ResizeVolume sets the volume's size in bytes.
func (c *Client) ResizeVolume(ctx context.Context, uuid string, size int64) (*Job, error) {
	job, err := c.modifyVolume(ctx, storage.NewVolumeModifyParams().WithUUID(uuid).WithInfo(&models.Volume{Size: size}))
	if err != nil {
		return nil, fmt.Errorf("resize volume %s to %d bytes: %w", uuid, size, err)
	}
	return job, nil
}

// MountVolume sets the volume's NFS junction path and export policy; ONTAP refuses it on
// a DP volume before its first transfer.
func (c *Client) MountVolume(ctx context.Context, uuid, path, exportPolicy string) (*Job, error) {
	nas := &models.VolumeNas{Path: &path}
	if exportPolicy != "" {
		nas.ExportPolicy = &models.VolumeNasExportPolicy{Name: exportPolicy}
	}
	job, err := c.modifyVolume(ctx, storage.NewVolumeModifyParams().WithUUID(uuid).WithInfo(&models.Volume{Nas: nas}))
	if err != nil {
		return nil, fmt.Errorf("mount volume %s at %s: %w", uuid, path, err)
	}
	return job, nil
}

// SetExportPolicy sets the volume's NFS export policy.
func (c *Client) SetExportPolicy(ctx context.Context, uuid, exportPolicy string) (*Job, error) {
	nas := &models.VolumeNas{ExportPolicy: &models.VolumeNasExportPolicy{Name: exportPolicy}}
	job, err := c.modifyVolume(ctx, storage.NewVolumeModifyParams().WithUUID(uuid).WithInfo(&models.Volume{Nas: nas}))
	if err != nil {
		return nil, fmt.Errorf("set the export policy of volume %s to %s: %w", uuid, exportPolicy, err)
	}
	return job, nil
}

// RestoreVolume reverts the volume to one of its snapshots.
func (c *Client) RestoreVolume(ctx context.Context, uuid, snapshot string) (*Job, error) {
	job, err := c.modifyVolume(ctx, storage.NewVolumeModifyParams().WithUUID(uuid).
		WithRestoreToSnapshotName(&snapshot).WithInfo(&models.Volume{}))
	if err != nil {
		return nil, fmt.Errorf("restore volume %s to snapshot %s: %w", uuid, snapshot, err)
	}
	return job, nil
}

func (c *Client) modifyVolume(ctx context.Context, params *storage.VolumeModifyParams) (*Job, error) {
	_, accepted, err := c.api.Storage.VolumeModifyContext(ctx, params.WithReturnTimeout(&c.returnTimeout), nil)
	if err != nil {
		return nil, apiError(err)
	}
	return pending(accepted)
}

// DeleteVolume deletes the volume; a volume still in a SnapMirror relationship fails with
// IsInRelationship, and a missing one with ErrNotFound.
func (c *Client) DeleteVolume(ctx context.Context, uuid string) (*Job, error) {
	params := storage.NewVolumeDeleteParams().WithUUID(uuid).WithReturnTimeout(&c.returnTimeout)
	_, accepted, err := c.api.Storage.VolumeDeleteContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("delete volume %s: %w", uuid, apiError(err))
	}
	return pending(accepted)
}

func volumeFromModel(m *models.Volume) Volume {
	v := Volume{UUID: m.UUID, Name: m.Name, Size: m.Size, Type: m.Type, State: m.State, Comment: m.Comment}
	if m.Svm != nil {
		v.SVM = m.Svm.Name
	}
	if len(m.Aggregates) > 0 && m.Aggregates[0] != nil {
		v.Aggregate = m.Aggregates[0].Name
	}
	if m.Space != nil {
		v.Used = m.Space.Used
	}
	if m.Nas != nil {
		if m.Nas.Path != nil {
			v.JunctionPath = *m.Nas.Path
		}
		if m.Nas.ExportPolicy != nil {
			v.ExportPolicy, v.ExportPolicyID = m.Nas.ExportPolicy.Name, m.Nas.ExportPolicy.ID
		}
	}
	if m.Snapmirror != nil && m.Snapmirror.IsProtected != nil {
		v.Protected = *m.Snapmirror.IsProtected
	}
	if m.Autosize != nil {
		v.AutosizeMode, v.AutosizeMax = m.Autosize.Mode, m.Autosize.Maximum
	}
	return v
}

// volumeNamePrefix is what a storage prefix may be: a valid start of a FlexVol name.
var volumeNamePrefix = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
