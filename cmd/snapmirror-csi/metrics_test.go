package main

import (
	"crypto/tls"
	"flag"
	"testing"
)

// TestMetricsOptions: metrics are served over HTTPS behind the API server's authentication and
// authorization unless --metrics-secure=false says otherwise. TestBinary scrapes them.
func TestMetricsOptions(t *testing.T) {
	f := flag.CommandLine.Lookup("metrics-secure")
	if f == nil || f.DefValue != "true" {
		t.Fatalf("--metrics-secure: %+v, want a flag defaulting to true", f)
	}
	defer func(saved bool) { metricsFlags.secure = saved }(metricsFlags.secure)

	metricsFlags.secure = true
	o := metricsOptions(":8080")
	if !o.SecureServing || o.FilterProvider == nil || o.BindAddress != ":8080" {
		t.Errorf("secure: %+v, want HTTPS with the authentication and authorization filter", o)
	}
	c := &tls.Config{}
	for _, opt := range o.TLSOpts {
		opt(c)
	}
	if len(c.NextProtos) != 1 || c.NextProtos[0] != "http/1.1" {
		t.Errorf("secure: ALPN %v, want HTTP/1.1 only", c.NextProtos)
	}

	if err := flag.CommandLine.Set("metrics-secure", "false"); err != nil {
		t.Fatal(err)
	}
	o = metricsOptions(":8080")
	if o.SecureServing || o.FilterProvider != nil {
		t.Errorf("--metrics-secure=false: %+v, want plain HTTP", o)
	}
}
