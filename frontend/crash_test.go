package frontend_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestControllerCrashAtEveryStep runs the real TMR controller and kills it after its k-th
// ONTAP call of a state change, for every k: that call takes effect on ONTAP but its answer is
// lost, nothing after it reaches ONTAP, and the manager is stopped. A new manager then starts.
// The TMR must end in the desired state with a true status, with the content the state
// promises, and one relationship.
func TestControllerCrashAtEveryStep(t *testing.T) {
	// Establishing: the TMR and the DP PVC are made while the controller is down; it starts
	// with the faults in place.
	establish := func(t *testing.T, faults ...sim.Fault) (*side, *side) {
		primary, secondary, handle := twoSites(t)
		secondary.stop()
		secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
			o.Spec = tridentv1.TridentMirrorRelationshipSpec{State: "established", VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "csi-nas", RemoteVolumeHandle: handle}}}
		})
		secondary.provision(t, dstPV, "csi-nas", map[string]string{csi.MirrorAnnotation: "csi-nas"})
		secondary.cluster.ResetRequests()
		for _, f := range faults {
			secondary.cluster.InjectFault(f)
		}
		secondary.stop = secondary.start(t)
		return primary, secondary
	}
	_, secondary := establish(t)
	secondary.wait(t, "csi-nas", "established")
	calls := secondary.cluster.Requests()["total"]
	for k := 1; k <= calls; k++ {
		t.Run(fmt.Sprintf("established/after call %d of %d", k, calls), func(t *testing.T) {
			primary, secondary := establish(t, sim.Fault{After: k, Drop: true}, sim.Fault{After: k - 1, Times: 1, LoseAnswer: true})
			restart(t, secondary, k)
			cond := secondary.wait(t, "csi-nas", "established")
			checkMirror(t, cond, primary, secondary, ontap.Snapmirrored, primary.files(t, srcVol))
			if v, err := secondary.backend.GetVolume(context.Background(), "drvserver", dstVol); err != nil || v.JunctionPath != "/"+dstVol {
				t.Errorf("the destination is not mounted: %+v, %v", v, err)
			}
		})
	}

	for _, op := range []struct {
		state tridentv1.MirrorState
		// prepare brings the mirror to where the change starts from.
		prepare func(t *testing.T, primary, secondary *side)
		// want is the secondary's content afterwards, given the primary's.
		want func(primary map[string]string) map[string]string
		// rel is the relationship's state on ONTAP afterwards.
		rel ontap.RelationshipState
	}{{
		state: "promoted",
		prepare: func(t *testing.T, primary, _ *side) {
			// Written after the last transfer: an unplanned failover does not carry it.
			primary.cluster.WriteFile("datavserver", srcVol, "late.db", "after the last transfer")
		},
		want: func(map[string]string) map[string]string { return map[string]string{"app.db": "v1"} },
		rel:  ontap.BrokenOff,
	}, {
		state: "reestablished",
		prepare: func(t *testing.T, primary, secondary *side) {
			secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
			secondary.wait(t, "csi-nas", "promoted")
			secondary.cluster.WriteFile("drvserver", dstVol, "dr.db", "discarded by the resync")
			primary.cluster.WriteFile("datavserver", srcVol, "app.db", "v2")
		},
		want: func(p map[string]string) map[string]string { return p },
		rel:  ontap.Snapmirrored,
	}} {
		// A clean run counts the calls of the change.
		primary, secondary := mirrored(t)
		op.prepare(t, primary, secondary)
		secondary.cluster.ResetRequests()
		secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = op.state })
		secondary.wait(t, "csi-nas", op.state)
		calls := secondary.cluster.Requests()["total"]
		for k := 1; k <= calls; k++ {
			t.Run(fmt.Sprintf("%s/after call %d of %d", op.state, k, calls), func(t *testing.T) {
				primary, secondary := mirrored(t)
				op.prepare(t, primary, secondary)
				c := secondary.cluster
				c.ResetRequests()
				c.InjectFault(sim.Fault{After: k, Drop: true})
				c.InjectFault(sim.Fault{After: k - 1, Times: 1, LoseAnswer: true})
				secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = op.state })
				restart(t, secondary, k)
				cond := secondary.wait(t, "csi-nas", op.state)
				checkMirror(t, cond, primary, secondary, op.rel, op.want(primary.files(t, srcVol)))
			})
		}
	}
}

// restart waits until the controller has made its k-th call and tried one more (or has
// nothing more to call), stops it, clears the faults and starts a new one.
func restart(t *testing.T, s *side, k int) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); s.cluster.Requests()["total"] <= k && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	s.stop()
	s.cluster.ClearFaults()
	s.stop = s.start(t)
}

// checkMirror checks the secondary's status handles, its one relationship's state, its
// content, and that the source stayed read-write.
func checkMirror(t *testing.T, cond tridentv1.TridentMirrorRelationshipCondition, primary, secondary *side, rel ontap.RelationshipState, want map[string]string) {
	t.Helper()
	if cond.LocalVolumeHandle != "drvserver:"+dstVol || cond.RemoteVolumeHandle != "datavserver:"+srcVol {
		t.Errorf("status %+v", cond)
	}
	rels, err := secondary.backend.ListRelationships(context.Background(), ontap.RelationshipFilter{})
	if err != nil || len(rels) != 1 || rels[0].State != rel {
		t.Errorf("relationships %+v, %v; want one, %s", rels, err, rel)
	}
	if got := secondary.files(t, dstVol); !maps.Equal(got, want) {
		t.Errorf("secondary holds %v, want %v", got, want)
	}
	if v, _ := primary.cluster.Volume("datavserver", srcVol); v.Type != ontap.VolumeRW {
		t.Errorf("the source is %s", v.Type)
	}
}
