package frontend_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

// TestControllerCrashAtEveryStep runs the real TMR controller and kills it after its k-th
// ONTAP call of a state change, for every k: that call takes effect on ONTAP but its answer is
// lost, nothing after it reaches ONTAP, and the manager is stopped. A new manager then starts.
// The TMR must end in the desired state with a true status, with the content the state
// promises, and one relationship.
func TestControllerCrashAtEveryStep(t *testing.T) { forKinds(t, controllerCrashAtEveryStep) }

func controllerCrashAtEveryStep(t *testing.T, kind string) {
	// Establishing: the TMR and the DP PVC are made while the controller is down; it starts
	// with the faults in place.
	establish := func(t *testing.T, faults ...sim.Fault) (*side, *side) {
		primary, secondary, handle := twoSites(t, kind)
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
			secondary.mounted(t, dstVol)
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
			primary.mustWrite(t, srcVol, "late.db", "after the last transfer")
		},
		want: func(map[string]string) map[string]string { return map[string]string{"app.db": "v1"} },
		rel:  ontap.BrokenOff,
	}, {
		state: "reestablished",
		prepare: func(t *testing.T, primary, secondary *side) {
			secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
			secondary.wait(t, "csi-nas", "promoted")
			secondary.mustWrite(t, dstVol, "dr.db", "discarded by the resync")
			primary.mustWrite(t, srcVol, "app.db", "v2")
		},
		want: func(p map[string]string) map[string]string { return p },
		rel:  ontap.Snapmirrored,
	}} {
		crashEverywhere(t, kind, string(op.state), op.prepare,
			func(t *testing.T, _, secondary *side) {
				secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = op.state })
			},
			func(t *testing.T, primary, secondary *side) {
				cond := secondary.wait(t, "csi-nas", op.state)
				checkMirror(t, cond, primary, secondary, op.rel, op.want(primary.files(t, srcVol)))
			})
	}
}

// These crash suites run with instant jobs and transfers, not sim.RealisticTimings: the
// controllers look again after mirror.Soon (2 s) of real time whatever the simulated clock
// does, so every transfer the controller waits for costs 2 s of wall time in each of the
// dozens of subtests (measured: 53 s become 136 s). The engine's crash suite (mirror,
// TestCrashAtEveryStep) runs every operation with the realistic timings, and TestWorkflow
// runs the controllers once with them.

// crashEverywhere runs an operation on a mirror once to count the secondary's ONTAP calls,
// then, for every k, again with the controller killed after its k-th call and restarted;
// done checks the outcome each time.
func crashEverywhere(t *testing.T, kind, name string, prepare, start, done func(t *testing.T, primary, secondary *side)) {
	primary, secondary := mirrored(t, kind)
	prepare(t, primary, secondary)
	secondary.cluster.ResetRequests()
	start(t, primary, secondary)
	done(t, primary, secondary)
	calls := secondary.cluster.Requests()["total"]
	for k := 1; k <= calls; k++ {
		t.Run(fmt.Sprintf("%s/after call %d of %d", name, k, calls), func(t *testing.T) {
			primary, secondary := mirrored(t, kind)
			prepare(t, primary, secondary)
			c := secondary.cluster
			c.ResetRequests()
			c.InjectFault(sim.Fault{After: k, Drop: true})
			c.InjectFault(sim.Fault{After: k - 1, Times: 1, LoseAnswer: true})
			start(t, primary, secondary)
			restart(t, secondary, k)
			done(t, primary, secondary)
		})
	}
}

// restart waits until the controller has made its k-th call and tried one more (or has
// nothing more to call), stops it, clears the faults and starts a new one.
func restart(t *testing.T, s *side, k int) {
	t.Helper()
	// Not reaching it in time is an answer too: the controller had nothing more to call.
	wait.Until(3*time.Second, func() bool { return s.cluster.Requests()["total"] > k })
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

// TestActionCrashAtEveryStep does the same for the two other operations the controllers
// drive: an on-demand update (a TAMU) and the release of a TMR that is deleted.
func TestActionCrashAtEveryStep(t *testing.T) { forKinds(t, actionCrashAtEveryStep) }

func actionCrashAtEveryStep(t *testing.T, kind string) {
	ctx := context.Background()
	for _, op := range []struct {
		name string
		// prepare writes on the primary; start asks for the operation.
		prepare, start func(t *testing.T, primary, secondary *side)
		// done waits for the operation to end and checks the result.
		done func(t *testing.T, primary, secondary *side)
	}{{
		name: "update",
		prepare: func(t *testing.T, primary, _ *side) {
			primary.mustWrite(t, srcVol, "new.txt", "carried by the update")
		},
		start: func(t *testing.T, _, secondary *side) { secondary.tamu(t, "update", "csi-nas", "") },
		done: func(t *testing.T, primary, secondary *side) {
			secondary.waitTAMU(t, "update", tridentv1.ActionStateSucceeded)
			checkMirror(t, condition(t, secondary), primary, secondary, ontap.Snapmirrored, primary.files(t, srcVol))
		},
	}, {
		name: "release",
		prepare: func(t *testing.T, primary, _ *side) {
			primary.mustWrite(t, srcVol, "late.db", "never transferred")
		},
		start: func(t *testing.T, _, secondary *side) {
			if err := cp.Client.Delete(ctx, &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Name: "csi-nas", Namespace: secondary.ns}}); err != nil {
				t.Fatal(err)
			}
		},
		done: func(t *testing.T, primary, secondary *side) {
			secondary.waitReleased(t, "csi-nas")
			// Released: its one relationship kept broken off (for a later reestablish, until
			// the PVC goes), the destination read-write with the content of the last
			// transfer, the source untouched.
			if rels, err := secondary.backend.ListRelationships(ctx, ontap.RelationshipFilter{}); err != nil || len(rels) != 1 || rels[0].State != ontap.BrokenOff {
				t.Errorf("relationships left: %+v, %v; want the one, broken off", rels, err)
			}
			secondary.writable(t, dstVol, true)
			if got, want := secondary.files(t, dstVol), map[string]string{"app.db": "v1"}; !maps.Equal(got, want) {
				t.Errorf("the released destination holds %v, want %v", got, want)
			}
			if v, _ := primary.cluster.Volume("datavserver", srcVol); v.Type != ontap.VolumeRW || primary.files(t, srcVol)["late.db"] != "never transferred" {
				t.Errorf("the source changed: %s, %v", v.Type, primary.files(t, srcVol))
			}
		},
	}} {
		crashEverywhere(t, kind, op.name, op.prepare, op.start, op.done)
	}
}
