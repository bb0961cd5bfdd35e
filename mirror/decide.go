package mirror

import (
	"context"
	"fmt"
	"slices"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// State is a state of a relationship: one of the desired states, a transition toward one, or
// Failed. The frontend maps them to the TridentMirrorRelationship's spellings.
type State string

// Desired states of a relationship.
const (
	Established   State = "established"
	Promoted      State = "promoted"
	Reestablished State = "reestablished"
)

// Transitions and failures reported besides the desired states.
const (
	Establishing   State = "establishing"
	Promoting      State = "promoting"
	Reestablishing State = "reestablishing"
	Failed         State = "failed"
)

// Request is what the caller wants of one local volume.
type Request struct {
	// Local is the local volume.
	Local ontap.Path
	// Remote is the source volume, "svm:volume"; required unless Desired is Promoted.
	Remote string
	// Desired is Established, Promoted or Reestablished.
	Desired State
	// Policy and Schedule apply to a relationship the engine creates; empty means ONTAP's.
	Policy, Schedule string
	// PromotedSnapshot, with Promoted, is the snapshot to wait for and restore to.
	PromotedSnapshot string

	// Settled says that the user's request was carried out before. The engine then only
	// looks: what differs from Desired was done on ONTAP by someone else, and is reported as
	// drift, never undone. While false, the request is open and the engine acts for it.
	Settled bool
	// Started lists the steps the engine started for the open request, as Record kept them.
	Started []Action
	// Record, when set, keeps a step before the engine sends it, so that a later pass (after a
	// crash, say) tells the engine's own steps from someone else's; rel is the relationship
	// as last seen (nil before Create). It is also the moment to say what a step discards.
	// An error stops the pass before the step is sent.
	Record func(ctx context.Context, step Action, rel *ontap.Relationship) error
	// Job is an ONTAP job that an earlier pass started and left running: it is followed until
	// it ends, and its failure is reported with ONTAP's message.
	Job string
	// Mount, when set, is the NFS junction the local volume must have once the desired state
	// holds: a DP destination is created unmounted (ONTAP refuses to mount it before its
	// baseline), and nodes need the path. nil when the volume is known to have it.
	Mount *Junction
}

// Junction is an NFS junction path and the export policy of a volume.
type Junction struct {
	Path, ExportPolicy string
}

// started reports whether the engine started step a for the open request.
func (r Request) started(a Action) bool { return slices.Contains(r.Started, a) }

// Observation is what ONTAP shows of the local volume's relationship.
type Observation struct {
	// Relationship is the one whose destination is the local volume; nil when there is none.
	Relationship *ontap.Relationship
	// SnapshotArrived says whether PromotedSnapshot is on the local volume.
	SnapshotArrived bool
	// VolumeSeen says the local volume was looked at (for a request with a Mount, once the
	// relationship is otherwise done); Unmounted then says it has no junction path, and
	// VolumeUUID identifies it.
	VolumeSeen bool
	Unmounted  bool
	VolumeUUID string
}

// Action is the next step toward the desired state.
type Action int

// The steps. Each is one ONTAP call.
const (
	Done       Action = iota // the desired state holds
	Wait                     // ONTAP is busy (a transfer); look again later
	Fail                     // the request cannot be met as it stands
	Create                   // create the relationship
	Initialize               // PATCH snapmirrored on an uninitialized relationship
	Resume                   // PATCH snapmirrored on a paused relationship
	Resync                   // PATCH snapmirrored on a broken-off relationship
	Quiesce                  // PATCH paused
	Abort                    // abort the running transfer
	Break                    // PATCH broken_off, restoring to PromotedSnapshot if set
	Update                   // transfer PromotedSnapshot now
	Forget                   // delete a broken-off relationship from another source
	SetPolicy                // PATCH the policy or schedule
	Mount                    // PATCH the volume's junction path, once it holds data
)

var actionNames = [...]string{"done", "wait", "fail", "create", "initialize", "resume", "resync", "quiesce", "abort", "break", "update", "forget", "set-policy", "mount"}

func (a Action) String() string { return actionNames[a] }

// ParseAction is the inverse of Action.String; ok is false for an unknown name.
func ParseAction(name string) (a Action, ok bool) {
	i := slices.Index(actionNames[:], name)
	return Action(i), i >= 0
}

// mutates reports whether the action changes something on ONTAP: every action after Fail
// does, so a new one goes after it.
func (a Action) mutates() bool { return a > Fail }

// Decision is the next step and what the status says meanwhile.
type Decision struct {
	Action Action
	// State is the actual state to report: a desired state once Done, a transition
	// meanwhile, or Failed.
	State State
	// Message explains the state.
	Message string
	// Drift, on a settled request, says what someone else changed on ONTAP; nothing is done
	// about it.
	Drift string
	// Wrong, on Fail, is the input of the request to correct, if one is.
	Wrong Input
	// Rerequest says that a re-request of the desired state is a way out of the drift (the
	// caller says how one is made).
	Rerequest bool
}

// transition is the status state while moving toward desired.
func transition(desired State) State {
	switch desired {
	case Promoted:
		return Promoting
	case Reestablished:
		return Reestablishing
	}
	return Establishing
}

// Decide picks the next step from the desired and the observed state. It is pure: the same
// inputs give the same step, so that a crash between any two steps is resumed by deciding
// again from what ONTAP shows.
func Decide(req Request, obs Observation) Decision {
	d := decide(req, obs)
	if d.Action == Done && d.State == req.Desired && d.Drift == "" && req.Mount != nil && obs.VolumeSeen && obs.Unmounted {
		return Decision{Action: Mount, State: transition(req.Desired), Message: fmt.Sprintf("mounting the volume for NFS at %s", req.Mount.Path)}
	}
	return d
}

func decide(req Request, obs Observation) Decision {
	if req.Settled {
		return watch(req, obs)
	}
	step := func(a Action, format string, args ...any) Decision {
		return Decision{Action: a, State: transition(req.Desired), Message: fmt.Sprintf(format, args...)}
	}
	rel := obs.Relationship
	active := rel != nil && rel.Transfer != nil && rel.Transfer.State.Active()

	if req.Desired == Promoted {
		switch {
		case rel == nil && req.PromotedSnapshot != "" && !req.started(Break):
			return Decision{Action: Fail, State: Failed, Message: fmt.Sprintf("the volume is the destination of no relationship (it was deleted, or never made), so it was not restored to snapshot %s and holds what it holds: remove promotedSnapshotHandle to keep it as it is, or restore the snapshot on ONTAP (volume snapshot restore)", req.PromotedSnapshot)}
		case rel == nil:
			return Decision{Action: Done, State: Promoted}
		case rel.State == ontap.BrokenOff && req.PromotedSnapshot != "" && !req.started(Break):
			return Decision{Action: Fail, State: Failed, Message: fmt.Sprintf("the relationship with %s was already broken off, not by this request, so the volume was not restored to snapshot %s and holds what was written since the break: remove promotedSnapshotHandle to keep it as it is, or restore the snapshot on ONTAP (volume snapshot restore)", rel.Source, req.PromotedSnapshot)}
		case rel.State == ontap.BrokenOff:
			return Decision{Action: Done, State: Promoted}
		case rel.State == ontap.Uninitialized && active:
			return step(Wait, "waiting for the baseline transfer from %s to complete before promoting", rel.Source)
		case rel.State == ontap.Uninitialized:
			return Decision{Action: Fail, State: Failed, Message: fmt.Sprintf("cannot promote: the baseline transfer from %s never completed, so the volume holds no data and ONTAP cannot break the relationship; set state established to retry the baseline, or delete this TMR and its PVC (nothing is lost: the volume is empty)", rel.Source)}
		case req.PromotedSnapshot != "" && !obs.SnapshotArrived:
			switch {
			case active:
				return step(Wait, "waiting for snapshot %s to arrive from %s: a transfer is running", req.PromotedSnapshot, rel.Source)
			case rel.State == ontap.Paused:
				return step(Resume, "resuming the relationship so that snapshot %s can arrive", req.PromotedSnapshot)
			}
			return step(Update, "transferring snapshot %s from %s", req.PromotedSnapshot, rel.Source)
		case rel.State == ontap.Snapmirrored && active && req.started(Quiesce):
			// Quiescing: ONTAP shows the relationship snapmirrored until the running transfer
			// ends, which may take hours; this request quiesced it already, so abort the
			// transfer rather than quiesce again and wait for it.
			return step(Abort, "aborting the running transfer from %s", rel.Source)
		case rel.State == ontap.Snapmirrored:
			return step(Quiesce, "quiescing the relationship with %s", rel.Source)
		case active:
			return step(Abort, "aborting the running transfer from %s", rel.Source)
		}
		return step(Break, "breaking the relationship with %s", rel.Source)
	}

	if req.Remote == "" {
		return Decision{Action: Fail, State: Failed, Wrong: RemoteInput, Message: fmt.Sprintf("state %s needs the source volume, <svm>:<volume>", req.Desired)}
	}
	if rel != nil && rel.Source != req.Remote {
		if rel.State == ontap.BrokenOff && req.Desired == Reestablished {
			return step(Forget, "removing the broken-off relationship with %s before mirroring from %s", rel.Source, req.Remote)
		}
		return Decision{Action: Fail, State: Failed, Wrong: RemoteInput, Message: fmt.Sprintf("volume %s is the destination of %s, not of %s: promote it first, or name that source", req.Local, rel.Source, req.Remote)}
	}
	switch {
	case rel == nil:
		return step(Create, "creating the relationship %s -> %s", req.Remote, req.Local)
	case active && (rel.State == ontap.Uninitialized || rel.State == ontap.BrokenOff):
		// A baseline or a resync: the relationship is not there until it ends. (An update
		// on a mirrored relationship changes nothing of its state.)
		return step(Wait, "a %s transfer from %s is running", rel.Transfer.Type, rel.Source)
	case rel.State == ontap.Uninitialized:
		return step(Initialize, "starting the baseline transfer from %s", rel.Source)
	case rel.State == ontap.Paused:
		return step(Resume, "resuming the quiesced relationship with %s", rel.Source)
	case rel.State == ontap.BrokenOff && req.Desired == Reestablished && req.started(Resync) && resynced(rel):
		// This request resynced once already (ONTAP shows its transfer); broken again since,
		// by someone else.
		return Decision{Action: Done, State: Promoted, Rerequest: true, Drift: fmt.Sprintf("the relationship with %s was broken off on ONTAP after this request resynced it, so the volume is read-write; it is not resynced again unasked (a resync discards the writes made here since the break)", rel.Source)}
	case rel.State == ontap.BrokenOff && req.Desired == Reestablished:
		return step(Resync, "resyncing from %s: data written here since the break is discarded", rel.Source)
	case rel.State == ontap.BrokenOff:
		// Broken off outside of the controller's control: report it, never resync unasked.
		return Decision{Action: Done, State: Promoted, Drift: fmt.Sprintf("the relationship with %s is broken off, so the volume is read-write: set state reestablished to resync (it discards writes made here since the break)", rel.Source)}
	case req.Policy != "" && rel.Policy != req.Policy, req.Schedule != "" && rel.Schedule != req.Schedule:
		return step(SetPolicy, "setting policy %q and schedule %q", req.Policy, req.Schedule)
	}
	return Decision{Action: Done, State: req.Desired}
}

// resynced reports whether the relationship's last transfer was a resync: with the journal,
// the evidence that a resync this request sent took effect (one whose answer was an error may
// not have).
func resynced(rel *ontap.Relationship) bool {
	return rel.LastTransferType == "resync" || (rel.Transfer != nil && rel.Transfer.Type == "resync")
}

// watch decides for a request that was carried out: ONTAP as it is now is reported, and only
// the spec's own policy and schedule are applied (they change nothing of the data). A break,
// quiesce, resync or deletion done on ONTAP since is drift: reported, never undone.
func watch(req Request, obs Observation) Decision {
	rel := obs.Relationship
	drift := func(state State, format string, args ...any) Decision {
		return Decision{Action: Done, State: state, Drift: fmt.Sprintf(format, args...), Rerequest: true}
	}
	if req.Desired == Promoted {
		if rel == nil || rel.State == ontap.BrokenOff {
			return Decision{Action: Done, State: Promoted}
		}
		return drift(Established, "the volume was made the destination of %s again on ONTAP (relationship %s), outside of the controller: it is read-only now", rel.Source, rel.State)
	}
	switch {
	case rel == nil:
		return drift(Failed, "the relationship with %s was deleted on ONTAP outside of the controller: nothing is mirrored to this volume", req.Remote)
	case rel.Source != req.Remote:
		return drift(Failed, "the volume is the destination of %s, not of %s, since a change on ONTAP outside of the controller", rel.Source, req.Remote)
	case rel.State == ontap.BrokenOff && req.Desired == Established:
		return Decision{Action: Done, State: Promoted, Drift: fmt.Sprintf("the relationship with %s was broken off on ONTAP outside of the controller, so the volume is read-write and writes made here are kept: set state reestablished to resync (it discards them), or promoted to keep them", rel.Source)}
	case rel.State == ontap.BrokenOff:
		return drift(Promoted, "the relationship with %s was broken off on ONTAP outside of the controller, so the volume is read-write and writes made here are kept; it is not resynced unasked (a resync discards them)", rel.Source)
	case rel.State == ontap.Paused:
		return drift(req.Desired, "the relationship with %s was quiesced on ONTAP outside of the controller: no transfer runs, so the lag grows; resume it on ONTAP (snapmirror resume)", rel.Source)
	case rel.State == ontap.Uninitialized:
		return drift(Failed, "the relationship with %s is uninitialized: it was re-created on ONTAP outside of the controller", rel.Source)
	case req.Policy != "" && rel.Policy != req.Policy, req.Schedule != "" && rel.Schedule != req.Schedule:
		return Decision{Action: SetPolicy, State: req.Desired, Message: fmt.Sprintf("setting policy %q and schedule %q", req.Policy, req.Schedule)}
	}
	return Decision{Action: Done, State: req.Desired}
}
