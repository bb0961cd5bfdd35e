package ontap

import (
	"context"
	"fmt"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/nfs"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// ExportPolicy is an NFS export policy of an SVM.
type ExportPolicy struct {
	ID   int64
	Name string
}

// ExportRule lets NFS clients that match Clients (e.g. "0.0.0.0/0") mount read-write with
// AUTH_SYS.
type ExportRule struct {
	Clients []string
}

// GetExportPolicy finds an SVM's export policy by name, or fails with ErrNotFound.
func (c *Client) GetExportPolicy(ctx context.Context, svm, name string) (*ExportPolicy, error) {
	params := nfs.NewExportPolicyCollectionGetParams().WithSvmName(&svm).WithName(&name).WithFields([]string{"id", "name"})
	resp, err := c.api.Nfs.ExportPolicyCollectionGetContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("get export policy %s of SVM %s: %w", name, svm, apiError(err))
	}
	if len(resp.Payload.Records) == 0 {
		return nil, fmt.Errorf("get export policy %s of SVM %s: %w", name, svm, ErrNotFound)
	}
	r := resp.Payload.Records[0]
	return &ExportPolicy{ID: r.ID, Name: r.Name}, nil
}

// CreateExportPolicy creates an export policy with its rules in one call; a duplicate
// name fails with IsAlreadyExists.
func (c *Client) CreateExportPolicy(ctx context.Context, svm, name string, rules []ExportRule) (*ExportPolicy, error) {
	m := &models.ExportPolicy{Name: name, Svm: &models.SvmReference{Name: svm}}
	for _, r := range rules {
		rule := &models.ExportRule{
			Protocols: []string{"nfs"}, RoRule: []string{"sys"}, RwRule: []string{"sys"}, Superuser: []string{"sys"},
		}
		for _, cl := range r.Clients {
			rule.Clients = append(rule.Clients, &models.ExportClient{Match: cl})
		}
		m.Rules = append(m.Rules, rule)
	}
	yes := true
	resp, err := c.api.Nfs.ExportPolicyCreateContext(ctx, nfs.NewExportPolicyCreateParams().WithInfo(m).WithReturnRecords(&yes), nil)
	if err != nil {
		return nil, fmt.Errorf("create export policy %s of SVM %s: %w", name, svm, apiError(err))
	}
	p := &ExportPolicy{Name: name}
	if resp.Payload != nil && len(resp.Payload.Records) > 0 {
		p.ID = resp.Payload.Records[0].ID
	}
	return p, nil
}
