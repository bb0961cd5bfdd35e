package ontap_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestWhatClientsSend: bodies ONTAP takes from real clients are taken: a DP volume created
// with a snapshot policy, and a snapshot POST that names its SVM; snapshot records carry
// svm.uuid, so a filter on it matches.
func TestWhatClientsSend(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	v := volume(t, primary, "svm1", "v", ontap.VolumeRW)
	call := raw(t, f, primary)
	svms := names(t, call, "/api/svm/svms?name=svm1", "uuid")
	for _, tc := range []struct{ name, path, body string }{
		{"DP volume with snapshot_policy none", "/api/storage/volumes?return_timeout=120", `{"name":"d","svm":{"name":"svm1"},"aggregates":[{"name":"aggr1"}],"type":"dp","snapshot_policy":{"name":"none"}}`},
		{"snapshot naming its SVM by name", "/api/storage/volumes/" + v.UUID + "/snapshots?return_timeout=120", `{"name":"s1","svm":{"name":"svm1"}}`},
		{"snapshot naming its SVM by uuid", "/api/storage/volumes/" + v.UUID + "/snapshots?return_timeout=120", `{"name":"s2","svm":{"uuid":"` + svms[0] + `"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := call(t, "POST", tc.path, tc.body); status != 201 {
				t.Errorf("POST %s %s: %d %v", tc.path, tc.body, status, body)
			}
		})
	}
	d, err := primary.api.GetVolume(context.Background(), "svm1", "d")
	if err != nil || d.Type != ontap.VolumeDP {
		t.Fatalf("the DP volume: %+v, %v", d, err)
	}
	runStrict(t, call, []strictCase{
		{"snapshot policy of a DP volume by PATCH", "PATCH", "/api/storage/volumes/" + d.UUID + "?return_timeout=120", `{"snapshot_policy":{"name":"default"}}`, 400, strictErr{"917617", "Cannot modify the Snapshot policy of a DP volume.", "snapshot_policy"}},
		{"snapshot naming another SVM", "POST", "/api/storage/volumes/" + v.UUID + "/snapshots", `{"name":"s3","svm":{"name":"svm2"}}`, 404, strictErr{"4", "entry doesn't exist", "svm"}},
	})
	if got := names(t, call, "/api/storage/volumes/*/snapshots?svm.uuid="+svms[0], "name"); strings.Join(got, ",") != "s1,s2" {
		t.Errorf("snapshots by svm.uuid: %v", got)
	}
}

// TestTimezone: date-times carry the cluster's UTC offset, "+00:00" by default, never "Z".
func TestTimezone(t *testing.T) {
	f := sim.NewFabric(sim.Options{Start: time.Date(2026, 12, 2, 9, 15, 0, 0, time.UTC), Manual: true})
	t.Cleanup(f.Close)
	for _, tc := range []struct{ name, timezone, want string }{
		{"default", "", "2026-12-02T09:15:00+00:00"},
		{"by name", "Europe/Berlin", "2026-12-02T10:15:00+01:00"},
		{"by offset", "-05:30", "2026-12-02T03:45:00-05:30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.AddCluster(sim.ClusterSpec{Name: "c" + tc.name, SVMs: []string{"svm" + tc.name}, Aggregates: []string{"aggr1"}, Timezone: tc.timezone})
			if err != nil {
				t.Fatal(err)
			}
			s := site{Cluster: c, api: client(t, f, c, c.CA())}
			call := raw(t, f, s)
			status, body := call(t, "POST", "/api/storage/volumes", `{"name":"v","svm":{"name":"svm`+tc.name+`"},"aggregates":[{"name":"aggr1"}]}`)
			if status != 202 {
				t.Fatalf("create: %d %v", status, body)
			}
			job := body["job"].(map[string]any)["uuid"].(string)
			if _, got := call(t, "GET", "/api/cluster/jobs/"+job, ""); got["start_time"] != tc.want {
				t.Errorf("job start_time %v, want %s", got["start_time"], tc.want)
			}
			if _, got := call(t, "GET", "/api/storage/volumes?fields=create_time", ""); got["records"].([]any)[0].(map[string]any)["create_time"] != tc.want {
				t.Errorf("volume create_time %v, want %s", got, tc.want)
			}
		})
	}
}

// TestMaxVolumeSize: a FlexVol above the cluster's maximum is refused, on create and resize.
func TestMaxVolumeSize(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	v := volume(t, primary, "svm1", "v", ontap.VolumeRW)
	const tooBig = `109951162777601` // 100 TiB and a byte
	tooLarge := strictErr{"917535", "Size 109951162777601 is too large. Maximum size is 109951162777600 bytes.", "size"}
	runStrict(t, raw(t, f, primary), []strictCase{
		{"create", "POST", "/api/storage/volumes?return_timeout=120", `{"name":"big","svm":{"name":"svm1"},"aggregates":[{"name":"aggr1"}],"size":` + tooBig + `}`, 400, tooLarge},
		{"resize", "PATCH", "/api/storage/volumes/" + v.UUID + "?return_timeout=120", `{"size":` + tooBig + `}`, 400, tooLarge},
		{"the maximum", "PATCH", "/api/storage/volumes/" + v.UUID + "?return_timeout=120", `{"size":109951162777600}`, 200, strictErr{}},
	})
	small, err := f.AddCluster(sim.ClusterSpec{Name: "small", SVMs: []string{"svm9"}, Aggregates: []string{"aggr9"}, MaxVolumeSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	runStrict(t, raw(t, f, site{Cluster: small}), []strictCase{
		{"a smaller maximum", "POST", "/api/storage/volumes?return_timeout=120", `{"name":"big","svm":{"name":"svm9"},"aggregates":[{"name":"aggr9"}],"size":1073741825}`, 400, strictErr{"917535", "Size 1073741825 is too large. Maximum size is 1073741824 bytes.", "size"}},
	})
}

// TestConcurrentRelationshipCreate: of two creates of the same relationship at once, exactly
// one wins; the other gets 6619637, synchronously or as its job's failure.
func TestConcurrentRelationshipCreate(t *testing.T) {
	for _, tc := range []struct {
		name string
		job  time.Duration
	}{{"instant jobs", 0}, {"slow jobs", time.Minute}} {
		t.Run(tc.name, func(t *testing.T) {
			f, primary, secondary := pair(t, sim.Options{})
			volume(t, primary, "svm1", "v", ontap.VolumeRW)
			volume(t, secondary, "svm2", "v", ontap.VolumeDP)
			f.SetJobDuration(tc.job)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 2)
			jobs := make([]*ontap.Job, 2)
			for i := range errs {
				wg.Go(func() {
					_, jobs[i], errs[i] = secondary.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2:v"})
				})
			}
			wg.Wait()
			f.Advance(tc.job)
			won, lost := 0, 0
			for i, err := range errs {
				if err == nil && jobs[i] != nil {
					err = secondary.api.WaitJob(ctx, jobs[i])
				}
				switch {
				case err == nil:
					won++
				case ontap.HasCode(err, "6619637"):
					lost++
				default:
					t.Errorf("create %d: %v", i, err)
				}
			}
			rels, err := secondary.api.ListRelationships(ctx, ontap.RelationshipFilter{})
			if won != 1 || lost != 1 || err != nil || len(rels) != 1 {
				t.Errorf("%d won, %d lost; relationships %+v, %v", won, lost, rels, err)
			}
		})
	}
}

// TestDeleteWhileSourceDown: a DELETE without flags must release the source too; with the
// source's cluster down its job fails and nothing is removed, while destination_only works.
func TestDeleteWhileSourceDown(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	rel := mirror(t, primary, secondary, "m", ontap.RelationshipSpec{})
	ctx := context.Background()
	if err := primary.SetDown(true); err != nil {
		t.Fatal(err)
	}
	job, err := secondary.api.DeleteRelationship(ctx, rel.UUID, ontap.DeleteBoth)
	if err == nil {
		err = secondary.api.WaitJob(ctx, job)
	}
	if !ontap.HasCode(err, "13303822") {
		t.Errorf("delete without flags, the source down: %v, want 13303822", err)
	}
	if _, err := secondary.api.GetRelationship(ctx, "svm2:m"); err != nil {
		t.Errorf("the failed delete removed the relationship: %v", err)
	}
	must(t, secondary.api)(secondary.api.DeleteRelationship(ctx, rel.UUID, ontap.DeleteDestinationOnly))
	if err := primary.SetDown(false); err != nil {
		t.Fatal(err)
	}
	dests, err := primary.api.ListRelationships(ctx, ontap.RelationshipFilter{SourceSide: true})
	if err != nil || len(dests) != 1 {
		t.Fatalf("the source keeps its record until released: %+v, %v", dests, err)
	}
	must(t, primary.api)(primary.api.DeleteRelationship(ctx, dests[0].UUID, ontap.ReleaseSource))
	if h := f.History(); h[len(h)-1].Name != "release" {
		t.Errorf("history ends with %v", h[len(h)-1])
	}
}

// TestCreatedObjectsAreNamed: a synchronous create answers 201 with the new object's path in
// Location, as ONTAP does; an SVM peering is named by a UUID like any other object.
func TestCreatedObjectsAreNamed(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	send := sideClient(t, f, primary)
	status, body, header := send(t, "POST", "/api/protocols/nfs/export-policies?return_records=true", `{"name":"p1","svm":{"name":"svm1"}}`, true)
	var created struct{ Records []struct{ ID int } }
	if err := json.Unmarshal([]byte(body), &created); status != 201 || err != nil || len(created.Records) != 1 {
		t.Fatalf("create export policy: %d %s", status, body)
	}
	if want := fmt.Sprintf("/api/protocols/nfs/export-policies/%d", created.Records[0].ID); header.Get("Location") != want {
		t.Errorf("Location %q, want %q", header.Get("Location"), want)
	}
	status, body, header = send(t, "POST", fmt.Sprintf("/api/protocols/nfs/export-policies/%d/rules", created.Records[0].ID), `{"clients":[{"match":"0.0.0.0/0"}],"ro_rule":["sys"],"rw_rule":["sys"]}`, true)
	if want := fmt.Sprintf("/api/protocols/nfs/export-policies/%d/rules/1", created.Records[0].ID); status != 201 || header.Get("Location") != want {
		t.Errorf("create export rule: %d %s, Location %q, want %q", status, body, header.Get("Location"), want)
	}
	for _, uuid := range names(t, raw(t, f, primary), "/api/svm/peers", "uuid") {
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(uuid) {
			t.Errorf("SVM peer uuid %q is no UUID", uuid)
		}
	}
}

// TestJobCollection: GET /api/cluster/jobs lists jobs, filtered by UUIDs joined with | as a
// client that follows many jobs asks; key fields always come back; other filters are checked
// as on every collection.
func TestJobCollection(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{JobDuration: time.Hour})
	call := raw(t, f, primary)
	var jobs []string
	for _, name := range []string{"a", "b", "c"} {
		status, body := call(t, "POST", "/api/storage/volumes?return_timeout=0", `{"name":"`+name+`","svm":{"name":"svm1"},"aggregates":[{"name":"aggr1"}]}`)
		if status != 202 {
			t.Fatalf("create %s: %d %v", name, status, body)
		}
		jobs = append(jobs, body["job"].(map[string]any)["uuid"].(string))
	}
	status, body := call(t, "GET", "/api/cluster/jobs?fields=state&uuid="+jobs[2]+"|"+jobs[0], "")
	recs, _ := body["records"].([]any)
	if status != 200 || len(recs) != 2 || body["num_records"] != float64(2) {
		t.Fatalf("two of three jobs: %d %v", status, body)
	}
	for _, r := range recs {
		rec := r.(map[string]any)
		if (rec["uuid"] != jobs[0] && rec["uuid"] != jobs[2]) || rec["state"] != "running" && rec["state"] != "queued" {
			t.Errorf("record %v: want one of the jobs asked for, not ended", rec)
		}
	}
	if _, body := call(t, "GET", "/api/cluster/jobs?uuid=00000000-0000-0000-0000-000000000000", ""); body["num_records"] != float64(0) {
		t.Errorf("an unknown job: %v, want no record", body)
	}
	runStrict(t, call, []strictCase{
		{"an unknown filter", "GET", "/api/cluster/jobs?colour=red", "", 400, strictErr{"262179", `Unexpected argument "colour".`, "colour"}},
	})
}

// TestSnapMirrorSnapshotNames: SnapMirror names its snapshots after the destination, as ONTAP
// does: snapmirror.<destination SVM's uuid>_<its id>_<destination volume's MSID>.<time>, on the
// source and, once transferred, on the destination.
func TestSnapMirrorSnapshotNames(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	mirror(t, primary, secondary, "m", ontap.RelationshipSpec{})
	_, body := raw(t, f, secondary)(t, "GET", "/api/svm/svms?name=svm2&fields=uuid", "")
	svmUUID := body["records"].([]any)[0].(map[string]any)["uuid"].(string)
	want := regexp.MustCompile(`^snapmirror\.` + regexp.QuoteMeta(svmUUID) + `_[0-9]+_2147484[0-9]{3}\.[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{6}$`)
	for _, s := range []site{primary, secondary} {
		snaps, err := s.api.FindSnapshots(context.Background(), "", "m", "snapmirror.*")
		if err != nil || len(snaps) == 0 {
			t.Fatalf("%s: SnapMirror snapshots %v, %v", s.Name(), snaps, err)
		}
		for _, snap := range snaps {
			if !want.MatchString(snap.Name) {
				t.Errorf("%s: snapshot %q, want it named like snapmirror.%s_<id>_<MSID>.<time>", s.Name(), snap.Name, svmUUID)
			}
		}
	}
}
