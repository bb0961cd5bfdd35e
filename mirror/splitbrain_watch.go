package mirror

import (
	"context"
	"sync"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// watched is what the split-brain check knows of one broken-off relationship: the write
// counters of its two ends when it last looked, which end is known to have been written since
// the newest snapshot they share, and the divergence found, if any.
type watched struct {
	// key identifies the relationship and its last transfer: a resync, or a transfer, makes
	// another base, and what was known of the old one is dropped.
	key     string
	counts  [2]int64
	written [2]bool
	found   *Divergence
}

// countKey names one SVM as seen through one client.
type countKey struct {
	api Writes
	svm string
}

type countEntry struct {
	mu     sync.Mutex // one refresh at a time
	at     time.Time
	counts map[string]int64
}

// SplitBrain is the package's SplitBrain at a cost that does not grow with the number of
// relationships: the two ends of a relationship are measured (two snapshot lists and two
// deltas) when it is first seen broken off, and again only when both ends have been written;
// in between, each cluster costs one list of its volumes' write counters per MaxAge. An end
// whose counter moved since the first measurement was written after the break, so after the
// newest snapshot both ends share. A divergence, once found, stands, with the bytes measured
// then, until the relationship is resynced or transfers again.
func (c *Cache) SplitBrain(ctx context.Context, dst, src Writes, rel *ontap.Relationship) (*Divergence, error) {
	if rel == nil {
		return nil, nil
	}
	if rel.State != ontap.BrokenOff {
		c.mu.Lock()
		delete(c.seen, rel.Destination)
		c.mu.Unlock()
		return nil, nil
	}
	var counts [2]int64
	var known [2]bool
	for i, end := range []struct {
		api  Writes
		path string
	}{{dst, rel.Destination}, {src, rel.Source}} {
		var err error
		if counts[i], known[i], err = c.writeCount(ctx, end.api, end.path); err != nil {
			return nil, err
		}
	}
	key := rel.UUID
	if t := rel.Transfer; t != nil {
		key += "@" + t.End.String()
	}
	c.mu.Lock()
	w := c.seen[rel.Destination]
	c.mu.Unlock()
	if w != nil && w.key == key && known[0] && known[1] {
		next := *w
		for i := range counts {
			next.written[i] = w.written[i] || counts[i] != w.counts[i]
		}
		next.counts = counts
		if next.found != nil || !next.written[0] || !next.written[1] {
			c.remember(rel.Destination, &next)
			return next.found, nil
		}
	}
	d, written, err := measure(ctx, dst, src, rel)
	if err != nil {
		return nil, err
	}
	if known[0] && known[1] {
		c.remember(rel.Destination, &watched{key: key, counts: counts, written: written, found: d})
	}
	return d, nil
}

func (c *Cache) remember(destination string, w *watched) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]*watched{}
	}
	c.seen[destination] = w
}

// writeCount returns the write counter of the volume at path, from one list of its SVM's
// volumes per MaxAge; known is false when ONTAP gave none for it.
func (c *Cache) writeCount(ctx context.Context, api Writes, path string) (count int64, known bool, err error) {
	svm, vol, _ := ontap.SplitPath(path)
	k := countKey{api: api, svm: svm}
	c.mu.Lock()
	e := entryOf(&c.counts, k)
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil || time.Since(e.at) > c.MaxAge {
		counts, err := api.WriteCounts(ctx, svm)
		if err != nil {
			return 0, false, err
		}
		e.counts, e.at = counts, time.Now()
	}
	count, known = e.counts[vol]
	return count, known, nil
}
