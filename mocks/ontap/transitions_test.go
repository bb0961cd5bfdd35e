package ontap_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestTransitions walks the state machine of shared/docs/ontap-rest.md section 5.6, one
// request at a time, and checks each answer and the state it leaves.
func TestTransitions(t *testing.T) {
	_, primary, secondary := pair(t, sim.Options{})
	ctx := context.Background()
	rel := mirror(t, primary, secondary, "v", ontap.RelationshipSpec{})
	api := secondary.api
	state := func() ontap.RelationshipState {
		r, err := api.GetRelationship(ctx, "svm2:v")
		if err != nil {
			t.Fatal(err)
		}
		return r.State
	}
	patch := func(s ontap.RelationshipState, restore string) error {
		job, err := api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: s, RestoreToSnapshot: restore})
		if err == nil {
			err = api.WaitJob(ctx, job)
		}
		return err
	}
	steps := []struct {
		name string
		// do makes the request; wantCode is ONTAP's code for a refusal ("" for success);
		// want is the state after.
		do       func() error
		wantCode string
		want     ontap.RelationshipState
	}{
		{"initialize again is a no-op", func() error { return patch(ontap.Snapmirrored, "") }, "", ontap.Snapmirrored},
		{"unknown state", func() error { return patch("frozen", "") }, "13303817", ontap.Snapmirrored},
		{"restore_to_snapshot without a break", func() error { return patch(ontap.Snapmirrored, "x") }, "13303835", ontap.Snapmirrored},
		{"abort with no transfer running", func() error { return api.AbortTransfer(ctx, rel.UUID, "00000000-0000-4000-a000-000000000000") }, "4", ontap.Snapmirrored},
		{"quiesce", func() error { return patch(ontap.Paused, "") }, "", ontap.Paused},
		{"quiesce again", func() error { return patch(ontap.Paused, "") }, "", ontap.Paused},
		{"update while paused", func() error { _, err := api.StartTransfer(ctx, rel.UUID, ""); return err }, "13303844", ontap.Paused},
		{"resume", func() error { return patch(ontap.Snapmirrored, "") }, "", ontap.Snapmirrored},
		{"update", func() error { _, err := api.StartTransfer(ctx, rel.UUID, ""); return err }, "", ontap.Snapmirrored},
		{"break to a snapshot the destination lacks", func() error { return patch(ontap.BrokenOff, "nope") }, "13303818", ontap.Snapmirrored},
		{"break", func() error { return patch(ontap.BrokenOff, "") }, "", ontap.BrokenOff},
		{"break again", func() error { return patch(ontap.BrokenOff, "") }, "", ontap.BrokenOff},
		{"update while broken off", func() error { _, err := api.StartTransfer(ctx, rel.UUID, ""); return err }, "13303844", ontap.BrokenOff},
		{"resync", func() error { return patch(ontap.Snapmirrored, "") }, "", ontap.Snapmirrored},
	}
	for _, s := range steps {
		err := s.do()
		var apiErr *ontap.APIError
		switch {
		case s.wantCode == "" && err != nil:
			t.Errorf("%s: %v", s.name, err)
		case s.wantCode != "" && (!errors.As(err, &apiErr) || apiErr.Code != s.wantCode):
			t.Errorf("%s: got %v, want code %s", s.name, err, s.wantCode)
		}
		if got := state(); got != s.want {
			t.Errorf("%s: state %s, want %s", s.name, got, s.want)
		}
	}
}

// TestBreakToSnapshot: a break with restore_to_snapshot serves that snapshot's content.
func TestBreakToSnapshot(t *testing.T) {
	_, primary, secondary := pair(t, sim.Options{})
	ctx := context.Background()
	volume(t, primary, "svm1", "v", ontap.VolumeRW)
	write(t, primary, "svm1", "v", map[string]string{"f": "at the planned snapshot"})
	src, _ := primary.api.GetVolume(ctx, "svm1", "v")
	must(t, primary.api)(primary.api.CreateSnapshot(ctx, src.UUID, "planned"))
	write(t, primary, "svm1", "v", map[string]string{"f": "after it"})
	volume(t, secondary, "svm2", "v", ontap.VolumeDP)
	must(t, secondary.api)(dropUUID(secondary.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2:v", Policy: "MirrorAllSnapshots"})))
	rel, _ := secondary.api.GetRelationship(ctx, "svm2:v")
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}))
	if got := files(t, secondary, "svm2", "v")["f"]; got != "after it" {
		t.Fatalf("mirrored content %q", got)
	}
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff, RestoreToSnapshot: "planned"}))
	if got := files(t, secondary, "svm2", "v")["f"]; got != "at the planned snapshot" {
		t.Errorf("after break to the snapshot: %q", got)
	}
}

// TestReverseResync: after a failover, the old source becomes the destination of the old
// destination, keeps its data up to the common snapshot, and receives what was written since.
func TestReverseResync(t *testing.T) {
	_, primary, secondary := pair(t, sim.Options{})
	ctx := context.Background()
	rel := mirror(t, primary, secondary, "v", ontap.RelationshipSpec{})
	write(t, primary, "svm1", "v", map[string]string{"base": "mirrored"})
	if _, err := secondary.api.StartTransfer(ctx, rel.UUID, ""); err != nil {
		t.Fatal(err)
	}
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff}))
	write(t, secondary, "svm2", "v", map[string]string{"new-primary": "written after failover"})
	write(t, primary, "svm1", "v", map[string]string{"stale": "written on the old primary after the last transfer"})

	// On the old source's cluster: svm2:v -> svm1:v, then resync.
	must(t, primary.api)(dropUUID(primary.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm2:v", Destination: "svm1:v"})))
	back, err := primary.api.GetRelationship(ctx, "svm1:v")
	if err != nil || back.State != ontap.BrokenOff {
		t.Fatalf("reverse relationship: %+v, %v", back, err)
	}
	must(t, primary.api)(primary.api.ModifyRelationship(ctx, back.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}))
	got := files(t, primary, "svm1", "v")
	want := map[string]string{"base": "mirrored", "new-primary": "written after failover"}
	if !maps.Equal(got, want) {
		t.Errorf("old source after reverse resync: %v, want %v", got, want)
	}
	if v, _ := primary.api.GetVolume(ctx, "svm1", "v"); v.Type != ontap.VolumeDP {
		t.Errorf("old source is %s, want dp", v.Type)
	}
	if err := primary.WriteFile("svm1", "v", "x", "y"); err == nil {
		t.Error("the new destination took a write")
	}
}

// TestReleaseAndDeleteFlags: destination_only, then source_only on the source, as Trident
// tears down; and what each leaves.
func TestReleaseAndDeleteFlags(t *testing.T) {
	_, primary, secondary := pair(t, sim.Options{})
	ctx := context.Background()
	rel := mirror(t, primary, secondary, "v", ontap.RelationshipSpec{})
	src, _ := primary.api.GetVolume(ctx, "svm1", "v")
	snaps, _ := primary.api.ListSnapshots(ctx, src.UUID)
	if len(snaps) != 1 || !strings.HasPrefix(snaps[0].Name, "snapmirror.") || len(snaps[0].Owners) == 0 {
		t.Fatalf("the source's base snapshot: %+v", snaps)
	}
	if _, err := primary.api.DeleteSnapshot(ctx, src.UUID, snaps[0].UUID); !ontap.HasCode(err, "1638543") {
		t.Errorf("delete of SnapMirror's base snapshot: %v", err)
	}
	if _, err := primary.api.DeleteRelationship(ctx, rel.UUID, ontap.DeleteDestinationOnly); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("destination_only on the source's cluster: %v", err)
	}
	must(t, secondary.api)(secondary.api.DeleteRelationship(ctx, rel.UUID, ontap.DeleteDestinationOnly))
	if _, err := secondary.api.GetRelationship(ctx, "svm2:v"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("destination record after destination_only: %v", err)
	}
	if v, _ := primary.api.GetVolume(ctx, "svm1", "v"); !v.Protected {
		t.Error("the source lost its record with destination_only")
	}
	must(t, primary.api)(primary.api.DeleteRelationship(ctx, rel.UUID, ontap.ReleaseSource))
	if left, _ := primary.api.ListRelationships(ctx, ontap.RelationshipFilter{SourceSide: true}); len(left) != 0 {
		t.Errorf("source-side records after release: %+v", left)
	}
	if snaps, _ := primary.api.ListSnapshots(ctx, src.UUID); len(snaps) != 0 {
		t.Errorf("release left SnapMirror snapshots: %+v", snaps)
	}
	if _, err := primary.api.DeleteRelationship(ctx, rel.UUID, ontap.ReleaseSource); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("a second release: %v", err)
	}
	must(t, primary.api)(primary.api.DeleteVolume(ctx, src.UUID))
}

// TestRestoreVolume: a volume restored to a snapshot serves its content and loses newer
// snapshots.
func TestRestoreVolume(t *testing.T) {
	_, primary, _ := pair(t, sim.Options{})
	ctx := context.Background()
	v := volume(t, primary, "svm1", "v", ontap.VolumeRW)
	write(t, primary, "svm1", "v", map[string]string{"f": "one"})
	must(t, primary.api)(primary.api.CreateSnapshot(ctx, v.UUID, "s1"))
	write(t, primary, "svm1", "v", map[string]string{"f": "two"})
	must(t, primary.api)(primary.api.CreateSnapshot(ctx, v.UUID, "s2"))
	must(t, primary.api)(primary.api.RestoreVolume(ctx, v.UUID, "s1"))
	if got := files(t, primary, "svm1", "v")["f"]; got != "one" {
		t.Errorf("after restore: %q", got)
	}
	if _, err := primary.api.GetSnapshot(ctx, v.UUID, "s2"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("the newer snapshot survived the restore: %v", err)
	}
	if _, err := primary.api.CreateSnapshot(ctx, v.UUID, "s1"); !ontap.HasCode(err, "525059") {
		t.Errorf("duplicate snapshot: %v", err)
	}
}

// TestAutosize: a DP destination with autosize grows when the source outgrows it; without
// autosize the transfer fails.
func TestAutosize(t *testing.T) {
	_, primary, secondary := pair(t, sim.Options{})
	ctx := context.Background()
	big := strings.Repeat("x", 30<<20)
	for _, tc := range []struct {
		name, mode string
		// grows says whether the transfer must succeed by growing the destination.
		grows bool
	}{{"with autosize", "grow", true}, {"without", "", false}} {
		name := map[bool]string{true: "a", false: "b"}[tc.grows]
		volume(t, primary, "svm1", name, ontap.VolumeRW)
		write(t, primary, "svm1", name, map[string]string{"big": big})
		must(t, secondary.api)(secondary.api.CreateVolume(ctx, ontap.VolumeSpec{
			Name: name, SVM: "svm2", Aggregate: "aggr2", Size: 20 << 20, Type: ontap.VolumeDP, AutosizeMode: tc.mode,
		}))
		must(t, secondary.api)(dropUUID(secondary.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:" + name, Destination: "svm2:" + name})))
		rel, _ := secondary.api.GetRelationship(ctx, "svm2:"+name)
		must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}))
		rel, _ = secondary.api.GetRelationship(ctx, "svm2:"+name)
		dst, _ := secondary.api.GetVolume(ctx, "svm2", name)
		if tc.grows && (rel.State != ontap.Snapmirrored || dst.Size < int64(len(big))) {
			t.Errorf("%s: %s, size %d", tc.name, rel.State, dst.Size)
		}
		if !tc.grows && (rel.State != ontap.Uninitialized || rel.Healthy == nil || *rel.Healthy) {
			t.Errorf("%s: %s, healthy %v", tc.name, rel.State, rel.Healthy)
		}
	}
}

// TestPaginationOverAThousand lists 1,000 volumes in pages of 100.
func TestPaginationOverAThousand(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	ctx := context.Background()
	for i := range 1000 {
		must(t, primary.api)(primary.api.CreateVolume(ctx, ontap.VolumeSpec{Name: fmt.Sprintf("v%04d", i), SVM: "svm1", Aggregate: "aggr1", Size: 1 << 30}))
	}
	paged := client(t, f, primary.Cluster, primary.CA(), func(c *ontap.Config) { c.PageSize = 100 })
	primary.ResetRequests()
	vols, err := paged.ListVolumes(ctx, "svm1", "v*")
	if err != nil || len(vols) != 1000 {
		t.Fatalf("got %d volumes, %v", len(vols), err)
	}
	seen := map[string]bool{}
	for _, v := range vols {
		seen[v.Name] = true
	}
	if len(seen) != 1000 || primary.Requests()["GET /storage/volumes"] != 10 {
		t.Errorf("%d distinct volumes in %d requests, want 1000 in 10", len(seen), primary.Requests()["GET /storage/volumes"])
	}
}

// TestSideAPI drives the simulator's own controls over HTTP, as the demo does.
func TestSideAPI(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	volume(t, primary, "svm1", "v", ontap.VolumeRW)
	call := sideClient(t, f, primary)
	do := func(method, path, body string) (int, string) {
		code, answer, _ := call(t, method, path, body, true)
		return code, answer
	}
	if code, _ := do("PUT", "/sim/volumes/svm1/v/files/dir/a.txt", "hello"); code != http.StatusNoContent {
		t.Errorf("write: %d", code)
	}
	if code, body := do("GET", "/sim/volumes/svm1/v/files", ""); code != 200 || !strings.Contains(body, `"dir/a.txt":"hello"`) {
		t.Errorf("read: %d %s", code, body)
	}
	sum, _ := primary.Checksum("svm1", "v")
	if code, body := do("GET", "/sim/volumes/svm1/v/checksum", ""); code != 200 || !strings.Contains(body, sum) {
		t.Errorf("checksum: %d %s, want %s", code, body, sum)
	}
	before := f.Now()
	if code, _ := do("POST", "/sim/clock?advance=1h", ""); code != 200 || f.Now().Sub(before) != time.Hour {
		t.Errorf("advance: %d, moved %s", code, f.Now().Sub(before))
	}
	if code, _ := do("POST", "/sim/faults", `{"Method":"GET","Path":"/cluster","Status":500,"Code":"1","Times":1}`); code != http.StatusNoContent {
		t.Errorf("fault: %d", code)
	}
	if code, body := do("GET", "/api/cluster", ""); code != 500 || !strings.Contains(body, `"code":"1"`) {
		t.Errorf("faulted GET: %d %s", code, body)
	}
	if code, body := do("GET", "/sim/requests", ""); code != 200 || !strings.Contains(body, `"GET /cluster":1`) {
		t.Errorf("requests: %d %s", code, body)
	}
	if code, _ := do("POST", "/sim/clusters/secondary/down", ""); code != http.StatusNoContent {
		t.Errorf("down: %d", code)
	}
	if _, err := secondary.api.Cluster(context.Background()); err == nil {
		t.Error("secondary answered while down")
	}
	if code, _ := do("POST", "/sim/clusters/secondary/up", ""); code != http.StatusNoContent {
		t.Errorf("up: %d", code)
	}
	if _, err := secondary.api.Cluster(context.Background()); err != nil {
		t.Errorf("secondary after up: %v", err)
	}
}
