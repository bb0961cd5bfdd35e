package frontend_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// get reads the side's TMR.
func (s *side) get(t *testing.T, name string) *tridentv1.TridentMirrorRelationship {
	t.Helper()
	obj := &tridentv1.TridentMirrorRelationship{}
	if err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// waitFor polls the TMR until ok holds for its status, and returns it.
func (s *side) waitFor(t *testing.T, name, what string, ok func(*tridentv1.TridentMirrorRelationship) bool) *tridentv1.TridentMirrorRelationship {
	t.Helper()
	var obj *tridentv1.TridentMirrorRelationship
	if !eventually(30*time.Second, func() bool { obj = s.get(t, name); return len(obj.Status.Conditions) == 1 && ok(obj) }) {
		t.Fatalf("TMR %s/%s: %s did not happen; status %+v, request %+v", s.ns, name, what, obj.Status.Conditions, obj.Status.Request)
	}
	return obj
}

// carriedOut waits until the TMR's current request is carried out in state.
func (s *side) carriedOut(t *testing.T, name string, state tridentv1.MirrorState) *tridentv1.TridentMirrorRelationship {
	t.Helper()
	return s.waitFor(t, name, "request carried out in state "+string(state), func(o *tridentv1.TridentMirrorRelationship) bool {
		r := o.Status.Request
		return r != nil && r.CompletedTime != nil && r.Generation == o.Generation && o.Status.Conditions[0].State == state
	})
}

// outOfBand changes the relationship of the secondary's volume on ONTAP, as an administrator
// would, behind the controller's back.
func (s *side) outOfBand(t *testing.T, states ...ontap.RelationshipState) {
	t.Helper()
	rel, err := s.backend.GetRelationship(context.Background(), "drvserver:"+dstVol)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if _, err := s.backend.ModifyRelationship(context.Background(), rel.UUID, ontap.RelationshipChange{State: st}); err != nil {
			t.Fatal(err)
		}
	}
}

// resyncs counts the resyncs ONTAP carried out to the secondary's volume.
func resyncs(f *sim.Fabric) int {
	n := 0
	for _, op := range f.History() {
		if op.Name == "resync" && op.Destination == "drvserver:"+dstVol {
			n++
		}
	}
	return n
}

// TestSettledReestablishedNeverResyncsOnItsOwn: the data-loss case. A TMR reaches
// reestablished; an administrator breaks the relationship on ONTAP and the application
// writes at the destination. The controller reports the drift (status, Warning Event) and
// keeps the writes; only the user's re-request, by annotation, resyncs, and it says first
// what it discards.
func TestSettledReestablishedNeverResyncsOnItsOwn(t *testing.T) {
	forKinds(t, settledReestablishedNeverResyncsOnItsOwn)
}

func settledReestablishedNeverResyncsOnItsOwn(t *testing.T, kind string) {
	primary, secondary := mirrored(t, kind)
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	secondary.carriedOut(t, "csi-nas", "promoted")
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "reestablished" })
	secondary.carriedOut(t, "csi-nas", "reestablished")
	before := resyncs(secondary.fabric)
	if before != 1 {
		t.Fatalf("the reestablish made %d resyncs, want 1", before)
	}

	secondary.outOfBand(t, ontap.Paused, ontap.BrokenOff)
	if err := secondary.write(dstVol, "written-after-the-break", "keep me"); err != nil {
		t.Fatal(err)
	}
	// The re-check that would have resynced reports the drift instead.
	obj := secondary.waitFor(t, "csi-nas", "drift reported", func(o *tridentv1.TridentMirrorRelationship) bool { return o.Status.Conditions[0].Drift != "" })
	c := obj.Status.Conditions[0]
	if c.State != "promoted" || !strings.Contains(c.Drift, "broken off on ONTAP outside of the controller") || !strings.Contains(c.Drift, tridentv1.RequestAnnotation) {
		t.Errorf("drift status %+v", c)
	}
	waitEvent(t, secondary.ns, "csi-nas", tridentv1.ReasonDrift, "broken off")
	// Neither site can read the other: each says that split brain goes unchecked, and why.
	if !strings.Contains(c.SplitBrainCheck, "nothing in the backend file reads SVM datavserver") {
		t.Errorf("secondary's split-brain check note %q", c.SplitBrainCheck)
	}
	if p := primary.get(t, "csi-nas").Status.Conditions[0]; !strings.Contains(p.SplitBrainCheck, "lists no peers") {
		t.Errorf("primary's split-brain check note %q", p.SplitBrainCheck)
	}
	if n := resyncs(secondary.fabric); n != before {
		t.Fatalf("the controller resynced on its own (%d resyncs)", n)
	}
	if got := secondary.files(t, dstVol); got["written-after-the-break"] != "keep me" {
		t.Fatalf("the writes made after the break are gone: %v", got)
	}
	// A spec edit that does not ask for another state (the schedule) is no request to resync.
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.ReplicationSchedule = "hourly" })
	secondary.waitFor(t, "csi-nas", "the schedule edit seen", func(o *tridentv1.TridentMirrorRelationship) bool {
		return o.Status.Conditions[0].ObservedGeneration == o.Generation && o.Status.Conditions[0].Drift != ""
	})
	if n := resyncs(secondary.fabric); n != before {
		t.Fatalf("a schedule edit resynced (%d resyncs)", n)
	}

	// The user re-requests: the resync says what it discards, then runs, once.
	primary.mustWrite(t, srcVol, "app.db", "v2")
	obj = secondary.get(t, "csi-nas")
	orig := obj.DeepCopy()
	metav1.SetMetaDataAnnotation(&obj.ObjectMeta, tridentv1.RequestAnnotation, "the break was a mistake")
	if err := cp.Client.Patch(context.Background(), obj, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	obj = secondary.carriedOut(t, "csi-nas", "reestablished")
	if obj.Status.Request.Reason != "the break was a mistake" || obj.Annotations[tridentv1.RequestAnnotation] != "" {
		t.Errorf("re-request: request %+v, annotations %v", obj.Status.Request, obj.Annotations)
	}
	waitEvent(t, secondary.ns, "csi-nas", tridentv1.ReasonDiscarding, "bytes written here since snapshot snapmirror.")
	if n := resyncs(secondary.fabric); n != before+1 {
		t.Errorf("the re-request made %d resyncs, want 1", n-before)
	}
	if got := secondary.files(t, dstVol); got["app.db"] != "v2" || got["written-after-the-break"] != "" {
		t.Errorf("after the requested resync: %v", got)
	}
}

// TestSettledStatesLeaveOutOfBandChangesAlone: under each settled state, a quiesce, break or
// resync made on ONTAP is reported as drift and left as it is.
func TestSettledStatesLeaveOutOfBandChangesAlone(t *testing.T) {
	forKinds(t, settledStatesLeaveOutOfBandChangesAlone)
}

func settledStatesLeaveOutOfBandChangesAlone(t *testing.T, kind string) {
	_, secondary := mirrored(t, kind)
	secondary.carriedOut(t, "csi-nas", "established")

	secondary.outOfBand(t, ontap.Paused)
	obj := secondary.waitFor(t, "csi-nas", "quiesce reported", func(o *tridentv1.TridentMirrorRelationship) bool { return o.Status.Conditions[0].Drift != "" })
	if c := obj.Status.Conditions[0]; c.State != "established" || !strings.Contains(c.Drift, "quiesced on ONTAP") {
		t.Errorf("quiesce drift %+v", c)
	}
	if rel, _ := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol); rel.State != ontap.Paused {
		t.Errorf("the controller resumed the administrator's quiesce: %s", rel.State)
	}

	// Promoted, then resynced on ONTAP: reported, not broken again.
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	secondary.carriedOut(t, "csi-nas", "promoted")
	rel, _ := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol)
	if _, err := secondary.backend.ModifyRelationship(context.Background(), rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}); err != nil {
		t.Fatal(err)
	}
	obj = secondary.waitFor(t, "csi-nas", "resync reported", func(o *tridentv1.TridentMirrorRelationship) bool { return o.Status.Conditions[0].Drift != "" })
	if c := obj.Status.Conditions[0]; c.State != "established" || !strings.Contains(c.Drift, "destination of datavserver:"+srcVol+" again") {
		t.Errorf("resync drift %+v", c)
	}
	if rel, _ := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol); rel.State != ontap.Snapmirrored {
		t.Errorf("the controller broke the administrator's resync: %s", rel.State)
	}
	waitEvent(t, secondary.ns, "csi-nas", tridentv1.ReasonDrift, "again")
}

// TestUninitializedIsNotStuck: a relationship whose baseline never completed cannot be
// promoted (clear message, with the way out), and its TMR can be deleted: the relationship
// record goes, the finalizer goes, and the empty DP volume stays for its PVC's deletion.
func TestUninitializedIsNotStuck(t *testing.T) { forKinds(t, uninitializedIsNotStuck) }

func uninitializedIsNotStuck(t *testing.T, kind string) {
	_, secondary, handle := twoSites(t, kind)
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec = tridentv1.TridentMirrorRelationshipSpec{State: "established", VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "csi-nas", RemoteVolumeHandle: handle}}}
	})
	// Every baseline fails.
	secondary.cluster.InjectFault(sim.Fault{Method: "PATCH", Path: "/snapmirror/relationships/{id}", FailJob: true, Code: "13303812", Message: "Transfer failed: simulated baseline failure."})
	secondary.provision(t, dstPV, "csi-nas", map[string]string{csi.MirrorAnnotation: "csi-nas"})
	secondary.waitFor(t, "csi-nas", "baseline failure reported", func(o *tridentv1.TridentMirrorRelationship) bool {
		return o.Status.Conditions[0].State == "failed" && strings.Contains(o.Status.Conditions[0].Message, "simulated baseline failure")
	})
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	obj := secondary.waitFor(t, "csi-nas", "promote refused", func(o *tridentv1.TridentMirrorRelationship) bool {
		return o.Status.Conditions[0].ObservedGeneration == o.Generation && o.Status.Conditions[0].State == "failed"
	})
	if m := obj.Status.Conditions[0].Message; !strings.Contains(m, "never completed") || !strings.Contains(m, "delete this TMR and its PVC") {
		t.Errorf("promote message %q", m)
	}
	if err := cp.Client.Delete(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	secondary.waitReleased(t, "csi-nas")
	if _, err := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol); err == nil {
		t.Error("the uninitialized relationship survived its TMR")
	}
	waitEventOfType(t, corev1.EventTypeNormal, secondary.ns, "csi-nas", tridentv1.ReasonReleased, "never completed")
}

// TestBusyIsNotFailed: ONTAP's "busy, try again" answers (here on the break of a promote, as
// after an abort that takes time) keep the transition state and are retried soon, not shown
// as failed and retried at the re-check interval.
func TestBusyIsNotFailed(t *testing.T) { forKinds(t, busyIsNotFailed) }

func busyIsNotFailed(t *testing.T, kind string) {
	_, secondary := mirrored(t, kind)
	secondary.cluster.InjectFault(sim.Fault{Method: "PATCH", Path: "/snapmirror/relationships/{id}", After: 1, Times: 2, Status: 409, Code: ontap.CodeAnotherTransfer, Message: "Another transfer is in progress."})
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	seen := map[tridentv1.MirrorState]bool{}
	secondary.waitFor(t, "csi-nas", "promoted", func(o *tridentv1.TridentMirrorRelationship) bool {
		c := o.Status.Conditions[0]
		if c.ObservedGeneration == o.Generation {
			seen[c.State] = true
		}
		return c.State == "promoted" && c.ObservedGeneration == o.Generation
	})
	if seen["failed"] {
		t.Errorf("a busy answer showed the TMR as failed")
	}
	if !seen["promoting"] {
		t.Errorf("the busy answers were not shown as promoting: %v", seen)
	}
}

// TestReplicationPolicy: without a policy in the TMR or the backend the relationship gets
// MirrorAllSnapshots, as the docs promise; a spec.replicationPolicy that would not carry the
// snapshots of a planned failover is refused with the field and the fix, nothing created.
func TestReplicationPolicy(t *testing.T) { forKinds(t, replicationPolicy) }

func replicationPolicy(t *testing.T, kind string) {
	_, secondary, handle := twoSites(t, kind)
	secondary.backends["drvserver"].ReplicationPolicy = ""
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec = tridentv1.TridentMirrorRelationshipSpec{State: "established", ReplicationPolicy: "MirrorLatest", VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "csi-nas", RemoteVolumeHandle: handle}}}
	})
	secondary.provision(t, dstPV, "csi-nas", map[string]string{csi.MirrorAnnotation: "csi-nas"})
	c := secondary.wait(t, "csi-nas", "invalid")
	if !strings.Contains(c.Message, `spec.replicationPolicy "MirrorLatest" is async but does not mirror all source snapshots`) {
		t.Errorf("message %q", c.Message)
	}
	if _, err := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol); err == nil {
		t.Error("a relationship was created with the refused policy")
	}
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.ReplicationPolicy = "" })
	if c := secondary.wait(t, "csi-nas", "established"); c.ReplicationPolicy != "MirrorAllSnapshots" {
		t.Errorf("default policy %q", c.ReplicationPolicy)
	}
}

// TestReestablishCycleRefused: after a failover, the primary reestablishes from the
// secondary; a second reestablish of the secondary from the primary would leave both volumes
// read-only. It is refused, naming the other relationship, and the secondary stays writable.
func TestReestablishCycleRefused(t *testing.T) { forKinds(t, reestablishCycleRefused) }

func reestablishCycleRefused(t *testing.T, kind string) {
	primary, secondary := mirrored(t, kind)
	peerSites(t, primary, secondary)
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	secondary.carriedOut(t, "csi-nas", "promoted")
	// The primary becomes the destination of the secondary.
	primary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec.State = "reestablished"
		o.Spec.VolumeMappings[0].RemoteVolumeHandle = "drvserver:" + dstVol
	})
	primary.carriedOut(t, "csi-nas", "reestablished")
	// The secondary's TMR still names the primary: reestablishing it would close the cycle.
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "reestablished" })
	obj := secondary.waitFor(t, "csi-nas", "cycle refused", func(o *tridentv1.TridentMirrorRelationship) bool {
		return o.Status.Conditions[0].ObservedGeneration == o.Generation && o.Status.Conditions[0].State == "failed"
	})
	if m := obj.Status.Conditions[0].Message; !strings.Contains(m, "datavserver:"+srcVol+" is itself the destination of a relationship from this volume") {
		t.Errorf("message %q", m)
	}
	if info, err := secondary.cluster.Volume("drvserver", dstVol); err != nil || info.Type != "rw" {
		t.Errorf("the secondary's volume after the refusal: %+v, %v", info, err)
	}
}

// TestUnpeeredSourceIsNamed: a TMR whose PVC waits to be bound because no SVM of its site is
// peered with the source's says so, with the fix, instead of only waiting.
func TestUnpeeredSourceIsNamed(t *testing.T) { forKinds(t, unpeeredSourceIsNamed) }

func unpeeredSourceIsNamed(t *testing.T, kind string) {
	_, secondary, _ := twoSites(t, kind)
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec = tridentv1.TridentMirrorRelationshipSpec{State: "established", VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "csi-nas", RemoteVolumeHandle: "unpeeredsvm:trident_pvc_x"}}}
	})
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "csi-nas", Namespace: secondary.ns, Annotations: map[string]string{csi.MirrorAnnotation: "csi-nas"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := cp.Client.Create(context.Background(), pvc); err != nil {
		t.Fatal(err)
	}
	obj := secondary.waitFor(t, "csi-nas", "the cause named", func(o *tridentv1.TridentMirrorRelationship) bool {
		return strings.Contains(o.Status.Conditions[0].Message, "peer the SVMs")
	})
	if m := obj.Status.Conditions[0].Message; !strings.Contains(m, "waiting for PVC csi-nas to be bound") || !strings.Contains(m, "SVM unpeeredsvm of spec.volumeMappings[0].remoteVolumeHandle") {
		t.Errorf("message %q", m)
	}
	waitEvent(t, secondary.ns, "csi-nas", tridentv1.ReasonFailed, "peer the SVMs")
}

// TestStatusAfterAbortedTransfer: an unplanned failover during a transfer aborts it. The
// status then keeps the last completed transfer and says that the volume holds it, instead of
// dropping the transfer figures and reading healthy.
func TestStatusAfterAbortedTransfer(t *testing.T) { forKinds(t, statusAfterAbortedTransfer) }

func statusAfterAbortedTransfer(t *testing.T, kind string) {
	primary, secondary := mirrored(t, kind)
	before := secondary.carriedOut(t, "csi-nas", "established").Status.Conditions[0]
	if before.LastTransferTime == nil {
		t.Fatalf("no last transfer before the failover: %+v", before)
	}
	secondary.cluster.SetTransferDelay(time.Hour)
	primary.mustWrite(t, srcVol, "app.db", "v2 in flight")
	rel, err := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secondary.backend.StartTransfer(context.Background(), rel.UUID, ""); err != nil {
		t.Fatal(err)
	}
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	c := secondary.carriedOut(t, "csi-nas", "promoted").Status.Conditions[0]
	if c.LastTransferTime == nil || !c.LastTransferTime.Equal(before.LastTransferTime) || c.Healthy == nil || *c.Healthy {
		t.Errorf("after the aborted transfer: last transfer %v (was %v), healthy %v", c.LastTransferTime, before.LastTransferTime, c.Healthy)
	}
	if !strings.Contains(c.Message, "was aborted") || !strings.Contains(c.Message, "holds the data of the last completed transfer") {
		t.Errorf("message %q", c.Message)
	}
	if got := secondary.files(t, dstVol); got["app.db"] != "v1" {
		t.Errorf("the promoted volume holds %v, want the last completed transfer's v1", got)
	}
}

// TestSlowJobFailureReachesStatus: a step whose job outlives return_timeout (here a 40 s
// baseline start that then fails) is followed through status.request.job: the TMR shows the
// wait, then ONTAP's own message, not a step reissued unseen.
func TestSlowJobFailureReachesStatus(t *testing.T) { forKinds(t, slowJobFailureReachesStatus) }

func slowJobFailureReachesStatus(t *testing.T, kind string) {
	_, secondary, handle := twoSites(t, kind)
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec = tridentv1.TridentMirrorRelationshipSpec{State: "established", VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "csi-nas", RemoteVolumeHandle: handle}}}
	})
	secondary.provision(t, dstPV, "csi-nas", map[string]string{csi.MirrorAnnotation: "csi-nas"})
	secondary.fabric.SetJobDuration(40 * time.Second)
	secondary.cluster.InjectFault(sim.Fault{Method: "POST", Path: "/snapmirror/relationships", FailJob: true, Code: "13303852", Message: "Failed to create the relationship: simulated slow failure."})
	obj := secondary.waitFor(t, "csi-nas", "the job followed", func(o *tridentv1.TridentMirrorRelationship) bool {
		return o.Status.Request != nil && o.Status.Request.Job != ""
	})
	if c := obj.Status.Conditions[0]; c.State != "establishing" || !strings.Contains(c.Message, "waiting for ONTAP job "+obj.Status.Request.Job) {
		t.Errorf("while the job runs: %+v", c)
	}
	secondary.fabric.Advance(time.Minute)
	obj = secondary.waitFor(t, "csi-nas", "the job's failure reported", func(o *tridentv1.TridentMirrorRelationship) bool {
		return o.Status.Conditions[0].State == "failed"
	})
	if c := obj.Status.Conditions[0]; !strings.Contains(c.Message, "simulated slow failure") || obj.Status.Request.Job != "" {
		t.Errorf("after the job failed: %+v, request %+v", c, obj.Status.Request)
	}
}
