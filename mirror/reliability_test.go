package mirror_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/ontaptest"
)

// world is one run of an operation: two peered clusters with the mirrored pair svm1:v ->
// svm2:v, the engine's calls going to the secondary (the local cluster of the TMR).
type world struct {
	f                  *sim.Fabric
	primary, secondary site
	// want is the destination's content once the operation has converged.
	want map[string]string
	// base carries an on-demand update's progress between passes, as the TAMU status does.
	base *mirror.Started
	// started is the length of the fabric's history when the operation began.
	started int
	// steps and job are the TMR's status.request: the steps recorded before they were sent,
	// and the job left running.
	steps []mirror.Action
	job   string
}

// outcome is one pass of an operation, as the status would show it.
type outcome struct {
	state, message string
	settled        bool // nothing more to do: the caller stops requeueing
	err            error
}

// operation is a user's request, its setup, and what must hold once it has converged.
type operation struct {
	name string
	// setup brings the world to the state the operation starts from, and sets want.
	setup func(t *testing.T, w *world)
	// pass is one reconcile pass of the controller.
	pass func(w *world) outcome
	// desired is the state the operation converges to.
	desired string
	// holds reports whether ONTAP shows the desired state, to check that status never claims
	// it early.
	holds func(w *world) bool
	// may lists the SnapMirror operations it may cause (besides transfers ONTAP schedules).
	may []string
}

var ctx = context.Background()

// engine is a pass of the TMR controller: the request's record of steps and of the running
// job live in the status, a step recorded before it is sent, the rest written after the pass.
func engine(req mirror.Request) func(w *world) outcome {
	return func(w *world) outcome {
		req := req
		req.Started, req.Job = slices.Clone(w.steps), w.job
		req.Record = func(_ context.Context, a mirror.Action, _ *ontap.Relationship) error {
			w.steps = append(w.steps, a)
			return nil
		}
		res := mirror.Run(ctx, w.secondary.api, req)
		w.steps, w.job = res.Started, res.Job
		return outcome{state: string(res.State), message: res.Message, settled: res.Err == nil && res.RequeueAfter == 0, err: res.Err}
	}
}

func relState(w *world) string {
	rel, err := w.secondary.setup.GetRelationship(ctx, "svm2:v")
	if err != nil {
		return "none"
	}
	return string(rel.State)
}

func established(t *testing.T, w *world) {
	t.Helper()
	runTo(t, w, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Established, Policy: "MirrorAllSnapshots"}, mirror.Established)
}

// runTo runs the engine's passes for req, as the controller would (following the job a pass
// leaves running), moving the clock between them, until one settles in want.
func runTo(t *testing.T, w *world, req mirror.Request, want mirror.State) {
	t.Helper()
	var res mirror.Result
	for range 30 {
		res = mirror.Run(ctx, w.secondary.api, req)
		if res.State == want && res.Err == nil && res.RequeueAfter == 0 {
			return
		}
		req.Job, req.Started = res.Job, res.Started
		w.f.Advance(5 * time.Second)
	}
	t.Fatalf("setup: %s: %+v", want, res)
}

func mustWrite(t *testing.T, s site, svm, path, content string) {
	t.Helper()
	if err := s.WriteFile(svm, "v", path, content); err != nil {
		t.Fatal(err)
	}
}

// operations are the engine's operations, each from the state a user would ask it in.
var operations = []operation{{
	name: "establish",
	setup: func(t *testing.T, w *world) {
		w.want = map[string]string{"a.txt": "alpha"}
	},
	pass:    engine(mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Established, Policy: "MirrorAllSnapshots"}),
	desired: string(mirror.Established),
	holds:   func(w *world) bool { return relState(w) == string(ontap.Snapmirrored) },
	may:     []string{"create", "initialize"},
}, {
	// Unplanned failover: what came after the last transfer (b.txt) is lost, nothing else.
	name: "promote",
	setup: func(t *testing.T, w *world) {
		established(t, w)
		mustWrite(t, w.primary, "svm1", "b.txt", "after the last transfer")
		w.want = map[string]string{"a.txt": "alpha"}
	},
	pass:    engine(mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Promoted}),
	desired: string(mirror.Promoted),
	holds:   func(w *world) bool { s := relState(w); return s == "none" || s == string(ontap.BrokenOff) },
	may:     []string{"quiesce", "break"},
}, {
	// Planned failover: the snapshot taken after the last write arrives first; 0 bytes lost.
	name: "promote to a snapshot",
	setup: func(t *testing.T, w *world) {
		established(t, w)
		mustWrite(t, w.primary, "svm1", "final.txt", "last write before the migration")
		src, err := w.primary.setup.GetVolume(ctx, "svm1", "v")
		if err != nil {
			t.Fatal(err)
		}
		ontaptest.Settle(t, w.f, w.primary.setup)(w.primary.setup.CreateSnapshot(ctx, src.UUID, "migration"))
		w.want = files(t, w.primary, "svm1")
	},
	pass:    engine(mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Promoted, PromotedSnapshot: "migration"}),
	desired: string(mirror.Promoted),
	holds:   func(w *world) bool { s := relState(w); return s == "none" || s == string(ontap.BrokenOff) },
	may:     []string{"quiesce", "break", "update", "resume"},
}, {
	// Reestablish after a failover: the secondary's writes since the break are discarded, as
	// the user asked; the primary's new content arrives.
	name: "reestablish",
	setup: func(t *testing.T, w *world) {
		established(t, w)
		runTo(t, w, mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Promoted}, mirror.Promoted)
		mustWrite(t, w.secondary, "svm2", "dr.txt", "written at the DR site, discarded")
		mustWrite(t, w.primary, "svm1", "b.txt", "beta")
		w.want = map[string]string{"a.txt": "alpha", "b.txt": "beta"}
	},
	pass:    engine(mirror.Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: "svm1:v", Desired: mirror.Reestablished, Policy: "MirrorAllSnapshots"}),
	desired: string(mirror.Reestablished),
	holds:   func(w *world) bool { return relState(w) == string(ontap.Snapmirrored) },
	may:     []string{"resync"},
}, {
	// An on-demand update (TridentActionMirrorUpdate). A failed transfer is the action's end
	// (Failed), as for the user: the next pass stands for the new action they create.
	name: "update",
	setup: func(t *testing.T, w *world) {
		established(t, w)
		mustWrite(t, w.primary, "svm1", "b.txt", "beta")
		w.want = map[string]string{"a.txt": "alpha", "b.txt": "beta"}
	},
	pass: func(w *world) outcome {
		res := mirror.UpdateOnDemand(ctx, w.secondary.api, ontap.Path{SVM: "svm2", Volume: "v"}, "", w.base)
		w.base = res.Started
		o := outcome{state: "In progress", message: res.Message, err: res.Err}
		switch {
		case res.Err != nil:
		case res.Outcome == mirror.UpdateSucceeded:
			o.state, o.settled = "Succeeded", true
		case res.Outcome == mirror.UpdateFailed:
			o.state, o.settled, w.base = "Failed", true, nil
		}
		return o
	},
	desired: "Succeeded",
	holds: func(w *world) bool {
		got, _ := w.secondary.Files("svm2", "v")
		return got["b.txt"] == "beta"
	},
	may: []string{"update"},
}, {
	// Deleting the destination's TMR: promoted, its record kept broken off, the content kept.
	name: "release",
	setup: func(t *testing.T, w *world) {
		established(t, w)
		w.want = map[string]string{"a.txt": "alpha"}
	},
	pass: func(w *world) outcome {
		res := mirror.Release(ctx, w.secondary.api, ontap.Path{SVM: "svm2", Volume: "v"}, nil)
		return outcome{state: string(res.State), message: res.Message, settled: res.Err == nil && res.RequeueAfter == 0, err: res.Err}
	},
	desired: string(mirror.Promoted),
	holds:   func(w *world) bool { return relState(w) == "broken_off" },
	may:     []string{"quiesce", "break"},
}}

func newWorld(t *testing.T, op operation) *world {
	t.Helper()
	// A short request timeout, for the timeout fault: ONTAP hangs for a second. Timings as
	// slow as ONTAP's: every job outlasts its call and every transfer takes seconds.
	f, primary, secondary := sitesTimed(t, sim.RealisticTimings(), 300*time.Millisecond)
	w := &world{f: f, primary: primary, secondary: secondary}
	op.setup(t, w)
	w.started = len(f.History())
	return w
}

// truthful fails when a pass claims the desired state while ONTAP does not show it, or fails
// without saying why.
func truthful(t *testing.T, w *world, op operation, o outcome) {
	t.Helper()
	if o.state == op.desired && o.settled && !op.holds(w) {
		t.Errorf("status says %s, ONTAP shows relationship %s", o.state, relState(w))
	}
	if o.err != nil && o.message == "" {
		t.Errorf("a failed pass with no message: %v", o.err)
	}
	if o.state == "" {
		t.Errorf("a pass with no state: %+v", o)
	}
}

// converge runs passes, advancing ONTAP's clock between them, until one settles.
func converge(t *testing.T, w *world, op operation) outcome {
	t.Helper()
	return convergeFailing(t, w, op, true)
}

// convergeFailing is converge; without mayFail, no fault is left, and a pass that reports a
// failure fails the test: what ONTAP shows, however it got there, is no reason to fail.
func convergeFailing(t *testing.T, w *world, op operation, mayFail bool) outcome {
	t.Helper()
	var o outcome
	for range 20 {
		o = op.pass(w)
		truthful(t, w, op, o)
		if !mayFail && (o.err != nil || o.state == string(mirror.Failed) || o.state == "Failed") {
			t.Errorf("a pass with no fault left reports %s: %s", o.state, o.message)
		}
		if o.settled && o.state == op.desired {
			return o
		}
		if o.settled && op.name == "update" {
			continue // the user's next update
		}
		w.f.Advance(10 * time.Second)
	}
	t.Fatalf("%s did not converge: last pass %+v; history %v", op.name, o, w.f.History()[w.started:])
	return o
}

// invariants checks what must hold after any operation, whatever failed on the way.
func invariants(t *testing.T, w *world, op operation, before map[string][]string, source map[string]string) {
	t.Helper()
	if got := files(t, w.secondary, "svm2"); !maps.Equal(got, w.want) {
		t.Errorf("destination holds %v, want %v", got, w.want)
	}
	// Nothing written or broken on the source side.
	if got := files(t, w.primary, "svm1"); !maps.Equal(got, source) {
		t.Errorf("the source changed: %v, was %v", got, source)
	}
	if v, _ := w.primary.Volume("svm1", "v"); v.Type != ontap.VolumeRW {
		t.Errorf("the source is %s", v.Type)
	}
	// No orphaned or missing volume.
	for name, c := range map[string]site{"primary": w.primary, "secondary": w.secondary} {
		if got := c.VolumeNames(); !slices.Equal(got, before[name]) {
			t.Errorf("%s volumes: %v, were %v", name, got, before[name])
		}
	}
	// No duplicate relationship.
	rels, err := w.secondary.setup.ListRelationships(ctx, ontap.RelationshipFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) > 1 {
		t.Errorf("%d relationships: %+v", len(rels), rels)
	}
	// Only the SnapMirror operations the request may cause; a resync only when asked, and
	// once per request.
	resyncs := 0
	for _, o := range w.f.History()[w.started:] {
		if o.Name == "resync" {
			if resyncs++; resyncs > 1 {
				t.Errorf("%s resynced %d times for one request", op.name, resyncs)
			}
		}
		if o.Destination == "svm1:v" {
			t.Errorf("%s acted on the source volume as a destination: %s", op.name, o)
		}
		if !slices.Contains(op.may, o.Name) && !(o.Name == "update" && o.Source == "svm1:v") {
			t.Errorf("%s caused %s, which it may not", op.name, o)
		}
	}
}

func snapshotOf(t *testing.T, w *world) (map[string][]string, map[string]string) {
	t.Helper()
	before := map[string][]string{"primary": w.primary.VolumeNames(), "secondary": w.secondary.VolumeNames()}
	return before, files(t, w.primary, "svm1")
}

// fault is one column of the matrix: it is applied, some passes run under it, then it clears.
type fault struct {
	name         string
	apply, clear func(w *world)
	// busy: ONTAP only answers "busy, try again"; the status must never say failed.
	busy bool
}

// onMutations injects f into every POST, PATCH and DELETE of the cluster.
func onMutations(c *sim.Cluster, f sim.Fault) {
	for _, m := range []string{"POST", "PATCH", "DELETE"} {
		f.Method = m
		c.InjectFault(f)
	}
}

var faults = []fault{{
	name:  "5xx",
	apply: func(w *world) { onMutations(w.secondary.Cluster, sim.Fault{Status: 500, Message: "internal error"}) },
	clear: func(w *world) { w.secondary.ClearFaults() },
}, {
	name:  "timeout",
	apply: func(w *world) { onMutations(w.secondary.Cluster, sim.Fault{Hang: time.Second}) },
	clear: func(w *world) { w.secondary.ClearFaults() },
}, {
	name:  "connection refused",
	apply: func(w *world) { w.secondary.SetDown(true) },
	clear: func(w *world) { w.secondary.SetDown(false) },
}, {
	name: "failed job",
	apply: func(w *world) {
		onMutations(w.secondary.Cluster, sim.Fault{FailJob: true, Code: "13303816", Message: "Cannot reach the source. Retry later."})
	},
	clear: func(w *world) { w.secondary.ClearFaults() },
}, {
	name:  "lost answer",
	apply: func(w *world) { onMutations(w.secondary.Cluster, sim.Fault{LoseAnswer: true, Times: 1}) },
	clear: func(w *world) { w.secondary.ClearFaults() },
}, {
	// A slow transfer: an update (as a schedule would start) that takes minutes is running
	// when the operation begins, and later transfers are as slow.
	name: "slow transfer",
	apply: func(w *world) {
		w.secondary.SetTransferDelay(90 * time.Second)
		if rel, err := w.secondary.setup.GetRelationship(ctx, "svm2:v"); err == nil && rel.State == ontap.Snapmirrored {
			w.secondary.setup.StartTransfer(ctx, rel.UUID, "")
		}
	},
	clear: func(w *world) {}, // the clock moves on while converging
}, {
	// An abort that takes time, as on ONTAP: a slow transfer runs, and its abort goes on for
	// 20 s, during which a break answers "another transfer is in progress".
	name: "slow abort",
	apply: func(w *world) {
		w.secondary.SetTransferDelay(90 * time.Second)
		w.secondary.SetAbortDelay(20 * time.Second)
		if rel, err := w.secondary.setup.GetRelationship(ctx, "svm2:v"); err == nil && rel.State == ontap.Snapmirrored {
			w.secondary.setup.StartTransfer(ctx, rel.UUID, "")
		}
	},
	clear: func(w *world) {},
	busy:  true,
}, {
	name:  "source cluster down, then back",
	apply: func(w *world) { w.primary.SetDown(true) },
	clear: func(w *world) { w.primary.SetDown(false) },
}, {
	// A partition that drops packets: connections to the cluster are accepted and never
	// answered, so every call waits for the client's timeout.
	name:  "local cluster black-holed, then back",
	apply: func(w *world) { w.secondary.SetBlackHoled(true) },
	clear: func(w *world) { w.secondary.SetBlackHoled(false) },
}, {
	name:  "source cluster black-holed, then back",
	apply: func(w *world) { w.primary.SetBlackHoled(true) },
	clear: func(w *world) { w.primary.SetBlackHoled(false) },
}}

// TestFaultMatrix crosses every fault with every operation: under the fault the status tells
// the truth; once it clears the operation converges; afterwards the invariants hold.
func TestFaultMatrix(t *testing.T) {
	for _, op := range operations {
		for _, ft := range faults {
			t.Run(op.name+"/"+ft.name, func(t *testing.T) {
				w := newWorld(t, op)
				before, source := snapshotOf(t, w)
				ft.apply(w)
				var states []string
				for range 3 {
					o := op.pass(w)
					truthful(t, w, op, o)
					if ft.busy && (o.state == string(mirror.Failed) || o.state == "Failed") {
						t.Errorf("a busy answer was shown as failed: %s", o.message)
					}
					states = append(states, o.state)
					w.f.Advance(10 * time.Second)
				}
				ft.clear(w)
				o := converge(t, w, op)
				invariants(t, w, op, before, source)
				t.Logf("under the fault: %s; then %s: %s", strings.Join(states, ", "), o.state, o.message)
			})
		}
	}
}

// TestCrashAtEveryStep kills the controller after its k-th ONTAP call of an operation, for
// every k: that call takes effect but its answer is lost, and nothing after it reaches ONTAP.
// A new controller then starts from what ONTAP shows and must converge with the invariants.
func TestCrashAtEveryStep(t *testing.T) {
	total := 0
	for _, op := range operations {
		// A clean run counts the calls.
		w := newWorld(t, op)
		w.secondary.ResetRequests()
		converge(t, w, op)
		calls := w.secondary.Requests()["total"]
		for k := 1; k <= calls; k++ {
			total++
			t.Run(fmt.Sprintf("%s/after call %d of %d", op.name, k, calls), func(t *testing.T) {
				w := newWorld(t, op)
				before, source := snapshotOf(t, w)
				w.secondary.InjectFault(sim.Fault{After: k, Drop: true})
				w.secondary.InjectFault(sim.Fault{After: k - 1, Times: 1, LoseAnswer: true})
				for range calls { // the dying controller's passes, until it is cut off
					op.pass(w)
				}
				w.secondary.ClearFaults()
				w.base, w.job = nil, "" // the status write of the dead process never happened
				convergeFailing(t, w, op, false)
				invariants(t, w, op, before, source)
			})
		}
	}
	t.Logf("%d crash points over %d operations", total, len(operations))
}
