package ontap

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Peer is the other site's SVM, only read, to detect split brain and measure what a resync
// discards. Those reads are advisory, and made while the other site may be down: a peer that
// did not answer is not called again for a while (one second, doubling up to a minute), and
// the reads in between fail at once with an *UnavailableError, so that a site outage never
// holds the workers of the site that survives. Each read is bounded by PeerTimeout.
type Peer struct {
	PeerConfig
	*Client

	mu      sync.Mutex
	silent  time.Time // no call before then
	backoff time.Duration
	reason  error
}

// PeerTimeout bounds each read of a peer, retries included; PeerMaxRest is the longest a
// peer that did not answer is left alone.
const (
	PeerTimeout = 10 * time.Second
	PeerMaxRest = time.Minute
)

// read calls f unless the peer is resting after a call that got no answer, and notes whether
// the cluster answered.
func (p *Peer) read(ctx context.Context, f func(context.Context) error) error {
	p.mu.Lock()
	if time.Now().Before(p.silent) {
		err := &UnavailableError{Backend: "peer " + p.Name, Err: p.reason}
		p.mu.Unlock()
		return err
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, PeerTimeout)
	defer cancel()
	err := f(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !DoesNotAnswer(err) || errors.Is(ctx.Err(), context.Canceled) {
		p.backoff = 0
		return err
	}
	p.backoff = min(max(2*p.backoff, time.Second), PeerMaxRest)
	p.silent, p.reason = time.Now().Add(p.backoff), err
	return &UnavailableError{Backend: "peer " + p.Name, Err: err}
}

// peerRead is read for a call that returns a value.
func peerRead[T any](ctx context.Context, p *Peer, f func(context.Context) (T, error)) (v T, err error) {
	err = p.read(ctx, func(ctx context.Context) error {
		v, err = f(ctx)
		return err
	})
	return v, err
}

// FindSnapshots is Client.FindSnapshots, through the peer's rest.
func (p *Peer) FindSnapshots(ctx context.Context, svm, volume, name string) ([]Snapshot, error) {
	return peerRead(ctx, p, func(ctx context.Context) ([]Snapshot, error) { return p.Client.FindSnapshots(ctx, svm, volume, name) })
}

// WrittenSince is Client.WrittenSince, through the peer's rest.
func (p *Peer) WrittenSince(ctx context.Context, path, snapshot string) (int64, error) {
	return peerRead(ctx, p, func(ctx context.Context) (int64, error) { return p.Client.WrittenSince(ctx, path, snapshot) })
}

// WriteCounts is Client.WriteCounts, through the peer's rest.
func (p *Peer) WriteCounts(ctx context.Context, svm string) (map[string]int64, error) {
	return peerRead(ctx, p, func(ctx context.Context) (map[string]int64, error) { return p.Client.WriteCounts(ctx, svm) })
}

// ListRelationships is Client.ListRelationships, through the peer's rest.
func (p *Peer) ListRelationships(ctx context.Context, filter RelationshipFilter) ([]Relationship, error) {
	return peerRead(ctx, p, func(ctx context.Context) ([]Relationship, error) { return p.Client.ListRelationships(ctx, filter) })
}

// GetVolume is Client.GetVolume, through the peer's rest.
func (p *Peer) GetVolume(ctx context.Context, svm, name string) (*Volume, error) {
	return peerRead(ctx, p, func(ctx context.Context) (*Volume, error) { return p.Client.GetVolume(ctx, svm, name) })
}

// GetRelationship is Client.GetRelationship, through the peer's rest.
func (p *Peer) GetRelationship(ctx context.Context, destination string) (*Relationship, error) {
	return peerRead(ctx, p, func(ctx context.Context) (*Relationship, error) { return p.Client.GetRelationship(ctx, destination) })
}
