package frontend_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// peerSites gives each site's controller the other's SVM as a peer, so that it can read the
// other copy, and restarts it.
func peerSites(t *testing.T, primary, secondary *side) {
	t.Helper()
	for _, s := range []struct{ this, other *side }{{primary, secondary}, {secondary, primary}} {
		peers, err := ontap.OpenPeers(&ontap.DriverConfig{Peers: []ontap.PeerConfig{{
			Name: "other-site", ManagementLIF: s.other.backend.ManagementLIF, SVM: s.other.svm,
			CAFile: s.other.backend.CAFile, Credentials: s.other.backend.Credentials,
		}}}, ontap.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.this.stop()
		s.this.peers = peers
		s.this.stop = s.this.start(t)
	}
}

// TestSplitBrain: after an unplanned failover both copies are read-write. Once both have been
// written since their last common snapshot, the TMRs of both sites report it (status and a
// Warning Event), each from its side, and nothing is resynced: both copies keep their data.
func TestSplitBrain(t *testing.T) { forKinds(t, splitBrain) }

func splitBrain(t *testing.T, kind string) {
	primary, secondary := mirrored(t, kind)
	peerSites(t, primary, secondary)

	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	if c := secondary.wait(t, "csi-nas", "promoted"); c.SplitBrain != nil {
		t.Errorf("split brain reported before any write: %+v", c.SplitBrain)
	}
	// Only the secondary writes: a failover, not a split brain.
	if err := secondary.write(dstVol, "orders-dr.db", "written at the DR site"); err != nil {
		t.Fatal(err)
	}
	afterChecks(t, secondary.cluster, 4)
	if c := secondary.wait(t, "csi-nas", "promoted"); c.SplitBrain != nil {
		t.Errorf("split brain reported with one side written: %+v", c.SplitBrain)
	}
	// The old primary comes back to life and its application writes too.
	if err := primary.write(srcVol, "app.db", "v2 written at the old primary"); err != nil {
		t.Fatal(err)
	}
	// Both sites report it, each from its side.
	for _, c := range []struct {
		site  *side
		other string
	}{{secondary, "datavserver:" + srcVol}, {primary, "drvserver:" + dstVol}} {
		var cond tridentv1.TridentMirrorRelationshipCondition
		if !eventually(20*time.Second, func() bool {
			obj := &tridentv1.TridentMirrorRelationship{}
			if err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: c.site.ns, Name: "csi-nas"}, obj); err == nil && len(obj.Status.Conditions) == 1 {
				cond = obj.Status.Conditions[0]
			}
			return cond.SplitBrain != nil
		}) {
			t.Fatalf("split brain not reported on the %s site: %+v", c.site.svm, cond)
		}
		sb := cond.SplitBrain
		if cond.State != "promoted" || sb.LocalBytes == 0 || sb.RemoteBytes == 0 || !strings.HasPrefix(sb.CommonSnapshot, "snapmirror.") || sb.DetectedTime == nil {
			t.Errorf("%s: split-brain status %+v, %+v", c.site.svm, cond, sb)
		}
		for _, want := range []string{"split brain", "its mirror " + c.other, "nothing is resynced automatically", "set state reestablished"} {
			if !strings.Contains(cond.Message, want) {
				t.Errorf("%s: message %q lacks %q", c.site.svm, cond.Message, want)
			}
		}
		waitEvent(t, c.site.ns, "csi-nas", tridentv1.ReasonSplitBrain, "both written")
	}
	// Each side counts its own writes as local: the DR site wrote one file, the old primary
	// changed app.db. On ontap-san, ONTAP measures the changed blocks of the LUN; the
	// simulator counts a changed LUN's written bytes whole.
	drBytes := int64(len("written at the DR site"))
	if secondary.san() {
		drBytes = secondary.lunInfo(t, dstVol).Written
	}
	p, s := condition(t, primary), condition(t, secondary)
	if p.SplitBrain.LocalBytes != s.SplitBrain.RemoteBytes || p.SplitBrain.RemoteBytes != s.SplitBrain.LocalBytes || s.SplitBrain.LocalBytes != drBytes {
		t.Errorf("primary sees %+v, secondary %+v", p.SplitBrain, s.SplitBrain)
	}
	// Reported, never fixed: both copies keep their writes, the relationship stays broken.
	afterChecks(t, secondary.cluster, 4)
	if got := secondary.files(t, dstVol); got["orders-dr.db"] != "written at the DR site" {
		t.Errorf("the DR copy lost its writes: %v", got)
	}
	if got := primary.files(t, srcVol); got["app.db"] != "v2 written at the old primary" {
		t.Errorf("the old primary lost its writes: %v", got)
	}
	if rel, err := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol); err != nil || rel.State != ontap.BrokenOff {
		t.Errorf("relationship after split brain: %+v, %v", rel, err)
	}

	// The user keeps the old primary's copy: the DR site is reestablished from it. Both sites
	// stop reporting, the old primary at its next re-check.
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "reestablished" })
	secondary.wait(t, "csi-nas", "reestablished")
	for _, site := range []*side{secondary, primary} {
		if !eventually(20*time.Second, func() bool { return condition(t, site).SplitBrain == nil }) {
			t.Fatalf("%s still reports a split brain after the reestablish: %+v", site.svm, condition(t, site))
		}
	}

	// A planned failover to a snapshot, then writes at the DR site: one side written, and the
	// destination's restore to the snapshot is no write.
	primary.mustWrite(t, srcVol, "app.db", "v3, last before the migration")
	handle := primary.snapshot(t, srcPV, "csi-nas", "migration")
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec.State, o.Spec.VolumeMappings[0].PromotedSnapshotHandle = "promoted", handle
	})
	secondary.wait(t, "csi-nas", "promoted")
	secondary.mustWrite(t, dstVol, "orders-dr.db", "the application runs at the DR site")
	quiet(t, primary, secondary)

	// Failback: the old primary mirrors the DR site, is promoted and written, and the DR site
	// mirrors it again. The old primary keeps a broken-off record of the reverse relationship;
	// both copies changed since that record's snapshot, but hold the same data: no split brain.
	primary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec.State, o.Spec.VolumeMappings[0].RemoteVolumeHandle = "reestablished", "drvserver:"+dstVol
	})
	primary.wait(t, "csi-nas", "reestablished")
	primary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	primary.wait(t, "csi-nas", "promoted")
	primary.mustWrite(t, srcVol, "app.db", "v4, back home")
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec.State, o.Spec.VolumeMappings[0].PromotedSnapshotHandle = "reestablished", ""
	})
	secondary.wait(t, "csi-nas", "reestablished")
	if got := secondary.files(t, dstVol); got["app.db"] != "v4, back home" {
		t.Errorf("after the failback the DR site holds %v", got)
	}
	quiet(t, primary, secondary)
}

// quiet fails if either site reports a split brain while three more re-checks read the
// first site's snapshots.
func quiet(t *testing.T, sites ...*side) {
	t.Helper()
	start := checkReads(sites[0].cluster)
	for checkReads(sites[0].cluster) < start+3 {
		for _, s := range sites {
			if c := condition(t, s); c.SplitBrain != nil {
				t.Fatalf("%s reports a split brain: %s", s.svm, c.Message)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkReads counts the volume lists the cluster has served: each split-brain check reads
// the write counters of the volumes from one, shared by every check of an interval.
func checkReads(c *sim.Cluster) int {
	return c.Requests()["GET /storage/volumes"]
}

// afterChecks waits until n more split-brain checks have read the cluster's write counters: the
// re-checks that could have acted had their chance, observably.
func afterChecks(t *testing.T, c *sim.Cluster, n int) {
	t.Helper()
	start := checkReads(c)
	if !eventually(20*time.Second, func() bool { return checkReads(c) >= start+n }) {
		t.Fatalf("no %d split-brain checks within 20 s (%d volume lists)", n, checkReads(c)-start)
	}
}

func condition(t *testing.T, s *side) tridentv1.TridentMirrorRelationshipCondition {
	t.Helper()
	obj := &tridentv1.TridentMirrorRelationship{}
	if err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: "csi-nas"}, obj); err != nil || len(obj.Status.Conditions) != 1 {
		t.Fatalf("TMR of %s: %v", s.svm, err)
	}
	return obj.Status.Conditions[0]
}
