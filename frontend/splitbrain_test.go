package frontend_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/frontend"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestSplitBrain: after an unplanned failover both copies are read-write. Once both have been
// written since their last common snapshot, the secondary's TMR reports it (status and a
// Warning Event) and nothing is resynced: both copies keep their data.
func TestSplitBrain(t *testing.T) {
	primary, secondary := mirrored(t)
	// The secondary's controller is given the primary's SVM as a peer, so that it can read
	// the other copy.
	peers, err := ontap.OpenPeers(&ontap.DriverConfig{Peers: []ontap.PeerConfig{{
		Name: "primary-site", ManagementLIF: primary.backend.ManagementLIF, SVM: primary.svm,
		CAFile: primary.backend.CAFile, Credentials: primary.backend.Credentials,
	}}}, ontap.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secondary.stop()
	secondary.peers = peers
	secondary.stop = secondary.start(t)

	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	if c := secondary.wait(t, "csi-nas", "promoted"); c.SplitBrain != nil {
		t.Errorf("split brain reported before any write: %+v", c.SplitBrain)
	}
	// Only the secondary writes: a failover, not a split brain.
	if err := secondary.cluster.WriteFile("drvserver", dstVol, "orders-dr.db", "written at the DR site"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // two re-checks
	if c := secondary.wait(t, "csi-nas", "promoted"); c.SplitBrain != nil {
		t.Errorf("split brain reported with one side written: %+v", c.SplitBrain)
	}
	// The old primary comes back to life and its application writes too.
	if err := primary.cluster.WriteFile("datavserver", srcVol, "app.db", "v2 written at the old primary"); err != nil {
		t.Fatal(err)
	}
	var cond tridentv1.TridentMirrorRelationshipCondition
	deadline := time.Now().Add(20 * time.Second)
	for cond.SplitBrain == nil {
		if time.Now().After(deadline) {
			t.Fatalf("split brain not reported: %+v", cond)
		}
		time.Sleep(100 * time.Millisecond)
		obj := &tridentv1.TridentMirrorRelationship{}
		if err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: secondary.ns, Name: "csi-nas"}, obj); err == nil && len(obj.Status.Conditions) == 1 {
			cond = obj.Status.Conditions[0]
		}
	}
	sb := cond.SplitBrain
	if cond.State != "promoted" || sb.LocalBytes == 0 || sb.RemoteBytes == 0 || !strings.HasPrefix(sb.CommonSnapshot, "snapmirror.") || sb.DetectedTime == nil {
		t.Errorf("split-brain status %+v, %+v", cond, sb)
	}
	for _, want := range []string{"split brain", "datavserver:" + srcVol, "nothing is resynced automatically", "set state reestablished"} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("message %q lacks %q", cond.Message, want)
		}
	}
	waitEvent(t, secondary.ns, "csi-nas", frontend.ReasonSplitBrain, "both written")
	// Reported, never fixed: both copies keep their writes, the relationship stays broken.
	time.Sleep(2 * time.Second)
	if got := secondary.files(t, dstVol); got["orders-dr.db"] != "written at the DR site" {
		t.Errorf("the DR copy lost its writes: %v", got)
	}
	if got := primary.files(t, srcVol); got["app.db"] != "v2 written at the old primary" {
		t.Errorf("the old primary lost its writes: %v", got)
	}
	if rel, err := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol); err != nil || rel.State != ontap.BrokenOff {
		t.Errorf("relationship after split brain: %+v, %v", rel, err)
	}
}
