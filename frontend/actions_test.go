package frontend_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

const (
	srcPV  = "pvc-3bedd23c-46a8-4384-b12b-3c38b313c1e1"
	dstPV  = "pvc-7f2a6b1e-0c4d-4e55-9a1b-2d3c4e5f6a7b"
	srcVol = "trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1"
	dstVol = "trident_pvc_7f2a6b1e_0c4d_4e55_9a1b_2d3c4e5f6a7b"
)

// twoSites starts both sites with backends of kind, with the primary's PVC csi-nas (holding
// app.db) and its TMR promoted; it returns the primary volume's handle.
func twoSites(t *testing.T, kind string) (*side, *side, string) {
	t.Helper()
	return twoSitesWith(t, kind, sim.Options{})
}

// twoSitesWith is twoSites on a fabric with opts' timings.
func twoSitesWith(t *testing.T, kind string, opts sim.Options) (*side, *side, string) {
	t.Helper()
	f := sim.NewFabric(opts)
	t.Cleanup(f.Close)
	pc, _ := f.AddCluster(sim.ClusterSpec{Name: "primary", SVMs: []string{"datavserver"}, Aggregates: []string{"aggr1"}})
	sc, _ := f.AddCluster(sim.ClusterSpec{Name: "secondary", SVMs: []string{"drvserver"}, Aggregates: []string{"aggr1"}})
	if err := f.PeerSVMs("datavserver", "drvserver"); err != nil {
		t.Fatal(err)
	}
	primary, secondary := startSide(t, f, pc, "datavserver", kind), startSide(t, f, sc, "drvserver", kind)
	primary.provision(t, srcPV, "csi-nas", nil)
	primary.mustWrite(t, srcVol, "app.db", "v1")
	primary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec = tridentv1.TridentMirrorRelationshipSpec{State: "promoted", VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "csi-nas"}}}
	})
	cond := primary.wait(t, "csi-nas", "promoted")
	handle := cond.LocalVolumeHandle
	if handle != "datavserver:"+srcVol || cond.LocalPVCName != "csi-nas" {
		t.Fatalf("primary status %+v", cond)
	}
	return primary, secondary, handle
}

// mirrored runs sections 1 and 2 of the workflow with backends of kind: the primary's PVC
// (with app.db) and its promoted TMR, then the secondary's TMR and annotated PVC, established.
func mirrored(t *testing.T, kind string) (*side, *side) {
	t.Helper()
	return mirroredWith(t, kind, sim.Options{})
}

// mirroredWith is mirrored on a fabric with opts' timings.
func mirroredWith(t *testing.T, kind string, opts sim.Options) (*side, *side) {
	t.Helper()
	primary, secondary, handle := twoSitesWith(t, kind, opts)
	// The secondary's TMR comes first and waits for its PVC.
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec = tridentv1.TridentMirrorRelationshipSpec{State: "established", VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "csi-nas", RemoteVolumeHandle: handle}}}
	})
	if c := secondary.wait(t, "csi-nas", "establishing"); !strings.Contains(c.Message, "waiting for PVC csi-nas") {
		t.Errorf("before the PVC: %+v", c)
	}
	vol := secondary.provision(t, dstPV, "csi-nas", map[string]string{csi.MirrorAnnotation: "csi-nas"})
	if vol.GetVolumeContext()["type"] != "dp" {
		t.Fatalf("destination volume %v", vol.GetVolumeContext())
	}
	cond := secondary.wait(t, "csi-nas", "established")
	// A scheduled update may have started between the baseline's end and the pass that
	// found the relationship mirrored: ONTAP shows the running transfer, not the baseline,
	// so the last transfer's figures come with the status after the update.
	wait.Until(5*time.Second, func() bool {
		if cond.LastTransferTime == nil {
			cond = condition(t, secondary)
		}
		return cond.LastTransferTime != nil
	})
	if cond.LocalVolumeHandle != "drvserver:"+dstVol || cond.RemoteVolumeHandle != handle || cond.ReplicationPolicy != "MirrorAllSnapshots" ||
		cond.ReplicationSchedule != "5min" || cond.Healthy == nil || !*cond.Healthy || cond.Lag == nil || cond.LastTransferTime == nil {
		t.Errorf("established status %+v", cond)
	}
	if got := secondary.files(t, dstVol); got["app.db"] != "v1" {
		t.Errorf("destination content %v", got)
	}
	if got, want := secondary.checksum(t, dstVol), primary.checksum(t, srcVol); got != want {
		t.Errorf("destination checksum %s, source's %s", got, want)
	}
	secondary.mounted(t, dstVol)
	secondary.writable(t, dstVol, false)
	if primary.san() {
		// The destination's LUN came with the baseline, a LUN of its own: its serial, no maps.
		src, dst := primary.lunInfo(t, srcVol), secondary.lunInfo(t, dstVol)
		if dst.Serial == src.Serial || dst.UUID == src.UUID || dst.Mapped || dst.Size != src.Size {
			t.Errorf("destination LUN %+v, source LUN %+v", dst, src)
		}
	}
	return primary, secondary
}

func (s *side) tamu(t *testing.T, name, tmr, snapshot string) {
	t.Helper()
	obj := &tridentv1.TridentActionMirrorUpdate{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec:       tridentv1.TridentActionMirrorUpdateSpec{TridentMirrorRelationshipName: tmr, SnapshotHandle: snapshot},
	}
	if err := cp.Client.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func (s *side) waitTAMU(t *testing.T, name string, state tridentv1.ActionState) tridentv1.TridentActionMirrorUpdateStatus {
	t.Helper()
	var last tridentv1.TridentActionMirrorUpdateStatus
	if !wait.Until(30*time.Second, func() bool {
		obj := &tridentv1.TridentActionMirrorUpdate{}
		if cp.Client.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: name}, obj) == nil {
			last = obj.Status
		}
		return last.State == state
	}) {
		t.Fatalf("TAMU %s did not reach %q; last status %+v", name, state, last)
	}
	return last
}

func TestMirrorUpdate(t *testing.T) { forKinds(t, mirrorUpdate) }

func mirrorUpdate(t *testing.T, kind string) {
	primary, secondary := mirrored(t, kind)
	primary.mustWrite(t, srcVol, "app.db", "v2")
	primary.mustWrite(t, srcVol, "new.txt", "after the baseline")
	secondary.cluster.ResetRequests()
	secondary.tamu(t, "update-1", "csi-nas", "")
	st := secondary.waitTAMU(t, "update-1", tridentv1.ActionStateSucceeded)
	if n := secondary.cluster.Requests()["POST /snapmirror/relationships/{id}/transfers"]; n != 1 {
		t.Errorf("%d transfers started, want 1", n)
	}
	if st.CompletionTime == nil || st.PreviousTransferTime == nil || st.CompletionTime.Before(st.PreviousTransferTime) ||
		st.LocalVolumeHandle != "drvserver:"+dstVol || st.RemoteVolumeHandle != "datavserver:"+srcVol {
		t.Errorf("status %+v", st)
	}
	want := primary.files(t, srcVol)
	if got := secondary.files(t, dstVol); !maps.Equal(got, want) {
		t.Errorf("after the update: %v, want %v", got, want)
	}
	// The finalizer goes once the update ended (removed right after the status is written).
	obj := &tridentv1.TridentActionMirrorUpdate{}
	if !eventually(5*time.Second, func() bool {
		return cp.Client.Get(context.Background(), client.ObjectKey{Namespace: secondary.ns, Name: "update-1"}, obj) == nil && len(obj.Finalizers) == 0
	}) {
		t.Errorf("finalizers left: %v", obj.Finalizers)
	}

	// An update of a promoted relationship fails, saying why.
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	secondary.wait(t, "csi-nas", "promoted")
	secondary.tamu(t, "update-2", "csi-nas", "")
	if st := secondary.waitTAMU(t, "update-2", tridentv1.ActionStateFailed); !strings.Contains(st.Message, `is "promoted": an update needs it established or reestablished`) {
		t.Errorf("status %+v", st)
	}
	secondary.tamu(t, "update-3", "no-such-tmr", "")
	if st := secondary.waitTAMU(t, "update-3", tridentv1.ActionStateFailed); !strings.Contains(st.Message, "does not exist") {
		t.Errorf("status %+v", st)
	}
}

// TestMirrorUpdateSurvivesRestart: the controller restarts while the transfer runs; the
// update still ends Succeeded.
func TestMirrorUpdateSurvivesRestart(t *testing.T) { forKinds(t, mirrorUpdateSurvivesRestart) }

func mirrorUpdateSurvivesRestart(t *testing.T, kind string) {
	primary, secondary := mirrored(t, kind)
	secondary.cluster.SetTransferDelay(time.Second)
	primary.mustWrite(t, srcVol, "slow.txt", "arrives after a restart")
	secondary.tamu(t, "update", "csi-nas", "")
	secondary.waitTAMU(t, "update", tridentv1.ActionStateInProgress)
	secondary.stop()
	secondary.stop = secondary.start(t)
	secondary.waitTAMU(t, "update", tridentv1.ActionStateSucceeded)
	if got := secondary.files(t, dstVol); got["slow.txt"] != "arrives after a restart" {
		t.Errorf("after the update: %v", got)
	}
}

// snapshot does what csi-snapshotter and snapshot-controller do: CreateSnapshot through the
// driver, then a bound, ready VolumeSnapshot and VolumeSnapshotContent.
func (s *side) snapshot(t *testing.T, pv, pvc, name string) string {
	t.Helper()
	ctx := context.Background()
	resp, err := s.driver.CreateSnapshot(ctx, &csispec.CreateSnapshotRequest{Name: "snapshot-" + name, SourceVolumeId: pv})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetSnapshot().GetSnapshotId()
	content := &snapshotv1.VolumeSnapshotContent{
		ObjectMeta: metav1.ObjectMeta{Name: "snapcontent-" + name + "-" + s.ns},
		Spec: snapshotv1.VolumeSnapshotContentSpec{
			Driver: csi.DefaultDriverName, DeletionPolicy: snapshotv1.VolumeSnapshotContentDelete,
			Source:            snapshotv1.VolumeSnapshotContentSource{SnapshotHandle: ptr.To(id)},
			VolumeSnapshotRef: corev1.ObjectReference{Namespace: s.ns, Name: name},
		},
	}
	if err := cp.Client.Create(ctx, content); err != nil {
		t.Fatal(err)
	}
	content.Status = &snapshotv1.VolumeSnapshotContentStatus{SnapshotHandle: ptr.To(id), ReadyToUse: ptr.To(true)}
	if err := cp.Client.Status().Update(ctx, content); err != nil {
		t.Fatal(err)
	}
	vs := &snapshotv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec:       snapshotv1.VolumeSnapshotSpec{Source: snapshotv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To(pvc)}},
	}
	if err := cp.Client.Create(ctx, vs); err != nil {
		t.Fatal(err)
	}
	vs.Status = &snapshotv1.VolumeSnapshotStatus{BoundVolumeSnapshotContentName: ptr.To(content.Name), ReadyToUse: ptr.To(true)}
	if err := cp.Client.Status().Update(ctx, vs); err != nil {
		t.Fatal(err)
	}
	return id
}

// waitHandle polls a snapshot info of either kind until it reports a handle.
func waitHandle(t *testing.T, obj client.Object, status func() *tridentv1.SnapshotInfoStatus) tridentv1.SnapshotInfoStatus {
	t.Helper()
	wait.For(t, 30*time.Second, obj.GetName()+" gets a snapshot handle", func() bool {
		return cp.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj) == nil && status().SnapshotHandle != ""
	})
	return *status()
}

// TestPlannedFailoverWithSnapshotInfo walks section 5: snapshot on the primary, its handle from
// SnapshotInfo (and TridentSnapshotInfo), promotion of the secondary to it, zero bytes lost.
func TestPlannedFailoverWithSnapshotInfo(t *testing.T) { forKinds(t, plannedFailoverWithSnapshotInfo) }

func plannedFailoverWithSnapshotInfo(t *testing.T, kind string) {
	primary, secondary := mirrored(t, kind)
	ctx := context.Background()
	// A SnapshotInfo created before its VolumeSnapshot says what it waits for.
	si := &tridentv1.SnapshotInfo{ObjectMeta: metav1.ObjectMeta{Name: "csi-nas", Namespace: primary.ns}, Spec: tridentv1.SnapshotInfoSpec{SnapshotName: "csi-nas-snapshot"}}
	if err := cp.Client.Create(ctx, si); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(si.Status.Message, "VolumeSnapshot csi-nas-snapshot does not exist") {
		if time.Now().After(deadline) {
			t.Fatalf("status before the snapshot: %+v", si.Status)
		}
		time.Sleep(20 * time.Millisecond)
		cp.Client.Get(ctx, client.ObjectKeyFromObject(si), si)
	}

	primary.mustWrite(t, srcVol, "app.db", "final state before the migration")
	want := primary.checksum(t, srcVol)
	id := primary.snapshot(t, srcPV, "csi-nas", "csi-nas-snapshot")
	// Writes after the snapshot are not part of the migration.
	primary.mustWrite(t, srcVol, "late.txt", "after the snapshot")

	st := waitHandle(t, si, func() *tridentv1.SnapshotInfoStatus { return &si.Status })
	if st.SnapshotHandle != id || st.SnapshotHandle != srcPV+"/snapshot-csi-nas-snapshot" || st.LastTransitionTime == nil || st.ObservedGeneration != si.Generation {
		t.Errorf("SnapshotInfo status %+v, want handle %s", st, id)
	}
	tsi := &tridentv1.TridentSnapshotInfo{ObjectMeta: metav1.ObjectMeta{Name: "csi-nas", Namespace: primary.ns}, Spec: tridentv1.TridentSnapshotInfoSpec{SnapshotName: "csi-nas-snapshot"}}
	if err := cp.Client.Create(ctx, tsi); err != nil {
		t.Fatal(err)
	}
	if st := waitHandle(t, tsi, func() *tridentv1.SnapshotInfoStatus { return &tsi.Status }); st.SnapshotHandle != id {
		t.Errorf("TridentSnapshotInfo handle %q, want %s", st.SnapshotHandle, id)
	}

	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec.State = "promoted"
		o.Spec.VolumeMappings[0].PromotedSnapshotHandle = st.SnapshotHandle
	})
	secondary.wait(t, "csi-nas", "promoted")
	got := secondary.checksum(t, dstVol)
	if got != want {
		files := secondary.files(t, dstVol)
		t.Errorf("planned failover: destination %v differs from the source at the snapshot", files)
	}
}
