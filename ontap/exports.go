package ontap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-openapi/runtime"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/nfs"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// ExportPolicy is an NFS export policy of an SVM.
type ExportPolicy struct {
	ID   int64
	Name string
}

// ExportRule lets NFS clients that match Clients (e.g. "0.0.0.0/0" or a node's address) mount
// with AUTH_SYS: read-write, or only read when ReadOnly (rw_rule never).
type ExportRule struct {
	// Index is the rule's place in its policy, as ONTAP numbers it; 0 in a rule to create.
	Index    int64
	Clients  []string
	ReadOnly bool
}

func (r ExportRule) model() *models.ExportRule {
	rw := []string{"sys"}
	if r.ReadOnly {
		rw = []string{"never"}
	}
	m := &models.ExportRule{Protocols: []string{"nfs"}, RoRule: []string{"sys"}, RwRule: rw, Superuser: []string{"sys"}}
	for _, cl := range r.Clients {
		m.Clients = append(m.Clients, &models.ExportClient{Match: cl})
	}
	return m
}

func exportRuleFromModel(m *models.ExportRule) ExportRule {
	r := ExportRule{Index: m.Index, ReadOnly: !slices.ContainsFunc(m.RwRule, func(s string) bool { return s != "never" && s != "none" })}
	for _, cl := range m.Clients {
		if cl != nil {
			r.Clients = append(r.Clients, cl.Match)
		}
	}
	return r
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
		m.Rules = append(m.Rules, r.model())
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

// EnsureExportPolicy returns the SVM's export policy of that name, created without rules (no
// client may mount through it) when missing. Another caller creating it at the same moment
// is no error.
func (c *Client) EnsureExportPolicy(ctx context.Context, svm, name string) (*ExportPolicy, error) {
	p, err := c.CreateExportPolicy(ctx, svm, name, nil)
	if IsAlreadyExists(err) || (err == nil && p.ID == 0) {
		return c.GetExportPolicy(ctx, svm, name)
	}
	return p, err
}

// DeleteExportPolicy deletes an export policy; a missing one is no error. ONTAP refuses to
// delete a policy that a volume uses.
func (c *Client) DeleteExportPolicy(ctx context.Context, id int64) error {
	_, err := c.api.Nfs.ExportPolicyDeleteContext(ctx, nfs.NewExportPolicyDeleteParams().WithID(id), nil)
	if err = apiError(err); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete export policy %d: %w", id, err)
	}
	return nil
}

// ExportRules lists the rules of an export policy, in ONTAP's order (by index).
func (c *Client) ExportRules(ctx context.Context, policyID int64) ([]ExportRule, error) {
	params := nfs.NewExportRuleCollectionGetParams().WithPolicyID(policyID).
		WithFields([]string{"index", "clients", "rw_rule"}).WithMaxRecords(c.pageSize)
	rules, err := listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.ExportRule, *models.CollectionLinks, error) {
		resp, err := c.api.Nfs.ExportRuleCollectionGetContext(ctx, params, nil, opts[nfs.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(exportRuleFromModel))
	if err != nil {
		return nil, fmt.Errorf("list the rules of export policy %d: %w", policyID, err)
	}
	slices.SortFunc(rules, func(a, b ExportRule) int { return cmp.Compare(a.Index, b.Index) })
	return rules, nil
}

// AddExportRule appends a rule to an export policy; an identical rule there already is no
// error (ONTAP refuses a duplicate with CodeIdenticalRule).
func (c *Client) AddExportRule(ctx context.Context, policyID int64, rule ExportRule) error {
	params := nfs.NewExportRuleCreateParams().WithPolicyID(policyID).WithInfo(rule.model())
	_, err := c.api.Nfs.ExportRuleCreateContext(ctx, params, nil)
	if err = apiError(err); err != nil && !HasCode(err, CodeIdenticalRule) {
		return fmt.Errorf("add a rule for %v to export policy %d: %w", rule.Clients, policyID, err)
	}
	return nil
}

// DeleteExportRule deletes the rule at index; a missing one is no error. Delete several from
// the highest index down: whether ONTAP renumbers the rules after a delete is UNCONFIRMED,
// and only rules after the deleted one could move.
func (c *Client) DeleteExportRule(ctx context.Context, policyID, index int64) error {
	params := nfs.NewExportRuleDeleteParams().WithPolicyID(policyID).WithIndex(index)
	_, err := c.api.Nfs.ExportRuleDeleteContext(ctx, params, nil)
	if err = apiError(err); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete rule %d of export policy %d: %w", index, policyID, err)
	}
	return nil
}
