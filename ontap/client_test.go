package ontap_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

const (
	user     = "admin"
	password = "s3cr3t-Pa55w0rd"
)

// server is an httptest TLS server that requires basic auth and answers with handler.
func server(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			writeJSON(w, http.StatusUnauthorized, `{"error":{"message":"not authorized for that account","code":"6"}}`)
			return
		}
		handler(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// caOf returns the PEM of the server's self-signed certificate, its CA.
func caOf(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// otherCA returns a freshly made self-signed CA certificate that signed nothing.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// creds writes a credentials directory, as a mounted Secret, and returns its source.
func creds(t *testing.T, u, p string) ontap.CredentialsSource {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{"username": u, "password": p + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &ontap.DirCredentials{Dir: dir}
}

// newClient builds a client for srv with its CA and good credentials, then applies mods.
func newClient(t *testing.T, srv *httptest.Server, mods ...func(*ontap.Config)) *ontap.Client {
	t.Helper()
	cfg := ontap.Config{
		Name: "test", Address: strings.TrimPrefix(srv.URL, "https://"), CA: caOf(srv),
		Credentials: creds(t, user, password), RetryBaseDelay: time.Millisecond, JobPollInterval: time.Millisecond,
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := ontap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/hal+json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func clusterOK(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, `{"name":"cluster1","uuid":"u1","version":{"full":"NetApp Release 9.16.1"}}`)
}

func TestTLS(t *testing.T) {
	srv := server(t, clusterOK)
	cases := []struct {
		name string
		// cfg changes the client's configuration.
		cfg func(*ontap.Config)
		// wantErr is a fragment of the expected error, or "" for success.
		wantErr string
	}{
		{name: "the server's CA verifies", cfg: func(*ontap.Config) {}},
		{name: "a wrong CA fails", cfg: func(c *ontap.Config) { c.CA = otherCA(t) }, wantErr: "certificate signed by unknown authority"},
		{name: "the system roots do not know a private CA", cfg: func(c *ontap.Config) { c.CA = nil }, wantErr: "certificate signed by unknown authority"},
		{name: "insecure only when asked", cfg: func(c *ontap.Config) { c.CA, c.InsecureSkipTLSVerify = nil, true }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, err := newClient(t, srv, tc.cfg).Cluster(context.Background())
			if tc.wantErr == "" {
				if err != nil || info.Name != "cluster1" || info.Version != "NetApp Release 9.16.1" {
					t.Fatalf("got %+v, %v", info, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}

	if _, err := ontap.New(ontap.Config{Address: "h", Credentials: creds(t, user, password), CA: []byte("not PEM")}); err == nil {
		t.Error("a CA bundle without certificates was accepted")
	}
}

func TestAuthNeverLeaksTheSecret(t *testing.T) {
	srv := server(t, clusterOK)
	_, err := newClient(t, srv, func(c *ontap.Config) { c.Credentials = creds(t, user, "wrong-"+password) }).Cluster(context.Background())
	var apiErr *ontap.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || apiErr.Code != "6" {
		t.Fatalf("got %v, want HTTP 401 with ONTAP code 6", err)
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("the error shows the password: %v", err)
	}

	missing := &ontap.DirCredentials{Dir: filepath.Join(t.TempDir(), "absent")}
	_, err = newClient(t, srv, func(c *ontap.Config) { c.Credentials = missing }).Cluster(context.Background())
	if err == nil || !strings.Contains(err.Error(), "read ONTAP credentials") {
		t.Errorf("got %v, want an error naming the credentials file", err)
	}

	c := ontap.Credentials{Username: user, Password: password}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, password) {
			t.Errorf("formatting credentials shows the password: %s", s)
		}
	}
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name string
		// method is the request's method; status what the server answers until it gives in.
		method string
		status int
		// failures is how many times the server fails before answering well.
		failures int
		// wantCalls is how many requests the server must see, wantOK whether the call succeeds.
		wantCalls int
		wantOK    bool
	}{
		{name: "GET after 503", method: http.MethodGet, status: 503, failures: 2, wantCalls: 3, wantOK: true},
		{name: "GET after 500", method: http.MethodGet, status: 500, failures: 1, wantCalls: 2, wantOK: true},
		{name: "GET gives up after 4 attempts", method: http.MethodGet, status: 502, failures: 10, wantCalls: 4},
		{name: "POST after 503: ONTAP did nothing", method: http.MethodPost, status: 503, failures: 1, wantCalls: 2, wantOK: true},
		{name: "POST after 500 is not repeated", method: http.MethodPost, status: 500, failures: 1, wantCalls: 1},
		{name: "GET after 404 is not repeated", method: http.MethodGet, status: 404, failures: 1, wantCalls: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				if n := calls.Add(1); int(n) <= tc.failures {
					writeJSON(w, tc.status, `{"error":{"message":"busy","code":"9999"}}`)
					return
				}
				if r.Method == http.MethodPost {
					var body map[string]any
					if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["name"] != "snap1" {
						t.Errorf("retried POST lost its body: %v %v", body, err)
					}
					writeJSON(w, http.StatusCreated, `{"job":{"uuid":"j1"}}`)
					return
				}
				clusterOK(w, r)
			})
			c := newClient(t, srv)
			var err error
			if tc.method == http.MethodGet {
				_, err = c.Cluster(context.Background())
			} else {
				_, err = c.CreateSnapshot(context.Background(), "vol-uuid", "snap1")
			}
			if got := int(calls.Load()); got != tc.wantCalls {
				t.Errorf("server saw %d requests, want %d", got, tc.wantCalls)
			}
			if (err == nil) != tc.wantOK {
				t.Errorf("got error %v, want success %v", err, tc.wantOK)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	const total, pageSize = 7, 3
	var requests []string
	var mu sync.Mutex
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.URL.RawQuery)
		mu.Unlock()
		q := r.URL.Query()
		if q.Get("svm.name") != "svm1" || q.Get("fields") == "" {
			t.Errorf("page request lost its filter or fields: %s", r.URL.RawQuery)
		}
		start := 0
		fmt.Sscan(q.Get("start.index"), &start)
		var recs []string
		for i := start; i < min(start+pageSize, total); i++ {
			recs = append(recs, fmt.Sprintf(`{"uuid":"u%d","name":"vol%d","svm":{"name":"svm1"},"type":"rw","size":%d}`, i, i, i<<20))
		}
		next := ""
		if start+pageSize < total {
			q.Set("start.index", fmt.Sprint(start+pageSize))
			next = fmt.Sprintf(`,"next":{"href":"/api/storage/volumes?%s"}`, q.Encode())
		}
		writeJSON(w, 200, fmt.Sprintf(`{"records":[%s],"num_records":%d,"_links":{"self":{"href":"/api/storage/volumes"}%s}}`,
			strings.Join(recs, ","), len(recs), next))
	})
	vols, err := newClient(t, srv).ListVolumes(context.Background(), "svm1", "vol*")
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != total || len(requests) != 3 {
		t.Fatalf("got %d volumes in %d requests, want %d in 3", len(vols), len(requests), total)
	}
	for i, v := range vols {
		if v.Name != fmt.Sprintf("vol%d", i) || v.Size != int64(i)<<20 || v.SVM != "svm1" {
			t.Errorf("volume %d: %+v", i, v)
		}
	}
}

func TestErrorShapes(t *testing.T) {
	cases := []struct {
		name string
		// status, contentType and body are the server's answer.
		status      int
		contentType string
		body        string
		// check asserts on the error.
		check func(error) bool
	}{
		{"not found", 404, "application/hal+json", `{"error":{"message":"entry doesn't exist","code":"4","target":"uuid"}}`,
			func(err error) bool {
				return errors.Is(err, ontap.ErrNotFound) && strings.Contains(err.Error(), "target uuid")
			}},
		{"duplicate relationship", 409, "application/json", `{"error":{"message":"already exists","code":"6619637"}}`,
			ontap.IsAlreadyExists},
		{"transfer in progress", 400, "application/json", `{"error":{"message":"Transfer already in progress","code":"13303812"}}`,
			ontap.IsTransferInProgress},
		{"no common snapshot", 400, "application/json", `{"error":{"message":"no common Snapshot copy","code":"13303890"}}`,
			ontap.IsNoCommonSnapshot},
		{"volume in a relationship", 400, "application/json", `{"error":{"message":"is the destination or source endpoint","code":"917858"}}`,
			ontap.IsInRelationship},
		{"a proxy's HTML page", 502, "text/html", `<html>bad gateway</html>`,
			func(err error) bool {
				var e *ontap.APIError
				return errors.As(err, &e) && e.Status == 502 && strings.Contains(e.Message, "Bad Gateway")
			}},
		{"an empty body", 500, "", ``,
			func(err error) bool { var e *ontap.APIError; return errors.As(err, &e) && e.Status == 500 }},
		{"an error without a code", 400, "application/json", `{"error":{"message":"bad"}}`,
			func(err error) bool {
				var e *ontap.APIError
				return errors.As(err, &e) && e.Code == "" && e.Message == "bad"
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			_, _, err := newClient(t, srv, func(c *ontap.Config) { c.RetryAttempts = 1 }).CreateRelationship(context.Background(),
				ontap.RelationshipSpec{Source: "svm1:vol1", Destination: "svm2:vol1"})
			if err == nil || !tc.check(err) {
				t.Errorf("error %v does not match", err)
			}
		})
	}
}

func TestJobs(t *testing.T) {
	var lists atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/storage/volumes":
			if r.URL.Query().Get("return_timeout") != "0" {
				t.Errorf("return_timeout = %q, want 0: ONTAP answers at once and the job is followed", r.URL.Query().Get("return_timeout"))
			}
			writeJSON(w, http.StatusAccepted, `{"job":{"uuid":"job-fails","_links":{"self":{"href":"/api/cluster/jobs/job-fails"}}}}`)
		case r.Method == http.MethodDelete:
			writeJSON(w, http.StatusOK, `{"job":{"uuid":"job-done"}}`)
		case r.URL.Path == "/api/cluster/jobs":
			var recs []string
			for _, uuid := range strings.Split(r.URL.Query().Get("uuid"), "|") {
				switch {
				case uuid == "job-fails" && lists.Add(1) < 3:
					recs = append(recs, `{"uuid":"job-fails","state":"running"}`)
				case uuid == "job-fails":
					recs = append(recs, `{"uuid":"job-fails","state":"failure","message":"Volume name is a duplicate","code":917526,`+
						`"error":{"code":"917526","message":"Duplicate volume name vol1"}}`)
				case uuid == "job-forever":
					recs = append(recs, `{"uuid":"job-forever","state":"running"}`)
				}
			}
			writeJSON(w, 200, fmt.Sprintf(`{"records":[%s],"num_records":%d}`, strings.Join(recs, ","), len(recs)))
		default:
			writeJSON(w, 404, `{"error":{"message":"entry doesn't exist","code":"4"}}`)
		}
	})
	c := newClient(t, srv)
	ctx := context.Background()

	job, err := c.CreateVolume(ctx, ontap.VolumeSpec{Name: "vol1", SVM: "svm1", Aggregate: "aggr1", Size: 1 << 30})
	if err != nil || job == nil || job.UUID != "job-fails" {
		t.Fatalf("create: got %+v, %v; want the running job", job, err)
	}
	err = c.WaitJob(ctx, job)
	if !ontap.IsAlreadyExists(err) || !strings.Contains(err.Error(), "job job-fails") {
		t.Errorf("wait: got %v, want the job's duplicate-name failure", err)
	}

	if job, err := c.DeleteVolume(ctx, "vol-uuid"); job != nil || err != nil {
		t.Errorf("delete answered 200 within return_timeout: got %+v, %v; want done", job, err)
	}

	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.WaitJob(ctx, &ontap.Job{UUID: "job-forever", State: ontap.JobRunning})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("wait with a cancelled ctx: got %v after %s", err, time.Since(start))
	}

	if _, err := c.GetJob(context.Background(), "purged"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("a purged job: got %v, want ErrNotFound", err)
	}
	if err := c.WaitJob(context.Background(), &ontap.Job{UUID: "purged", State: ontap.JobRunning}); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("waiting for a purged job: got %v, want ErrNotFound", err)
	}
}

// TestJobWatcher: however many jobs callers wait for, ONTAP is asked about them with one list
// call per round for up to 100 of them, never a GET per job; each waiter learns its own job's
// end, and a notified caller then reads the ended job without a call.
func TestJobWatcher(t *testing.T) {
	const n = 250
	var lists, gets, widest atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/cluster/jobs" {
			gets.Add(1)
			writeJSON(w, 404, `{"error":{"message":"entry doesn't exist","code":"4"}}`)
			return
		}
		// The first list of each round finds every job running; later ones find them ended.
		state := "success"
		if lists.Add(1) <= 3 {
			state = "running"
		}
		var recs []string
		uuids := strings.Split(r.URL.Query().Get("uuid"), "|")
		for n := int32(len(uuids)); ; {
			if old := widest.Load(); n <= old || widest.CompareAndSwap(old, n) {
				break
			}
		}
		for _, uuid := range uuids {
			s := state
			if uuid == "j7" && s == "success" {
				s = "failure"
			}
			recs = append(recs, fmt.Sprintf(`{"uuid":%q,"state":%q,"message":"m","code":0}`, uuid, s))
		}
		writeJSON(w, 200, fmt.Sprintf(`{"records":[%s],"num_records":%d}`, strings.Join(recs, ","), len(recs)))
	})
	c := newClient(t, srv)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = c.WaitJob(context.Background(), &ontap.Job{UUID: fmt.Sprintf("j%d", i), State: ontap.JobRunning})
		})
	}
	notified := make(chan struct{})
	c.NotifyJob("j1", func() { close(notified) })
	wg.Wait()
	<-notified
	for i, err := range errs {
		if (i == 7) != (err != nil) {
			t.Errorf("job j%d: %v", i, err)
		}
	}
	if j, err := c.GetJob(context.Background(), "j1"); err != nil || j.State != ontap.JobSuccess {
		t.Errorf("the notified job read again: %+v, %v; want its success, from what the watcher saw", j, err)
	}
	if got := gets.Load(); got != 0 {
		t.Errorf("%d single-job GETs; want none", got)
	}
	// A round lists 100 jobs a call; the jobs end at the second look.
	if got := lists.Load(); got > 12 || widest.Load() > 100 {
		t.Errorf("%d list calls of up to %d jobs for %d jobs; want at most 12, of up to 100", got, widest.Load(), n)
	}
}

func TestConcurrencyCapAndMetrics(t *testing.T) {
	const cap = 3
	var inFlight, peak atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
		writeJSON(w, 200, `{"records":[],"num_records":0}`)
	})
	reg := prometheus.NewRegistry()
	metrics, err := ontap.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, func(cfg *ontap.Config) { cfg.MaxConcurrentRequests, cfg.Metrics = cap, metrics })
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if _, err := c.GetRelationship(context.Background(), "svm2:vol1"); !errors.Is(err, ontap.ErrNotFound) {
				t.Errorf("got %v, want ErrNotFound", err)
			}
		})
	}
	wg.Wait()
	if got := peak.Load(); got != cap {
		t.Errorf("peak requests in flight = %d, want %d", got, cap)
	}
	if n := metricsCounter(t, reg); n != 12 {
		t.Errorf("requests counted = %v, want 12", n)
	}
}

// metricsCounter returns the request counter of the GET of relationships with status 200.
func metricsCounter(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return gathered(t, reg, "snapmirror_csi_ontap_requests_total", map[string]string{"cluster": "test", "operation": "GET /snapmirror/relationships", "status": "200"})
}

// gathered returns the value of the counter or gauge of that name with those labels; 0 when
// there is none.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestQueuedIsNotSilence: a request whose deadline passes while it waits for one of the
// client's own slots was never sent: the error says so, and it does not count as the cluster
// not answering (which would set the backend aside while the cluster serves).
func TestQueuedIsNotSilence(t *testing.T) {
	release := make(chan struct{})
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		clusterOK(w, r)
	})
	defer close(release)
	c := newClient(t, srv, func(cfg *ontap.Config) { cfg.MaxConcurrentRequests = 1 })
	go c.Cluster(context.Background()) // holds the one slot until release
	var err error
	wait.For(t, 10*time.Second, "a second request queued behind the first times out", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err = c.Cluster(ctx)
		var queued *ontap.QueuedError
		return errors.As(err, &queued)
	})
	if ontap.DoesNotAnswer(err) {
		t.Errorf("DoesNotAnswer(%v) = true for a request never sent", err)
	}
	if !strings.Contains(err.Error(), "not sent: all 1 request slots") {
		t.Errorf("error %q does not say the request was not sent", err)
	}
}
