package ontap_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

// logLines collects what a logger writes.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// eventually waits until cond holds, or fails the test after 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.For(t, 20*time.Second, what, cond)
}

// twoSites is a fabric of two clusters, "east" (svm1) and "west" (svm2), with a backend
// configuration for each.
func twoSites(t *testing.T) (east, west *sim.Cluster, cfg *ontap.DriverConfig) {
	t.Helper()
	f := sim.NewFabric(sim.Options{})
	t.Cleanup(f.Close)
	var err error
	if east, err = f.AddCluster(sim.ClusterSpec{Name: "east", SVMs: []string{"svm1"}, Aggregates: []string{"aggr1"}}); err != nil {
		t.Fatal(err)
	}
	if west, err = f.AddCluster(sim.ClusterSpec{Name: "west", SVMs: []string{"svm2"}, Aggregates: []string{"aggr1"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := f.WriteCredentials(filepath.Join(dir, "creds")); err != nil {
		t.Fatal(err)
	}
	backend := func(c *sim.Cluster, svm string) ontap.BackendConfig {
		ca := filepath.Join(dir, c.Name()+"-ca.pem")
		os.WriteFile(ca, c.CA(), 0o600)
		return ontap.BackendConfig{
			Name: c.Name(), Driver: ontap.DriverNAS, ManagementLIF: c.Address(), SVM: svm, Aggregates: []string{"aggr1"},
			CAFile: ca, Credentials: ontap.CredentialsRef{File: filepath.Join(dir, "creds")}, ReplicationPolicy: "MirrorAllSnapshots",
		}
	}
	return east, west, &ontap.DriverConfig{Backends: []ontap.BackendConfig{backend(east, "svm1"), backend(west, "svm2")}}
}

// TestOpenWithAClusterDown: a backend whose cluster does not answer at start does not stop
// the others: it is kept, logged once, reported unavailable and down, and connected once its
// cluster answers, without a new OpenBackends. A backend that stops answering later is
// reported the same way and comes back the same way.
func TestOpenWithAClusterDown(t *testing.T) {
	_, west, cfg := twoSites(t)
	west.SetDown(true)
	var logs logLines
	log := funcr.New(func(prefix, args string) {
		logs.mu.Lock()
		logs.lines = append(logs.lines, args)
		logs.mu.Unlock()
	}, funcr.Options{Verbosity: 0})
	reg := prometheus.NewRegistry()
	metrics, err := ontap.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	backends, err := ontap.OpenBackends(ctx, cfg, ontap.OpenOptions{Metrics: metrics, Log: log, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("start with a cluster down: %v", err)
	}
	east, westB := backends[0], backends[1]
	if err := east.Available(); err != nil {
		t.Errorf("east: %v", err)
	}
	err = westB.Available()
	var unavailable *ontap.UnavailableError
	if !errors.As(err, &unavailable) || unavailable.Backend != "west" || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("west: %v, want an *UnavailableError naming west and saying it does not answer", err)
	}
	up := func(name string) float64 {
		return gathered(t, reg, "snapmirror_csi_backend_up", map[string]string{"backend": name})
	}
	if up("east") != 1 || up("west") != 0 {
		t.Errorf("snapmirror_csi_backend_up: east %v, west %v", up("east"), up("west"))
	}
	if n, err := ontap.Check(ctx, backends); n != 1 || err == nil || !strings.Contains(err.Error(), "backend west") || strings.Contains(err.Error(), "backend east") {
		t.Errorf("Check: %d answered, %v; want 1, naming west only", n, err)
	}
	// Retried in the background, and logged once for all the attempts.
	refused := func() float64 {
		return gathered(t, reg, "snapmirror_csi_ontap_requests_total", map[string]string{"cluster": "west", "operation": "GET /cluster", "status": "error"})
	}
	eventually(t, "three attempts to reach west", func() bool { return refused() >= 3 })
	if n := logs.count("Backend does not answer"); n != 1 {
		t.Errorf("west's outage logged %d times, want once: %q", n, logs.lines)
	}

	west.SetDown(false)
	eventually(t, "west connected", func() bool { return westB.Available() == nil })
	if up("west") != 1 || logs.count(`"Backend connected" "backend"="west"`) != 1 {
		t.Errorf("west up: gauge %v, logs %q", up("west"), logs.lines)
	}
	if n, err := ontap.Check(ctx, backends); n != 2 || err != nil {
		t.Errorf("Check: %d answered, %v", n, err)
	}

	// Down while in use: Check finds it, and it comes back by itself.
	west.SetDown(true)
	if n, err := ontap.Check(ctx, backends); n != 1 || err == nil || !strings.Contains(err.Error(), "west") {
		t.Errorf("Check with west down again: %d, %v", n, err)
	}
	if westB.Available() == nil || up("west") != 0 || logs.count("Backend does not answer") != 2 {
		t.Errorf("west down again: %v, gauge %v, logs %q", westB.Available(), up("west"), logs.lines)
	}
	west.SetDown(false)
	eventually(t, "west back", func() bool { return westB.Available() == nil })
	if logs.count(`"Backend answers again: in use" "backend"="west"`) != 1 {
		t.Errorf("logs: %q", logs.lines)
	}
}

// TestOpenStillRefusesBadConfiguration: only silence is waited out. A configuration that
// cannot work fails the start, with the reason, whether or not the cluster answers.
func TestOpenStillRefusesBadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(b *ontap.BackendConfig)
		down   bool
		want   string
	}{
		{"no credentials, cluster down", func(b *ontap.BackendConfig) { b.Credentials.File = "/nonexistent" }, true, "read ONTAP credentials"},
		{"secret without a reader", func(b *ontap.BackendConfig) { b.Credentials = ontap.CredentialsRef{Secret: "ns/name"} }, true, "give credentials.file instead"},
		{"CA missing", func(b *ontap.BackendConfig) { b.CAFile = "/nonexistent/ca.pem" }, true, "caFile"},
		{"no such SVM", func(b *ontap.BackendConfig) { b.SVM = "svm9" }, false, `svm "svm9" does not exist`},
		{"wrong CA", func(b *ontap.BackendConfig) { b.CAFile = cfgCA(t) }, false, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, west, cfg := twoSites(t)
			west.SetDown(tc.down)
			tc.change(&cfg.Backends[1])
			_, err := ontap.OpenBackends(context.Background(), cfg, ontap.OpenOptions{})
			if err == nil || !strings.Contains(err.Error(), "backend west") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a failure of backend west saying %q", err, tc.want)
			}
		})
	}
}

// cfgCA writes a CA that signed nothing.
func cfgCA(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	os.WriteFile(path, otherCA(t), 0o600)
	return path
}

func TestDoesNotAnswer(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{refused, true},
		{fmt.Errorf("get cluster: %w", refused), true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{&ontap.APIError{Status: 503}, true},
		{&ontap.APIError{Status: 500, Message: "internal"}, false},
		{&ontap.APIError{Status: 401}, false},
		{&ontap.APIError{Job: "j", Message: "failed"}, false},
		{ontap.ErrNotFound, false},
	} {
		if got := ontap.DoesNotAnswer(tc.err); got != tc.want {
			t.Errorf("DoesNotAnswer(%v) = %v", tc.err, got)
		}
	}
}
