package mirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// ONTAP is what the engine needs of the local volume's cluster; *ontap.Client has it.
type ONTAP interface {
	GetRelationship(ctx context.Context, destination string) (*ontap.Relationship, error)
	ListRelationships(ctx context.Context, filter ontap.RelationshipFilter) ([]ontap.Relationship, error)
	CreateRelationship(ctx context.Context, spec ontap.RelationshipSpec) (string, *ontap.Job, error)
	ModifyRelationship(ctx context.Context, uuid string, change ontap.RelationshipChange) (*ontap.Job, error)
	DeleteRelationship(ctx context.Context, uuid string, scope ontap.DeleteScope) (*ontap.Job, error)
	StartTransfer(ctx context.Context, relationshipUUID, sourceSnapshot string) (*ontap.Transfer, error)
	GetTransfer(ctx context.Context, relationshipUUID, transferUUID string) (*ontap.Transfer, error)
	AbortTransfer(ctx context.Context, relationshipUUID, transferUUID string) error
	FindSnapshots(ctx context.Context, svm, volume, name string) ([]ontap.Snapshot, error)
	GetJob(ctx context.Context, uuid string) (*ontap.Job, error)
	GetVolume(ctx context.Context, svm, name string) (*ontap.Volume, error)
	MountVolume(ctx context.Context, uuid, path, exportPolicy string) (*ontap.Job, error)
}

// Result is the outcome of one pass: the state to report, the relationship as last seen, and
// when to look again.
type Result struct {
	// State and Message are for the status.
	State   State
	Message string
	// Relationship is the relationship as last seen, for lag, health and transfer figures;
	// nil when there is none.
	Relationship *ontap.Relationship
	// RequeueAfter is when to look again: soon while in progress, 0 once settled (the caller
	// re-checks on its own interval).
	RequeueAfter time.Duration
	// Err is set when the pass failed; the caller retries with backoff.
	Err error
	// Actions are the steps taken, for events and metrics.
	Actions []Action
	// Started is the request's record of steps after the pass: Request.Started, the steps
	// this pass sent, less those that ONTAP refused (they did not happen).
	Started []Action
	// Job is the ONTAP job of the last step while it runs: the caller keeps it and passes it
	// back as Request.Job.
	Job string
	// Mounted says the volume has the request's Mount: the caller need not ask again.
	Mounted bool
	// Wrong, on a refusal, is the input of the request that ONTAP refused.
	Wrong Input
	// Drift says what someone else changed on ONTAP after the request was carried out, and
	// Rerequest whether re-requesting the desired state is a way out of it.
	Drift     string
	Rerequest bool
}

// Complete reports a settled state.
func Complete(state State, msg string, rel *ontap.Relationship) Result {
	return Result{State: state, Message: msg, Relationship: rel}
}

// InProgress reports a transition and asks to look again soon.
func InProgress(state State, msg string, rel *ontap.Relationship) Result {
	return Result{State: state, Message: msg, Relationship: rel, RequeueAfter: Soon}
}

// Soon is when a pass in progress, or one that ONTAP answered "busy", looks again.
const Soon = 2 * time.Second

// Failure reports a failed pass; the caller retries with backoff.
func Failure(err error, rel *ontap.Relationship) Result {
	return Result{State: Failed, Message: err.Error(), Relationship: rel, Err: err}
}

// maxSteps bounds one pass; a pass that needs more looks again.
const maxSteps = 8

// Run moves the local volume's relationship toward the request: it observes once, then
// decides and acts until the desired state holds, ONTAP is busy, or a step fails. It never
// blocks on a job: a job that outlasts return_timeout ends the pass in progress, and the next
// pass (given Result.Job as Request.Job) follows it to its end.
//
// api may serve GetRelationship from a Cache (Cache.Reads): such an observation may be stale,
// so it may only confirm that nothing is to be done; anything else is decided again from a
// live look, and every step is live.
func Run(ctx context.Context, api ONTAP, req Request) Result {
	r := run(ctx, api, &req)
	r.Started = req.Started
	return r
}

func run(ctx context.Context, api ONTAP, req *Request) Result {
	live := api
	if cached, ok := api.(cachedReads); ok {
		live = cached.ONTAP
	}
	if req.Job != "" {
		if r, waiting := follow(ctx, live, *req); waiting {
			return r
		}
		req.Job = ""
	}
	obs, err := observe(ctx, api, *req)
	if err != nil {
		return Failure(err, nil)
	}
	if d := Decide(*req, obs); live != api && (d.Action != Done || d.Drift != "") {
		if obs, err = observe(ctx, live, *req); err != nil {
			return Failure(err, nil)
		}
	}
	return steps(ctx, live, req, obs)
}

// steps decides and acts from obs on, on live reads, until the pass ends.
func steps(ctx context.Context, live ONTAP, req *Request, obs Observation) Result {
	var taken []Action
	for range maxSteps {
		if err := lookAtVolume(ctx, live, *req, &obs); err != nil {
			r := Failure(err, obs.Relationship)
			r.Actions = taken
			return r
		}
		d := Decide(*req, obs)
		if d.Action.mutates() && req.Record != nil {
			if err := req.Record(ctx, d.Action, obs.Relationship); err != nil {
				r := Failure(fmt.Errorf("record step %s: %w", d.Action, err), obs.Relationship)
				r.Actions = taken
				return r
			}
		}
		if d.Action.mutates() {
			req.Started = append(req.Started, d.Action)
			taken = append(taken, d.Action)
		}
		res, next, err := act(ctx, live, *req, obs, d)
		if err != nil {
			var r Result
			switch {
			case ontap.IsBusy(err):
				// Busy: the step did not happen, and passes in a moment.
				r = InProgress(d.State, fmt.Sprintf("%s: ONTAP is busy, retrying: %s", d.Message, err), obs.Relationship)
				req.Started = req.Started[:len(req.Started)-1]
			case ontap.IsRefusal(err):
				r = Failure(fmt.Errorf("%s: %w", d.Action, err), obs.Relationship)
				r.Wrong = wrongInput(err)
				req.Started = req.Started[:len(req.Started)-1]
			default:
				// It may have happened (a lost answer): the record stays.
				r = Failure(fmt.Errorf("%s: %w", d.Action, err), obs.Relationship)
			}
			r.Actions = taken
			return r
		}
		if res != nil {
			res.Actions = taken
			return *res
		}
		obs = next
	}
	r := InProgress(transition(req.Desired), "more steps to go", obs.Relationship)
	r.Actions = taken
	return r
}

// lookAtVolume reads the local volume's junction path when the request asks for a Mount and
// the relationship is otherwise done: one GET per pass, and none once the caller knows.
func lookAtVolume(ctx context.Context, api ONTAP, req Request, obs *Observation) error {
	if req.Mount == nil || obs.VolumeSeen {
		return nil
	}
	if d := decide(req, *obs); d.Action != Done || d.State != req.Desired || d.Drift != "" {
		return nil
	}
	v, err := api.GetVolume(ctx, req.Local.SVM, req.Local.Volume)
	if err != nil {
		return fmt.Errorf("look at volume %s: %w", req.Local, err)
	}
	obs.VolumeSeen, obs.Unmounted, obs.VolumeUUID = true, v.JunctionPath == "", v.UUID
	return nil
}

// follow looks at the job an earlier pass left running. While it runs, or cannot be read, the
// pass waits for it; a failure is reported with ONTAP's message. A job that ended well, or that
// ONTAP has purged, lets the pass go on from what ONTAP shows.
func follow(ctx context.Context, api ONTAP, req Request) (Result, bool) {
	job, err := api.GetJob(ctx, req.Job)
	switch {
	case errors.Is(err, ontap.ErrNotFound):
		return Result{}, false
	case err != nil:
		r := Failure(fmt.Errorf("follow ONTAP job %s: %w", req.Job, err), nil)
		r.Job = req.Job
		return r, true
	case !job.Done():
		r := InProgress(transition(req.Desired), fmt.Sprintf("waiting for ONTAP job %s (%s)", job.UUID, job.State), nil)
		r.Job = req.Job
		return r, true
	case job.State == ontap.JobFailure && ontap.IsAlreadyExists(job.Err):
		// What the job was to create exists: a create sent twice (by a pass whose record of
		// the first was lost in a crash), queued behind the first. Go on from what ONTAP shows.
		return Result{}, false
	case job.State == ontap.JobFailure && req.Desired == Reestablished && ontap.IsNoCommonSnapshot(job.Err):
		obs, err := observe(ctx, api, req)
		if err != nil {
			return Failure(fmt.Errorf("failed: %w", job.Err), nil), true
		}
		return unmirrorable(ctx, api, req, obs.Relationship, job.Err), true
	case job.State == ontap.JobFailure && job.Err != nil:
		return Failure(fmt.Errorf("failed: %w", job.Err), nil), true // job.Err names the job
	case job.State == ontap.JobFailure:
		return Failure(fmt.Errorf("ONTAP job %s failed: %s", job.UUID, job.Message), nil), true
	}
	return Result{}, false
}

// unmirrorable answers a resync that ONTAP refused, at once or in its job, for want of a
// common snapshot: the relationship cannot serve, and its record (created for this resync, or
// left broken) is removed so that nothing is left half made.
func unmirrorable(ctx context.Context, api ONTAP, req Request, rel *ontap.Relationship, err error) Result {
	source := req.Remote
	if rel != nil {
		source = rel.Source
		if job, derr := api.DeleteRelationship(ctx, rel.UUID, ontap.DeleteDestinationOnly); derr == nil && job == nil {
			rel = nil
		}
	}
	return Failure(fmt.Errorf("volume %s was never in a relationship with %s (they share no snapshot), so it cannot be reestablished: mirror it with a new destination volume instead: %w", req.Local, source, err), rel)
}

// observe reads the relationship whose destination is the local volume and, when promoting
// to a snapshot, whether it has arrived.
func observe(ctx context.Context, api ONTAP, req Request) (Observation, error) {
	var obs Observation
	rel, err := api.GetRelationship(ctx, req.Local.String())
	switch {
	case errors.Is(err, ontap.ErrNotFound):
	case err != nil:
		return obs, err
	default:
		obs.Relationship = rel
	}
	if req.Desired == Promoted && req.PromotedSnapshot != "" && obs.Relationship != nil && obs.Relationship.State != ontap.BrokenOff {
		if obs.SnapshotArrived, err = arrived(ctx, api, req); err != nil {
			return obs, err
		}
	}
	return obs, nil
}

func arrived(ctx context.Context, api ONTAP, req Request) (bool, error) {
	snaps, err := api.FindSnapshots(ctx, req.Local.SVM, req.Local.Volume, req.PromotedSnapshot)
	return len(snaps) > 0, err
}

// act takes one step. It returns a final result, or the observation after the step.
func act(ctx context.Context, api ONTAP, req Request, obs Observation, d Decision) (*Result, Observation, error) {
	rel := obs.Relationship
	final := func(r Result) (*Result, Observation, error) { return &r, obs, nil }
	// pending ends the pass while a job runs; ONTAP is looked at again next pass.
	pending := func(job *ontap.Job) (*Result, Observation, error) {
		r := InProgress(d.State, fmt.Sprintf("%s (waiting for ONTAP job %s)", d.Message, job.UUID), rel)
		r.Job = job.UUID
		return &r, obs, nil
	}
	reobserve := func() (*Result, Observation, error) {
		next, err := observe(ctx, api, req)
		return nil, next, err
	}
	switch d.Action {
	case Done:
		r := Complete(d.State, d.Message, rel)
		r.Drift, r.Rerequest = d.Drift, d.Rerequest
		r.Mounted = obs.VolumeSeen && !obs.Unmounted
		if d.Drift != "" {
			r.Message = d.Drift
		}
		return final(r)
	case Wait:
		return final(InProgress(d.State, d.Message, rel))
	case Fail:
		r := Failure(errors.New(d.Message), rel)
		r.Wrong = d.Wrong
		return final(r)
	case Create:
		_, job, err := api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: req.Remote, Destination: req.Local.String(), Policy: req.Policy, Schedule: req.Schedule})
		if err != nil && !ontap.IsAlreadyExists(err) {
			return nil, obs, err
		}
		if job != nil {
			return pending(job)
		}
		return reobserve()
	case Initialize, Resume, Resync:
		job, err := api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored})
		if d.Action == Resync && ontap.IsNoCommonSnapshot(err) {
			return final(unmirrorable(ctx, api, req, rel, err))
		}
		if err != nil {
			return nil, obs, err
		}
		if job != nil {
			return pending(job)
		}
		return reobserve()
	case Quiesce:
		job, err := api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Paused})
		if err != nil {
			return nil, obs, err
		}
		if job != nil {
			return pending(job)
		}
		// Paused, or quiescing while a transfer runs: either way no new transfer starts,
		// and a running one is aborted next.
		next := *rel
		next.State = ontap.Paused
		obs.Relationship = &next
		return nil, obs, nil
	case Abort:
		err := api.AbortTransfer(ctx, rel.UUID, rel.Transfer.UUID)
		if err != nil && !errors.Is(err, ontap.ErrNotFound) && !ontap.HasCode(err, ontap.CodeNoActiveTransfer) {
			return nil, obs, err
		}
		// The transfer is over either way; the relationship is paused now.
		next := *rel
		next.State, next.Transfer = ontap.Paused, &ontap.Transfer{UUID: rel.Transfer.UUID, State: ontap.TransferAborted}
		obs.Relationship = &next
		return nil, obs, nil
	case Break:
		job, err := api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff, RestoreToSnapshot: req.PromotedSnapshot})
		if err != nil {
			return nil, obs, err
		}
		if job != nil {
			return pending(job)
		}
		next := *rel
		next.State = ontap.BrokenOff
		obs.Relationship = &next
		return nil, obs, nil
	case Update:
		t, err := api.StartTransfer(ctx, rel.UUID, req.PromotedSnapshot)
		if err != nil && !ontap.IsTransferInProgress(err) {
			return nil, obs, err
		}
		if err != nil || t.State.Active() {
			return final(InProgress(d.State, fmt.Sprintf("waiting for snapshot %s to arrive from %s", req.PromotedSnapshot, rel.Source), rel))
		}
		// The transfer reports the snapshot it carried; otherwise look.
		if obs.SnapshotArrived = t.State == ontap.TransferSuccess && t.Snapshot == req.PromotedSnapshot; !obs.SnapshotArrived {
			if obs.SnapshotArrived, err = arrived(ctx, api, req); err != nil {
				return nil, obs, err
			}
		}
		if !obs.SnapshotArrived {
			return final(Failure(fmt.Errorf("snapshot %s did not arrive with a transfer from %s: check that it exists on the source and that the policy %s mirrors all snapshots", req.PromotedSnapshot, rel.Source, rel.Policy), rel))
		}
		return nil, obs, nil
	case Forget:
		job, err := api.DeleteRelationship(ctx, rel.UUID, ontap.DeleteDestinationOnly)
		if err != nil && !errors.Is(err, ontap.ErrNotFound) {
			return nil, obs, err
		}
		if job != nil {
			return pending(job)
		}
		obs.Relationship = nil
		return nil, obs, nil
	case Mount:
		job, err := api.MountVolume(ctx, obs.VolumeUUID, req.Mount.Path, req.Mount.ExportPolicy)
		if err != nil {
			return nil, obs, fmt.Errorf("mount volume %s for NFS: %w", req.Local, err)
		}
		if job != nil {
			return pending(job)
		}
		obs.Unmounted = false
		return nil, obs, nil
	case SetPolicy:
		job, err := api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{Policy: req.Policy, Schedule: req.Schedule})
		if err != nil {
			return nil, obs, err
		}
		if job != nil {
			return pending(job)
		}
		next := *rel
		next.Policy, next.Schedule = orKeep(req.Policy, rel.Policy), orKeep(req.Schedule, rel.Schedule)
		obs.Relationship = &next
		return nil, obs, nil
	}
	return nil, obs, fmt.Errorf("unknown action %d", d.Action)
}

// Input is a part of the request that ONTAP refused, for the caller to name in its own terms.
type Input int

// The inputs of a Request that ONTAP can refuse.
const (
	NoInput Input = iota
	RemoteInput
	PolicyInput
	ScheduleInput
	PromotedSnapshotInput
)

// inputs maps the targets ONTAP names in its refusals to the request's inputs.
var inputs = map[string]Input{
	"source.path":            RemoteInput,
	"policy.name":            PolicyInput,
	"policy":                 PolicyInput,
	"transfer_schedule.name": ScheduleInput,
	"transfer_schedule":      ScheduleInput,
	"source_snapshot":        PromotedSnapshotInput,
}

// wrongInput names the input to correct when ONTAP refused one the user gave.
func wrongInput(err error) Input {
	var apiErr *ontap.APIError
	if !errors.As(err, &apiErr) || !ontap.IsRefusal(err) {
		return NoInput
	}
	return inputs[apiErr.Target]
}

func orKeep(v, old string) string {
	if v == "" {
		return old
	}
	return v
}

// failureOrBusy reports a failed step of Release, unless ONTAP only answered busy (another
// modification of the relationship is in progress, its delete job say): then the step passes
// in a moment, and the release is in progress.
func failureOrBusy(err error, rel *ontap.Relationship) Result {
	if ontap.IsBusy(err) {
		return InProgress(Promoting, fmt.Sprintf("ONTAP is busy, retrying: %s", err), rel)
	}
	return Failure(err, rel)
}

// Gone reports whether the volume at "svm:volume" is known to no longer exist; false when that
// cannot be told (its cluster is not readable from here, or does not answer).
type Gone func(ctx context.Context, path string) bool

const neverFilled = "the volume holds no data and stays a read-only (DP) volume: delete its PVC"

// emptyDPNote is Release's note for a volume that is neither destination nor source: "released", or, for a DP
// volume without a snapshot (no transfer ever completed into it), that it stays empty. A read
// that fails leaves the plain note.
func emptyDPNote(ctx context.Context, api ONTAP, local ontap.Path) string {
	if v, err := api.GetVolume(ctx, local.SVM, local.Volume); err != nil || v.Type != ontap.VolumeDP {
		return "released"
	}
	if snaps, err := api.FindSnapshots(ctx, local.SVM, local.Volume, ""); err != nil || len(snaps) > 0 {
		return "released"
	}
	return "released; its relationship is gone and a baseline transfer never completed into it, so " + neverFilled
}

// Release is what deleting a TMR does to its volume on ONTAP, which stays read-write and keeps
// its data. As a destination it is promoted (quiesce, abort, break) and its relationship is
// kept, broken off, with the snapshots it shares with the source: a later TMR with
// reestablished resyncs it, and deleting the volume (csi DeleteVolume) removes the
// relationship on both sides, releasing the source's snapshots. So the volume's mirror
// metadata goes with the volume, whichever of the TMR and the PVC is deleted first. As a
// source, the source-side information of each relationship is released. A destination whose
// baseline never completed cannot be broken (it holds no data): its transfer is aborted and
// its relationship deleted, and it stays an empty DP volume, as the result's message says.
//
// gone, when set, says whether the volume at the other end of a relationship no longer
// exists (false when that cannot be told). Such a relationship can serve nothing: it is
// removed with its SnapMirror snapshots instead of kept.
func Release(ctx context.Context, api ONTAP, local ontap.Path, gone Gone) Result {
	if gone == nil {
		gone = func(context.Context, string) bool { return false }
	}
	// note is what the result says was done; empty until known.
	var note string
	// scope is how the destination's relationship goes, if it goes.
	scope := ontap.DeleteDestinationOnly
	rel, err := api.GetRelationship(ctx, local.String())
	switch {
	case errors.Is(err, ontap.ErrNotFound):
		// An earlier pass may have deleted a relationship whose baseline never completed:
		// then the volume is still DP, and empty (emptyDPNote, below).
		rel = nil
	case err != nil:
		return Failure(fmt.Errorf("look up the relationship of %s: %w", local, err), nil)
	case rel.State == ontap.Uninitialized:
		if t := rel.Transfer; t != nil && t.State.Active() {
			if err := api.AbortTransfer(ctx, rel.UUID, t.UUID); err != nil && !errors.Is(err, ontap.ErrNotFound) && !ontap.HasCode(err, ontap.CodeNoActiveTransfer) {
				return failureOrBusy(fmt.Errorf("abort the baseline transfer from %s: %w", rel.Source, err), rel)
			}
		}
		note = fmt.Sprintf("released; the baseline transfer from %s never completed, so "+neverFilled, rel.Source)
	default:
		promoted := steps(ctx, api, &Request{Local: local, Desired: Promoted}, Observation{Relationship: rel})
		if promoted.Err != nil || promoted.RequeueAfter > 0 {
			return promoted
		}
		if rel = promoted.Relationship; rel != nil && gone(ctx, rel.Source) {
			// The source is gone: nothing to release there; the snapshots go with the record.
			note = fmt.Sprintf("promoted; its relationship with %s, a volume that no longer exists, is removed with its snapshots", rel.Source)
			scope = ontap.DeleteBoth
			break
		}
		note = fmt.Sprintf("promoted; its relationship with %s is kept, broken off, with their common snapshots, for a later reestablish: deleting the PVC removes it on both sides", rel.Source)
		rel = nil
	}
	if rel != nil {
		job, err := api.DeleteRelationship(ctx, rel.UUID, scope)
		if err != nil && scope == ontap.DeleteBoth && !errors.Is(err, ontap.ErrNotFound) {
			job, err = api.DeleteRelationship(ctx, rel.UUID, ontap.DeleteDestinationOnly)
		}
		if err != nil && !errors.Is(err, ontap.ErrNotFound) {
			return failureOrBusy(fmt.Errorf("delete the relationship with %s: %w", rel.Source, err), rel)
		}
		if job != nil {
			return InProgress(Promoting, fmt.Sprintf("deleting the relationship with %s (waiting for ONTAP job %s)", rel.Source, job.UUID), rel)
		}
	}
	dests, err := api.ListRelationships(ctx, ontap.RelationshipFilter{Source: local.String(), SourceSide: true})
	if err != nil {
		return Failure(fmt.Errorf("list the relationships from %s: %w", local, err), nil)
	}
	for _, d := range dests {
		// Keep the common snapshots for a later reestablish while the destination exists.
		scope := ontap.DeleteSourceInfoOnly
		if gone(ctx, d.Destination) {
			scope = ontap.ReleaseSource
		}
		job, err := api.DeleteRelationship(ctx, d.UUID, scope)
		if err != nil && !errors.Is(err, ontap.ErrNotFound) {
			return failureOrBusy(fmt.Errorf("release the relationship to %s: %w", d.Destination, err), nil)
		}
		if job != nil {
			return InProgress(Promoting, fmt.Sprintf("releasing the relationship to %s (waiting for ONTAP job %s)", d.Destination, job.UUID), nil)
		}
	}
	switch {
	case note != "":
	case len(dests) == 0:
		note = emptyDPNote(ctx, api, local)
	default:
		note = "released"
	}
	return Complete(Promoted, note, nil)
}
