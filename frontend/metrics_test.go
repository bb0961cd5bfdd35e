package frontend

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestMetricsExposition pins what a scrape shows of the TMRs' metrics: every state of an
// observed TMR (1 for its own), the figures last reported by ONTAP (kept while ONTAP does not
// report them again), the split-brain and drift flags, and nothing of a forgotten TMR.
func TestMetricsExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	tmr := func(name string) *tridentv1.TridentMirrorRelationship {
		return &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	}
	a, b, c := tmr("a"), tmr("b"), tmr("c")
	end := time.Unix(1_000_000, 0)
	m.observe(a, mirror.Result{State: mirror.Established, Actions: []mirror.Action{mirror.Resync}, Relationship: &ontap.Relationship{
		Lag: ptr.To(5 * time.Second), Healthy: ptr.To(true),
		Transfer: &ontap.Transfer{End: end, BytesTransferred: 42, Duration: 3 * time.Second},
	}})
	m.observeSplitBrain(a, false)
	m.observeDrift(a, false)
	// Later ONTAP reports neither lag nor a transfer: the last figures stay.
	m.observe(a, mirror.Result{State: mirror.Failed, Err: errors.New("x"), Actions: []mirror.Action{mirror.Resync}, Relationship: &ontap.Relationship{Healthy: ptr.To(false)}})
	m.observe(b, mirror.Result{State: mirror.Promoted})
	m.observeSplitBrain(b, true)
	m.observeDrift(b, true)
	m.observe(c, mirror.Result{State: mirror.Promoting})
	m.observeDrift(c, true)
	m.forget(c)
	m.forget(tmr("never-seen"))

	state := func(name, s string, v int) string {
		return `snapmirror_csi_tmr_state{name="` + name + `",namespace="ns",state="` + s + `"} ` + map[int]string{0: "0", 1: "1"}[v] + "\n"
	}
	var want strings.Builder
	want.WriteString(`# HELP snapmirror_csi_mirror_operations_total Replication steps taken, by action and result.
# TYPE snapmirror_csi_mirror_operations_total counter
snapmirror_csi_mirror_operations_total{action="resync",result="error"} 1
snapmirror_csi_mirror_operations_total{action="resync",result="ok"} 1
# HELP snapmirror_csi_mirror_updates_total TridentActionMirrorUpdates ended, by result (Succeeded or Failed).
# TYPE snapmirror_csi_mirror_updates_total counter
snapmirror_csi_mirror_updates_total{result="Failed"} 0
snapmirror_csi_mirror_updates_total{result="Succeeded"} 0
# HELP snapmirror_csi_tmr_drift 1 while the relationship on ONTAP differs from what the TMR's request made of it, by someone else's change (see the TMR's status.conditions[0].drift).
# TYPE snapmirror_csi_tmr_drift gauge
snapmirror_csi_tmr_drift{name="a",namespace="ns"} 0
snapmirror_csi_tmr_drift{name="b",namespace="ns"} 1
# HELP snapmirror_csi_tmr_healthy 1 when ONTAP reports the relationship healthy.
# TYPE snapmirror_csi_tmr_healthy gauge
snapmirror_csi_tmr_healthy{name="a",namespace="ns"} 0
# HELP snapmirror_csi_tmr_lag_seconds How far the destination is behind the source (ONTAP's lag_time).
# TYPE snapmirror_csi_tmr_lag_seconds gauge
snapmirror_csi_tmr_lag_seconds{name="a",namespace="ns"} 5
# HELP snapmirror_csi_tmr_last_transfer_bytes The size of the last transfer.
# TYPE snapmirror_csi_tmr_last_transfer_bytes gauge
snapmirror_csi_tmr_last_transfer_bytes{name="a",namespace="ns"} 42
# HELP snapmirror_csi_tmr_last_transfer_duration_seconds How long the last transfer took.
# TYPE snapmirror_csi_tmr_last_transfer_duration_seconds gauge
snapmirror_csi_tmr_last_transfer_duration_seconds{name="a",namespace="ns"} 3
# HELP snapmirror_csi_tmr_last_transfer_end_timestamp_seconds When the last transfer ended.
# TYPE snapmirror_csi_tmr_last_transfer_end_timestamp_seconds gauge
snapmirror_csi_tmr_last_transfer_end_timestamp_seconds{name="a",namespace="ns"} 1e+06
# HELP snapmirror_csi_tmr_split_brain 1 while both copies have been written since their last common snapshot (see the TMR's status).
# TYPE snapmirror_csi_tmr_split_brain gauge
snapmirror_csi_tmr_split_brain{name="a",namespace="ns"} 0
snapmirror_csi_tmr_split_brain{name="b",namespace="ns"} 1
# HELP snapmirror_csi_tmr_state 1 for the relationship's actual state, 0 for the others.
# TYPE snapmirror_csi_tmr_state gauge
`)
	for _, name := range []string{"a", "b"} {
		own := map[string]string{"a": "failed", "b": "promoted"}[name]
		states := []string{"established", "establishing", "failed", "invalid", "promoted", "promoting", "reestablished", "reestablishing"}
		for _, s := range states {
			v := 0
			if s == own {
				v = 1
			}
			want.WriteString(state(name, s, v))
		}
	}
	if got := scrape(t, reg); got != want.String() {
		t.Errorf("scrape:\n%s\nwant:\n%s", got, want.String())
	}
}

// scrape is what the registry's families of the given names (all when none) show in the text
// format.
func scrape(t *testing.T, reg *prometheus.Registry, names ...string) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, f := range families {
		if len(names) > 0 && !slices.Contains(names, f.GetName()) {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&got, f); err != nil {
			t.Fatal(err)
		}
	}
	return got.String()
}

// TestRPOAndUpdateMetrics: a scrape shows each destination's objective and how its lag stands
// (only while it has an objective), since when each TMR is in its state, whether its last
// on-demand update failed, and the count of updates by result.
func TestRPOAndUpdateMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	tmr := func(name string) *tridentv1.TridentMirrorRelationship {
		return &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	}
	since := metav1.NewTime(time.Unix(2_000_000, 0))
	dst, promoted, lost := tmr("dst"), tmr("promoted"), tmr("lost")
	// lost had an objective, then lost it (its schedule went away): its series go with it.
	m.observeCondition(lost, tridentv1.TridentMirrorRelationshipCondition{State: tridentv1.MirrorStateEstablished, LastTransitionTime: &since,
		RecoveryPointObjective: &metav1.Duration{Duration: time.Hour}, RPOStatus: tridentv1.RPOMet})
	m.observeCondition(lost, tridentv1.TridentMirrorRelationshipCondition{State: tridentv1.MirrorStateEstablished, LastTransitionTime: &since})
	m.observeCondition(dst, tridentv1.TridentMirrorRelationshipCondition{State: tridentv1.MirrorStateEstablished, LastTransitionTime: &since,
		RecoveryPointObjective: &metav1.Duration{Duration: 10 * time.Minute}, RPOStatus: tridentv1.RPOAtRisk})
	m.observeCondition(promoted, tridentv1.TridentMirrorRelationshipCondition{State: tridentv1.MirrorStateFailed, LastTransitionTime: &since})
	update := func(tmrName string, state tridentv1.ActionState) {
		m.observeUpdate(&tridentv1.TridentActionMirrorUpdate{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "u"},
			Spec: tridentv1.TridentActionMirrorUpdateSpec{TridentMirrorRelationshipName: tmrName}, Status: tridentv1.TridentActionMirrorUpdateStatus{State: state}})
	}
	update("dst", tridentv1.ActionStateFailed)
	update("promoted", tridentv1.ActionStateFailed)
	update("promoted", tridentv1.ActionStateSucceeded)
	// A TMR that does not exist gets no series; the update is counted.
	update("no-such-tmr", tridentv1.ActionStateFailed)

	want := `# HELP snapmirror_csi_mirror_updates_total TridentActionMirrorUpdates ended, by result (Succeeded or Failed).
# TYPE snapmirror_csi_mirror_updates_total counter
snapmirror_csi_mirror_updates_total{result="Failed"} 3
snapmirror_csi_mirror_updates_total{result="Succeeded"} 1
# HELP snapmirror_csi_tmr_last_update_failed 1 when the last TridentActionMirrorUpdate of the relationship that ended failed, 0 when it succeeded.
# TYPE snapmirror_csi_tmr_last_update_failed gauge
snapmirror_csi_tmr_last_update_failed{name="dst",namespace="ns"} 1
snapmirror_csi_tmr_last_update_failed{name="promoted",namespace="ns"} 0
# HELP snapmirror_csi_tmr_rpo_seconds The recovery point objective in effect for a destination, declared or derived from its schedule (status.conditions[0].recoveryPointObjective).
# TYPE snapmirror_csi_tmr_rpo_seconds gauge
snapmirror_csi_tmr_rpo_seconds{name="dst",namespace="ns"} 600
# HELP snapmirror_csi_tmr_rpo_status 1 for how the destination's lag stands against its recovery point objective (status.conditions[0].rpoStatus), 0 for the other statuses; absent without an objective.
# TYPE snapmirror_csi_tmr_rpo_status gauge
snapmirror_csi_tmr_rpo_status{name="dst",namespace="ns",status="AtRisk"} 1
snapmirror_csi_tmr_rpo_status{name="dst",namespace="ns",status="Breached"} 0
snapmirror_csi_tmr_rpo_status{name="dst",namespace="ns",status="Met"} 0
# HELP snapmirror_csi_tmr_state_since_timestamp_seconds When the relationship entered its actual state (status.conditions[0].lastTransitionTime).
# TYPE snapmirror_csi_tmr_state_since_timestamp_seconds gauge
snapmirror_csi_tmr_state_since_timestamp_seconds{name="dst",namespace="ns"} 2e+06
snapmirror_csi_tmr_state_since_timestamp_seconds{name="lost",namespace="ns"} 2e+06
snapmirror_csi_tmr_state_since_timestamp_seconds{name="promoted",namespace="ns"} 2e+06
`
	got := scrape(t, reg, "snapmirror_csi_mirror_updates_total", "snapmirror_csi_tmr_last_update_failed", "snapmirror_csi_tmr_rpo_seconds",
		"snapmirror_csi_tmr_rpo_status", "snapmirror_csi_tmr_state_since_timestamp_seconds")
	if got != want {
		t.Errorf("scrape:\n%s\nwant:\n%s", got, want)
	}
	if s := scrape(t, reg, "snapmirror_csi_tmr_state"); !strings.Contains(s, `snapmirror_csi_tmr_state{name="promoted",namespace="ns",state="failed"} 1`) {
		t.Errorf("state of a failed TMR:\n%s", s)
	}
}
