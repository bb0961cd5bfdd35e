package csi_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

// volumeOp is a CSI call the external-provisioner repeats until it succeeds.
type volumeOp struct {
	name string
	// kind is the backends' driver: ontap.DriverNAS or ontap.DriverSAN.
	kind string
	// setup makes the volumes the call starts from.
	setup func(t *testing.T, e *env)
	// driver starts a driver for the call (a new one each time, as after a restart).
	driver func(t *testing.T, e *env) *csi.Driver
	// do is the CSI call.
	do func(ctx context.Context, d *csi.Driver) error
	// target is the cluster the call talks to.
	target func(e *env) *sim.Cluster
	// volumes are the "svm:volume" names on the target once the call has succeeded, given
	// those before it.
	volumes func(before []string) []string
}

const (
	srcVol = "svm1:trident_pvc_src"
	dstVol = "svm2:trident_pvc_dst"
)

var destination = fakeMirrors{"dst": {Relationship: "m", RemoteVolumeHandle: srcVol}}

// kindReq is a CreateVolume for a backend of kind: a filesystem many nodes write on NFS, one
// node on a LUN.
func kindReq(kind, name string, params map[string]string) *csispec.CreateVolumeRequest {
	if kind == ontap.DriverSAN {
		return sanReq(name, params)
	}
	return createReq(name, params)
}

// mirrored creates the source and its DP destination through the driver, on backends of kind,
// and mirrors them, with data on the source: a file, or bytes in its LUN.
func mirrored(t *testing.T, e *env, kind string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.driver(t, nil, e.kind(e.svm1, kind)).CreateVolume(ctx, kindReq(kind, "pvc-src", map[string]string{"trident.netapp.io/replication": "true"})); err != nil {
		t.Fatal(err)
	}
	if kind == ontap.DriverSAN {
		if err := e.primary.WriteLUN("svm1", "trident_pvc_src", "lun0", 0, []byte("orders v1")); err != nil {
			t.Fatal(err)
		}
	} else {
		e.primary.WriteFile("svm1", "trident_pvc_src", "orders.db", "v1")
	}
	if _, err := e.driver(t, destination, e.kind(e.svm2, kind)).CreateVolume(ctx, kindReq(kind, "pvc-dst", map[string]string{"csi.storage.k8s.io/pvc/name": "dst"})); err != nil {
		t.Fatal(err)
	}
	api := client(t, e, e.secondary)
	if _, job, err := api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: srcVol, Destination: dstVol, Policy: "MirrorAllSnapshots"}); err != nil || api.WaitJob(ctx, job) != nil {
		t.Fatal(err)
	}
	rel, _ := api.GetRelationship(ctx, dstVol)
	if job, err := api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}); err != nil || api.WaitJob(ctx, job) != nil {
		t.Fatal(err)
	}
	// The baseline transfer takes its time: wait for it, as the clock runs.
	for rel, _ = api.GetRelationship(ctx, dstVol); rel.State != ontap.Snapmirrored; rel, _ = api.GetRelationship(ctx, dstVol) {
		if rel.Transfer != nil && !rel.Transfer.State.Active() {
			t.Fatalf("baseline: %+v", rel.Transfer)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func plus(v string) func([]string) []string {
	return func(before []string) []string {
		out := append(slices.Clone(before), v)
		slices.Sort(out)
		return slices.Compact(out)
	}
}

func minus(v string) func([]string) []string {
	return func(before []string) []string {
		return slices.DeleteFunc(slices.Clone(before), func(s string) bool { return s == v })
	}
}

// volumeOps are the volume calls of both backend kinds.
var volumeOps = slices.Concat(volumeOpsOf(ontap.DriverNAS), volumeOpsOf(ontap.DriverSAN))

// volumeOpsOf are the volume calls on backends of kind: create and delete, of a plain volume,
// of a DP destination, and of a mirrored source and destination.
func volumeOpsOf(kind string) []volumeOp {
	on := func(e *env, b ontap.BackendConfig) ontap.BackendConfig { return e.kind(b, kind) }
	create := func(name string, params map[string]string) func(ctx context.Context, d *csi.Driver) error {
		return func(ctx context.Context, d *csi.Driver) error {
			_, err := d.CreateVolume(ctx, kindReq(kind, name, params))
			return err
		}
	}
	remove := func(id string) func(ctx context.Context, d *csi.Driver) error {
		return func(ctx context.Context, d *csi.Driver) error {
			_, err := d.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: id})
			return err
		}
	}
	made := func(name string, params map[string]string) func(t *testing.T, e *env) {
		return func(t *testing.T, e *env) {
			if err := create(name, params)(context.Background(), e.driver(t, nil, on(e, e.svm1))); err != nil {
				t.Fatal(err)
			}
		}
	}
	plain := func(t *testing.T, e *env) *csi.Driver { return e.driver(t, nil, on(e, e.svm1)) }
	mirror := func(t *testing.T, e *env) *csi.Driver { return e.driver(t, destination, on(e, e.svm2)) }
	primary := func(e *env) *sim.Cluster { return e.primary }
	secondary := func(e *env) *sim.Cluster { return e.secondary }
	ops := []volumeOp{{
		name: "create", setup: func(*testing.T, *env) {}, driver: plain,
		do:     create("pvc-new", map[string]string{"trident.netapp.io/replication": "true"}),
		target: primary, volumes: plus("svm1:trident_pvc_new"),
	}, {
		name: "create destination", setup: made("pvc-src", map[string]string{"trident.netapp.io/replication": "true"}), driver: mirror,
		do:     create("pvc-dst", map[string]string{"csi.storage.k8s.io/pvc/name": "dst"}),
		target: secondary, volumes: plus(dstVol),
	}, {
		name: "delete", setup: made("pvc-old", nil), driver: plain,
		do: remove("pvc-old"), target: primary, volumes: minus("svm1:trident_pvc_old"),
	}, {
		name: "delete destination", setup: func(t *testing.T, e *env) { mirrored(t, e, kind) }, driver: mirror,
		do: remove("pvc-dst"), target: secondary, volumes: minus(dstVol),
	}, {
		name: "delete source", setup: func(t *testing.T, e *env) { mirrored(t, e, kind) }, driver: plain,
		do: remove("pvc-src"), target: primary, volumes: minus(srcVol),
	}}
	for i := range ops {
		ops[i].name, ops[i].kind = kind+"/"+ops[i].name, kind
	}
	return ops
}

// state is what a volume call must leave as it was, or as it says.
type state struct {
	primary, secondary []string
	content            map[string]map[string]string
}

// capture reads the volumes of both clusters and their content: their files, and the
// checksum of the bytes of their LUN, lun0, where they have one.
func capture(e *env) state {
	s := state{primary: e.primary.VolumeNames(), secondary: e.secondary.VolumeNames(), content: map[string]map[string]string{}}
	for _, c := range []*sim.Cluster{e.primary, e.secondary} {
		for _, v := range c.VolumeNames() {
			svm, vol, _ := ontap.SplitPath(v)
			s.content[v], _ = c.Files(svm, vol)
			if sum, err := c.LUNChecksum(svm, vol, "lun0"); err == nil {
				s.content[v]["LUN lun0"] = sum
			}
		}
	}
	return s
}

// settled checks the volumes after the call succeeded: exactly the expected ones, none
// duplicated or orphaned, every surviving volume with its content, and no relationship whose
// destination is gone.
func settled(t *testing.T, e *env, op volumeOp, before state) {
	t.Helper()
	after := capture(e)
	wantP, wantS := before.primary, before.secondary
	if op.target(e) == e.primary {
		wantP = op.volumes(before.primary)
	} else {
		wantS = op.volumes(before.secondary)
	}
	if !slices.Equal(after.primary, wantP) || !slices.Equal(after.secondary, wantS) {
		t.Errorf("volumes: primary %v, secondary %v; want %v and %v", after.primary, after.secondary, wantP, wantS)
	}
	for v, files := range before.content {
		if got, ok := after.content[v]; ok && !maps.Equal(got, files) {
			t.Errorf("%s: content %v, was %v", v, got, files)
		}
	}
	if op.kind == ontap.DriverSAN {
		// A read-write FlexVol that the call made holds its LUN: none is left half-made (a DP
		// destination gets its LUN with the baseline).
		c := op.target(e)
		for _, v := range op.volumes(nil) {
			svm, vol, _ := ontap.SplitPath(v)
			if info, err := c.Volume(svm, vol); err == nil && info.Type == ontap.VolumeRW {
				if _, err := c.LUN(svm, vol, "lun0"); err != nil {
					t.Errorf("%s has no LUN: %v", v, err)
				}
			}
		}
	}
	rels, err := client(t, e, e.secondary).ListRelationships(context.Background(), ontap.RelationshipFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rels {
		if !slices.Contains(after.secondary, r.Destination) {
			t.Errorf("relationship %s -> %s outlived its destination", r.Source, r.Destination)
		}
	}
	if len(rels) > 1 {
		t.Errorf("%d relationships", len(rels))
	}
}

// retryable is what the provisioner sees while ONTAP fails: a code it retries, never OK,
// never a code that ends the provisioning (InvalidArgument, AlreadyExists, NotFound...).
func retryable(err error) bool {
	switch code(err) {
	case codes.Unavailable, codes.Internal, codes.DeadlineExceeded, codes.Aborted, codes.Canceled, codes.Unknown:
		return true
	}
	return false
}

// realistic is the simulator's realistic timings on a clock 200 times as fast as real time:
// a volume create's job takes 4.5 simulated seconds, 22 ms of the test's time.
func realistic() sim.Options {
	opts := sim.RealisticTimings()
	opts.ClockRate = 200
	return opts
}

type volumeFault struct {
	name         string
	apply, clear func(c *sim.Cluster)
	// deadline is the provisioner's timeout for calls under the fault.
	deadline time.Duration
	// works: the call succeeds under the fault.
	works bool
}

func mutations(c *sim.Cluster, f sim.Fault) {
	for _, m := range []string{"POST", "PATCH", "DELETE"} {
		f.Method = m
		c.InjectFault(f)
	}
}

var volumeFaults = []volumeFault{
	{name: "5xx", apply: func(c *sim.Cluster) { mutations(c, sim.Fault{Status: 500}) }, clear: (*sim.Cluster).ClearFaults},
	{name: "timeout", apply: func(c *sim.Cluster) { mutations(c, sim.Fault{Hang: 5 * time.Second}) }, clear: (*sim.Cluster).ClearFaults, deadline: 300 * time.Millisecond},
	{name: "connection refused", apply: func(c *sim.Cluster) { c.SetDown(true) }, clear: func(c *sim.Cluster) { c.SetDown(false) }, deadline: time.Second},
	{name: "black-holed", apply: func(c *sim.Cluster) { c.SetBlackHoled(true) }, clear: func(c *sim.Cluster) { c.SetBlackHoled(false) }, deadline: 300 * time.Millisecond},
	{name: "failed job", apply: func(c *sim.Cluster) { mutations(c, sim.Fault{FailJob: true, Code: "460770", Message: "Job failed."}) }, clear: (*sim.Cluster).ClearFaults},
	{name: "lost answer", apply: func(c *sim.Cluster) { mutations(c, sim.Fault{LoseAnswer: true, Times: 1}) }, clear: (*sim.Cluster).ClearFaults},
	// Every job outlasts the 5 s a call waits for it (return_timeout): the driver follows it.
	{name: "jobs outlast their calls", apply: func(c *sim.Cluster) { c.Fabric().SetJobDurations(slowJobs) }, clear: func(c *sim.Cluster) {}, works: true},
}

// slowJobs are jobs of every kind that take 8 s.
var slowJobs = sim.JobDurations{
	Queued: 2 * time.Second, VolumeCreate: 6 * time.Second, VolumeModify: 6 * time.Second, VolumeDelete: 6 * time.Second,
	SnapshotCreate: 6 * time.Second, SnapshotDelete: 6 * time.Second,
	RelationshipCreate: 6 * time.Second, RelationshipModify: 6 * time.Second, RelationshipDelete: 6 * time.Second,
}

func (op volumeOp) call(ctx context.Context, t *testing.T, e *env) error {
	return op.do(ctx, op.driver(t, e))
}

// retryUntil repeats the call as the provisioner does until it succeeds.
func retryUntil(t *testing.T, e *env, op volumeOp) {
	t.Helper()
	// As the provisioner does: again, after a pause, while the answer says to retry (a job of
	// the call under the fault may still be running: ONTAP answers busy until it ends).
	var err error
	if !wait.Until(10*time.Second, func() bool {
		err = op.call(context.Background(), t, e)
		return err == nil || !retryable(err)
	}) || err != nil {
		t.Fatalf("%s does not succeed once the fault cleared: %v", op.name, err)
	}
}

// TestVolumeFaultMatrix crosses the faults with volume create and delete (plain, DP
// destination, mirrored source and destination), on ontap-nas and ontap-san backends. The
// cases run in parallel (as many at once as -parallel allows): each has its fabric, and spends
// its time waiting for ONTAP's simulated jobs.
func TestVolumeFaultMatrix(t *testing.T) {
	for _, op := range volumeOps {
		for _, ft := range volumeFaults {
			t.Run(op.name+"/"+ft.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, realistic())
				op.setup(t, e)
				before := capture(e)
				c := op.target(e)
				d := op.driver(t, e) // running before the fault
				ft.apply(c)
				ctx, cancel := context.Background(), func() {}
				if ft.deadline > 0 {
					ctx, cancel = context.WithTimeout(ctx, ft.deadline)
				}
				err := op.do(ctx, d)
				cancel()
				if ft.works && err != nil {
					t.Errorf("under the fault: %v, want a success", err)
				}
				if ft.name != "lost answer" && !ft.works && !retryable(err) {
					t.Errorf("under the fault: %v (code %s), want a code the provisioner retries", err, code(err))
				}
				ft.clear(c)
				retryUntil(t, e, op)
				settled(t, e, op, before)
			})
		}
	}
}

// TestVolumeCrashAtEveryStep kills the driver after its k-th ONTAP call of each volume call
// (that call takes effect, its answer is lost, nothing after it reaches ONTAP); a new driver
// then repeats the call, as the provisioner does, and the volumes must be as asked. Both
// backend kinds; the crash points run in parallel, as the fault matrix's cases do.
func TestVolumeCrashAtEveryStep(t *testing.T) {
	total := 0
	for _, op := range volumeOps {
		e := newEnv(t, realistic())
		op.setup(t, e)
		c := op.target(e)
		d := op.driver(t, e)
		c.ResetRequests()
		if err := op.do(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		calls := c.Requests()["total"]
		for k := 1; k <= calls; k++ {
			total++
			t.Run(fmt.Sprintf("%s/after call %d of %d", op.name, k, calls), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, realistic())
				op.setup(t, e)
				before := capture(e)
				c := op.target(e)
				// The driver opens its backend before the faults: they count the call's requests.
				d := op.driver(t, e)
				c.InjectFault(sim.Fault{After: k, Drop: true})
				c.InjectFault(sim.Fault{After: k - 1, Times: 1, LoseAnswer: true})
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				op.do(ctx, d)
				cancel()
				c.ClearFaults()
				retryUntil(t, e, op)
				settled(t, e, op, before)
			})
		}
	}
	t.Logf("%d crash points over %d volume calls", total, len(volumeOps))
}

// TestTwoReplicasAtOnce: two driver replicas (each serves CSI) get the same call at once,
// as after a sidecar failover: create a volume, snapshot it, delete the snapshot, delete the
// volume. Both succeed, with the same answer, and ONTAP holds one of each, then none.
func TestTwoReplicasAtOnce(t *testing.T) {
	e := newEnv(t, sim.Options{Latency: 20 * time.Millisecond})
	replicas := []*csi.Driver{e.driver(t, nil, e.svm1), e.driver(t, nil, e.svm1)}
	const flexvol = "trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1"
	both := func(call func(d *csi.Driver) (string, error)) {
		t.Helper()
		ids, errs := make([]string, 2), make([]error, 2)
		var wg sync.WaitGroup
		for i, d := range replicas {
			wg.Go(func() { ids[i], errs[i] = call(d) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || ids[0] != ids[1] {
			t.Errorf("replicas answered %q, %v and %q, %v", ids[0], errs[0], ids[1], errs[1])
		}
	}
	ctx := context.Background()
	both(func(d *csi.Driver) (string, error) {
		resp, err := d.CreateVolume(ctx, createReq(pv, nil))
		return resp.GetVolume().GetVolumeId(), err
	})
	if got := e.primary.VolumeNames(); !slices.Equal(got, []string{"svm1:" + flexvol}) {
		t.Errorf("volumes %v", got)
	}
	both(func(d *csi.Driver) (string, error) {
		resp, err := d.CreateSnapshot(ctx, &csispec.CreateSnapshotRequest{Name: "snapshot-1", SourceVolumeId: pv})
		return resp.GetSnapshot().GetSnapshotId(), err
	})
	if v, _ := e.primary.Volume("svm1", flexvol); !slices.Equal(v.Snapshots, []string{"snapshot-1"}) {
		t.Errorf("snapshots %v", v.Snapshots)
	}
	both(func(d *csi.Driver) (string, error) {
		_, err := d.DeleteSnapshot(ctx, &csispec.DeleteSnapshotRequest{SnapshotId: pv + "/snapshot-1"})
		return "", err
	})
	both(func(d *csi.Driver) (string, error) {
		_, err := d.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: pv})
		return "", err
	})
	if got := e.primary.VolumeNames(); len(got) != 0 {
		t.Errorf("left: %v", got)
	}
}
