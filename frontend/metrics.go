package frontend

import (
	"github.com/prometheus/client_golang/prometheus"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
)

// Metrics are the Prometheus metrics of mirror relationships, one series per TMR. A nil
// *Metrics records nothing.
type Metrics struct {
	state      *prometheus.GaugeVec
	lag        *prometheus.GaugeVec
	healthy    *prometheus.GaugeVec
	lastEnd    *prometheus.GaugeVec
	lastBytes  *prometheus.GaugeVec
	lastLength *prometheus.GaugeVec
	splitBrain *prometheus.GaugeVec
	drift      *prometheus.GaugeVec
	operations *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	tmr := []string{"namespace", "name"}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "snapmirror_csi_tmr_" + name, Help: help}, append(tmr, labels...))
	}
	m := &Metrics{
		state:      gauge("state", "1 for the relationship's actual state, 0 for the others.", "state"),
		lag:        gauge("lag_seconds", "How far the destination is behind the source (ONTAP's lag_time)."),
		healthy:    gauge("healthy", "1 when ONTAP reports the relationship healthy."),
		lastEnd:    gauge("last_transfer_end_timestamp_seconds", "When the last transfer ended."),
		lastBytes:  gauge("last_transfer_bytes", "The size of the last transfer."),
		lastLength: gauge("last_transfer_duration_seconds", "How long the last transfer took."),
		splitBrain: gauge("split_brain", "1 while both copies have been written since their last common snapshot (see the TMR's status)."),
		drift:      gauge("drift", "1 while the relationship on ONTAP differs from what the TMR's request made of it, by someone else's change (see the TMR's status.conditions[0].drift)."),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapmirror_csi_mirror_operations_total", Help: "Replication steps taken, by action and result.",
		}, []string{"action", "result"}),
	}
	for _, c := range []prometheus.Collector{m.state, m.lag, m.healthy, m.lastEnd, m.lastBytes, m.lastLength, m.splitBrain, m.drift, m.operations} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(t *tridentv1.TridentMirrorRelationship, res mirror.Result) {
	if m == nil {
		return
	}
	ns, name := t.Namespace, t.Name
	for _, s := range tridentv1.MirrorStates {
		v := 0.0
		if s == tmrState(res.State) {
			v = 1
		}
		m.state.WithLabelValues(ns, name, string(s)).Set(v)
	}
	result := "ok"
	if res.Err != nil {
		result = "error"
	}
	for _, a := range res.Actions {
		m.operations.WithLabelValues(a.String(), result).Inc()
	}
	rel := res.Relationship
	if rel == nil {
		return
	}
	if rel.Lag != nil {
		m.lag.WithLabelValues(ns, name).Set(rel.Lag.Seconds())
	}
	if rel.Healthy != nil {
		h := 0.0
		if *rel.Healthy {
			h = 1
		}
		m.healthy.WithLabelValues(ns, name).Set(h)
	}
	if t := rel.Transfer; t != nil && !t.End.IsZero() {
		m.lastEnd.WithLabelValues(ns, name).Set(float64(t.End.Unix()))
		m.lastBytes.WithLabelValues(ns, name).Set(float64(t.BytesTransferred))
		m.lastLength.WithLabelValues(ns, name).Set(t.Duration.Seconds())
	}
}

// observeSplitBrain sets the split-brain gauge.
func (m *Metrics) observeSplitBrain(t *tridentv1.TridentMirrorRelationship, found bool) {
	if m != nil {
		setFlag(m.splitBrain, t, found)
	}
}

// observeDrift sets the drift gauge.
func (m *Metrics) observeDrift(t *tridentv1.TridentMirrorRelationship, found bool) {
	if m != nil {
		setFlag(m.drift, t, found)
	}
}

func setFlag(g *prometheus.GaugeVec, t *tridentv1.TridentMirrorRelationship, on bool) {
	v := 0.0
	if on {
		v = 1
	}
	g.WithLabelValues(t.Namespace, t.Name).Set(v)
}

// forget removes a deleted TMR's series.
func (m *Metrics) forget(t *tridentv1.TridentMirrorRelationship) {
	if m == nil {
		return
	}
	labels := prometheus.Labels{"namespace": t.Namespace, "name": t.Name}
	for _, g := range []*prometheus.GaugeVec{m.state, m.lag, m.healthy, m.lastEnd, m.lastBytes, m.lastLength, m.splitBrain, m.drift} {
		g.DeletePartialMatch(labels)
	}
}
