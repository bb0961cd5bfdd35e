package mirror_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/ontaptest"
)

type site struct {
	*sim.Cluster
	api *ontap.Client
	// setup is a client with a long timeout, for what the test itself asks of ONTAP: api's
	// may be short, for the engine under faults, and a loaded machine may outlast it.
	setup *ontap.Client
}

// sites starts two peered clusters: primary (svm1) and secondary (svm2), with a mirrored
// pair of volumes svm1:v (read-write, with a file) and svm2:v (DP, empty).
func sites(t *testing.T) (*sim.Fabric, site, site) {
	t.Helper()
	return sitesWith(t, 10*time.Second)
}

// sitesWith is sites with a request timeout for the engine's clients.
func sitesWith(t *testing.T, timeout time.Duration) (*sim.Fabric, site, site) {
	t.Helper()
	return sitesTimed(t, sim.Options{}, timeout)
}

// sitesTimed is sitesWith on a fabric with opts' timings (sim.RealisticTimings, say), on a
// manual clock from 2026-01-01.
func sitesTimed(t *testing.T, opts sim.Options, timeout time.Duration) (*sim.Fabric, site, site) {
	t.Helper()
	opts.Manual, opts.Start = true, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := sim.NewFabric(opts)
	t.Cleanup(f.Close)
	var out []site
	for _, spec := range []sim.ClusterSpec{{Name: "primary", SVMs: []string{"svm1"}, Aggregates: []string{"a"}}, {Name: "secondary", SVMs: []string{"svm2"}, Aggregates: []string{"a"}}} {
		c, err := f.AddCluster(spec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, site{c, newClient(t, f, c, timeout), newClient(t, f, c, 10*time.Second)})
	}
	if err := f.PeerSVMs("svm1", "svm2"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, typ := range []string{ontap.VolumeRW, ontap.VolumeDP} {
		s := out[i]
		svm := map[int]string{0: "svm1", 1: "svm2"}[i]
		ontaptest.Settle(t, f, s.setup)(s.setup.CreateVolume(ctx, ontap.VolumeSpec{Name: "v", SVM: svm, Aggregate: "a", Size: 1 << 30, Type: typ}))
	}
	if err := out[0].WriteFile("svm1", "v", "a.txt", "alpha"); err != nil {
		t.Fatal(err)
	}
	return f, out[0], out[1]
}

// newClient connects to a simulated cluster with fast retries and a request timeout. ONTAP
// may hold a request until its job ends (return_timeout 5 s), so that a pass on the instant
// simulator does its steps in one go, and the tests pin each operation's calls; the engine's
// following of jobs over passes is tested on the realistic clock (reliability_test.go).
func newClient(t *testing.T, f *sim.Fabric, c *sim.Cluster, timeout time.Duration) *ontap.Client {
	t.Helper()
	u, p := f.Credentials()
	api, err := ontap.New(ontap.Config{Address: c.Address(), CA: c.CA(), RetryBaseDelay: time.Millisecond, RequestTimeout: timeout, ReturnTimeout: 5 * time.Second,
		Credentials: ontap.CredentialsFunc(func(context.Context) (ontap.Credentials, error) {
			return ontap.Credentials{Username: u, Password: p}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// run runs the engine against a site and returns the result and the REST calls it made.
func run(t *testing.T, s site, req mirror.Request) (mirror.Result, int) {
	t.Helper()
	s.ResetRequests()
	res := mirror.Run(context.Background(), s.api, req)
	return res, s.Requests()["total"]
}

func files(t *testing.T, s site, svm string) map[string]string {
	t.Helper()
	f, err := s.Files(svm, "v")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func establish(t *testing.T, secondary site) {
	t.Helper()
	res, calls := run(t, secondary, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Established, Policy: "MirrorAllSnapshots"})
	if res.Err != nil || res.State != mirror.Established {
		t.Fatalf("establish: %+v", res)
	}
	if calls > 5 {
		t.Errorf("establish took %d REST calls, budget 5", calls)
	}
	t.Logf("establish: %d REST calls", calls)
}

// TestEstablishPromoteReestablish walks the life of a mirror through the engine, checks
// content through the simulator and counts REST calls against the budgets.
func TestEstablishPromoteReestablish(t *testing.T) {
	_, primary, secondary := sites(t)
	establish(t, secondary)
	if got := files(t, secondary, "svm2"); !maps.Equal(got, map[string]string{"a.txt": "alpha"}) {
		t.Errorf("destination after establish: %v", got)
	}
	// Settled: one look, nothing else.
	res, calls := run(t, secondary, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Established, Policy: "MirrorAllSnapshots"})
	if res.State != mirror.Established || calls != 1 || len(res.Actions) != 0 {
		t.Errorf("re-check: %+v in %d calls", res, calls)
	}
	if res.Relationship == nil || res.Relationship.Lag == nil || res.Relationship.Healthy == nil || !*res.Relationship.Healthy {
		t.Errorf("status figures missing: %+v", res.Relationship)
	}

	res, calls = run(t, secondary, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Promoted})
	if res.Err != nil || res.State != mirror.Promoted {
		t.Fatalf("promote: %+v", res)
	}
	t.Logf("promote: %d REST calls", calls)
	if calls > 4 {
		t.Errorf("promote took %d REST calls, budget 4", calls)
	}
	if err := secondary.WriteFile("svm2", "v", "after-break", "discarded by reestablish"); err != nil {
		t.Errorf("the promoted volume is not writable: %v", err)
	}
	primary.WriteFile("svm1", "v", "b.txt", "beta")

	res, calls = run(t, secondary, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Reestablished, Policy: "MirrorAllSnapshots"})
	if res.Err != nil || res.State != mirror.Reestablished {
		t.Fatalf("reestablish: %+v", res)
	}
	t.Logf("reestablish: %d REST calls", calls)
	if calls > 5 {
		t.Errorf("reestablish took %d REST calls, budget 5", calls)
	}
	if got := files(t, secondary, "svm2"); !maps.Equal(got, map[string]string{"a.txt": "alpha", "b.txt": "beta"}) {
		t.Errorf("destination after reestablish: %v", got)
	}
}

// TestPlannedFailover promotes to a snapshot taken on the source: it arrives first, and the
// destination serves exactly its content.
func TestPlannedFailover(t *testing.T) {
	_, primary, secondary := sites(t)
	ctx := context.Background()
	establish(t, secondary)
	primary.WriteFile("svm1", "v", "final.txt", "last write before the migration")
	src, _ := primary.api.GetVolume(ctx, "svm1", "v")
	if job, err := primary.api.CreateSnapshot(ctx, src.UUID, "migration"); err != nil || primary.api.WaitJob(ctx, job) != nil {
		t.Fatal(err)
	}
	want := files(t, primary, "svm1")
	res, calls := run(t, secondary, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Promoted, PromotedSnapshot: "migration"})
	if res.Err != nil || res.State != mirror.Promoted {
		t.Fatalf("promote to a snapshot: %+v", res)
	}
	t.Logf("promote to a snapshot: %d REST calls (%v)", calls, res.Actions)
	if got := files(t, secondary, "svm2"); !maps.Equal(got, want) {
		t.Errorf("after planned failover: %v, want %v (nothing lost)", got, want)
	}
}

// TestUnplannedFailover promotes with the source's cluster down.
func TestUnplannedFailover(t *testing.T) {
	_, primary, secondary := sites(t)
	establish(t, secondary)
	if err := primary.SetDown(true); err != nil {
		t.Fatal(err)
	}
	res, _ := run(t, secondary, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Promoted})
	if res.Err != nil || res.State != mirror.Promoted {
		t.Fatalf("promote with the source down: %+v", res)
	}
	if err := secondary.WriteFile("svm2", "v", "x", "y"); err != nil {
		t.Errorf("not writable after failover: %v", err)
	}
}

// TestReverseAndFailback: after a failover, the old source becomes the destination of the new
// primary, then the direction flips back.
func TestReverseAndFailback(t *testing.T) {
	_, primary, secondary := sites(t)
	establish(t, secondary)
	run(t, secondary, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Promoted})
	secondary.WriteFile("svm2", "v", "written-at-dr-site", "keep me")

	// Reverse: svm2:v -> svm1:v, run on the primary's cluster.
	res, calls := run(t, primary, mirror.Request{Local: ontap.Path{SVM: "svm1", Volume: "v"}, Remote: "svm2:v", Desired: mirror.Reestablished, Policy: "MirrorAllSnapshots"})
	if res.Err != nil || res.State != mirror.Reestablished {
		t.Fatalf("reverse: %+v", res)
	}
	t.Logf("reverse reestablish: %d REST calls", calls)
	if got := files(t, primary, "svm1"); got["written-at-dr-site"] != "keep me" {
		t.Errorf("old primary after reverse resync: %v", got)
	}
	// Failback: promote the old primary, then make the DR site the destination again.
	if res, _ := run(t, primary, mirror.Request{Local: ontap.Path{SVM: "svm1", Volume: "v"}, Remote: "svm2:v", Desired: mirror.Promoted}); res.State != mirror.Promoted {
		t.Fatalf("promote the old primary: %+v", res)
	}
	primary.WriteFile("svm1", "v", "back-home", "yes")
	res, _ = run(t, secondary, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Reestablished, Policy: "MirrorAllSnapshots"})
	if res.Err != nil || res.State != mirror.Reestablished {
		t.Fatalf("failback: %+v", res)
	}
	if got := files(t, secondary, "svm2"); got["back-home"] != "yes" || got["written-at-dr-site"] != "keep me" {
		t.Errorf("DR site after failback: %v", got)
	}
}

// TestReestablishStranger: a volume never in a relationship with the source cannot be
// reestablished, and nothing is left behind.
func TestReestablishStranger(t *testing.T) {
	_, _, secondary := sites(t)
	ctx := context.Background()
	job, err := secondary.api.CreateVolume(ctx, ontap.VolumeSpec{Name: "stranger", SVM: "svm2", Aggregate: "a", Size: 1 << 30})
	if err == nil {
		err = secondary.api.WaitJob(ctx, job)
	}
	if err != nil {
		t.Fatal(err)
	}
	res, _ := run(t, secondary, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "stranger"}, Remote: "svm1:v", Desired: mirror.Reestablished})
	if res.Err == nil || !strings.Contains(res.Message, "never in a relationship with svm1:v") {
		t.Errorf("got %+v", res)
	}
	if _, err := secondary.api.GetRelationship(ctx, "svm2:stranger"); err == nil {
		t.Error("the failed reestablish left a relationship")
	}
}

// TestRelease: deleting the destination's TMR promotes it and keeps its relationship broken
// off; the source's releases its information; both keep their common snapshot for a later
// reestablish.
func TestRelease(t *testing.T) {
	_, primary, secondary := sites(t)
	ctx := context.Background()
	establish(t, secondary)
	if res := mirror.Release(ctx, secondary.api, ontap.Path{SVM: "svm2", Volume: "v"}, nil); res.Err != nil || res.State != mirror.Promoted {
		t.Fatalf("release the destination: %+v", res)
	}
	if rel, err := secondary.api.GetRelationship(ctx, "svm2:v"); err != nil || rel.State != ontap.BrokenOff {
		t.Errorf("the destination's relationship after its release: %+v, %v; want it kept, broken off", rel, err)
	}
	if res := mirror.Release(ctx, primary.api, ontap.Path{SVM: "svm1", Volume: "v"}, nil); res.Err != nil {
		t.Fatalf("release the source: %+v", res)
	}
	if v, _ := primary.api.GetVolume(ctx, "svm1", "v"); v.Protected {
		t.Error("the source still has a destination record")
	}
	// They can mirror again.
	res, _ := run(t, secondary, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Reestablished})
	if res.Err != nil || res.State != mirror.Reestablished {
		t.Errorf("reestablish after release: %+v", res)
	}
}

// TestSteadyState: re-checking settled relationships costs one list per cluster per
// interval, whatever their number.
func TestSteadyState(t *testing.T) {
	_, primary, secondary := sites(t)
	ctx := context.Background()
	const n = 20
	for i := range n {
		name := fmt.Sprintf("m%02d", i)
		for _, s := range []struct {
			site
			svm, typ string
		}{{primary, "svm1", ontap.VolumeRW}, {secondary, "svm2", ontap.VolumeDP}} {
			job, err := s.api.CreateVolume(ctx, ontap.VolumeSpec{Name: name, SVM: s.svm, Aggregate: "a", Size: 1 << 30, Type: s.typ})
			if err == nil {
				err = s.api.WaitJob(ctx, job)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if res := mirror.Run(ctx, secondary.api, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: name}, Remote: "svm1:" + name, Desired: mirror.Established}); res.State != mirror.Established {
			t.Fatalf("establish %s: %+v", name, res)
		}
	}
	cache := &mirror.Cache{MaxAge: time.Hour}
	secondary.ResetRequests()
	for round := range 3 {
		for i := range n {
			name := fmt.Sprintf("m%02d", i)
			res := mirror.Run(ctx, cache.Reads("b", "svm2", secondary.api), mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: name}, Remote: "svm1:" + name, Desired: mirror.Established})
			if res.State != mirror.Established || len(res.Actions) != 0 {
				t.Fatalf("round %d, %s: %+v", round, name, res)
			}
		}
	}
	if got := secondary.Requests(); got["total"] != 1 || got["GET /snapmirror/relationships"] != 1 {
		t.Errorf("3 rounds over %d relationships made %v, want one list", n, got)
	}
}

// TestStaleCacheNeverActs: a cached view that shows another state than the desired one is
// checked live before anything is done.
func TestStaleCacheNeverActs(t *testing.T) {
	_, _, secondary := sites(t)
	ctx := context.Background()
	establish(t, secondary)
	cache := &mirror.Cache{MaxAge: time.Hour}
	promoted := mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Promoted}
	if res := mirror.Run(ctx, secondary.api, promoted); res.State != mirror.Promoted {
		t.Fatalf("promote: %+v", res)
	}
	// The cache now holds the broken-off relationship.
	if res := mirror.Run(ctx, cache.Reads("b", "svm2", secondary.api), promoted); res.State != mirror.Promoted || len(res.Actions) != 0 {
		t.Fatalf("cached re-check: %+v", res)
	}
	reestablished := mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Reestablished}
	if res := mirror.Run(ctx, secondary.api, reestablished); res.State != mirror.Reestablished {
		t.Fatalf("reestablish: %+v", res)
	}
	// The cache still says broken off: the re-check looks live and does nothing.
	secondary.ResetRequests()
	res := mirror.Run(ctx, cache.Reads("b", "svm2", secondary.api), reestablished)
	if res.Err != nil || res.State != mirror.Reestablished || len(res.Actions) != 0 {
		t.Errorf("re-check through a stale cache: %+v", res)
	}
	if got := secondary.Requests(); got["total"] != 1 {
		t.Errorf("the re-check made %v, want one live GET", got)
	}
}
