package main

import (
	"crypto/tls"
	"flag"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The metrics endpoint checks each scrape with the API server: the bearer token through a
// TokenReview, the right to "get /metrics" through a SubjectAccessReview. A scraper needs a
// binding to the snapmirror-csi-metrics-reader ClusterRole (deploy/rbac/metrics_reader.yaml).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// metricsFlags are the flags of the metrics endpoint beyond its address.
var metricsFlags = struct {
	secure  bool
	certDir string
}{secure: true}

func init() {
	flag.BoolVar(&metricsFlags.secure, "metrics-secure", true,
		"serve metrics over HTTPS to authenticated and authorized clients only (a ServiceAccount token allowed to get /metrics); false: plain HTTP, open to anyone who reaches the port")
	flag.StringVar(&metricsFlags.certDir, "metrics-cert-dir", "",
		"folder of the metrics server's tls.crt and tls.key, reloaded when they change; default: a self-signed certificate made at start")
}

// metricsOptions returns the options of the metrics server at addr ("0": none) for the
// metrics flags.
func metricsOptions(addr string) metricsserver.Options {
	if !metricsFlags.secure {
		return metricsserver.Options{BindAddress: addr}
	}
	return metricsserver.Options{
		BindAddress:    addr,
		SecureServing:  true,
		FilterProvider: filters.WithAuthenticationAndAuthorization,
		CertDir:        metricsFlags.certDir,
		// HTTP/1.1 only: HTTP/2 exposes the server to stream-reset floods (CVE-2023-44487,
		// CVE-2023-39325), and a scraper gains nothing from it.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
}
