package ontap

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// tlsConfig verifies the server against the CA bundle when one is given, else against the
// system's roots. Verification is skipped only when insecure is set, which the caller logs.
func tlsConfig(caPEM []byte, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("the CA bundle holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	cfg.InsecureSkipVerify = insecure //nolint:gosec // only by the explicit option, with a warning
	return cfg, nil
}

// authTransport adds basic auth from a CredentialsSource to every request.
type authTransport struct {
	next  http.RoundTripper
	creds CredentialsSource
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, err := t.creds.Credentials(req.Context())
	if err != nil {
		return nil, &credentialsError{err}
	}
	req = req.Clone(req.Context())
	req.SetBasicAuth(c.Username, c.Password)
	return t.next.RoundTrip(req)
}

// credentialsError is a failure to read the credentials of a request, which was therefore
// never sent: a problem of the configuration, not of the cluster.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// limitTransport caps the requests in flight, since ONTAP rejects requests when its input
// queue overflows. A slot is held until the response body is closed.
type limitTransport struct {
	next  http.RoundTripper
	slots chan struct{}
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case t.slots <- struct{}{}:
	case <-req.Context().Done():
		return nil, &QueuedError{Err: req.Context().Err(), InFlight: cap(t.slots)}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		<-t.slots
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { <-t.slots }}
	return resp, nil
}

// QueuedError says that a request ended while it waited for one of the client's own slots
// (Config.MaxConcurrentRequests): it was never sent, so it says nothing of whether the cluster
// answers (DoesNotAnswer is false for it); the client was busy with as many requests.
type QueuedError struct {
	Err      error
	InFlight int
}

func (e *QueuedError) Error() string {
	return fmt.Sprintf("not sent: all %d request slots to the cluster stayed busy until the deadline: %v", e.InFlight, e.Err)
}

func (e *QueuedError) Unwrap() error { return e.Err }

type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// retryTransport repeats a request that failed for a transient reason, with exponential
// backoff and jitter, only when repeating it is safe: a GET or HEAD after a connection error,
// a timeout or a 5xx; any request that ONTAP refused before acting on it (connection refused,
// 429, 503).
type retryTransport struct {
	next     http.RoundTripper
	attempts int
	base     time.Duration
	max      time.Duration
	metrics  *Metrics
	cluster  string
	log      logr.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.GetBody == nil {
		body, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.Body, _ = req.GetBody()
	}
	for attempt := 1; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if attempt >= t.attempts || !retryable(req, resp, err) {
			return resp, err
		}
		delay := t.backoff(attempt, resp)
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
		t.log.V(1).Info("Retrying ONTAP request", "method", req.Method, "path", operationPath(req.URL.Path), "attempt", attempt, "delay", delay, "reason", reason(resp, err))
		t.metrics.retry(t.cluster, req)
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

func (t *retryTransport) backoff(attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			return min(time.Duration(s)*time.Second, t.max)
		}
	}
	d := min(t.base<<(attempt-1), t.max)
	return d/2 + rand.N(d/2+1) // jitter in [d/2, d]
}

// retryable reports whether a failed attempt may be repeated without risk of doing twice
// what ONTAP did once.
func retryable(req *http.Request, resp *http.Response, err error) bool {
	if req.Context().Err() != nil {
		return false
	}
	safe := req.Method == http.MethodGet || req.Method == http.MethodHead
	if err != nil {
		// A refused connection never reached ONTAP.
		if errors.Is(err, syscall.ECONNREFUSED) {
			return true
		}
		var netErr net.Error
		return safe && (errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET))
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true // refused before any work was done
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return safe
	}
	return false
}

func reason(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// errorBodyTransport makes every error response carry ONTAP's JSON error envelope, so that the
// generated client can decode it: a proxy's HTML page or an empty body becomes
// {"error":{"message": <HTTP status text>}}, and the status is kept.
type errorBodyTransport struct{ next http.RoundTripper }

func (t errorBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 || strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	body := fmt.Sprintf(`{"error":{"message":%q}}`, resp.Status)
	resp.Body = io.NopCloser(strings.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Type", "application/json")
	return resp, nil
}

// metricsTransport counts requests and their latency per operation and status.
type metricsTransport struct {
	next    http.RoundTripper
	metrics *Metrics
	cluster string
}

func (t *metricsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.metrics.observe(t.cluster, req, status, time.Since(start))
	return resp, err
}

var idSegment = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9]+)$`)

// operationPath turns a request path into its pattern, for metric labels and logs:
// /api/storage/volumes/<uuid>/snapshots becomes /storage/volumes/{id}/snapshots.
func operationPath(path string) string {
	segs := strings.Split(strings.TrimPrefix(path, "/api"), "/")
	for i, s := range segs {
		if idSegment.MatchString(s) {
			segs[i] = "{id}"
		}
	}
	return strings.Join(segs, "/")
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
