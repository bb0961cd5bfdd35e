package mirror

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// UpdateOutcome is where an on-demand update stands.
type UpdateOutcome int

// The outcomes of an update pass.
const (
	UpdateRunning UpdateOutcome = iota
	UpdateSucceeded
	UpdateFailed
)

// Started is an on-demand update's transfer, once started.
type Started struct {
	// Transfer is the UUID of the transfer the update started; empty when ONTAP did not say.
	Transfer string
	// PreviousEnd is when the last successful transfer before it ended; the Unix epoch when
	// there was none.
	PreviousEnd time.Time
}

// UpdateResult is the outcome of one pass of an on-demand update.
type UpdateResult struct {
	Outcome UpdateOutcome
	Message string
	// Started is set once the transfer has started: the caller records it and passes it back.
	Started *Started
	// Err is a failure that may pass on a retry (ONTAP unreachable, 5xx): the caller retries
	// with backoff, passing the same Started.
	Err error
}

// UpdateOnDemand moves an on-demand update of the local volume's relationship on by one pass:
// the first pass (started nil) waits for a running transfer to end, then starts one, of
// snapshot when set; later passes follow that transfer until it ends. It never blocks on a
// transfer. A pass interrupted anywhere is safe to repeat: ONTAP refuses a second concurrent
// transfer, and a repeated start after one ended is one more update.
func UpdateOnDemand(ctx context.Context, api ONTAP, local ontap.Path, snapshot string, started *Started) UpdateResult {
	retry := func(err error) UpdateResult {
		return UpdateResult{Started: started, Err: err, Message: err.Error()}
	}
	rel, err := api.GetRelationship(ctx, local.String())
	waiting := func() UpdateResult {
		return UpdateResult{Message: fmt.Sprintf("waiting for the transfer from %s", rel.Source), Started: started}
	}
	// notYet: a transfer runs that may have started before the data the user wants carried
	// was written; the update starts after it.
	notYet := func() UpdateResult {
		return UpdateResult{Message: fmt.Sprintf("waiting for the running transfer from %s to end before starting the update", rel.Source)}
	}
	switch {
	case errors.Is(err, ontap.ErrNotFound):
		return UpdateResult{Outcome: UpdateFailed, Message: fmt.Sprintf("volume %s is in no SnapMirror relationship on ONTAP", local), Started: started}
	case err != nil:
		return retry(err)
	}
	t := rel.Transfer
	if started == nil && t != nil && t.State.Active() {
		return notYet()
	}
	if t != nil && t.State.Active() {
		return waiting()
	}
	if started == nil {
		s := Started{PreviousEnd: time.Unix(0, 0).UTC()}
		if t != nil && t.State == ontap.TransferSuccess {
			s.PreviousEnd = t.End
		}
		tr, err := api.StartTransfer(ctx, rel.UUID, snapshot)
		switch {
		case ontap.IsTransferInProgress(err):
			// A schedule started one since the look.
			return notYet()
		case ontap.IsRefusal(err):
			return UpdateResult{Outcome: UpdateFailed, Message: fmt.Sprintf("start the transfer from %s: %s", rel.Source, err)}
		case err != nil:
			// Not recorded as started: the next pass starts again.
			return UpdateResult{Err: err, Message: fmt.Sprintf("start the transfer from %s: %s", rel.Source, err)}
		}
		s.Transfer = tr.UUID
		if res, done := transferOutcome(tr, rel, &s); done {
			return res
		}
		return UpdateResult{Message: fmt.Sprintf("transfer from %s started", rel.Source), Started: &s}
	}
	if started.Transfer == "" {
		// ONTAP did not name the transfer it started: the update is the first to end after
		// the previous one.
		if t == nil || !t.End.After(started.PreviousEnd) {
			return waiting()
		}
		res, _ := transferOutcome(t, rel, started)
		return res
	}
	tr, err := api.GetTransfer(ctx, rel.UUID, started.Transfer)
	switch {
	case errors.Is(err, ontap.ErrNotFound):
		return UpdateResult{Outcome: UpdateFailed, Message: fmt.Sprintf("ONTAP no longer knows transfer %s from %s: create a new update", started.Transfer, rel.Source), Started: started}
	case err != nil:
		return retry(err)
	}
	if res, done := transferOutcome(tr, rel, started); done {
		return res
	}
	return waiting()
}

// transferOutcome reports an update whose transfer has ended.
func transferOutcome(tr *ontap.Transfer, rel *ontap.Relationship, started *Started) (UpdateResult, bool) {
	switch {
	case tr.State.Active():
		return UpdateResult{}, false
	case tr.State == ontap.TransferSuccess:
		return UpdateResult{Outcome: UpdateSucceeded, Message: fmt.Sprintf("transferred %d bytes from %s", tr.BytesTransferred, rel.Source), Started: started}, true
	}
	reason := tr.Error
	if reason == "" {
		reason = strings.Join(rel.UnhealthyReasons, "; ")
	}
	return UpdateResult{Outcome: UpdateFailed, Message: fmt.Sprintf("the transfer from %s ended %s: %s", rel.Source, tr.State, reason), Started: started}, true
}
