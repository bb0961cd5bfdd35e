package ontap

import (
	"context"
	"fmt"

	"github.com/go-openapi/runtime"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/network"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/san"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// Igroup is an initiator group: the hosts (by initiator name, an iSCSI IQN) that LUNs mapped
// to it are presented to.
type Igroup struct {
	UUID, Name, SVM string
	// Protocol is iscsi, fcp or mixed; OSType the hosts' operating system.
	Protocol, OSType string
	Initiators       []string
}

// IgroupSpec is what CreateIgroup makes.
type IgroupSpec struct {
	// Name is 1 to 96 characters, unique in the SVM.
	Name, SVM string
	// Protocol is "iscsi" (default) or "fcp"; OSType defaults to "linux".
	Protocol, OSType string
	Initiators       []string
	Comment          string
}

// LUNMap is a LUN's mapping to an igroup: the hosts of the igroup see the LUN under its
// logical unit number.
type LUNMap struct {
	// LUN is the LUN's path, LUNUUID its UUID.
	LUN, LUNUUID string
	SVM          string
	// Igroup is the igroup's name, IgroupUUID its UUID.
	Igroup, IgroupUUID string
	// Number is the logical unit number (0 to 4095) within the igroup.
	Number int64
}

// ISCSIService is an SVM's iSCSI target.
type ISCSIService struct {
	// Target is the target's IQN, which hosts log in to.
	Target  string
	Enabled bool
}

var igroupFields = []string{"uuid", "name", "svm.name", "protocol", "os_type", "initiators.name"}

// CreateIgroup creates an igroup and returns it; one of that name fails with
// IsAlreadyExists.
func (c *Client) CreateIgroup(ctx context.Context, spec IgroupSpec) (*Igroup, error) {
	m := &models.Igroup{
		Name: spec.Name, Svm: &models.SvmReference{Name: spec.SVM}, Protocol: orDefault(spec.Protocol, "iscsi"),
		OsType: orDefault(spec.OSType, "linux"), Comment: spec.Comment,
	}
	for _, i := range spec.Initiators {
		m.Initiators = append(m.Initiators, &models.IgroupInitiator{Name: i})
	}
	yes := true
	resp, err := c.api.San.IgroupCreateContext(ctx, san.NewIgroupCreateParams().WithInfo(m).WithReturnRecords(&yes), nil)
	if err != nil {
		return nil, fmt.Errorf("create igroup %s:%s: %w", spec.SVM, spec.Name, apiError(err))
	}
	ig := Igroup{Name: spec.Name, SVM: spec.SVM, Protocol: m.Protocol, OSType: m.OsType, Initiators: spec.Initiators}
	if resp.Payload != nil && len(resp.Payload.Records) > 0 && resp.Payload.Records[0] != nil {
		ig.UUID = resp.Payload.Records[0].UUID
	}
	return &ig, nil
}

// GetIgroup finds an igroup by SVM and name, with its initiators, or fails with ErrNotFound.
func (c *Client) GetIgroup(ctx context.Context, svm, name string) (*Igroup, error) {
	params := san.NewIgroupCollectionGetParams().WithSvmName(&svm).WithName(&name).WithFields(igroupFields)
	found, err := first(listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.Igroup, *models.CollectionLinks, error) {
		resp, err := c.api.San.IgroupCollectionGetContext(ctx, params, nil, opts[san.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(igroupFromModel)))
	if err != nil {
		return nil, fmt.Errorf("get igroup %s:%s: %w", svm, name, err)
	}
	return found, nil
}

// AddInitiator adds an initiator to the igroup; one that is there already is no error, a
// missing igroup fails with ErrNotFound.
func (c *Client) AddInitiator(ctx context.Context, igroupUUID, initiator string) error {
	params := san.NewIgroupInitiatorCreateParams().WithIgroupUUID(igroupUUID).WithInfo(&models.IgroupInitiator{Name: initiator})
	_, err := c.api.San.IgroupInitiatorCreateContext(ctx, params, nil)
	if err = apiError(err); err != nil && !HasCode(err, CodeInitiatorInIgroup) {
		return fmt.Errorf("add initiator %s to igroup %s: %w", initiator, igroupUUID, err)
	}
	return nil
}

// DeleteIgroup deletes the igroup; one that still maps a LUN fails with IsMapped, a missing
// one with ErrNotFound.
func (c *Client) DeleteIgroup(ctx context.Context, uuid string) error {
	if _, err := c.api.San.IgroupDeleteContext(ctx, san.NewIgroupDeleteParams().WithUUID(uuid), nil); err != nil {
		return fmt.Errorf("delete igroup %s: %w", uuid, apiError(err))
	}
	return nil
}

// MapLUN maps the LUN (by path) to the igroup (by name) under the lowest free logical unit
// number, and returns the map with that number. A LUN mapped to that igroup already fails
// with IsAlreadyMapped; a missing LUN or igroup with ErrNotFound.
func (c *Client) MapLUN(ctx context.Context, svm, lunPath, igroup string) (*LUNMap, error) {
	m := &models.LunMap{Svm: &models.SvmReference{Name: svm}, Lun: &models.NamedReference{Name: lunPath}, Igroup: &models.NamedReference{Name: igroup}}
	yes := true
	resp, err := c.api.San.LunMapCreateContext(ctx, san.NewLunMapCreateParams().WithInfo(m).WithReturnRecords(&yes), nil)
	if err != nil {
		return nil, fmt.Errorf("map LUN %s:%s to igroup %s: %w", svm, lunPath, igroup, apiError(err))
	}
	if resp.Payload == nil || len(resp.Payload.Records) == 0 || resp.Payload.Records[0] == nil || resp.Payload.Records[0].LogicalUnitNumber == nil {
		// Without the record, the number is read back.
		return c.GetLUNMap(ctx, svm, lunPath, igroup)
	}
	lm := lunMapFromModel(resp.Payload.Records[0])
	lm.SVM, lm.LUN, lm.Igroup = svm, lunPath, igroup
	return &lm, nil
}

// GetLUNMap finds the map of a LUN (by path) to an igroup (by name), with its logical unit
// number, or fails with ErrNotFound.
func (c *Client) GetLUNMap(ctx context.Context, svm, lunPath, igroup string) (*LUNMap, error) {
	params := san.NewLunMapCollectionGetParams().WithSvmName(&svm).WithLunName(&lunPath).WithIgroupName(&igroup).
		WithFields([]string{"svm.name", "lun.name", "lun.uuid", "igroup.name", "igroup.uuid", "logical_unit_number"})
	found, err := first(listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.LunMap, *models.CollectionLinks, error) {
		resp, err := c.api.San.LunMapCollectionGetContext(ctx, params, nil, opts[san.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(lunMapFromModel)))
	if err != nil {
		return nil, fmt.Errorf("get the map of LUN %s:%s to igroup %s: %w", svm, lunPath, igroup, err)
	}
	return found, nil
}

// UnmapLUN removes the map of a LUN to an igroup, both by UUID; a map that does not exist
// fails with ErrNotFound.
func (c *Client) UnmapLUN(ctx context.Context, lunUUID, igroupUUID string) error {
	params := san.NewLunMapDeleteParams().WithLunUUID(lunUUID).WithIgroupUUID(igroupUUID)
	if _, err := c.api.San.LunMapDeleteContext(ctx, params, nil); err != nil {
		return fmt.Errorf("unmap LUN %s from igroup %s: %w", lunUUID, igroupUUID, apiError(err))
	}
	return nil
}

// GetISCSIService returns the SVM's iSCSI service; an SVM without one fails with ErrNotFound.
func (c *Client) GetISCSIService(ctx context.Context, svm string) (*ISCSIService, error) {
	params := san.NewIscsiServiceCollectionGetParams().WithSvmName(&svm).WithFields([]string{"svm.name", "enabled", "target.name"})
	resp, err := c.api.San.IscsiServiceCollectionGetContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("get the iSCSI service of SVM %s: %w", svm, apiError(err))
	}
	if len(resp.Payload.Records) == 0 || resp.Payload.Records[0] == nil {
		return nil, fmt.Errorf("get the iSCSI service of SVM %s: %w", svm, ErrNotFound)
	}
	r := resp.Payload.Records[0]
	s := &ISCSIService{Enabled: r.Enabled == nil || *r.Enabled}
	if r.Target != nil {
		s.Target = r.Target.Name
	}
	return s, nil
}

// DataLIFs returns the addresses of the SVM's interfaces that serve service (such as
// "data_iscsi" or "data_nfs") and are up.
func (c *Client) DataLIFs(ctx context.Context, svm, service string) ([]string, error) {
	up := "up"
	params := network.NewNetworkIPInterfacesGetParams().WithSvmName(&svm).WithServices(&service).WithState(&up).
		WithFields([]string{"ip.address", "state"}).WithMaxRecords(c.pageSize)
	addrs, err := listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.IPInterface, *models.CollectionLinks, error) {
		resp, err := c.api.Network.NetworkIPInterfacesGetContext(ctx, params, nil, opts[network.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(func(m *models.IPInterface) string {
		if m.IP == nil || m.State != "up" {
			return ""
		}
		return m.IP.Address
	}))
	if err != nil {
		return nil, fmt.Errorf("list the %s interfaces of SVM %s: %w", service, svm, err)
	}
	out := addrs[:0]
	for _, a := range addrs {
		if a != "" {
			out = append(out, a)
		}
	}
	return out, nil
}

func igroupFromModel(m *models.Igroup) Igroup {
	ig := Igroup{UUID: m.UUID, Name: m.Name, Protocol: m.Protocol, OSType: m.OsType}
	if m.Svm != nil {
		ig.SVM = m.Svm.Name
	}
	for _, i := range m.Initiators {
		if i != nil {
			ig.Initiators = append(ig.Initiators, i.Name)
		}
	}
	return ig
}

func lunMapFromModel(m *models.LunMap) LUNMap {
	var lm LUNMap
	if m.Svm != nil {
		lm.SVM = m.Svm.Name
	}
	if m.Lun != nil {
		lm.LUN, lm.LUNUUID = m.Lun.Name, m.Lun.UUID
	}
	if m.Igroup != nil {
		lm.Igroup, lm.IgroupUUID = m.Igroup.Name, m.Igroup.UUID
	}
	if m.LogicalUnitNumber != nil {
		lm.Number = *m.LogicalUnitNumber
	}
	return lm
}
