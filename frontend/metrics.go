package frontend

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
)

// Metrics are the Prometheus metrics of mirror relationships, one series per TMR. A nil
// *Metrics records nothing.
//
// The gauges of a TMR are a few figures kept in one small record per TMR and turned into
// series only when scraped: a gauge vector keeps a series object per label set, about
// 0.5 KiB each, and a TMR has up to 15 of them (8 of state). A scrape shows the same series.
type Metrics struct {
	mu   sync.Mutex
	tmrs map[types.NamespacedName]*tmrFigures

	operations *prometheus.CounterVec
	updates    *prometheus.CounterVec
}

// The per-TMR gauges, in the order of tmrFigures.values.
const (
	lagGauge = iota
	healthyGauge
	lastEndGauge
	lastBytesGauge
	lastLengthGauge
	splitBrainGauge
	driftGauge
	rpoGauge
	stateSinceGauge
	lastUpdateFailedGauge
	numGauges
)

var (
	tmrLabels  = []string{"namespace", "name"}
	gaugeDescs = [numGauges]*prometheus.Desc{
		lagGauge:        gaugeDesc("lag_seconds", "How far the destination is behind the source (ONTAP's lag_time)."),
		healthyGauge:    gaugeDesc("healthy", "1 when ONTAP reports the relationship healthy."),
		lastEndGauge:    gaugeDesc("last_transfer_end_timestamp_seconds", "When the last transfer ended."),
		lastBytesGauge:  gaugeDesc("last_transfer_bytes", "The size of the last transfer."),
		lastLengthGauge: gaugeDesc("last_transfer_duration_seconds", "How long the last transfer took."),
		splitBrainGauge: gaugeDesc("split_brain", "1 while both copies have been written since their last common snapshot (see the TMR's status)."),
		driftGauge:      gaugeDesc("drift", "1 while the relationship on ONTAP differs from what the TMR's request made of it, by someone else's change (see the TMR's status.conditions[0].drift)."),
		rpoGauge:        gaugeDesc("rpo_seconds", "The recovery point objective in effect for a destination, declared or derived from its schedule (status.conditions[0].recoveryPointObjective)."),
		stateSinceGauge: gaugeDesc("state_since_timestamp_seconds", "When the relationship entered its actual state (status.conditions[0].lastTransitionTime)."),
		lastUpdateFailedGauge: gaugeDesc("last_update_failed",
			"1 when the last TridentActionMirrorUpdate of the relationship that ended failed, 0 when it succeeded."),
	}
	stateDesc     = gaugeDesc("state", "1 for the relationship's actual state, 0 for the others.", "state")
	rpoStatusDesc = gaugeDesc("rpo_status", "1 for how the destination's lag stands against its recovery point objective (status.conditions[0].rpoStatus), 0 for the other statuses; absent without an objective.", "status")
)

func gaugeDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("snapmirror_csi_tmr_"+name, help, append(append([]string(nil), tmrLabels...), labels...), nil)
}

// tmrFigures are one TMR's gauges: a gauge shows once set, and keeps its last value.
type tmrFigures struct {
	values [numGauges]float64
	set    [numGauges]bool
	// state is 1 + the index in tridentv1.MirrorStates of the actual state; 0 before the first
	// observation. A state outside the list (stateUnknown) shows every state at 0.
	state int8
	// rpoStatus is 1 + the index in tridentv1.RPOStatuses of the RPO status; 0 for none.
	rpoStatus int8
}

const stateUnknown = -1

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		tmrs: map[types.NamespacedName]*tmrFigures{},
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapmirror_csi_mirror_operations_total", Help: "Replication steps taken, by action and result.",
		}, []string{"action", "result"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapmirror_csi_mirror_updates_total", Help: "TridentActionMirrorUpdates ended, by result (Succeeded or Failed).",
		}, []string{"result"}),
	}
	// Both results show from the start, so that the first failure is an increase.
	for _, res := range []tridentv1.ActionState{tridentv1.ActionStateSucceeded, tridentv1.ActionStateFailed} {
		m.updates.WithLabelValues(string(res))
	}
	for _, c := range []prometheus.Collector{tmrCollector{m}, m.operations, m.updates} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// update changes the TMR's figures under the lock.
func (m *Metrics) update(t *tridentv1.TridentMirrorRelationship, f func(*tmrFigures)) {
	key := types.NamespacedName{Namespace: t.Namespace, Name: t.Name}
	m.mu.Lock()
	defer m.mu.Unlock()
	fig := m.tmrs[key]
	if fig == nil {
		fig = &tmrFigures{}
		m.tmrs[key] = fig
	}
	f(fig)
}

func (f *tmrFigures) setGauge(g int, v float64) {
	f.values[g], f.set[g] = v, true
}

// observeCondition sets what the TMR's condition shows: its state and since when, and its
// recovery point objective and status, which disappear when the condition has none.
func (m *Metrics) observeCondition(t *tridentv1.TridentMirrorRelationship, c tridentv1.TridentMirrorRelationshipCondition) {
	if m == nil {
		return
	}
	m.update(t, func(f *tmrFigures) {
		f.state = stateUnknown
		for i, s := range tridentv1.MirrorStates {
			if s == c.State {
				f.state = int8(i + 1)
			}
		}
		if c.LastTransitionTime != nil {
			f.setGauge(stateSinceGauge, float64(c.LastTransitionTime.Unix()))
		}
		f.set[rpoGauge] = c.RecoveryPointObjective != nil
		if c.RecoveryPointObjective != nil {
			f.values[rpoGauge] = c.RecoveryPointObjective.Seconds()
		}
		f.rpoStatus = 0
		for i, s := range tridentv1.RPOStatuses {
			if s == c.RPOStatus {
				f.rpoStatus = int8(i + 1)
			}
		}
	})
}

// observeUpdate counts a TridentActionMirrorUpdate that ended, and sets the last-update gauge
// of its TMR when that TMR is known (one that does not exist gets no series).
func (m *Metrics) observeUpdate(a *tridentv1.TridentActionMirrorUpdate) {
	if m == nil {
		return
	}
	m.updates.WithLabelValues(string(a.Status.State)).Inc()
	key := types.NamespacedName{Namespace: a.Namespace, Name: a.Spec.TridentMirrorRelationshipName}
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.tmrs[key]; f != nil {
		f.setGauge(lastUpdateFailedGauge, flag(a.Status.State == tridentv1.ActionStateFailed))
	}
}

func (m *Metrics) observe(t *tridentv1.TridentMirrorRelationship, res mirror.Result) {
	if m == nil {
		return
	}
	result := "ok"
	if res.Err != nil {
		result = "error"
	}
	for _, a := range res.Actions {
		m.operations.WithLabelValues(a.String(), result).Inc()
	}
	m.update(t, func(f *tmrFigures) {
		f.state = stateUnknown
		for i, s := range tridentv1.MirrorStates {
			if s == tmrState(res.State) {
				f.state = int8(i + 1)
			}
		}
		rel := res.Relationship
		if rel == nil {
			return
		}
		if rel.Lag != nil {
			f.setGauge(lagGauge, rel.Lag.Seconds())
		}
		if rel.Healthy != nil {
			f.setGauge(healthyGauge, flag(*rel.Healthy))
		}
		if t := rel.Transfer; t != nil && !t.End.IsZero() {
			f.setGauge(lastEndGauge, float64(t.End.Unix()))
			f.setGauge(lastBytesGauge, float64(t.BytesTransferred))
			f.setGauge(lastLengthGauge, t.Duration.Seconds())
		}
	})
}

// observeSplitBrain sets the split-brain gauge.
func (m *Metrics) observeSplitBrain(t *tridentv1.TridentMirrorRelationship, found bool) {
	if m != nil {
		m.update(t, func(f *tmrFigures) { f.setGauge(splitBrainGauge, flag(found)) })
	}
}

// observeDrift sets the drift gauge.
func (m *Metrics) observeDrift(t *tridentv1.TridentMirrorRelationship, found bool) {
	if m != nil {
		m.update(t, func(f *tmrFigures) { f.setGauge(driftGauge, flag(found)) })
	}
}

func flag(on bool) float64 {
	if on {
		return 1
	}
	return 0
}

// forget removes a deleted TMR's series.
func (m *Metrics) forget(t *tridentv1.TridentMirrorRelationship) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tmrs, types.NamespacedName{Namespace: t.Namespace, Name: t.Name})
}

// tmrCollector makes the series of the TMRs' figures when scraped.
type tmrCollector struct{ m *Metrics }

func (c tmrCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stateDesc
	ch <- rpoStatusDesc
	for _, d := range gaugeDescs {
		ch <- d
	}
}

func (c tmrCollector) Collect(ch chan<- prometheus.Metric) {
	// A copy is sent, so that observations do not wait for the scrape.
	type entry struct {
		key types.NamespacedName
		fig tmrFigures
	}
	c.m.mu.Lock()
	entries := make([]entry, 0, len(c.m.tmrs))
	for k, f := range c.m.tmrs {
		entries = append(entries, entry{k, *f})
	}
	c.m.mu.Unlock()
	for _, e := range entries {
		ns, name := e.key.Namespace, e.key.Name
		if e.fig.state != 0 {
			for i, s := range tridentv1.MirrorStates {
				ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, flag(int(e.fig.state) == i+1), ns, name, string(s))
			}
		}
		if e.fig.rpoStatus != 0 {
			for i, s := range tridentv1.RPOStatuses {
				ch <- prometheus.MustNewConstMetric(rpoStatusDesc, prometheus.GaugeValue, flag(int(e.fig.rpoStatus) == i+1), ns, name, string(s))
			}
		}
		for g, d := range gaugeDescs {
			if e.fig.set[g] {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, e.fig.values[g], ns, name)
			}
		}
	}
}
