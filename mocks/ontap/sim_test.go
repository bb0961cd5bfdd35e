package ontap_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// site is one simulated cluster and a real client of it.
type site struct {
	*sim.Cluster
	api *ontap.Client
}

// pair starts a fabric with two peered clusters, primary (svm1) and secondary (svm2), and
// returns them with clients that verify each cluster's own CA.
func pair(t *testing.T, opts sim.Options) (*sim.Fabric, site, site) {
	t.Helper()
	if opts.Start.IsZero() {
		opts.Start, opts.Manual = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), true
	}
	f := sim.NewFabric(opts)
	t.Cleanup(f.Close)
	var sites []site
	for _, spec := range []sim.ClusterSpec{
		{Name: "primary", SVMs: []string{"svm1"}, Aggregates: []string{"aggr1"}},
		{Name: "secondary", SVMs: []string{"svm2", "svm3"}, Aggregates: []string{"aggr2"}},
	} {
		c, err := f.AddCluster(spec)
		if err != nil {
			t.Fatal(err)
		}
		sites = append(sites, site{Cluster: c, api: client(t, f, c, c.CA())})
	}
	if err := f.PeerSVMs("svm1", "svm2"); err != nil {
		t.Fatal(err)
	}
	return f, sites[0], sites[1]
}

func client(t *testing.T, f *sim.Fabric, c *sim.Cluster, ca []byte, mods ...func(*ontap.Config)) *ontap.Client {
	t.Helper()
	u, p := f.Credentials()
	cfg := ontap.Config{
		Name: c.Name(), Address: c.Address(), CA: ca, RetryBaseDelay: time.Millisecond, JobPollInterval: time.Millisecond,
		Credentials: ontap.CredentialsFunc(func(context.Context) (ontap.Credentials, error) {
			return ontap.Credentials{Username: u, Password: p}, nil
		}),
	}
	for _, m := range mods {
		m(&cfg)
	}
	api, err := ontap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// must fails the test on err and waits for a returned job.
func must(t *testing.T, api *ontap.Client) func(*ontap.Job, error) {
	return func(job *ontap.Job, err error) {
		t.Helper()
		if err == nil {
			err = api.WaitJob(context.Background(), job)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func volume(t *testing.T, s site, svm, name, typ string) *ontap.Volume {
	t.Helper()
	must(t, s.api)(s.api.CreateVolume(context.Background(), ontap.VolumeSpec{Name: name, SVM: svm, Aggregate: aggrOf(s), Size: 1 << 30, Type: typ}))
	v, err := s.api.GetVolume(context.Background(), svm, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func aggrOf(s site) string {
	if s.Name() == "primary" {
		return "aggr1"
	}
	return "aggr2"
}

func write(t *testing.T, s site, svm, vol string, files map[string]string) {
	t.Helper()
	for k, v := range files {
		if err := s.WriteFile(svm, vol, k, v); err != nil {
			t.Fatal(err)
		}
	}
}

func files(t *testing.T, s site, svm, vol string) map[string]string {
	t.Helper()
	got, err := s.Files(svm, vol)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// mirror creates src on the primary and a DP dst on the secondary, relates and initializes
// them, and returns the relationship.
func mirror(t *testing.T, primary, secondary site, name string, spec ontap.RelationshipSpec) *ontap.Relationship {
	t.Helper()
	ctx := context.Background()
	volume(t, primary, "svm1", name, ontap.VolumeRW)
	volume(t, secondary, "svm2", name, ontap.VolumeDP)
	spec.Source, spec.Destination = "svm1:"+name, "svm2:"+name
	must(t, secondary.api)(dropUUID(secondary.api.CreateRelationship(ctx, spec)))
	rel, err := secondary.api.GetRelationship(ctx, spec.Destination)
	if err != nil {
		t.Fatal(err)
	}
	if rel.State != ontap.Uninitialized {
		t.Fatalf("a new relationship is %s, want uninitialized", rel.State)
	}
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}))
	if rel, err = secondary.api.GetRelationship(ctx, spec.Destination); err != nil {
		t.Fatal(err)
	}
	return rel
}

func TestDiscovery(t *testing.T) {
	_, primary, secondary := pair(t, sim.Options{})
	ctx := context.Background()
	info, err := primary.api.Cluster(ctx)
	if err != nil || info.Name != "primary" {
		t.Fatalf("cluster: %+v, %v", info, err)
	}
	s, err := secondary.api.GetSVM(ctx, "svm2")
	if err != nil || s.Name != "svm2" || len(s.Aggregates) != 1 || s.Aggregates[0] != "aggr2" {
		t.Errorf("svm2: %+v, %v", s, err)
	}
	if _, err := secondary.api.GetSVM(ctx, "svm1"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("svm1 on the secondary: %v, want ErrNotFound", err)
	}
	if a, err := primary.api.GetAggregate(ctx, "aggr1"); err != nil || a.Available <= 0 {
		t.Errorf("aggr1: %+v, %v", a, err)
	}
	peers, err := secondary.api.SVMPeers(ctx, "svm2")
	if err != nil || len(peers) != 1 || peers[0].PeerSVM != "svm1" || peers[0].PeerCluster != "primary" || !peers[0].Peered() {
		t.Errorf("peers of svm2: %+v, %v", peers, err)
	}
	if peers, err := secondary.api.SVMPeers(ctx, "svm3"); err != nil || len(peers) != 0 {
		t.Errorf("svm3 has no peer: %+v, %v", peers, err)
	}
	pol, err := secondary.api.GetPolicy(ctx, "svm2", "MirrorAllSnapshots")
	if err != nil || pol.Type != "async" || !pol.CopyAllSnapshots || pol.SVM != "" {
		t.Errorf("MirrorAllSnapshots: %+v, %v", pol, err)
	}
	if _, err := secondary.api.GetPolicy(ctx, "svm2", "NoSuchPolicy"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("unknown policy: %v", err)
	}
	if s, err := secondary.api.GetSchedule(ctx, "5min"); err != nil || s.Type != "cron" || s.Cron == nil {
		t.Errorf("5min: %+v, %v", s, err)
	} else if d, _ := s.Cron.LongestInterval(); d != 5*time.Minute {
		t.Errorf("5min: fires every %v, want 5m", d)
	}
}

func TestMirrorLifecycle(t *testing.T) {
	_, primary, secondary := pair(t, sim.Options{})
	ctx := context.Background()
	volume(t, primary, "svm1", "vol1", ontap.VolumeRW)
	write(t, primary, "svm1", "vol1", map[string]string{"a.txt": "alpha", "b.txt": "beta"})
	primary.Cluster.ResetRequests()

	volume(t, secondary, "svm2", "vol1", ontap.VolumeDP)
	must(t, secondary.api)(dropUUID(secondary.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:vol1", Destination: "svm2:vol1", Policy: "MirrorAllSnapshots"})))
	rel, err := secondary.api.GetRelationship(ctx, "svm2:vol1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff}); !ontap.HasCode(err, "13303818") {
		t.Errorf("break of an uninitialized relationship: %v, want code 13303818", err)
	}
	if src, _ := primary.api.ListRelationships(ctx, ontap.RelationshipFilter{SourceSide: true, Source: "svm1:vol1"}); len(src) != 0 {
		t.Errorf("the source shows a record before the first transfer: %+v", src)
	}
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}))

	rel, err = secondary.api.GetRelationship(ctx, "svm2:vol1")
	if err != nil {
		t.Fatal(err)
	}
	if rel.State != ontap.Snapmirrored || rel.Healthy == nil || !*rel.Healthy || rel.LastTransferType != "initialize" ||
		!strings.HasPrefix(rel.ExportedSnapshot, "snapmirror.") || rel.Lag == nil || rel.Transfer == nil || rel.Transfer.State != ontap.TransferSuccess ||
		rel.SourceCluster != "primary" || rel.DestinationCluster != "" || rel.Policy != "MirrorAllSnapshots" {
		t.Fatalf("after initialize: %+v", rel)
	}
	if got := files(t, secondary, "svm2", "vol1"); !maps.Equal(got, map[string]string{"a.txt": "alpha", "b.txt": "beta"}) {
		t.Errorf("destination content %v", got)
	}
	src, err := primary.api.ListRelationships(ctx, ontap.RelationshipFilter{SourceSide: true, Source: "svm1:vol1"})
	if err != nil || len(src) != 1 || src[0].UUID != rel.UUID || src[0].DestinationCluster != "secondary" {
		t.Errorf("source-side record: %+v, %v", src, err)
	}
	if v, _ := primary.api.GetVolume(ctx, "svm1", "vol1"); !v.Protected {
		t.Errorf("the source volume is not protected: %+v", v)
	}

	// A DP destination is read-only, and refuses snapshots.
	if err := secondary.WriteFile("svm2", "vol1", "x", "y"); err == nil {
		t.Error("a DP volume took a write")
	}
	dst, _ := secondary.api.GetVolume(ctx, "svm2", "vol1")
	if _, err := secondary.api.CreateSnapshot(ctx, dst.UUID, "mine"); !ontap.HasCode(err, "1638461") {
		t.Errorf("snapshot on DP: %v", err)
	}

	// Update carries new content and user snapshots (MirrorAllSnapshots).
	write(t, primary, "svm1", "vol1", map[string]string{"c.txt": "gamma"})
	srcVol, _ := primary.api.GetVolume(ctx, "svm1", "vol1")
	must(t, primary.api)(primary.api.CreateSnapshot(ctx, srcVol.UUID, "user-snap"))
	if _, err := secondary.api.StartTransfer(ctx, rel.UUID, ""); err != nil {
		t.Fatal(err)
	}
	if got := files(t, secondary, "svm2", "vol1"); got["c.txt"] != "gamma" {
		t.Errorf("update did not carry c.txt: %v", got)
	}
	if _, err := secondary.api.GetSnapshot(ctx, dst.UUID, "user-snap"); err != nil {
		t.Errorf("MirrorAllSnapshots did not carry user-snap: %v", err)
	}

	// The source volume cannot be deleted while it is a source.
	job, err := primary.api.DeleteVolume(ctx, srcVol.UUID)
	if err == nil {
		err = primary.api.WaitJob(ctx, job)
	}
	if !ontap.HasCode(err, "917858") {
		t.Errorf("delete of a source volume: %v, want code 917858", err)
	}

	// Planned failover: quiesce, break; the destination becomes writable.
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Paused}))
	if r, _ := secondary.api.GetRelationship(ctx, "svm2:vol1"); r.State != ontap.Paused {
		t.Errorf("after quiesce: %s", r.State)
	}
	if _, err := secondary.api.StartTransfer(ctx, rel.UUID, ""); !ontap.HasCode(err, "13303844") {
		t.Errorf("update while quiesced: %v", err)
	}
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff}))
	if v, _ := secondary.api.GetVolume(ctx, "svm2", "vol1"); v.Type != ontap.VolumeRW {
		t.Errorf("after break the destination is %s", v.Type)
	}
	write(t, secondary, "svm2", "vol1", map[string]string{"written-after-break": "lost on resync"})

	// Resync reverts the destination to the common snapshot and carries what is newer.
	write(t, primary, "svm1", "vol1", map[string]string{"d.txt": "delta"})
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}))
	got := files(t, secondary, "svm2", "vol1")
	if _, kept := got["written-after-break"]; kept || got["d.txt"] != "delta" {
		t.Errorf("after resync: %v", got)
	}
	if r, _ := secondary.api.GetRelationship(ctx, "svm2:vol1"); r.State != ontap.Snapmirrored || r.LastTransferType != "resync" {
		t.Errorf("after resync: %+v", r)
	}
	if v, _ := secondary.api.GetVolume(ctx, "svm2", "vol1"); v.Type != ontap.VolumeDP {
		t.Errorf("after resync the destination is %s", v.Type)
	}

	// Delete without flags removes both records; then the volumes can go.
	must(t, secondary.api)(secondary.api.DeleteRelationship(ctx, rel.UUID, ontap.DeleteBoth))
	if _, err := secondary.api.GetRelationship(ctx, "svm2:vol1"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	must(t, primary.api)(primary.api.DeleteVolume(ctx, srcVol.UUID))
}

func TestResyncWithoutCommonSnapshot(t *testing.T) {
	_, primary, secondary := pair(t, sim.Options{})
	ctx := context.Background()
	volume(t, primary, "svm1", "src", ontap.VolumeRW)
	volume(t, secondary, "svm2", "stranger", ontap.VolumeRW)
	must(t, secondary.api)(dropUUID(secondary.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:src", Destination: "svm2:stranger"})))
	rel, err := secondary.api.GetRelationship(ctx, "svm2:stranger")
	if err != nil || rel.State != ontap.BrokenOff {
		t.Fatalf("a relationship to an RW volume: %+v, %v", rel, err)
	}
	job, err := secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored})
	if err == nil {
		err = secondary.api.WaitJob(ctx, job)
	}
	if !ontap.HasCode(err, "13303890") {
		t.Errorf("resync without a common snapshot: %v", err)
	}
	if v, _ := secondary.api.GetVolume(ctx, "svm2", "stranger"); v.Type != ontap.VolumeRW {
		t.Errorf("a failed resync changed the volume to %s", v.Type)
	}
}

func TestUnplannedFailover(t *testing.T) {
	_, primary, secondary := pair(t, sim.Options{})
	ctx := context.Background()
	rel := mirror(t, primary, secondary, "v", ontap.RelationshipSpec{})
	write(t, primary, "svm1", "v", map[string]string{"late": "never transferred"})
	if err := primary.SetDown(true); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.api.Cluster(ctx); err == nil {
		t.Fatal("a down cluster answered")
	}
	if _, err := secondary.api.StartTransfer(ctx, rel.UUID, ""); err != nil {
		t.Fatal(err)
	}
	r, _ := secondary.api.GetRelationship(ctx, "svm2:v")
	if r.Healthy == nil || *r.Healthy || len(r.UnhealthyReasons) == 0 || r.Transfer.State != ontap.TransferFailed {
		t.Errorf("an update with the source down: %+v", r)
	}
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff}))
	if v, _ := secondary.api.GetVolume(ctx, "svm2", "v"); v.Type != ontap.VolumeRW {
		t.Errorf("break with the source down left the destination %s", v.Type)
	}
	if _, lost := files(t, secondary, "svm2", "v")["late"]; lost {
		t.Error("content written after the last transfer arrived anyway")
	}
	if err := primary.SetDown(false); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.api.Cluster(ctx); err != nil {
		t.Errorf("the cluster is back, but: %v", err)
	}
}

func TestScheduledUpdates(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	mirror(t, primary, secondary, "v", ontap.RelationshipSpec{Schedule: "5min"})
	write(t, primary, "svm1", "v", map[string]string{"new": "scheduled"})
	f.Advance(time.Minute)
	if _, arrived := files(t, secondary, "svm2", "v")["new"]; arrived {
		t.Fatal("content arrived before the schedule fired")
	}
	f.Advance(5 * time.Minute)
	if got := files(t, secondary, "svm2", "v"); got["new"] != "scheduled" {
		t.Errorf("after the 5min schedule: %v", got)
	}
	r, _ := secondary.api.GetRelationship(context.Background(), "svm2:v")
	if r.Schedule != "5min" || r.LastTransferType != "update" {
		t.Errorf("relationship after a scheduled update: %+v", r)
	}
}

func TestSlowTransfersAndJobs(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{JobDuration: 10 * time.Second})
	ctx := context.Background()
	// Jobs outlast return_timeout (5 s): the client gets the job and waits.
	job, err := primary.api.CreateVolume(ctx, ontap.VolumeSpec{Name: "v", SVM: "svm1", Aggregate: "aggr1", Size: 1 << 30})
	if err != nil || job == nil {
		t.Fatalf("got %+v, %v; want a running job", job, err)
	}
	if _, err := primary.api.GetVolume(ctx, "svm1", "v"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("the volume exists before its job ended: %v", err)
	}
	f.Advance(10 * time.Second)
	if err := primary.api.WaitJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.api.GetVolume(ctx, "svm1", "v"); err != nil {
		t.Error(err)
	}

	// A slow transfer stays transferring, refuses a second one, and can be aborted.
	f2, p2, s2 := pair(t, sim.Options{})
	s2.SetTransferDelay(time.Hour)
	volume(t, p2, "svm1", "v", ontap.VolumeRW)
	volume(t, s2, "svm2", "v", ontap.VolumeDP)
	must(t, s2.api)(dropUUID(s2.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2:v"})))
	rel, _ := s2.api.GetRelationship(ctx, "svm2:v")
	xfer, err := s2.api.StartTransfer(ctx, rel.UUID, "")
	if err != nil || !xfer.State.Active() {
		t.Fatalf("start: %+v, %v", xfer, err)
	}
	if _, err := s2.api.StartTransfer(ctx, rel.UUID, ""); !ontap.HasCode(err, "13303812") {
		t.Errorf("second transfer: %v", err)
	}
	if _, err := s2.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff}); !ontap.HasCode(err, "13303818", "13303808") {
		t.Errorf("break during the baseline: %v", err)
	}
	if err := s2.api.AbortTransfer(ctx, rel.UUID, xfer.UUID); err != nil {
		t.Fatal(err)
	}
	if r, _ := s2.api.GetRelationship(ctx, "svm2:v"); r.State != ontap.Uninitialized || r.Transfer.State != ontap.TransferAborted {
		t.Errorf("after abort: %+v %+v", r, r.Transfer)
	}
	// Without abort, the transfer ends when the clock gets there.
	if _, err := s2.api.StartTransfer(ctx, rel.UUID, ""); err != nil {
		t.Fatal(err)
	}
	f2.Advance(time.Hour)
	if r, _ := s2.api.GetRelationship(ctx, "svm2:v"); r.State != ontap.Snapmirrored {
		t.Errorf("after the slow baseline: %s", r.State)
	}
}

func TestFaultsAndProtocol(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	ctx := context.Background()

	// A 503 on a GET is retried by the client.
	primary.InjectFault(sim.Fault{Method: "GET", Path: "/cluster", Times: 2, Status: 503, Code: "460770", Message: "busy"})
	if _, err := primary.api.Cluster(ctx); err != nil {
		t.Errorf("after two 503s: %v", err)
	}
	if n := primary.Requests()["GET /cluster"]; n != 3 {
		t.Errorf("GET /cluster answered %d times, want 3", n)
	}
	// A failed job.
	primary.InjectFault(sim.Fault{Method: "POST", Path: "/storage/volumes", FailJob: true, Times: 1, Code: "917534", Message: "too small"})
	job, err := primary.api.CreateVolume(ctx, ontap.VolumeSpec{Name: "v", SVM: "svm1", Aggregate: "aggr1", Size: 1 << 30})
	if err == nil {
		err = primary.api.WaitJob(ctx, job)
	}
	if !ontap.HasCode(err, "917534") {
		t.Errorf("failed job: %v", err)
	}
	if _, err := primary.api.GetVolume(ctx, "svm1", "v"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("a failed job left a volume: %v", err)
	}
	primary.ClearFaults()

	// Input checks and references.
	for _, tc := range []struct {
		spec ontap.VolumeSpec
		code string
	}{
		{ontap.VolumeSpec{Name: "bad-name", SVM: "svm1", Aggregate: "aggr1", Size: 1 << 30}, "917888"},
		{ontap.VolumeSpec{Name: "9lives", SVM: "svm1", Aggregate: "aggr1", Size: 1 << 30}, "917887"},
		{ontap.VolumeSpec{Name: "v", SVM: "nosvm", Aggregate: "aggr1", Size: 1 << 30}, "2621462"},
		{ontap.VolumeSpec{Name: "v", SVM: "svm1", Aggregate: "noaggr", Size: 1 << 30}, "917508"},
		{ontap.VolumeSpec{Name: "v", SVM: "svm1", Aggregate: "aggr1", Size: 1 << 10}, "917534"},
	} {
		job, err := primary.api.CreateVolume(ctx, tc.spec)
		if err == nil {
			err = primary.api.WaitJob(ctx, job)
		}
		if !ontap.HasCode(err, tc.code) {
			t.Errorf("create %+v: %v, want code %s", tc.spec, err, tc.code)
		}
	}
	volume(t, primary, "svm1", "v", ontap.VolumeRW)
	job, err = primary.api.CreateVolume(ctx, ontap.VolumeSpec{Name: "v", SVM: "svm1", Aggregate: "aggr1", Size: 1 << 30})
	if err == nil {
		err = primary.api.WaitJob(ctx, job)
	}
	if !ontap.HasCode(err, "917526") {
		t.Errorf("duplicate volume: %v", err)
	}
	volume(t, secondary, "svm3", "d", ontap.VolumeDP)
	if _, _, err := secondary.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm3:d"}); !ontap.HasCode(err, "13303814") {
		t.Errorf("relationship from an unpeered SVM: %v", err)
	}
	volume(t, secondary, "svm2", "d", ontap.VolumeDP)
	for _, tc := range []struct {
		spec ontap.RelationshipSpec
		code string
	}{
		{ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2:d", Policy: "Nope"}, "13303819"},
		{ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2:d", Schedule: "Nope"}, "6619699"},
		{ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2nocolon"}, "13303852"},
	} {
		if _, _, err := secondary.api.CreateRelationship(ctx, tc.spec); !ontap.HasCode(err, tc.code) {
			t.Errorf("create %+v: %v, want code %s", tc.spec, err, tc.code)
		}
	}
	must(t, secondary.api)(dropUUID(secondary.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2:d"})))
	if _, _, err := secondary.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2:d"}); !ontap.HasCode(err, "6619637") {
		t.Errorf("duplicate relationship: %v", err)
	}

	// Pagination through the simulator's next links.
	for _, n := range []string{"p1", "p2", "p3", "p4"} {
		volume(t, primary, "svm1", n, ontap.VolumeRW)
	}
	paged := client(t, f, primary.Cluster, primary.CA(), func(c *ontap.Config) { c.PageSize = 2 })
	primary.ResetRequests()
	vols, err := paged.ListVolumes(ctx, "svm1", "p*")
	if err != nil || len(vols) != 4 || primary.Requests()["GET /storage/volumes"] != 2 {
		t.Errorf("paged list: %d volumes in %d requests, %v", len(vols), primary.Requests()["GET /storage/volumes"], err)
	}

	// TLS: the other cluster's CA does not verify this one.
	wrong := client(t, f, primary.Cluster, secondary.CA())
	if _, err := wrong.Cluster(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("wrong CA: %v", err)
	}
	// Auth.
	bad := client(t, f, primary.Cluster, primary.CA(), func(c *ontap.Config) {
		c.Credentials = ontap.CredentialsFunc(func(context.Context) (ontap.Credentials, error) {
			return ontap.Credentials{Username: "admin", Password: "wrong"}, nil
		})
	})
	var apiErr *ontap.APIError
	if _, err := bad.Cluster(ctx); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Errorf("wrong password: %v", err)
	}
}

// TestFieldsAndFilters checks ONTAP's query conventions with a plain HTTP client.
func TestFieldsAndFilters(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	volume(t, primary, "svm1", "alpha", ontap.VolumeRW)
	volume(t, primary, "svm1", "beta", ontap.VolumeRW)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(primary.CA())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	u, p := f.Credentials()
	get := func(query string) map[string]any {
		req, _ := http.NewRequest("GET", "https://"+primary.Address()+"/api/storage/volumes?"+query, nil)
		req.SetBasicAuth(u, p)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return body
	}
	recs := func(body map[string]any) []map[string]any {
		var out []map[string]any
		for _, r := range body["records"].([]any) {
			out = append(out, r.(map[string]any))
		}
		return out
	}
	plain := recs(get(""))
	if len(plain) != 2 || len(plain[0]) != 2 || plain[0]["uuid"] == nil || plain[0]["name"] == nil {
		t.Errorf("without fields, want only uuid and name: %v", plain)
	}
	star := recs(get("fields=*&name=alpha"))
	if len(star) != 1 || star[0]["size"] == nil || star[0]["nas"] != nil {
		t.Errorf("fields=* returns common fields, not the expensive nas.*: %v", star)
	}
	dotted := recs(get("fields=svm.name,space.used&name=b*"))
	if len(dotted) != 1 || dotted[0]["name"] != "beta" || dotted[0]["uuid"] == nil || dotted[0]["size"] != nil || dotted[0]["svm"].(map[string]any)["name"] != "svm1" {
		t.Errorf("dotted fields, with the key fields: %v", dotted)
	}
	if n := len(recs(get("name=alpha|beta"))); n != 2 {
		t.Errorf("| filter matched %d", n)
	}
	if n := len(recs(get("name=!alpha"))); n != 1 {
		t.Errorf("! filter matched %d", n)
	}
	if body := get("max_records=1"); body["_links"] == nil || len(recs(body)) != 1 {
		t.Errorf("max_records=1 without a next link: %v", body)
	}
}

// dropUUID adapts CreateRelationship's answer to must.
func dropUUID(_ string, job *ontap.Job, err error) (*ontap.Job, error) { return job, err }
