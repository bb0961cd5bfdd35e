package mirror

import (
	"context"
	"fmt"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// Writes is what the split-brain check reads of each cluster; *ontap.Client has it.
type Writes interface {
	WrittenSince(ctx context.Context, path, snapshot string) (int64, error)
}

// Divergence is what each end of a broken-off relationship has written since the newest
// snapshot they share.
type Divergence struct {
	// Snapshot is the newest common snapshot: the last one transferred.
	Snapshot string
	// Source and Destination are the two volumes, "svm:volume", and SourceBytes and
	// DestinationBytes what each has changed since Snapshot.
	Source, Destination           string
	SourceBytes, DestinationBytes int64
}

// SplitBrain reports whether both ends of a broken-off relationship were written since their
// last common snapshot: both are read-write and hold different data, so resyncing either
// way discards the other's writes. It is a report only: nothing is resynced. dst and src are
// the clusters of the destination and of the source. It costs one GET on each.
func SplitBrain(ctx context.Context, dst, src Writes, rel *ontap.Relationship) (*Divergence, error) {
	if rel == nil || rel.State != ontap.BrokenOff || rel.ExportedSnapshot == "" {
		return nil, nil
	}
	d := &Divergence{Snapshot: rel.ExportedSnapshot, Source: rel.Source, Destination: rel.Destination}
	var err error
	if d.DestinationBytes, err = dst.WrittenSince(ctx, rel.Destination, rel.ExportedSnapshot); err != nil || d.DestinationBytes == 0 {
		return nil, err
	}
	if d.SourceBytes, err = src.WrittenSince(ctx, rel.Source, rel.ExportedSnapshot); err != nil || d.SourceBytes == 0 {
		return nil, err
	}
	return d, nil
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
