package frontend_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	"github.com/snapmirror-csi/snapmirror-csi/frontend"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

// side is one site: a namespace standing for its Kubernetes cluster, its simulated ONTAP
// cluster, its CSI driver and its own manager running the TMR controller.
type side struct {
	ns       string
	fabric   *sim.Fabric
	cluster  *sim.Cluster
	svm      string
	driver   *csi.Driver
	backend  *ontap.Backend
	backends map[string]*ontap.Backend
	peers    []*ontap.Peer
	// kind is the backend's driver: ontap.DriverNAS or ontap.DriverSAN.
	kind string
	// stop stops the side's manager.
	stop func()
}

// startSide starts a site whose one backend, of kind ontap.DriverNAS or ontap.DriverSAN, is
// svm on cluster c.
func startSide(t *testing.T, f *sim.Fabric, c *sim.Cluster, svm, kind string) *side {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	u, p := f.Credentials()
	os.WriteFile(filepath.Join(dir, "username"), []byte(u), 0o600)
	os.WriteFile(filepath.Join(dir, "password"), []byte(p), 0o600)
	os.WriteFile(filepath.Join(dir, "ca.pem"), c.CA(), 0o600)
	cfg := &ontap.DriverConfig{Backends: []ontap.BackendConfig{{
		Name: svm, Driver: kind, ManagementLIF: c.Address(), SVM: svm, Aggregates: []string{"aggr1"},
		CAFile: filepath.Join(dir, "ca.pem"), Credentials: ontap.CredentialsRef{File: dir},
		ReplicationPolicy: "MirrorAllSnapshots", ReplicationSchedule: "5min",
	}}}
	backends, err := ontap.OpenBackends(ctx, cfg, ontap.OpenOptions{JobPoll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &side{ns: newNamespace(t), fabric: f, cluster: c, svm: svm, backend: backends[0], kind: kind}
	if s.driver, err = csi.NewDriver(csi.Config{Backends: backends, Mirrors: frontend.Mirrors{Reader: cp.Client}, Log: logr.Discard()}); err != nil {
		t.Fatal(err)
	}
	s.backends = map[string]*ontap.Backend{svm: backends[0]}
	s.stop = s.start(t)
	return s
}

// start runs the side's manager with every controller, until the returned stop is called
// (or the test ends): a restart is stop, then start.
func (s *side) start(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// The production cache options (trimmed PVCs and PVs), limited to the side's namespace.
	cacheOpts := frontend.CacheOptions()
	cacheOpts.DefaultNamespaces = map[string]cache.Config{s.ns: {}}
	mgr, err := ctrl.NewManager(cp.Config(), ctrl.Options{
		Scheme: cp.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:      cacheOpts,
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	vols := frontend.Volumes{Client: mgr.GetClient(), DriverName: csi.DefaultDriverName, Backends: s.backends, Peers: s.peers}
	events := mgr.GetEventRecorder("snapmirror-csi")
	for _, r := range []interface{ SetupWithManager(ctrl.Manager) error }{
		&frontend.TMRReconciler{Client: mgr.GetClient(), Events: events, Volumes: vols, Recheck: time.Second, Cache: &mirror.Cache{MaxAge: time.Second}, JobPoll: 10 * time.Second},
		&frontend.TAMUReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Events: events, Volumes: vols, Poll: 100 * time.Millisecond},
		&frontend.SnapshotInfoReconciler{Client: mgr.GetClient(), DriverName: csi.DefaultDriverName},
		&frontend.SnapshotInfoReconciler{Client: mgr.GetClient(), DriverName: csi.DefaultDriverName, Trident: true},
	} {
		if err := r.SetupWithManager(mgr); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { mgr.Start(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// provision does what external-provisioner and kube-controller-manager do: CreateVolume
// through the driver, then a PV and a bound PVC, of the side's kind.
func (s *side) provision(t *testing.T, pvName, pvcName string, annotations map[string]string) *csispec.Volume {
	t.Helper()
	ctx := context.Background()
	mode, csiMode := s.access()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: pvcName, Namespace: s.ns, Annotations: annotations},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{mode}, StorageClassName: ptr.To("csi-nas"),
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := cp.Client.Create(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	resp, err := s.driver.CreateVolume(ctx, &csispec.CreateVolumeRequest{
		Name: pvName, CapacityRange: &csispec.CapacityRange{RequiredBytes: 1 << 30},
		VolumeCapabilities: []*csispec.VolumeCapability{{AccessType: &csispec.VolumeCapability_Mount{Mount: &csispec.VolumeCapability_MountVolume{}}, AccessMode: &csispec.VolumeCapability_AccessMode{Mode: csiMode}}},
		Parameters:         map[string]string{"trident.netapp.io/replication": "true", "csi.storage.k8s.io/pvc/name": pvcName, "csi.storage.k8s.io/pvc/namespace": s.ns},
	})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", pvName, err)
	}
	// PVs are cluster-wide and the tests share one API server: the object's name is made
	// unique per test, the CSI volume handle stays the driver's.
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName + "-" + s.ns},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{mode}, StorageClassName: "csi-nas",
			ClaimRef:               &corev1.ObjectReference{Namespace: s.ns, Name: pvcName},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: csi.DefaultDriverName, VolumeHandle: pvName, VolumeAttributes: resp.GetVolume().GetVolumeContext()}},
		},
	}
	if err := cp.Client.Create(ctx, pv); err != nil {
		t.Fatal(err)
	}
	pvc.Spec.VolumeName = pv.Name
	if err := cp.Client.Update(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	pvc.Status.Phase = corev1.ClaimBound
	if err := cp.Client.Status().Update(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	return resp.GetVolume()
}

func (s *side) tmr(t *testing.T, name string, mutate func(*tridentv1.TridentMirrorRelationship)) {
	t.Helper()
	ctx := context.Background()
	obj := &tridentv1.TridentMirrorRelationship{}
	err := cp.Client.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, obj)
	if err != nil {
		obj = &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns}}
		mutate(obj)
		if err := cp.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		return
	}
	// A merge patch of the spec, as kubectl apply makes: the controller's status writes do
	// not conflict with it.
	orig := obj.DeepCopy()
	mutate(obj)
	if err := cp.Client.Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
}

// wait polls the TMR until its status shows state for its current generation.
func (s *side) wait(t *testing.T, name string, state tridentv1.MirrorState) tridentv1.TridentMirrorRelationshipCondition {
	t.Helper()
	var last tridentv1.TridentMirrorRelationshipCondition
	if !wait.Until(30*time.Second, func() bool {
		obj := &tridentv1.TridentMirrorRelationship{}
		if err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: name}, obj); err == nil && len(obj.Status.Conditions) == 1 {
			last = obj.Status.Conditions[0]
			return last.State == state && last.ObservedGeneration == obj.Generation
		}
		return false
	}) {
		t.Fatalf("TMR %s/%s did not reach %s; last status %+v", s.ns, name, state, last)
	}
	return last
}

// TestWorkflow walks shared/docs/workflow.md sections 1 to 7 with two sites; sections 1 and 2
// are mirrored(). It runs twice: with instant jobs and transfers and the primary's ONTAP
// refusing connections in the outage, and with the simulator's realistic timings (on a clock
// 200 times real time) and the primary's ONTAP black-holed: every call to it waits for a
// timeout, and the surviving site must still promote. Each runs with ontap-nas and ontap-san
// volumes.
func TestWorkflow(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts sim.Options
		down func(c *sim.Cluster, down bool) error
	}{
		{"instant timings, primary refusing connections", sim.Options{}, (*sim.Cluster).SetDown},
		{"realistic timings, primary black-holed", realistic(), (*sim.Cluster).SetBlackHoled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forKinds(t, func(t *testing.T, kind string) { workflow(t, kind, tc.opts, tc.down) })
		})
	}
}

// realistic is the simulator's realistic timings on a clock 200 times real time: a job of
// 4.5 simulated seconds takes 22 ms, a transfer's 5 s setup 25 ms.
func realistic() sim.Options {
	opts := sim.RealisticTimings()
	opts.ClockRate = 200
	return opts
}

func workflow(t *testing.T, kind string, opts sim.Options, setDown func(c *sim.Cluster, down bool) error) {
	primary, secondary := mirroredWith(t, kind, opts)
	pc := primary.cluster

	// Drift: a break on ONTAP behind the controller's back is reported, never undone.
	rel, err := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []ontap.RelationshipState{ontap.Paused, ontap.BrokenOff} {
		job, err := secondary.backend.ModifyRelationship(context.Background(), rel.UUID, ontap.RelationshipChange{State: st})
		if err == nil {
			err = secondary.backend.WaitJob(context.Background(), job)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if c := secondary.wait(t, "csi-nas", "promoted"); !strings.Contains(c.Message, "broken off") || !strings.Contains(c.Message, "set state reestablished") {
		t.Errorf("drift status %+v", c)
	}
	if r, _ := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol); r.State != ontap.BrokenOff {
		t.Errorf("the controller acted on the drift: %s", r.State)
	}

	// 4. Unplanned failover: the primary's ONTAP is down; promote the secondary.
	if err := setDown(pc, true); err != nil {
		t.Fatal(err)
	}
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "promoted" })
	secondary.wait(t, "csi-nas", "promoted")
	secondary.writable(t, dstVol, true)
	if err := secondary.write(dstVol, "during-outage", "discarded later"); err != nil {
		t.Errorf("the promoted volume is read-only: %v", err)
	}
	if err := setDown(pc, false); err != nil {
		t.Fatal(err)
	}

	// 6. Restore the mirror: reestablish on the secondary; its writes since the break go.
	primary.mustWrite(t, srcVol, "app.db", "v2")
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) { o.Spec.State = "reestablished" })
	secondary.wait(t, "csi-nas", "reestablished")
	if got := secondary.files(t, dstVol); !maps.Equal(got, map[string]string{"app.db": "v2"}) {
		t.Errorf("after reestablish: %v", got)
	}
	secondary.writable(t, dstVol, false)
	if err := secondary.write(dstVol, "after-reestablish", "refused"); err == nil {
		t.Error("the reestablished destination took a write")
	}

	// 5. Planned failover: snapshot on the primary, promote the secondary to it.
	primary.mustWrite(t, srcVol, "app.db", "v3-final")
	snap, err := primary.driver.CreateSnapshot(context.Background(), &csispec.CreateSnapshotRequest{Name: "snapshot-migrate", SourceVolumeId: srcPV})
	if err != nil {
		t.Fatal(err)
	}
	want, wantSum := primary.files(t, srcVol), primary.checksum(t, srcVol)
	// Written after the snapshot: the promotion restores the destination to the snapshot.
	primary.mustWrite(t, srcVol, "late.db", "after the snapshot")
	secondary.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec.State = "promoted"
		o.Spec.VolumeMappings[0].PromotedSnapshotHandle = snap.GetSnapshot().GetSnapshotId()
	})
	secondary.wait(t, "csi-nas", "promoted")
	if got := secondary.files(t, dstVol); !maps.Equal(got, want) || secondary.checksum(t, dstVol) != wantSum {
		t.Errorf("planned failover lost data: %v, want %v", got, want)
	}
	secondary.writable(t, dstVol, true)

	// 7. Delete the secondary's TMR: it is released and goes; the volume stays read-write.
	obj := &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Name: "csi-nas", Namespace: secondary.ns}}
	if err := cp.Client.Delete(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	secondary.waitReleased(t, "csi-nas")
	secondary.writable(t, dstVol, true)
	// Its relationship stays, broken off, for a later reestablish, until its PVC goes.
	if rel, err := secondary.backend.GetRelationship(context.Background(), "drvserver:"+dstVol); err != nil || rel.State != ontap.BrokenOff {
		t.Errorf("the destination's relationship after its TMR went: %+v, %v", rel, err)
	}
}

// TestInvalidPVC: a TMR naming a PVC of another driver is invalid, with an Event.
func TestInvalidPVC(t *testing.T) {
	f := sim.NewFabric(sim.Options{})
	t.Cleanup(f.Close)
	c, _ := f.AddCluster(sim.ClusterSpec{Name: "c", SVMs: []string{"svm1"}, Aggregates: []string{"aggr1"}})
	s := startSide(t, f, c, "svm1", ontap.DriverNAS)
	ctx := context.Background()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "foreign-" + s.ns},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "other.csi.example.com", VolumeHandle: "x"}},
		},
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: s.ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeName: pv.Name,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	for _, o := range []client.Object{pv, pvc} {
		if err := cp.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	pvc.Status.Phase = corev1.ClaimBound
	if err := cp.Client.Status().Update(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	s.tmr(t, "m", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec = tridentv1.TridentMirrorRelationshipSpec{State: "promoted", VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "data"}}}
	})
	if cond := s.wait(t, "m", "invalid"); !strings.Contains(cond.Message, "not provisioned by csi.trident.netapp.io") {
		t.Errorf("status %+v", cond)
	}
	waitEvent(t, s.ns, "m", tridentv1.ReasonInvalid, "not provisioned")
}

// waitEvent waits for a Warning Event about the named object with the reason and a note
// containing fragment.
// eventually polls ok until it holds or timeout passes, and reports whether it held.
func eventually(timeout time.Duration, ok func() bool) bool { return wait.Until(timeout, ok) }

// waitReleased waits until the side's TMR is gone: released, its finalizer removed.
func (s *side) waitReleased(t *testing.T, name string) {
	t.Helper()
	obj := &tridentv1.TridentMirrorRelationship{}
	if !eventually(30*time.Second, func() bool {
		return cp.Client.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: name}, obj) != nil
	}) {
		t.Fatalf("TMR %s/%s was not released: %+v", s.ns, name, obj.Status)
	}
}

func waitEvent(t *testing.T, ns, name, reason, fragment string) {
	t.Helper()
	waitEventOfType(t, corev1.EventTypeWarning, ns, name, reason, fragment)
}

// waitEventOfType waits for an Event of that type about the named object with the reason and
// a note containing fragment.
func waitEventOfType(t *testing.T, eventType, ns, name, reason, fragment string) {
	t.Helper()
	var evs eventsv1.EventList
	if !eventually(10*time.Second, func() bool {
		if err := cp.Client.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			if e.Reason == reason && e.Type == eventType && e.Regarding.Name == name && strings.Contains(e.Note, fragment) {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no %s %s event about %s with %q among %d events", eventType, reason, name, fragment, len(evs.Items))
	}
}

// TestDeleteWhileONTAPIsDown: deleting a TMR while its cluster does not answer keeps the TMR,
// with a failed status that says how to force the deletion, and a Warning Event; once the
// cluster is back, the release completes and the TMR goes.
func TestDeleteWhileONTAPIsDown(t *testing.T) { forKinds(t, deleteWhileONTAPIsDown) }

func deleteWhileONTAPIsDown(t *testing.T, kind string) {
	_, secondary := mirrored(t, kind)
	ctx := context.Background()
	if err := secondary.cluster.SetDown(true); err != nil {
		t.Fatal(err)
	}
	obj := &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Name: "csi-nas", Namespace: secondary.ns}}
	if err := cp.Client.Delete(ctx, obj); err != nil {
		t.Fatal(err)
	}
	var cond tridentv1.TridentMirrorRelationshipCondition
	if !wait.Until(20*time.Second, func() bool {
		if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatalf("the TMR went while ONTAP was down: %v", err)
		}
		if len(obj.Status.Conditions) == 1 {
			cond = obj.Status.Conditions[0]
		}
		return cond.State == "failed"
	}) {
		t.Fatalf("no failed status while deleting: %+v", cond)
	}
	for _, want := range []string{"deleting: release drvserver:" + dstVol, "connection refused", `kubectl patch tmr csi-nas -n ` + secondary.ns + ` --type=merge -p '{"metadata":{"finalizers":null}}'`} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("message %q lacks %q", cond.Message, want)
		}
	}
	waitEvent(t, secondary.ns, "csi-nas", tridentv1.ReasonFailed, "deleting: release")
	if err := secondary.cluster.SetDown(false); err != nil {
		t.Fatal(err)
	}
	secondary.waitReleased(t, "csi-nas")
	if rel, err := secondary.backend.GetRelationship(ctx, "drvserver:"+dstVol); err != nil || rel.State != ontap.BrokenOff {
		t.Errorf("the relationship after the TMR went: %+v, %v; want it broken off", rel, err)
	}
}
