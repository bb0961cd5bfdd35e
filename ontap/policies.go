package ontap

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-openapi/runtime"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/cluster"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/snapmirror"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// Policy is a SnapMirror policy.
type Policy struct {
	Name string
	// Type is "async", "sync" or "continuous"; SyncType refines "sync".
	Type, SyncType string
	// SVM is empty for a cluster-wide (built-in) policy.
	SVM string
	// CopyAllSnapshots is true for mirror policies that carry every source snapshot, such as
	// MirrorAllSnapshots.
	CopyAllSnapshots bool
	Schedule         string
}

// Schedule is a job schedule.
type Schedule struct {
	Name string
	// Type is "cron" or "interval"; SnapMirror takes cron schedules only.
	Type string
	// Cron is when a cron schedule fires; nil for an interval schedule.
	Cron *Cron
}

// Cron is when a cron schedule fires: at every minute that matches all five lists, an empty
// list matching every value. Months are 1-12, days 1-31, weekdays 0-6 from Sunday, in the
// cluster's time zone.
type Cron struct {
	Minutes, Hours, Days, Weekdays, Months []int
}

// GetPolicy finds a policy by name that applies to the SVM: the SVM's own, else the
// cluster's. It fails with ErrNotFound.
func (c *Client) GetPolicy(ctx context.Context, svm, name string) (*Policy, error) {
	params := snapmirror.NewSnapmirrorPoliciesGetParams().WithName(&name).
		WithFields([]string{"name", "type", "sync_type", "svm.name", "copy_all_source_snapshots", "transfer_schedule.name"})
	policies, err := listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.SnapmirrorPolicy, *models.CollectionLinks, error) {
		resp, err := c.api.Snapmirror.SnapmirrorPoliciesGetContext(ctx, params, nil, opts[snapmirror.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, infallible(func(r *models.SnapmirrorPolicy) Policy {
		pol := Policy{Name: r.Name, Type: r.Type, SyncType: r.SyncType}
		if r.Svm != nil {
			pol.SVM = r.Svm.Name
		}
		if r.CopyAllSourceSnapshots != nil {
			pol.CopyAllSnapshots = *r.CopyAllSourceSnapshots
		}
		if r.TransferSchedule != nil {
			pol.Schedule = r.TransferSchedule.Name
		}
		return pol
	}))
	if err != nil {
		return nil, fmt.Errorf("get SnapMirror policy %s: %w", name, err)
	}
	var found *Policy
	for i, p := range policies {
		switch p.SVM {
		case svm:
			return &policies[i], nil
		case "":
			found = &policies[i]
		}
	}
	if found == nil {
		return nil, fmt.Errorf("get SnapMirror policy %s for SVM %s: %w", name, svm, ErrNotFound)
	}
	return found, nil
}

// GetSchedule finds a schedule by name, or fails with ErrNotFound.
func (c *Client) GetSchedule(ctx context.Context, name string) (*Schedule, error) {
	params := cluster.NewScheduleCollectionGetParams().WithName(&name).
		WithFields([]string{"name", "type", "cron.minutes", "cron.hours", "cron.days", "cron.weekdays", "cron.months"})
	resp, err := c.api.Cluster.ScheduleCollectionGetContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("get schedule %s: %w", name, apiError(err))
	}
	if len(resp.Payload.Records) == 0 {
		return nil, fmt.Errorf("get schedule %s: %w", name, ErrNotFound)
	}
	r := resp.Payload.Records[0]
	s := &Schedule{Name: r.Name, Type: r.Type}
	if c := r.Cron; c != nil {
		s.Cron = &Cron{Minutes: ints(c.Minutes), Hours: ints(c.Hours), Days: ints(c.Days), Weekdays: ints(c.Weekdays), Months: ints(c.Months)}
	}
	return s, nil
}

func ints(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// DefaultReplicationPolicy is the policy of a mirror relationship when neither the TMR nor the
// backend names one: ONTAP's asynchronous mirror that carries every source snapshot.
const DefaultReplicationPolicy = "MirrorAllSnapshots"

// CheckReplicationPolicy finds what makes the named policy unfit to mirror a volume of the
// SVM: it must exist, and be async and carry all source snapshots (so that the snapshots of a
// planned failover reach the destination), or be sync. problem says what to use instead, and
// is empty for a fit policy; err is set when ONTAP could not tell.
func (c *Client) CheckReplicationPolicy(ctx context.Context, svm, name string) (problem string, err error) {
	p, err := c.GetPolicy(ctx, svm, name)
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Sprintf("%q is no SnapMirror policy of SVM %s or of its cluster: name an existing one, such as %s", name, svm, DefaultReplicationPolicy), nil
	case err != nil:
		return "", err
	case p.Type == "async" && !p.CopyAllSnapshots:
		return fmt.Sprintf("%q is async but does not mirror all source snapshots: use a policy like %s, so that snapshots reach the destination", name, DefaultReplicationPolicy), nil
	case p.Type != "async" && p.Type != "sync":
		return fmt.Sprintf("%q is of type %s: use an async policy like %s, or a sync one", name, p.Type, DefaultReplicationPolicy), nil
	}
	return "", nil
}
