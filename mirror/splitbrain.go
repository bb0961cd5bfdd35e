package mirror

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// Writes is what the split-brain check reads of each cluster; *ontap.Client has it.
type Writes interface {
	FindSnapshots(ctx context.Context, svm, volume, name string) ([]ontap.Snapshot, error)
	WrittenSince(ctx context.Context, path, snapshot string) (int64, error)
	// WriteCounts is read by Cache.SplitBrain only.
	WriteCounts(ctx context.Context, svm string) (map[string]int64, error)
}

// Divergence is what each end of a broken-off relationship has written since the newest
// snapshot they share.
type Divergence struct {
	// Snapshot is the newest snapshot both volumes hold.
	Snapshot string
	// Source and Destination are the two volumes, "svm:volume", and SourceBytes and
	// DestinationBytes what each has changed since Snapshot.
	Source, Destination           string
	SourceBytes, DestinationBytes int64
}

// SplitBrain reports whether both ends of a broken-off relationship were written since the
// newest snapshot they share: both hold data the other lacks, so resyncing either way
// discards the other's writes. It is a report only: nothing is resynced. dst and src are the
// clusters of the destination and of the source.
//
// The base is the newest common snapshot (same name and creation time on both, the one a
// resync would start from), not the relationship's last transfer: that record goes stale
// once the volumes are mirrored again the other way or the destination was restored to an
// older snapshot, and both ends would then look changed when they hold the same data. It
// costs two GETs on each cluster.
func SplitBrain(ctx context.Context, dst, src Writes, rel *ontap.Relationship) (*Divergence, error) {
	if rel == nil || rel.State != ontap.BrokenOff {
		return nil, nil
	}
	d, _, err := measure(ctx, dst, src, rel)
	return d, err
}

// measure reads both ends of a broken-off relationship: whether each was written since the
// newest snapshot they share (destination first), and the divergence when both were.
func measure(ctx context.Context, dst, src Writes, rel *ontap.Relationship) (*Divergence, [2]bool, error) {
	base, err := newestCommon(ctx, dst, src, rel.Destination, rel.Source)
	if err != nil || base == "" {
		// No common snapshot: no resync is possible either way, so nothing can be lost to one.
		return nil, [2]bool{}, err
	}
	d := &Divergence{Snapshot: base, Source: rel.Source, Destination: rel.Destination}
	if d.DestinationBytes, err = dst.WrittenSince(ctx, rel.Destination, base); err != nil {
		return nil, [2]bool{}, err
	}
	if d.SourceBytes, err = src.WrittenSince(ctx, rel.Source, base); err != nil {
		return nil, [2]bool{}, err
	}
	written := [2]bool{d.DestinationBytes > 0, d.SourceBytes > 0}
	if !written[0] || !written[1] {
		return nil, written, nil
	}
	return d, written, nil
}

// Discarded measures what a resync of the relationship's destination throws away: the bytes
// written on it (on cluster dst) since the newest snapshot it shares with the source (on
// src). Without src, the base is the destination's newest SnapMirror snapshot, the one the
// last transfer left, which the source keeps until the next one. snapshot is "" when there
// is no base.
func Discarded(ctx context.Context, dst, src Writes, rel *ontap.Relationship) (snapshot string, bytes int64, err error) {
	if src != nil {
		snapshot, err = newestCommon(ctx, dst, src, rel.Destination, rel.Source)
	} else {
		snapshot, err = newestMirrored(ctx, dst, rel.Destination)
	}
	if err != nil || snapshot == "" {
		return "", 0, err
	}
	bytes, err = dst.WrittenSince(ctx, rel.Destination, snapshot)
	return snapshot, bytes, err
}

// newestMirrored names the newest snapmirror.* snapshot of the volume, or "".
func newestMirrored(ctx context.Context, c Writes, path string) (string, error) {
	svm, vol, _ := ontap.SplitPath(path)
	snaps, err := c.FindSnapshots(ctx, svm, vol, "")
	best := ontap.Snapshot{}
	for _, s := range snaps {
		if strings.HasPrefix(s.Name, "snapmirror.") && !s.Created.Before(best.Created) {
			best = s
		}
	}
	return best.Name, err
}

// newestCommon names the newest snapshot that the volumes a (on cluster ca) and b (on cb)
// both hold, or "" when they share none.
func newestCommon(ctx context.Context, ca, cb Writes, a, b string) (string, error) {
	list := func(c Writes, path string) ([]ontap.Snapshot, error) {
		svm, vol, _ := ontap.SplitPath(path)
		return c.FindSnapshots(ctx, svm, vol, "")
	}
	as, err := list(ca, a)
	if err != nil {
		return "", err
	}
	bs, err := list(cb, b)
	if err != nil {
		return "", err
	}
	created := make(map[string]time.Time, len(bs))
	for _, s := range bs {
		created[s.Name] = s.Created
	}
	best := ontap.Snapshot{}
	for _, s := range as {
		if t, ok := created[s.Name]; ok && t.Equal(s.Created) && !s.Created.Before(best.Created) {
			best = s
		}
	}
	return best.Name, nil
}

// Seen returns, for the volume at path (one of the two), the other volume, and the bytes
// changed here and there.
func (d *Divergence) Seen(path string) (other string, here, there int64) {
	if path == d.Source {
		return d.Destination, d.SourceBytes, d.DestinationBytes
	}
	return d.Source, d.DestinationBytes, d.SourceBytes
}

// Message tells the user of the volume at path what the divergence means and what to do.
func (d *Divergence) Message(path string) string {
	other, here, there := d.Seen(path)
	return fmt.Sprintf("split brain: this volume and its mirror %s were both written since their last common snapshot (%d bytes here, %d there); nothing is resynced automatically: choose the copy to keep, then set state reestablished on the TMR of the other copy (its writes since then are discarded)",
		other, here, there)
}
