package mirror_test

import (
	"context"
	"testing"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// volumeWrites is one cluster's view of one volume: its snapshots, oldest first, and the
// bytes changed since each.
type volumeWrites struct {
	snaps []ontap.Snapshot
	since map[string]int64
	asked []string // snapshots WrittenSince was asked about
	// writes is the volume's write counter; finds and lists count the calls made.
	writes, finds, lists int
}

func (v *volumeWrites) FindSnapshots(context.Context, string, string, string) ([]ontap.Snapshot, error) {
	v.finds++
	return v.snaps, nil
}

func (v *volumeWrites) WriteCounts(context.Context, string) (map[string]int64, error) {
	v.lists++
	return map[string]int64{"v": int64(v.writes)}, nil
}

// write writes n bytes since every snapshot.
func (v *volumeWrites) write(n int64) {
	v.writes++
	for _, s := range v.snaps {
		v.since[s.Name] += n
	}
}

func (v *volumeWrites) WrittenSince(_ context.Context, _, snapshot string) (int64, error) {
	v.asked = append(v.asked, snapshot)
	return v.since[snapshot], nil
}

// TestSplitBrainBase: the divergence is measured from the newest snapshot both copies hold,
// matched by name and creation time as a resync matches it, whatever the relationship's
// record says; without a common snapshot nothing is measured or reported.
func TestSplitBrainBase(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	snap := func(name string, minute int) ontap.Snapshot {
		return ontap.Snapshot{Name: name, Created: t0.Add(time.Duration(minute) * time.Minute)}
	}
	rel := &ontap.Relationship{Source: "svm1:v", Destination: "svm2:v", State: ontap.BrokenOff, ExportedSnapshot: "sm.1"}
	for _, tc := range []struct {
		name     string
		src, dst []ontap.Snapshot
		srcBytes map[string]int64
		dstBytes map[string]int64
		rel      *ontap.Relationship
		base     string // "" when nothing is reported
	}{{
		name: "both written since the newest common snapshot",
		src:  []ontap.Snapshot{snap("sm.1", 1), snap("sm.2", 2)}, dst: []ontap.Snapshot{snap("sm.1", 1), snap("sm.2", 2)},
		srcBytes: map[string]int64{"sm.2": 10}, dstBytes: map[string]int64{"sm.2": 20},
		rel: rel, base: "sm.2",
	}, {
		name: "same data since the stale record: a failback mirrored the changes",
		src:  []ontap.Snapshot{snap("sm.1", 1), snap("sm.3", 3)}, dst: []ontap.Snapshot{snap("sm.1", 1), snap("sm.3", 3)},
		srcBytes: map[string]int64{"sm.1": 30, "sm.3": 5}, dstBytes: map[string]int64{"sm.1": 30},
		rel: rel,
	}, {
		name: "a snapshot of the same name but another creation time is not common",
		src:  []ontap.Snapshot{snap("sm.1", 1), snap("daily", 5)}, dst: []ontap.Snapshot{snap("sm.1", 1), snap("daily", 6)},
		srcBytes: map[string]int64{"sm.1": 7, "daily": 1}, dstBytes: map[string]int64{"sm.1": 8, "daily": 1},
		rel: rel, base: "sm.1",
	}, {
		name: "no common snapshot: no resync is possible, nothing to report",
		src:  []ontap.Snapshot{snap("a", 1)}, dst: []ontap.Snapshot{snap("b", 1)},
		srcBytes: map[string]int64{"a": 1}, dstBytes: map[string]int64{"b": 1},
		rel: rel,
	}, {
		name: "one copy written: a failover, not a split brain",
		src:  []ontap.Snapshot{snap("sm.1", 1)}, dst: []ontap.Snapshot{snap("sm.1", 1)},
		dstBytes: map[string]int64{"sm.1": 9},
		rel:      rel,
	}, {
		name: "a relationship that is not broken off is never split",
		src:  []ontap.Snapshot{snap("sm.1", 1)}, dst: []ontap.Snapshot{snap("sm.1", 1)},
		srcBytes: map[string]int64{"sm.1": 1}, dstBytes: map[string]int64{"sm.1": 1},
		rel: &ontap.Relationship{Source: "svm1:v", Destination: "svm2:v", State: ontap.Snapmirrored, ExportedSnapshot: "sm.1"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			src := &volumeWrites{snaps: tc.src, since: tc.srcBytes}
			dst := &volumeWrites{snaps: tc.dst, since: tc.dstBytes}
			d, err := mirror.SplitBrain(context.Background(), dst, src, tc.rel)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.base == "" && d != nil:
				t.Errorf("reported %+v", d)
			case tc.base != "" && d == nil:
				t.Errorf("not reported (asked the destination about %v)", dst.asked)
			case d != nil && (d.Snapshot != tc.base || d.SourceBytes != tc.srcBytes[tc.base] || d.DestinationBytes != tc.dstBytes[tc.base]):
				t.Errorf("divergence %+v, want base %s", d, tc.base)
			}
			for _, s := range append(src.asked, dst.asked...) {
				if tc.base != "" && s != tc.base {
					t.Errorf("changes measured since %s, want %s", s, tc.base)
				}
			}
		})
	}
}

// TestSplitBrainWatchCost: through the cache, a broken-off relationship is measured when first
// seen and once more when both ends have been written, whatever the number of re-checks and
// writes in between; each re-check otherwise costs only the write-counter lists, which the
// cache shares between every relationship of a cluster.
func TestSplitBrainWatchCost(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	base := []ontap.Snapshot{{Name: "sm.1", Created: t0}}
	broken := &ontap.Relationship{UUID: "r1", Source: "svm1:v", Destination: "svm2:v", State: ontap.BrokenOff}
	type step struct {
		name             string
		dstBytes         int64 // written on the destination before the re-check
		srcBytes         int64
		rel              *ontap.Relationship
		measured, report bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{{
		name: "a failover: the promoted copy is written, the old source is silent",
		steps: []step{
			{name: "first seen", rel: broken, measured: true},
			{name: "nothing written", rel: broken},
			{name: "promoted copy written", dstBytes: 10, rel: broken},
			{name: "written again", dstBytes: 10, rel: broken},
			{name: "old source written: split brain", srcBytes: 5, rel: broken, measured: true, report: true},
			{name: "both written again: it stands, unmeasured", dstBytes: 1, srcBytes: 1, rel: broken, report: true},
			{name: "resynced", rel: &ontap.Relationship{UUID: "r1", Source: "svm1:v", Destination: "svm2:v", State: ontap.Snapmirrored}},
			{name: "broken off again after a transfer", rel: &ontap.Relationship{UUID: "r1", Source: "svm1:v", Destination: "svm2:v", State: ontap.BrokenOff,
				Transfer: &ontap.Transfer{End: t0.Add(time.Hour)}}, measured: true, report: true},
		},
	}, {
		name: "the old source was written before the check first looked",
		steps: []step{
			{name: "first seen, source already written", srcBytes: 7, rel: broken, measured: true},
			{name: "destination written: split brain", dstBytes: 3, rel: broken, measured: true, report: true},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cache := &mirror.Cache{}
			dst := &volumeWrites{snaps: base, since: map[string]int64{}}
			src := &volumeWrites{snaps: base, since: map[string]int64{}}
			for _, s := range tc.steps {
				if s.dstBytes > 0 {
					dst.write(s.dstBytes)
				}
				if s.srcBytes > 0 {
					src.write(s.srcBytes)
				}
				finds, lists := dst.finds+src.finds, dst.lists
				d, err := cache.SplitBrain(ctx, dst, src, s.rel)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if measured := dst.finds+src.finds > finds; measured != s.measured {
					t.Errorf("%s: measured %v, want %v", s.name, measured, s.measured)
				}
				if s.rel.State == ontap.BrokenOff && dst.lists != lists+1 {
					t.Errorf("%s: %d write-count lists of the destination's SVM, want 1", s.name, dst.lists-lists)
				}
				if (d != nil) != s.report {
					t.Errorf("%s: reported %+v, want a report: %v", s.name, d, s.report)
				}
				if d != nil && s.measured && (d.SourceBytes != src.since["sm.1"] || d.DestinationBytes != dst.since["sm.1"]) {
					t.Errorf("%s: divergence %+v, want the bytes written since sm.1 (%d there, %d here)", s.name, d, src.since["sm.1"], dst.since["sm.1"])
				}
			}
		})
	}
}
