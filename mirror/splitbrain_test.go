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
}

func (v *volumeWrites) FindSnapshots(context.Context, string, string, string) ([]ontap.Snapshot, error) {
	return v.snaps, nil
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
