package mirror_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestJobOutlivesReturnTimeout: a step whose job outlives return_timeout ends the pass in
// progress and hands back the job; the next passes follow it, and when it fails its failure
// reaches the result with ONTAP's message instead of the step being sent again unseen.
func TestJobOutlivesReturnTimeout(t *testing.T) {
	f, _, secondary := sites(t)
	f.SetJobDuration(2 * time.Minute)
	secondary.InjectFault(sim.Fault{Method: "POST", Path: "/snapmirror/relationships", FailJob: true, Code: "13303852", Message: "Failed to create the relationship: simulated slow failure."})
	req := mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Established}
	res := mirror.Run(context.Background(), secondary.api, req)
	if res.Job == "" || res.RequeueAfter == 0 || res.Err != nil {
		t.Fatalf("first pass: %+v", res)
	}
	req.Started, req.Job = res.Started, res.Job
	secondary.ResetRequests()
	res = mirror.Run(context.Background(), secondary.api, req)
	if res.Job != req.Job || res.State != mirror.Establishing || !strings.Contains(res.Message, "waiting for ONTAP job") {
		t.Errorf("while the job runs: %+v", res)
	}
	if n := secondary.Requests()["total"]; n != 1 {
		t.Errorf("following a running job took %d calls, want 1 (the job)", n)
	}
	f.Advance(3 * time.Minute)
	res = mirror.Run(context.Background(), secondary.api, req)
	if res.Err == nil || !strings.Contains(res.Message, "simulated slow failure") || res.Job != "" {
		t.Errorf("after the job failed: %+v", res)
	}
	if !ontap.IsRefusal(res.Err) {
		t.Errorf("a failed job is a refusal (retried at the re-check interval): %v", res.Err)
	}
}

// TestSettledLeavesOutOfBandChangesAlone: under each settled state, a quiesce, break, resync
// or deletion made on ONTAP by someone else is reported as drift, and no pass sends anything
// to ONTAP about it, however many passes run.
func TestSettledLeavesOutOfBandChangesAlone(t *testing.T) {
	ctx := context.Background()
	establish := mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Established}
	promote := mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Promoted}
	reestablish := mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Reestablished}
	for _, tc := range []struct {
		name string
		// reach are the requests carried out in turn; the last one is the settled one.
		reach []mirror.Request
		// change is what someone does on ONTAP, by relationship state or deletion.
		change []ontap.RelationshipState
		del    bool
		// state is what the status must say.
		state mirror.State
	}{
		{"established, quiesced", []mirror.Request{establish}, []ontap.RelationshipState{ontap.Paused}, false, mirror.Established},
		{"established, broken", []mirror.Request{establish}, []ontap.RelationshipState{ontap.Paused, ontap.BrokenOff}, false, mirror.Promoted},
		{"established, deleted", []mirror.Request{establish}, nil, true, mirror.Failed},
		{"reestablished, broken", []mirror.Request{establish, promote, reestablish}, []ontap.RelationshipState{ontap.Paused, ontap.BrokenOff}, false, mirror.Promoted},
		{"reestablished, quiesced", []mirror.Request{establish, promote, reestablish}, []ontap.RelationshipState{ontap.Paused}, false, mirror.Reestablished},
		{"promoted, resynced", []mirror.Request{establish, promote}, []ontap.RelationshipState{ontap.Snapmirrored}, false, mirror.Established},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, secondary := sites(t)
			var req mirror.Request
			for _, req = range tc.reach {
				if res := mirror.Run(ctx, secondary.api, req); res.State != req.Desired || res.Err != nil {
					t.Fatalf("reach %s: %+v", req.Desired, res)
				}
			}
			rel, err := secondary.api.GetRelationship(ctx, "svm2:v")
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range tc.change {
				if _, err := secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: st}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.del {
				if _, err := secondary.api.DeleteRelationship(ctx, rel.UUID, ontap.DeleteDestinationOnly); err != nil {
					t.Fatal(err)
				}
			}
			seen := len(f.History())
			req.Settled = true
			for range 3 {
				res := mirror.Run(ctx, secondary.api, req)
				if res.State != tc.state || res.Drift == "" || len(res.Actions) != 0 || res.Err != nil {
					t.Errorf("settled pass: state %s, drift %q, actions %v, err %v; want %s with drift and no action", res.State, res.Drift, res.Actions, res.Err, tc.state)
				}
				f.Advance(10 * time.Minute)
			}
			for _, op := range f.History()[seen:] {
				if op.Name != "update" {
					t.Errorf("the controller acted on the drift: %s", op)
				}
			}
		})
	}
}

// TestMountIsAStep: a destination gets its NFS junction once its baseline is in, as a step of
// the engine like any other: with jobs that outlive return_timeout every pass returns at once
// with the job to follow (on this simulator's manual clock, a pass that waited on a job would
// never return), and the volume ends mounted.
func TestMountIsAStep(t *testing.T) {
	f, _, secondary := sites(t)
	f.SetJobDuration(2 * time.Minute)
	req := mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Established, Mount: &mirror.Junction{Path: "/v", ExportPolicy: "default"}}
	var res mirror.Result
	var steps []mirror.Action
	for range 12 {
		res = mirror.Run(context.Background(), secondary.api, req)
		steps = append(steps, res.Actions...)
		if res.Err != nil {
			t.Fatalf("pass: %v", res.Err)
		}
		if res.RequeueAfter == 0 {
			break
		}
		req.Started, req.Job = res.Started, res.Job
		f.Advance(3 * time.Minute)
	}
	if res.State != mirror.Established || !res.Mounted {
		t.Fatalf("last pass: %+v", res)
	}
	if v, err := secondary.api.GetVolume(context.Background(), "svm2", "v"); err != nil || v.JunctionPath != "/v" {
		t.Errorf("volume after the passes: %+v, %v", v, err)
	}
	want := []mirror.Action{mirror.Create, mirror.Initialize, mirror.Mount}
	if !slices.Equal(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}
}
