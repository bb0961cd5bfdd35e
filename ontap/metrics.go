package ontap

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of ONTAP requests, labelled by cluster, operation
// (method and path pattern) and status. A nil *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	up       *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapmirror_csi_ontap_requests_total",
			Help: "ONTAP REST requests by cluster, operation and HTTP status (\"error\" when no response came).",
		}, []string{"cluster", "operation", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "snapmirror_csi_ontap_request_duration_seconds",
			Help:    "Latency of ONTAP REST requests by cluster and operation.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"cluster", "operation"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapmirror_csi_ontap_retries_total",
			Help: "ONTAP REST requests repeated after a transient failure, by cluster and operation.",
		}, []string{"cluster", "operation"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "snapmirror_csi_backend_up",
			Help: "1 while the backend is connected and its cluster answers; 0 while it is not used (the logs and the readiness check say why).",
		}, []string{"backend"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.retries, m.up} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(cluster string, req *http.Request, status string, d time.Duration) {
	if m == nil {
		return
	}
	op := req.Method + " " + operationPath(req.URL.Path)
	m.requests.WithLabelValues(cluster, op, status).Inc()
	m.latency.WithLabelValues(cluster, op).Observe(d.Seconds())
}

func (m *Metrics) retry(cluster string, req *http.Request) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(cluster, req.Method+" "+operationPath(req.URL.Path)).Inc()
}

func (m *Metrics) backendUp(backend string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(backend).Set(v)
}
