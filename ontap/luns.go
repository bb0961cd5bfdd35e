package ontap

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/go-openapi/runtime"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/san"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// LUN is a SAN logical unit, a file of a FlexVol that hosts see as a block device.
type LUN struct {
	UUID string
	// Path is ONTAP's name of the LUN: /vol/<volume>/<lun>.
	Path   string
	SVM    string
	Volume string
	// Size is the LUN's size in bytes, as ONTAP rounded it.
	Size int64
	// Serial is the SCSI serial number (12 characters) by which a host finds the LUN; a
	// mirror's copy of a LUN has a serial of its own.
	Serial string
	// State is online, offline, nvfail, space_error or foreign_lun_error.
	State string
	// ReadOnly is true while the LUN's volume is a SnapMirror destination (DP).
	ReadOnly bool
	// Maps are the igroups the LUN is mapped to.
	Maps []LUNMap
	// Attributes are the LUN's name-value attributes (Trident keeps the filesystem type in
	// com.netapp.ndvp.fstype).
	Attributes map[string]string
}

// LUNSpec is what CreateLUN makes.
type LUNSpec struct {
	SVM string
	// Path is /vol/<volume>/<lun>; the volume must exist and be read-write.
	Path string
	// Size is in bytes; ONTAP rounds it up.
	Size int64
	// OSType is the hosts' operating system; default "linux".
	OSType string
	// Thick reserves the LUN's space in its volume; false (the default) makes it thin.
	Thick bool
	// Attributes are set with the LUN, in the same request.
	Attributes map[string]string
	Comment    string
}

// LUNPath is the path of LUN lun in volume volume.
func LUNPath(volume, lun string) string { return "/vol/" + volume + "/" + lun }

var lunFields = []string{
	"uuid", "name", "svm.name", "location.volume.name", "space.size", "serial_number", "status.state",
	"status.read_only", "lun_maps.igroup.name", "lun_maps.igroup.uuid", "lun_maps.logical_unit_number",
	"attributes.name", "attributes.value",
}

// CreateLUN creates a LUN with its attributes. A LUN at that path fails with
// IsAlreadyExists; a missing volume with ErrNotFound or ONTAP's refusal. ONTAP may run it as a
// job.
func (c *Client) CreateLUN(ctx context.Context, spec LUNSpec) (*Job, error) {
	m := &models.Lun{
		Name: spec.Path, Svm: &models.SvmReference{Name: spec.SVM}, OsType: orDefault(spec.OSType, "linux"), Comment: spec.Comment,
		Space: &models.LunSpace{Size: spec.Size, Guarantee: &models.LunSpaceGuarantee{Requested: &spec.Thick}},
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Attributes)) {
		m.Attributes = append(m.Attributes, &models.LunAttribute{Name: name, Value: spec.Attributes[name]})
	}
	_, accepted, err := c.api.San.LunCreateContext(ctx, san.NewLunCreateParams().WithInfo(m).WithReturnTimeout(&c.returnTimeout), nil)
	if err != nil {
		return nil, fmt.Errorf("create LUN %s:%s: %w", spec.SVM, spec.Path, apiError(err))
	}
	return pending(accepted)
}

// GetLUN finds a LUN by SVM and path, with its maps and attributes, or fails with
// ErrNotFound.
func (c *Client) GetLUN(ctx context.Context, svm, path string) (*LUN, error) {
	lun, err := first(c.ListLUNs(ctx, svm, path))
	if err != nil {
		return nil, fmt.Errorf("get LUN %s:%s: %w", svm, path, err)
	}
	return lun, nil
}

// ListLUNs lists an SVM's LUNs whose path matches pattern (ONTAP's * wildcard), with their
// maps and attributes.
func (c *Client) ListLUNs(ctx context.Context, svm, pattern string) ([]LUN, error) {
	params := san.NewLunCollectionGetParams().WithSvmName(&svm).WithName(&pattern).WithFields(lunFields).WithMaxRecords(c.pageSize)
	luns, err := listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.Lun, *models.CollectionLinks, error) {
		resp, err := c.api.San.LunCollectionGetContext(ctx, params, nil, opts[san.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(lunFromModel))
	if err != nil {
		return nil, fmt.Errorf("list LUNs %s:%s: %w", svm, pattern, err)
	}
	return luns, nil
}

// ResizeLUN grows the LUN to size bytes. ONTAP refuses to shrink a LUN (CodeLUNShrink); a LUN
// of that size already is no error.
func (c *Client) ResizeLUN(ctx context.Context, uuid string, size int64) (*Job, error) {
	params := san.NewLunModifyParams().WithUUID(uuid).WithReturnTimeout(&c.returnTimeout).
		WithInfo(&models.Lun{Space: &models.LunSpace{Size: size}})
	_, accepted, err := c.api.San.LunModifyContext(ctx, params, nil)
	if err = apiError(err); HasCode(err, CodeLUNSameSize) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resize LUN %s to %d bytes: %w", uuid, size, err)
	}
	return pending(accepted)
}

// DeleteLUN deletes the LUN; a mapped one fails with IsMapped, a missing one with
// ErrNotFound.
func (c *Client) DeleteLUN(ctx context.Context, uuid string) (*Job, error) {
	_, accepted, err := c.api.San.LunDeleteContext(ctx, san.NewLunDeleteParams().WithUUID(uuid).WithReturnTimeout(&c.returnTimeout), nil)
	if err != nil {
		return nil, fmt.Errorf("delete LUN %s: %w", uuid, apiError(err))
	}
	return pending(accepted)
}

// SetLUNAttribute adds an attribute to the LUN; one of that name fails with IsAlreadyExists,
// a missing LUN with ErrNotFound.
func (c *Client) SetLUNAttribute(ctx context.Context, uuid, name, value string) (*Job, error) {
	params := san.NewLunAttributeCreateParams().WithLunUUID(uuid).WithReturnTimeout(&c.returnTimeout).
		WithInfo(&models.LunAttribute{Name: name, Value: value})
	_, accepted, err := c.api.San.LunAttributeCreateContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("set attribute %s of LUN %s: %w", name, uuid, apiError(err))
	}
	return pending(accepted)
}

func lunFromModel(m *models.Lun) LUN {
	l := LUN{UUID: m.UUID, Path: m.Name, Serial: m.SerialNumber}
	if m.Svm != nil {
		l.SVM = m.Svm.Name
	}
	if m.Location != nil && m.Location.Volume != nil {
		l.Volume = m.Location.Volume.Name
	}
	if m.Space != nil {
		l.Size = m.Space.Size
	}
	if m.Status != nil {
		l.State, l.ReadOnly = m.Status.State, m.Status.ReadOnly
	}
	for _, mp := range m.LunMaps {
		if mp == nil || mp.Igroup == nil {
			continue
		}
		lm := LUNMap{LUN: l.Path, LUNUUID: l.UUID, SVM: l.SVM, Igroup: mp.Igroup.Name, IgroupUUID: mp.Igroup.UUID}
		if mp.LogicalUnitNumber != nil {
			lm.Number = *mp.LogicalUnitNumber
		}
		l.Maps = append(l.Maps, lm)
	}
	for _, a := range m.Attributes {
		if a == nil {
			continue
		}
		if l.Attributes == nil {
			l.Attributes = map[string]string{}
		}
		l.Attributes[a.Name] = a.Value
	}
	return l
}
