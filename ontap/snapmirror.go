package ontap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-openapi/runtime"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client/snapmirror"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// RelationshipState is the state of a SnapMirror relationship.
type RelationshipState string

// The states of an asynchronous relationship.
const (
	Uninitialized RelationshipState = "uninitialized"
	Snapmirrored  RelationshipState = "snapmirrored"
	Paused        RelationshipState = "paused"
	BrokenOff     RelationshipState = "broken_off"
)

// TransferState is the state of a SnapMirror transfer.
type TransferState string

// Transfer states; all but queued and transferring are final.
const (
	TransferQueued       TransferState = "queued"
	TransferTransferring TransferState = "transferring"
	TransferSuccess      TransferState = "success"
	TransferFailed       TransferState = "failed"
	TransferAborted      TransferState = "aborted"
	TransferHardAborted  TransferState = "hard_aborted"
)

// Active reports whether the transfer is still queued or running.
func (s TransferState) Active() bool { return s == TransferQueued || s == TransferTransferring }

// Relationship is a SnapMirror relationship as one side sees it.
type Relationship struct {
	UUID string
	// Source and Destination are "svm:volume" paths.
	Source, Destination string
	// SourceCluster and DestinationCluster are set when that end is on a remote cluster.
	SourceCluster, DestinationCluster string
	Policy                            string
	PolicyType                        string
	Schedule                          string
	State                             RelationshipState
	// Healthy is nil when ONTAP did not say.
	Healthy          *bool
	UnhealthyReasons []string
	// Lag is the age of the newest snapshot the destination holds; nil when ONTAP has none.
	Lag              *time.Duration
	ExportedSnapshot string
	LastTransferType string
	// Transfer is the active transfer, or the last one; nil when there was none.
	Transfer *Transfer
}

// Transfer is a SnapMirror transfer.
type Transfer struct {
	UUID             string
	State            TransferState
	Type             string
	BytesTransferred int64
	// End is when the transfer ended; zero while it runs.
	End      time.Time
	Duration time.Duration
	// Snapshot is the snapshot the transfer carries.
	Snapshot string
	// Error is why a failed transfer failed, as ONTAP says.
	Error string
}

// RelationshipSpec is what CreateRelationship makes. Policy and Schedule are optional.
type RelationshipSpec struct {
	Source, Destination string
	Policy, Schedule    string
}

// RelationshipChange is a PATCH of a relationship: a new State (Snapmirrored to initialize,
// resume or resync; Paused to quiesce; BrokenOff to break, optionally reverting the
// destination to RestoreToSnapshot), or a new policy or schedule.
type RelationshipChange struct {
	State             RelationshipState
	RestoreToSnapshot string
	Policy, Schedule  string
}

// DeleteScope says which records a relationship DELETE removes.
type DeleteScope int

// The scopes of DeleteRelationship.
const (
	// DeleteBoth, on the destination, removes the relationship on both sides.
	DeleteBoth DeleteScope = iota
	// DeleteDestinationOnly, on the destination, removes only the destination's record.
	DeleteDestinationOnly
	// ReleaseSource, on the source, releases the source's record and its base snapshots.
	ReleaseSource
	// DeleteSourceInfoOnly removes only the source-side information.
	DeleteSourceInfoOnly
)

// RelationshipFilter narrows ListRelationships; empty fields do not filter. Paths take ONTAP's
// wildcards, e.g. "svm1:*".
type RelationshipFilter struct {
	Source, Destination string
	// SourceSide lists the source-side records of relationships whose source is on this
	// cluster (list_destinations_only), instead of those whose destination is here.
	SourceSide bool
}

var relationshipFields = []string{
	"uuid", "source.path", "source.cluster.name", "destination.path", "destination.cluster.name",
	"policy.name", "policy.type", "transfer_schedule.name", "state", "healthy", "unhealthy_reason",
	"lag_time", "exported_snapshot", "last_transfer_type", "transfer.uuid", "transfer.state",
	"transfer.type", "transfer.bytes_transferred", "transfer.end_time", "transfer.total_duration",
}

// GetRelationship finds the relationship whose destination is the "svm:volume" path with
// one filtered GET, or fails with ErrNotFound.
func (c *Client) GetRelationship(ctx context.Context, destination string) (*Relationship, error) {
	rel, err := first(c.listRelationships(ctx, RelationshipFilter{Destination: destination}))
	if err != nil {
		return nil, fmt.Errorf("get relationship to %s: %w", destination, err)
	}
	return rel, nil
}

// ListRelationships lists the relationships that match, following every page.
func (c *Client) ListRelationships(ctx context.Context, filter RelationshipFilter) ([]Relationship, error) {
	rels, err := c.listRelationships(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list relationships: %w", err)
	}
	return rels, nil
}

func (c *Client) listRelationships(ctx context.Context, filter RelationshipFilter) ([]Relationship, error) {
	params := snapmirror.NewSnapmirrorRelationshipsGetParams().WithFields(relationshipFields).WithMaxRecords(c.pageSize).
		WithSourcePath(nonEmpty(filter.Source)).WithDestinationPath(nonEmpty(filter.Destination))
	if filter.SourceSide {
		params.SetListDestinationsOnly(&filter.SourceSide)
	}
	return listAll(func(o ...func(*runtime.ClientOperation)) ([]*models.SnapmirrorRelationship, *models.CollectionLinks, error) {
		resp, err := c.api.Snapmirror.SnapmirrorRelationshipsGetContext(ctx, params, nil, opts[snapmirror.ClientOption](o)...)
		if err != nil {
			return nil, nil, err
		}
		return resp.Payload.Records, resp.Payload.Links, nil
	}, relationshipFromModel)
}

// CreateRelationship creates an uninitialized relationship to an existing DP volume and
// returns its UUID (empty when ONTAP did not return the record); a second one for the
// same destination fails with IsAlreadyExists.
func (c *Client) CreateRelationship(ctx context.Context, spec RelationshipSpec) (string, *Job, error) {
	m := &models.SnapmirrorRelationship{
		Source:      &models.SnapmirrorEndpoint{Path: spec.Source},
		Destination: &models.SnapmirrorEndpoint{Path: spec.Destination},
	}
	if spec.Policy != "" {
		m.Policy = &models.SnapmirrorRelationshipPolicy{Name: spec.Policy}
	}
	if spec.Schedule != "" {
		m.TransferSchedule = &models.NamedReference{Name: spec.Schedule}
	}
	yes := true
	params := snapmirror.NewSnapmirrorRelationshipCreateParams().WithInfo(m).WithReturnTimeout(&c.returnTimeout).WithReturnRecords(&yes)
	created, accepted, err := c.api.Snapmirror.SnapmirrorRelationshipCreateContext(ctx, params, nil)
	if err != nil {
		return "", nil, fmt.Errorf("create relationship %s -> %s: %w", spec.Source, spec.Destination, apiError(err))
	}
	var body *models.SnapmirrorRelationshipJobResponse
	var job *Job
	if created != nil {
		body = created.Payload
	} else {
		body = accepted.Payload
		if body == nil || body.Job == nil || body.Job.UUID == "" {
			return "", nil, errors.New("create relationship: ONTAP answered 202 Accepted without a job link")
		}
		job = &Job{UUID: body.Job.UUID, State: JobRunning}
	}
	uuid := ""
	if body != nil && len(body.Records) > 0 && body.Records[0] != nil {
		uuid = body.Records[0].UUID
	}
	return uuid, job, nil
}

// ModifyRelationship changes the state, policy or schedule.
func (c *Client) ModifyRelationship(ctx context.Context, uuid string, change RelationshipChange) (*Job, error) {
	m := &models.SnapmirrorRelationship{State: string(change.State), RestoreToSnapshot: change.RestoreToSnapshot}
	if change.Policy != "" {
		m.Policy = &models.SnapmirrorRelationshipPolicy{Name: change.Policy}
	}
	if change.Schedule != "" {
		m.TransferSchedule = &models.NamedReference{Name: change.Schedule}
	}
	params := snapmirror.NewSnapmirrorRelationshipModifyParams().WithUUID(uuid).WithInfo(m).WithReturnTimeout(&c.returnTimeout)
	_, accepted, err := c.api.Snapmirror.SnapmirrorRelationshipModifyContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("modify relationship %s (%+v): %w", uuid, change, apiError(err))
	}
	return pending(accepted)
}

// DeleteRelationship removes records of the relationship, as scope says; ReleaseSource
// runs on the source's cluster.
func (c *Client) DeleteRelationship(ctx context.Context, uuid string, scope DeleteScope) (*Job, error) {
	params := snapmirror.NewSnapmirrorRelationshipDeleteParams().WithUUID(uuid).WithReturnTimeout(&c.returnTimeout)
	yes := true
	switch scope {
	case DeleteDestinationOnly:
		params.SetDestinationOnly(&yes)
	case ReleaseSource:
		params.SetSourceOnly(&yes)
	case DeleteSourceInfoOnly:
		params.SetSourceInfoOnly(&yes)
	}
	_, accepted, err := c.api.Snapmirror.SnapmirrorRelationshipDeleteContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("delete relationship %s: %w", uuid, apiError(err))
	}
	return pending(accepted)
}

// StartTransfer starts an initialize or an update, of sourceSnapshot when it is not
// empty. It fails with IsTransferInProgress when one runs.
func (c *Client) StartTransfer(ctx context.Context, relationshipUUID, sourceSnapshot string) (*Transfer, error) {
	yes := true
	params := snapmirror.NewSnapmirrorRelationshipTransferCreateParams().WithRelationshipUUID(relationshipUUID).
		WithInfo(&models.SnapmirrorTransfer{SourceSnapshot: sourceSnapshot}).WithReturnRecords(&yes)
	resp, err := c.api.Snapmirror.SnapmirrorRelationshipTransferCreateContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("start transfer of relationship %s: %w", relationshipUUID, apiError(err))
	}
	if resp.Payload == nil || len(resp.Payload.Records) == 0 {
		return &Transfer{State: TransferQueued}, nil
	}
	return transferFromModel(resp.Payload.Records[0]), nil
}

// GetTransfer returns one transfer of a relationship, running or ended in the last 24 hours;
// ErrNotFound when ONTAP no longer knows it.
func (c *Client) GetTransfer(ctx context.Context, relationshipUUID, transferUUID string) (*Transfer, error) {
	params := snapmirror.NewSnapmirrorRelationshipTransferGetParams().WithRelationshipUUID(relationshipUUID).WithUUID(transferUUID)
	resp, err := c.api.Snapmirror.SnapmirrorRelationshipTransferGetContext(ctx, params, nil)
	if err != nil {
		return nil, fmt.Errorf("get transfer %s of relationship %s: %w", transferUUID, relationshipUUID, apiError(err))
	}
	return transferFromModel(resp.Payload), nil
}

func transferFromModel(r *models.SnapmirrorTransfer) *Transfer {
	t := &Transfer{UUID: r.UUID, State: TransferState(r.State), BytesTransferred: r.BytesTransferred, Snapshot: r.Snapshot}
	if r.EndTime != nil {
		t.End = time.Time(*r.EndTime)
	}
	if r.ErrorInfo != nil {
		t.Error = r.ErrorInfo.Message
	}
	return t
}

// AbortTransfer aborts a running transfer; one that is not running fails with
// ErrNotFound or CodeNoActiveTransfer.
func (c *Client) AbortTransfer(ctx context.Context, relationshipUUID, transferUUID string) error {
	params := snapmirror.NewSnapmirrorRelationshipTransferModifyParams().WithRelationshipUUID(relationshipUUID).
		WithUUID(transferUUID).WithInfo(&models.SnapmirrorTransfer{State: string(TransferAborted)})
	if _, err := c.api.Snapmirror.SnapmirrorRelationshipTransferModifyContext(ctx, params, nil); err != nil {
		return fmt.Errorf("abort transfer %s of relationship %s: %w", transferUUID, relationshipUUID, apiError(err))
	}
	return nil
}

func relationshipFromModel(m *models.SnapmirrorRelationship) (Relationship, error) {
	r := Relationship{
		UUID: m.UUID, State: RelationshipState(m.State), Healthy: m.Healthy,
		ExportedSnapshot: m.ExportedSnapshot, LastTransferType: m.LastTransferType,
	}
	if m.Source != nil {
		r.Source = m.Source.Path
		if m.Source.Cluster != nil {
			r.SourceCluster = m.Source.Cluster.Name
		}
	}
	if m.Destination != nil {
		r.Destination = m.Destination.Path
		if m.Destination.Cluster != nil {
			r.DestinationCluster = m.Destination.Cluster.Name
		}
	}
	if m.Policy != nil {
		r.Policy, r.PolicyType = m.Policy.Name, m.Policy.Type
	}
	if m.TransferSchedule != nil {
		r.Schedule = m.TransferSchedule.Name
	}
	for _, u := range m.UnhealthyReason {
		if u != nil {
			r.UnhealthyReasons = append(r.UnhealthyReasons, u.Message)
		}
	}
	if m.LagTime != "" {
		lag, err := parseDuration(m.LagTime)
		if err != nil {
			return r, fmt.Errorf("relationship %s: lag_time: %w", m.UUID, err)
		}
		r.Lag = &lag
	}
	if t := m.Transfer; t != nil {
		r.Transfer = &Transfer{UUID: t.UUID, State: TransferState(t.State), Type: t.Type, BytesTransferred: t.BytesTransferred}
		if t.EndTime != nil {
			r.Transfer.End = time.Time(*t.EndTime)
		}
		if t.TotalDuration != "" {
			d, err := parseDuration(t.TotalDuration)
			if err != nil {
				return r, fmt.Errorf("relationship %s: transfer.total_duration: %w", m.UUID, err)
			}
			r.Transfer.Duration = d
		}
	}
	return r, nil
}

// Path names a volume as SnapMirror does: "svm:volume".
type Path struct {
	SVM, Volume string
}

// String writes the path as ONTAP does, "svm:volume".
func (p Path) String() string { return p.SVM + ":" + p.Volume }

// ParsePath reads an "svm:volume" path; it fails unless both parts are there.
func ParsePath(s string) (Path, error) {
	svm, volume, ok := SplitPath(s)
	if !ok {
		return Path{}, fmt.Errorf("%q is not a volume path: write it <svm>:<volume>", s)
	}
	return Path{SVM: svm, Volume: volume}, nil
}

// SplitPath splits an "svm:volume" path.
func SplitPath(path string) (svm, volume string, ok bool) {
	svm, volume, ok = strings.Cut(path, ":")
	return svm, volume, ok && svm != "" && volume != "" && !strings.Contains(volume, ":")
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
