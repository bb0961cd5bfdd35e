package frontend

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

// TestRPOStatus: Met below 80% of the objective, AtRisk up to it, Breached from it on.
func TestRPOStatus(t *testing.T) {
	d := func(v time.Duration) *metav1.Duration { return &metav1.Duration{Duration: v} }
	rpo := d(10 * time.Minute)
	cases := []struct {
		// lag and rpo are the condition's; nil when not known.
		lag, rpo *metav1.Duration
		want     tridentv1.RPOStatus
	}{
		{d(0), rpo, tridentv1.RPOMet},
		{d(7*time.Minute + 59*time.Second), rpo, tridentv1.RPOMet},
		{d(8 * time.Minute), rpo, tridentv1.RPOAtRisk},
		{d(9*time.Minute + 59*time.Second), rpo, tridentv1.RPOAtRisk},
		{d(10 * time.Minute), rpo, tridentv1.RPOBreached},
		{d(3 * time.Hour), rpo, tridentv1.RPOBreached},
		{nil, rpo, ""},
		{d(time.Minute), nil, ""},
	}
	for _, tc := range cases {
		if got := rpoStatus(tc.lag, tc.rpo); got != tc.want {
			t.Errorf("lag %v, objective %v: got %q, want %q", tc.lag, tc.rpo, got, tc.want)
		}
	}
}

// TestRecoveryPointWithoutONTAP: the cases that need no schedule lookup. A declared objective
// wins; a destination without a schedule says it has none and how to get one; a volume that
// is no destination has none at all.
func TestRecoveryPointWithoutONTAP(t *testing.T) {
	declared := &tridentv1.TridentMirrorRelationship{Spec: tridentv1.TridentMirrorRelationshipSpec{
		State: tridentv1.MirrorStateEstablished, RecoveryPointObjective: &metav1.Duration{Duration: 15 * time.Minute}}}
	r := &TMRReconciler{}
	cond := tridentv1.TridentMirrorRelationshipCondition{State: tridentv1.MirrorStateEstablished, ReplicationSchedule: "5min", Lag: &metav1.Duration{Duration: 13 * time.Minute}}
	r.recoveryPoint(context.Background(), declared, &cond, nil)
	if cond.RecoveryPointObjective.Duration != 15*time.Minute || cond.RecoveryPointObjectiveSource != declaredRPO || cond.RPOStatus != tridentv1.RPOAtRisk {
		t.Errorf("declared: %v, %q, %q", cond.RecoveryPointObjective, cond.RecoveryPointObjectiveSource, cond.RPOStatus)
	}

	unscheduled := &tridentv1.TridentMirrorRelationship{Spec: tridentv1.TridentMirrorRelationshipSpec{State: tridentv1.MirrorStateReestablished}}
	cond = tridentv1.TridentMirrorRelationshipCondition{State: tridentv1.MirrorStateReestablished, Lag: &metav1.Duration{Duration: time.Hour}}
	r.recoveryPoint(context.Background(), unscheduled, &cond, nil)
	if cond.RecoveryPointObjective != nil || cond.RPOStatus != "" || !strings.Contains(cond.RecoveryPointObjectiveSource, "declare spec.recoveryPointObjective") {
		t.Errorf("no schedule: %v, %q, %q", cond.RecoveryPointObjective, cond.RecoveryPointObjectiveSource, cond.RPOStatus)
	}

	for _, s := range []tridentv1.MirrorState{tridentv1.MirrorStatePromoted, tridentv1.MirrorStateFailed, tridentv1.MirrorStateEstablishing} {
		cond = tridentv1.TridentMirrorRelationshipCondition{State: s, Lag: &metav1.Duration{Duration: time.Hour}}
		r.recoveryPoint(context.Background(), declared, &cond, nil)
		if cond.RecoveryPointObjective != nil || cond.RecoveryPointObjectiveSource != "" || cond.RPOStatus != "" {
			t.Errorf("%s: %v, %q, %q; want no objective", s, cond.RecoveryPointObjective, cond.RecoveryPointObjectiveSource, cond.RPOStatus)
		}
	}
}
