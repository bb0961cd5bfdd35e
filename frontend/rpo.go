package frontend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// scheduleTTL is how long a schedule's interval, once read, stands: schedules are rarely
// edited, and a lookup per pass would break the settled re-check's budget of one call.
const scheduleTTL = time.Hour

// schedules remembers the longest interval of each schedule, by backend and name.
type schedules struct {
	m sync.Map // backend/name -> scheduleEntry
}

type scheduleEntry struct {
	interval time.Duration
	// why says why the schedule gives no interval; empty when it does.
	why  string
	read time.Time
}

// interval is the schedule's longest interval, read from the backend's cluster at most once
// per scheduleTTL; why says why there is none. err is set when ONTAP could not tell.
func (s *schedules) interval(ctx context.Context, b *ontap.Backend, name string) (time.Duration, string, error) {
	key := b.Name + "/" + name
	if v, ok := s.m.Load(key); ok {
		if e := v.(scheduleEntry); time.Since(e.read) < scheduleTTL {
			return e.interval, e.why, nil
		}
	}
	e := scheduleEntry{read: time.Now()}
	sched, err := b.GetSchedule(ctx, name)
	switch {
	case errors.Is(err, ontap.ErrNotFound):
		e.why = fmt.Sprintf("schedule %s does not exist on the destination's cluster", name)
	case err != nil:
		return 0, "", err
	case sched.Cron == nil:
		e.why = fmt.Sprintf("schedule %s is not a cron schedule", name)
	default:
		var ok bool
		if e.interval, ok = sched.Cron.LongestInterval(); !ok {
			e.why = fmt.Sprintf("schedule %s never fires", name)
		}
	}
	s.m.Store(key, e)
	return e.interval, e.why, nil
}

// derivedRPOFactor is the derived objective in intervals of the schedule: the lag of a
// destination that receives every transfer stays below one interval plus the transfer's
// duration; one missed transfer takes it toward two intervals (at risk from 1.6), and a second
// beyond (breached).
const derivedRPOFactor = 2

// declaredRPO is the recoveryPointObjectiveSource of an objective taken from the spec.
const declaredRPO = "declared in spec.recoveryPointObjective"

// recoveryPoint fills the condition's recovery point objective and its status. Only a
// destination (established or reestablished) has one: a promoted volume has no lag.
func (r *TMRReconciler) recoveryPoint(ctx context.Context, tmr *tridentv1.TridentMirrorRelationship, cond *tridentv1.TridentMirrorRelationshipCondition, b *ontap.Backend) {
	if cond.State != tridentv1.MirrorStateEstablished && cond.State != tridentv1.MirrorStateReestablished {
		return
	}
	switch sched := cond.ReplicationSchedule; {
	case tmr.Spec.RecoveryPointObjective != nil:
		cond.RecoveryPointObjective = tmr.Spec.RecoveryPointObjective.DeepCopy()
		cond.RecoveryPointObjectiveSource = declaredRPO
	case sched == "":
		cond.RecoveryPointObjectiveSource = "none: the relationship has no transfer schedule, so it is updated only on demand; declare spec.recoveryPointObjective to have its lag checked"
	default:
		interval, why, err := r.schedules.interval(ctx, b, sched)
		prefix := "derived from schedule " + sched + ":"
		switch {
		case err != nil:
			// ONTAP could not tell now: the objective found before stands.
			if p := previous(tmr); p != nil && strings.HasPrefix(p.RecoveryPointObjectiveSource, prefix) {
				cond.RecoveryPointObjective, cond.RecoveryPointObjectiveSource = p.RecoveryPointObjective, p.RecoveryPointObjectiveSource
			} else {
				cond.RecoveryPointObjectiveSource = fmt.Sprintf("not known yet: schedule %s could not be read from ONTAP", sched)
			}
		case why != "":
			cond.RecoveryPointObjectiveSource = "none: " + why + "; declare spec.recoveryPointObjective to have the lag checked"
		default:
			cond.RecoveryPointObjective = &metav1.Duration{Duration: derivedRPOFactor * interval}
			cond.RecoveryPointObjectiveSource = fmt.Sprintf("%s twice its longest interval, %s", prefix, interval)
		}
	}
	cond.RPOStatus = rpoStatus(cond.Lag, cond.RecoveryPointObjective)
}

// rpoStatus rates a lag against an objective; empty without either.
func rpoStatus(lag, rpo *metav1.Duration) tridentv1.RPOStatus {
	switch {
	case lag == nil || rpo == nil || rpo.Duration <= 0:
		return ""
	case lag.Duration >= rpo.Duration:
		return tridentv1.RPOBreached
	case float64(lag.Duration) >= tridentv1.RPOAtRiskFraction*float64(rpo.Duration):
		return tridentv1.RPOAtRisk
	}
	return tridentv1.RPOMet
}

// previous is the TMR's condition before this pass, or nil.
func previous(tmr *tridentv1.TridentMirrorRelationship) *tridentv1.TridentMirrorRelationshipCondition {
	if len(tmr.Status.Conditions) == 0 {
		return nil
	}
	return &tmr.Status.Conditions[0]
}
