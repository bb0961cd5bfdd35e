package ontap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// DoesNotAnswer reports whether err says that a cluster did not answer: no response came
// (connection refused, reset or timed out, no route, a name that does not resolve), or a
// proxy in front of it answered that it cannot reach it (HTTP 502, 503, 504). It is false for
// an answer ONTAP considered (a refusal, a failed job, a 500), for a certificate the CA does
// not verify and for credentials that cannot be read: problems that waiting does not fix; and
// for a request that was never sent, its deadline passed in this client's own queue.
func DoesNotAnswer(err error) bool {
	var apiErr *APIError
	var netErr net.Error
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.As(err, new(*QueuedError)),
		errors.As(err, new(*credentialsError)), errors.As(err, new(*tls.CertificateVerificationError)):
		return false
	case errors.As(err, &apiErr):
		return apiErr.Status == http.StatusBadGateway || apiErr.Status == http.StatusServiceUnavailable || apiErr.Status == http.StatusGatewayTimeout
	}
	return errors.As(err, new(*net.OpError)) || errors.As(err, new(*net.DNSError)) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &netErr) && netErr.Timeout())
}

// UnavailableError says that a backend cannot be used now: its cluster has not answered
// since the process started or since a call got no answer, or it answers but refuses the
// backend's configuration. Err says which.
type UnavailableError struct {
	Backend string
	Err     error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("backend %s is unavailable: %v", e.Backend, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// connection is a backend's state: whether it was validated against its cluster, whether the
// cluster answers, and the attempts to reach it while it does not.
type connection struct {
	retryMin, retryMax, timeout time.Duration
	metrics                     *Metrics
	log                         logr.Logger
	// wanted brings the next attempt forward: a use of the backend asks for it.
	wanted chan struct{}

	mu        sync.Mutex
	ctx       context.Context // ends the attempts; nil until OpenBackends returns
	validated bool            // the configuration passed validate once
	reason    error           // why the backend cannot be used now; nil when it can
	said      string          // the kind of reason last logged, so that each is logged once
	retrying  bool            // a goroutine is trying to reach the cluster
}

func newConnection(opts OpenOptions) *connection {
	return &connection{
		retryMin: orDefault(opts.RetryMin, time.Second), retryMax: orDefault(opts.RetryMax, time.Minute),
		timeout: orDefault(opts.ConnectTimeout, 15*time.Second), metrics: opts.Metrics, log: opts.Log,
		wanted: make(chan struct{}, 1), reason: errors.New("not connected yet"),
	}
}

// Available returns nil when the backend can be used: it is connected, and its cluster
// answered when last asked. Otherwise it returns an *UnavailableError that names the backend
// and says why, and brings the next attempt to reach the cluster forward.
func (b *Backend) Available() error {
	c := b.conn
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason == nil {
		return nil
	}
	select {
	case c.wanted <- struct{}{}:
	default:
	}
	return &UnavailableError{Backend: b.Name, Err: c.reason}
}

// Answered passes err on, noting whether the call that returned it got an answer from the
// backend's cluster: a call that got none (see DoesNotAnswer) makes the backend unavailable
// until its cluster answers again, and comes back as an *UnavailableError naming the backend.
func (b *Backend) Answered(err error) error {
	var unavailable *UnavailableError
	if !DoesNotAnswer(err) || errors.As(err, &unavailable) {
		return err
	}
	err = b.noAnswer(err)
	if b.conn != nil {
		b.down(err)
	}
	return &UnavailableError{Backend: b.Name, Err: err}
}

// noAnswer says that the cluster did not answer: with the network's error alone, when there
// is one, as the call that found it says nothing of the others.
func (b *Backend) noAnswer(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		err = opErr
	}
	return fmt.Errorf("managementLIF %s does not answer: %w", b.ManagementLIF, err)
}

// Check asks the cluster of each available backend whether it answers, all at once, and
// notes the answers (see Answered). A backend that is unavailable is not asked: it is reported
// with the reason of its last attempt, and its next attempt is brought forward. Check returns
// how many backends answered, and an error naming each that did not, with why.
func Check(ctx context.Context, backends []*Backend) (answered int, err error) {
	errs := make([]error, len(backends))
	var wg sync.WaitGroup
	for i, b := range backends {
		wg.Go(func() {
			if errs[i] = b.Available(); errs[i] != nil {
				return
			}
			_, err := b.Cluster(ctx)
			var unavailable *UnavailableError
			if errs[i] = b.Answered(err); errs[i] != nil && !errors.As(errs[i], &unavailable) {
				errs[i] = fmt.Errorf("backend %s: %w", b.Name, errs[i])
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e == nil {
			answered++
		}
	}
	return answered, errors.Join(errs...)
}

// up makes the backend available.
func (b *Backend) up() {
	c := b.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	b.upLocked()
}

func (b *Backend) upLocked() {
	c := b.conn
	switch {
	case c.reason == nil:
		return
	case !c.validated:
		c.log.Info("Backend connected", "backend", b.Name, "svm", b.SVM, "managementLIF", b.ManagementLIF)
	default:
		c.log.Info("Backend answers again: in use", "backend", b.Name, "managementLIF", b.ManagementLIF)
	}
	c.validated, c.reason, c.said = true, nil, ""
	c.metrics.backendUp(b.Name, true)
}

// down makes the backend unavailable for reason, logs the change once, and has the cluster
// tried again in the background.
func (b *Backend) down(reason error) {
	c := b.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	kind := "no answer"
	if !DoesNotAnswer(reason) {
		kind = "refused"
	}
	switch {
	case kind == c.said:
		c.log.V(1).Info("Backend still unavailable", "backend", b.Name, "reason", reason.Error())
	case kind == "refused":
		c.log.Error(reason, "Backend answers but refuses its configuration: not used until that is fixed on ONTAP or in the backend file; tried again", "backend", b.Name, "every", c.retryMax)
	default:
		c.log.Info("Backend does not answer: not used until it does, while the backends that answer serve; tried again in the background",
			"backend", b.Name, "managementLIF", b.ManagementLIF, "reason", reason.Error())
	}
	c.reason, c.said = reason, kind
	c.metrics.backendUp(b.Name, false)
	b.retryLocked()
}

// start lets the backend be tried again in the background, until ctx ends.
func (c *connection) start(ctx context.Context, b *Backend) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ctx = ctx
	if c.reason != nil {
		b.retryLocked()
	}
}

func (b *Backend) retryLocked() {
	c := b.conn
	if c.retrying || c.ctx == nil {
		return
	}
	c.retrying = true
	go b.retry(c.ctx)
}

// retry tries to reach the cluster, with exponential backoff, until the backend is available
// or ctx ends. Once the cluster answers, a backend never validated is validated first.
func (b *Backend) retry(ctx context.Context) {
	c := b.conn
	for delay := c.retryMin; ; delay = min(2*delay, c.retryMax) {
		err := ctx.Err()
		if err == nil && c.wait(ctx, delay) {
			err = b.tryValidate(ctx)
		}
		c.mu.Lock()
		switch {
		case ctx.Err() != nil:
			c.retrying = false
		case err == nil:
			b.upLocked()
			c.retrying = false
		}
		done := !c.retrying
		c.mu.Unlock()
		if done {
			return
		}
		b.down(err)
		if !DoesNotAnswer(err) {
			delay = c.retryMax
		}
	}
}

// wait waits delay, or until the backend is asked for, but at least retryMin. It returns
// false when ctx ends.
func (c *connection) wait(ctx context.Context, delay time.Duration) bool {
	if sleepCtx(ctx, c.retryMin) != nil {
		return false
	}
	t := time.NewTimer(delay - c.retryMin)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.wanted:
		return true
	case <-ctx.Done():
		return false
	}
}

// tryValidate validates the backend within the connect timeout; once it was validated, it
// only asks whether the cluster answers.
func (b *Backend) tryValidate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.conn.timeout)
	defer cancel()
	b.conn.mu.Lock()
	validated := b.conn.validated
	b.conn.mu.Unlock()
	if !validated {
		return b.validate(ctx)
	}
	if _, err := b.Cluster(ctx); err != nil {
		if DoesNotAnswer(err) {
			return b.noAnswer(err)
		}
		return fmt.Errorf("managementLIF %s: %w", b.ManagementLIF, err)
	}
	return nil
}
