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
	// Local and Remote are the bytes written since on the destination and on the source.
	Local, Remote int64
	// RemotePath is the source volume, "svm:volume".
	RemotePath string
}

// SplitBrain reports whether both ends of a broken-off relationship were written since their
// last common snapshot: both are read-write and hold different data, so resyncing either
// way discards the other's writes. It is a report only: nothing is resynced. local is the
// destination's cluster, remote the source's. It costs one GET on each.
func SplitBrain(ctx context.Context, local, remote Writes, rel *ontap.Relationship) (*Divergence, error) {
	if rel == nil || rel.State != ontap.BrokenOff || rel.ExportedSnapshot == "" {
		return nil, nil
	}
	d := &Divergence{Snapshot: rel.ExportedSnapshot, RemotePath: rel.Source}
	var err error
	if d.Local, err = local.WrittenSince(ctx, rel.Destination, rel.ExportedSnapshot); err != nil || d.Local == 0 {
		return nil, err
	}
	if d.Remote, err = remote.WrittenSince(ctx, rel.Source, rel.ExportedSnapshot); err != nil || d.Remote == 0 {
		return nil, err
	}
	return d, nil
}

// Message tells the user what the divergence means and what to do.
func (d *Divergence) Message() string {
	return fmt.Sprintf("split brain: this volume and its source %s were both written since their last common snapshot (%d and %d bytes); nothing is resynced automatically: choose the copy to keep, then set state reestablished on the other copy's TMR (its writes since then are discarded)",
		d.RemotePath, d.Local, d.Remote)
}
