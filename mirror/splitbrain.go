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
	// Local and Remote name the volumes, "svm:volume".
	LocalPath, RemotePath string
}

// SplitBrain reports whether both ends of a broken-off relationship were written since their
// last common snapshot: both are read-write and hold different data, so resyncing either
// way discards the other's writes. It is a report only: nothing is resynced. local is the
// destination's cluster, remote the source's. It costs one GET on each.
func SplitBrain(ctx context.Context, local, remote Writes, rel *ontap.Relationship) (*Divergence, error) {
	if rel == nil || rel.State != ontap.BrokenOff || rel.ExportedSnapshot == "" {
		return nil, nil
	}
	d := &Divergence{Snapshot: rel.ExportedSnapshot, LocalPath: rel.Destination, RemotePath: rel.Source}
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
	return fmt.Sprintf("split brain: %s (here) and %s were both written since their last common snapshot %s (%d and %d bytes differ), so they hold different data. Nothing is resynced automatically. Choose the copy to keep, save what the other holds if needed, then set state reestablished on the TMR of the other copy (its writes since %s are discarded)",
		d.LocalPath, d.RemotePath, d.Snapshot, d.Local, d.Remote, d.Snapshot)
}
