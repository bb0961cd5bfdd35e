package mirror

import (
	"context"
	"sync"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// Cache holds, per backend, the relationships whose destination is on its SVM, refreshed by
// one paginated list at most once per MaxAge. Settled relationships are re-checked from it,
// so that the re-check costs one list per cluster per interval, whatever their number.
type Cache struct {
	// MaxAge is how old a list may be before it is refreshed.
	MaxAge time.Duration

	mu      sync.Mutex
	entries map[string]*cacheEntry
	// counts and seen serve SplitBrain.
	counts map[countKey]*countEntry
	seen   map[string]*watched
}

type cacheEntry struct {
	mu     sync.Mutex // one refresh at a time
	at     time.Time
	byTo   map[string]ontap.Relationship
	byFrom map[string]ontap.Relationship
}

// Reads returns api with GetRelationship served from the cache of the named backend, whose
// relationships end on svm. Every other call goes to api. Run recognises it: a cached
// observation may only confirm that nothing is to be done, and every step goes to api.
func (c *Cache) Reads(backend, svm string, api ONTAP) ONTAP { return c.reads(backend, svm, api) }

func (c *Cache) reads(backend, svm string, api ONTAP) cachedReads {
	c.mu.Lock()
	e := entryOf(&c.entries, backend)
	c.mu.Unlock()
	return cachedReads{ONTAP: api, entry: e, svm: svm, maxAge: c.MaxAge}
}

type cachedReads struct {
	ONTAP
	entry  *cacheEntry
	svm    string
	maxAge time.Duration
}

// GetRelationship answers from the list, refreshing it when it is older than MaxAge.
func (r cachedReads) GetRelationship(ctx context.Context, destination string) (*ontap.Relationship, error) {
	return r.lookup(ctx, func(e *cacheEntry) map[string]ontap.Relationship { return e.byTo }, destination)
}

// RelationshipFrom finds, in the named cluster's list (refreshed as for Reads), the
// relationship whose source is the "svm:volume" path: on another site's cluster, the
// relationship that mirrors a local volume. ErrNotFound when there is none.
func (c *Cache) RelationshipFrom(ctx context.Context, backend, svm string, api ONTAP, source string) (*ontap.Relationship, error) {
	return c.reads(backend, svm, api).lookup(ctx, func(e *cacheEntry) map[string]ontap.Relationship { return e.byFrom }, source)
}

func (r cachedReads) lookup(ctx context.Context, index func(*cacheEntry) map[string]ontap.Relationship, path string) (*ontap.Relationship, error) {
	e := r.entry
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.byTo == nil || time.Since(e.at) > r.maxAge {
		rels, err := r.ListRelationships(ctx, ontap.RelationshipFilter{Destination: r.svm + ":*"})
		if err != nil {
			return nil, err
		}
		e.byTo = make(map[string]ontap.Relationship, len(rels))
		e.byFrom = make(map[string]ontap.Relationship, len(rels))
		for _, rel := range rels {
			e.byTo[rel.Destination] = rel
			e.byFrom[rel.Source] = rel
		}
		e.at = time.Now()
	}
	rel, ok := index(e)[path]
	if !ok {
		return nil, ontap.ErrNotFound
	}
	return &rel, nil
}

// entryOf returns (*m)[k], made and stored on first use; callers hold the mutex guarding m.
func entryOf[K comparable, V any](m *map[K]*V, k K) *V {
	if *m == nil {
		*m = map[K]*V{}
	}
	e := (*m)[k]
	if e == nil {
		e = new(V)
		(*m)[k] = e
	}
	return e
}
