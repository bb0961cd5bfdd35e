package ontap_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/ontaptest"
)

// realistic is a pair of clusters with the realistic timings on a manual clock.
func realistic(t *testing.T, mod func(*sim.Options)) (*sim.Fabric, site, site) {
	t.Helper()
	opts := sim.RealisticTimings()
	opts.Manual, opts.Start = true, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if mod != nil {
		mod(&opts)
	}
	return pair(t, opts)
}

// settledVolume creates a volume and waits for its job on the manual clock.
func settledVolume(t *testing.T, f *sim.Fabric, s site, svm, name, typ string) *ontap.Volume {
	t.Helper()
	ctx := context.Background()
	ontaptest.Settle(t, f, s.api)(s.api.CreateVolume(ctx, ontap.VolumeSpec{Name: name, SVM: svm, Aggregate: aggrOf(s), Size: 1 << 30, Type: typ}))
	v, err := s.api.GetVolume(ctx, svm, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// settledMirror makes svm1:v -> svm2:v, initialized, on the manual clock.
func settledMirror(t *testing.T, f *sim.Fabric, primary, secondary site) *ontap.Relationship {
	t.Helper()
	ctx := context.Background()
	settledVolume(t, f, primary, "svm1", "v", ontap.VolumeRW)
	settledVolume(t, f, secondary, "svm2", "v", ontap.VolumeDP)
	ontaptest.Settle(t, f, secondary.api)(dropUUID(secondary.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2:v"})))
	rel := relationshipOf(t, secondary)
	ontaptest.Settle(t, f, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}))
	for rel = relationshipOf(t, secondary); rel.Transfer == nil || rel.Transfer.State.Active(); rel = relationshipOf(t, secondary) {
		f.Advance(time.Second)
	}
	if rel.State != ontap.Snapmirrored {
		t.Fatalf("after initialize: %s", rel.State)
	}
	return rel
}

func relationshipOf(t *testing.T, s site) *ontap.Relationship {
	t.Helper()
	rel, err := s.api.GetRelationship(context.Background(), "svm2:v")
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// TestJobsQueueThenRun pins the jobs' timing: each kind of job is queued, then running, then
// ends at its duration from RealisticTimings, and its effect shows only then.
func TestJobsQueueThenRun(t *testing.T) {
	ctx := context.Background()
	d := sim.RealisticTimings().JobDurations
	for _, tc := range []struct {
		name string
		took time.Duration
		// start starts the job; effect reports whether its effect shows.
		start  func(t *testing.T, f *sim.Fabric, p, s site) (*ontap.Job, error)
		effect func(t *testing.T, p, s site) bool
	}{{
		name: "volume create", took: d.VolumeCreate,
		start: func(t *testing.T, f *sim.Fabric, p, s site) (*ontap.Job, error) {
			return p.api.CreateVolume(ctx, ontap.VolumeSpec{Name: "n", SVM: "svm1", Aggregate: aggrOf(p), Size: 1 << 30})
		},
		effect: func(t *testing.T, p, s site) bool { _, err := p.Volume("svm1", "n"); return err == nil },
	}, {
		name: "volume delete", took: d.VolumeDelete,
		start: func(t *testing.T, f *sim.Fabric, p, s site) (*ontap.Job, error) {
			return p.api.DeleteVolume(ctx, settledVolume(t, f, p, "svm1", "n", ontap.VolumeRW).UUID)
		},
		effect: func(t *testing.T, p, s site) bool { _, err := p.Volume("svm1", "n"); return err != nil },
	}, {
		name: "snapshot create", took: d.SnapshotCreate,
		start: func(t *testing.T, f *sim.Fabric, p, s site) (*ontap.Job, error) {
			return p.api.CreateSnapshot(ctx, settledVolume(t, f, p, "svm1", "n", ontap.VolumeRW).UUID, "s1")
		},
		effect: func(t *testing.T, p, s site) bool { v, _ := p.Volume("svm1", "n"); return len(v.Snapshots) == 1 },
	}, {
		name: "relationship create", took: d.RelationshipCreate,
		start: func(t *testing.T, f *sim.Fabric, p, s site) (*ontap.Job, error) {
			settledVolume(t, f, p, "svm1", "v", ontap.VolumeRW)
			settledVolume(t, f, s, "svm2", "v", ontap.VolumeDP)
			return dropUUID(s.api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2:v"}))
		},
		effect: func(t *testing.T, p, s site) bool { _, err := s.api.GetRelationship(ctx, "svm2:v"); return err == nil },
	}, {
		name: "relationship modify (quiesce)", took: d.RelationshipModify,
		start: func(t *testing.T, f *sim.Fabric, p, s site) (*ontap.Job, error) {
			rel := settledMirror(t, f, p, s)
			return s.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Paused})
		},
		effect: func(t *testing.T, p, s site) bool { return relationshipOf(t, s).State == ontap.Paused },
	}, {
		name: "relationship delete", took: d.RelationshipDelete,
		start: func(t *testing.T, f *sim.Fabric, p, s site) (*ontap.Job, error) {
			rel := settledMirror(t, f, p, s)
			return s.api.DeleteRelationship(ctx, rel.UUID, ontap.DeleteDestinationOnly)
		},
		effect: func(t *testing.T, p, s site) bool { _, err := s.api.GetRelationship(ctx, "svm2:v"); return err != nil },
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f, p, s := realistic(t, nil)
			api := p.api
			if strings.HasPrefix(tc.name, "relationship") {
				api = s.api
			}
			job, err := tc.start(t, f, p, s)
			if err != nil || job == nil {
				t.Fatalf("got %+v, %v; want a job that runs on (a manual clock does not pass in a call)", job, err)
			}
			for _, step := range []struct {
				advance time.Duration
				want    ontap.JobState
			}{{0, ontap.JobQueued}, {d.Queued, ontap.JobRunning}, {tc.took - time.Millisecond, ontap.JobRunning}, {time.Millisecond, ontap.JobSuccess}} {
				f.Advance(step.advance)
				got, err := api.GetJob(ctx, job.UUID)
				if err != nil {
					t.Fatal(err)
				}
				if got.State != step.want {
					t.Fatalf("after %s more: job %s, want %s", step.advance, got.State, step.want)
				}
				if shows := tc.effect(t, p, s); shows != (step.want == ontap.JobSuccess) {
					t.Errorf("job %s, and its effect shows: %v", got.State, shows)
				}
			}
		})
	}
}

// TestReturnTimeout pins when a call answers with its job done: only when the clock runs
// and return_timeout covers the job; the call then took the job's (simulated) time.
func TestReturnTimeout(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		manual        bool
		returnTimeout time.Duration
		wantJob       bool
	}{
		{name: "running clock, return_timeout covers the job", returnTimeout: 5 * time.Second},
		{name: "running clock, return_timeout shorter than the job", returnTimeout: time.Second, wantJob: true},
		{name: "manual clock: no time passes in a call", manual: true, returnTimeout: 5 * time.Second, wantJob: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := sim.RealisticTimings()
			opts.Manual, opts.ClockRate, opts.Start = tc.manual, 100, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
			f, p, _ := pair(t, opts)
			api := client(t, f, p.Cluster, p.CA(), func(c *ontap.Config) { c.ReturnTimeout = tc.returnTimeout })
			before := f.Now()
			job, err := api.CreateVolume(ctx, ontap.VolumeSpec{Name: "n", SVM: "svm1", Aggregate: aggrOf(p), Size: 1 << 30})
			if err != nil || (job != nil) != tc.wantJob {
				t.Fatalf("got job %+v, %v; want a job: %v", job, err, tc.wantJob)
			}
			_, err = p.Volume("svm1", "n")
			if exists := err == nil; exists == tc.wantJob {
				t.Errorf("the volume exists: %v, with the call's job running: %v", exists, tc.wantJob)
			}
			took := sim.RealisticTimings().JobDurations
			if !tc.wantJob && f.Now().Sub(before) < took.Queued+took.VolumeCreate {
				t.Errorf("the call answered after %s of simulated time, before its job could end", f.Now().Sub(before))
			}
		})
	}
}

// TestTransferTiming pins the transfers' timing: bytes move at the rate after the setup, a
// quiesce waits for the running transfer, and a break during a slow abort is busy.
func TestTransferTiming(t *testing.T) {
	ctx := context.Background()
	const rate, size = 1000, 10000 // 10 s of data
	setup := sim.RealisticTimings().TransferSetup
	big := map[string]string{"big": strings.Repeat("x", size)}
	start := func(t *testing.T) (*sim.Fabric, site, *ontap.Relationship, *ontap.Transfer, time.Time) {
		f, p, s := realistic(t, func(o *sim.Options) { o.TransferRate = rate })
		rel := settledMirror(t, f, p, s)
		write(t, p, "svm1", "v", big)
		xfer, err := s.api.StartTransfer(ctx, rel.UUID, "")
		if err != nil || xfer.State != ontap.TransferQueued {
			t.Fatalf("start: %+v, %v; want queued", xfer, err)
		}
		return f, s, rel, xfer, f.Now()
	}
	t.Run("bytes_transferred grows at the rate", func(t *testing.T) {
		f, s, rel, xfer, t0 := start(t)
		for _, step := range []struct {
			at    time.Duration
			state ontap.TransferState
			bytes int64
		}{
			{0, ontap.TransferQueued, 0}, {time.Second, ontap.TransferTransferring, 0}, {setup, ontap.TransferTransferring, 0},
			{setup + 2*time.Second, ontap.TransferTransferring, 2 * rate}, {setup + 7*time.Second, ontap.TransferTransferring, 7 * rate},
			{setup + 10*time.Second, ontap.TransferSuccess, size},
		} {
			f.Advance(step.at - f.Now().Sub(t0))
			got, err := s.api.GetTransfer(ctx, rel.UUID, xfer.UUID)
			if err != nil {
				t.Fatal(err)
			}
			onRel := relationshipOf(t, s).Transfer
			if got.State != step.state || got.BytesTransferred != step.bytes || onRel.BytesTransferred != step.bytes {
				t.Errorf("at %s: transfer %s with %d bytes (the relationship says %d), want %s with %d", step.at, got.State, got.BytesTransferred, onRel.BytesTransferred, step.state, step.bytes)
			}
		}
	})
	t.Run("a quiesce waits for the transfer", func(t *testing.T) {
		f, s, rel, _, _ := start(t)
		ontaptest.Settle(t, f, s.api)(s.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Paused}))
		// The quiesce's job ended; the transfer still runs and the relationship is not paused.
		if r := relationshipOf(t, s); r.State != ontap.Snapmirrored || !r.Transfer.State.Active() {
			t.Fatalf("quiescing: %s with transfer %s, want snapmirrored with the transfer running", r.State, r.Transfer.State)
		}
		r := relationshipOf(t, s)
		for ; r.Transfer.State.Active(); r = relationshipOf(t, s) {
			if r.State != ontap.Snapmirrored {
				t.Fatalf("%s while the transfer runs", r.State)
			}
			f.Advance(time.Second)
		}
		if r.State != ontap.Paused || r.Transfer.State != ontap.TransferSuccess {
			t.Errorf("after the transfer: %s with transfer %s, want paused after a success", r.State, r.Transfer.State)
		}
	})
	t.Run("a break during an abort is busy", func(t *testing.T) {
		f, s, rel, xfer, _ := start(t)
		abortDelay := sim.RealisticTimings().AbortDelay
		if err := s.api.AbortTransfer(ctx, rel.UUID, xfer.UUID); err != nil {
			t.Fatal(err)
		}
		for range abortDelay / time.Second {
			_, err := s.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff})
			if !ontap.IsBusy(err) {
				t.Fatalf("a break while the abort runs: %v, want busy", err)
			}
			f.Advance(time.Second)
		}
		if r := relationshipOf(t, s); r.Transfer.State != ontap.TransferAborted {
			t.Fatalf("after the abort's delay: transfer %s", r.Transfer.State)
		}
		ontaptest.Settle(t, f, s.api)(s.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff}))
	})
}

// TestDownModes pins the two ways a cluster is down: refusing connections, and black-holed
// (it accepts them and never answers: the client times out). Both come back on the same
// address.
func TestDownModes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		down    func(c *sim.Cluster) error
		refused bool
	}{
		{name: "refusing connections", down: func(c *sim.Cluster) error { return c.SetDown(true) }, refused: true},
		{name: "black-holed", down: func(c *sim.Cluster) error { return c.SetBlackHoled(true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, p, _ := pair(t, sim.Options{})
			if err := tc.down(p.Cluster); err != nil {
				t.Fatal(err)
			}
			conn, err := net.DialTimeout("tcp", p.Address(), time.Second)
			if (err != nil) != tc.refused {
				t.Errorf("connect: %v, want refused: %v", err, tc.refused)
			}
			if conn != nil {
				conn.Close()
			}
			api := client(t, f, p.Cluster, p.CA(), func(c *ontap.Config) { c.RequestTimeout = 200 * time.Millisecond })
			_, err = api.Cluster(context.Background())
			if err == nil || isTimeout(err) == tc.refused {
				t.Errorf("a request: %v, want a timeout: %v", err, !tc.refused)
			}
			if err := p.SetDown(false); err != nil {
				t.Fatal(err)
			}
			if _, err := api.Cluster(context.Background()); err != nil {
				t.Errorf("back up: %v", err)
			}
		})
	}
}

// isTimeout reports whether a request failed for want of an answer in time.
func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

// TestRelationshipJobsSerialize pins what ONTAP does with a request on a relationship whose
// earlier job still runs: a PATCH or DELETE answers "modification in progress" (busy), and a
// second create queued behind the first fails its job as a duplicate.
func TestRelationshipJobsSerialize(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// first starts the job that runs; second is the request made meanwhile.
		first, second func(s site, uuid string) (*ontap.Job, error)
	}{
		{
			name: "a PATCH while a PATCH's job runs",
			first: func(s site, uuid string) (*ontap.Job, error) {
				return s.api.ModifyRelationship(ctx, uuid, ontap.RelationshipChange{State: ontap.Paused})
			},
			second: func(s site, uuid string) (*ontap.Job, error) {
				return s.api.ModifyRelationship(ctx, uuid, ontap.RelationshipChange{State: ontap.BrokenOff})
			},
		},
		{
			name: "a DELETE while a PATCH's job runs",
			first: func(s site, uuid string) (*ontap.Job, error) {
				return s.api.ModifyRelationship(ctx, uuid, ontap.RelationshipChange{State: ontap.Paused})
			},
			second: func(s site, uuid string) (*ontap.Job, error) {
				return s.api.DeleteRelationship(ctx, uuid, ontap.DeleteDestinationOnly)
			},
		},
		{
			name: "a PATCH while a DELETE's job runs",
			first: func(s site, uuid string) (*ontap.Job, error) {
				return s.api.DeleteRelationship(ctx, uuid, ontap.DeleteDestinationOnly)
			},
			second: func(s site, uuid string) (*ontap.Job, error) {
				return s.api.ModifyRelationship(ctx, uuid, ontap.RelationshipChange{State: ontap.Paused})
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, p, s := realistic(t, nil)
			rel := settledMirror(t, f, p, s)
			job, err := tc.first(s, rel.UUID)
			if err != nil || job == nil {
				t.Fatalf("first: %+v, %v", job, err)
			}
			if _, err := tc.second(s, rel.UUID); !ontap.IsBusy(err) || !ontap.HasCode(err, "6619715") {
				t.Errorf("second while the first's job runs: %v, want busy 6619715", err)
			}
			ontaptest.Settle(t, f, s.api)(job, nil)
		})
	}
	t.Run("a second create queued behind the first", func(t *testing.T) {
		f, p, s := realistic(t, nil)
		settledVolume(t, f, p, "svm1", "v", ontap.VolumeRW)
		settledVolume(t, f, s, "svm2", "v", ontap.VolumeDP)
		spec := ontap.RelationshipSpec{Source: "svm1:v", Destination: "svm2:v"}
		_, first, err := s.api.CreateRelationship(ctx, spec)
		if err != nil || first == nil {
			t.Fatalf("first: %+v, %v", first, err)
		}
		_, second, err := s.api.CreateRelationship(ctx, spec)
		if err != nil || second == nil {
			t.Fatalf("second: %+v, %v; want a job (the first has not run yet)", second, err)
		}
		ontaptest.Settle(t, f, s.api)(first, nil)
		got, err := s.api.GetJob(ctx, second.UUID)
		if err != nil || got.State != ontap.JobFailure || !ontap.IsAlreadyExists(got.Err) {
			t.Errorf("the second create's job: %+v, %v; want a failure: already exists", got, err)
		}
		if rels, _ := s.api.ListRelationships(ctx, ontap.RelationshipFilter{}); len(rels) != 1 {
			t.Errorf("%d relationships", len(rels))
		}
	})
}

// TestWorkIsCounted: the work a cluster does, its jobs and the transfers into it, is counted
// in simulated seconds from the start of each, until the counters are reset.
func TestWorkIsCounted(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{
		JobDurations:  sim.JobDurations{Queued: 500 * time.Millisecond, VolumeCreate: 2 * time.Second},
		TransferSetup: 3 * time.Second, TransferRate: 1000,
	})
	settledVolume(t, f, primary, "svm1", "w", ontap.VolumeRW)
	if w := primary.Work(); w.Jobs != 1 || w.JobSeconds != 2.5 || w.Transfers != 0 {
		t.Errorf("after a volume create: %+v, want one job of 2.5 s", w)
	}
	rel := settledMirror(t, f, primary, secondary)
	secondary.ResetRequests()
	if w := secondary.Work(); w != (sim.Work{}) {
		t.Errorf("after a reset: %+v", w)
	}
	if err := primary.WriteFile("svm1", "v", "a", strings.Repeat("x", 4000)); err != nil {
		t.Fatal(err)
	}
	if _, err := secondary.api.StartTransfer(context.Background(), rel.UUID, ""); err != nil {
		t.Fatal(err)
	}
	if w := secondary.Work(); w.Transfers != 1 || w.TransferSeconds != 7 || w.TransferredBytes != 4000 || w.Jobs != 0 {
		t.Errorf("after an update of 4000 bytes at 1000 B/s: %+v, want one transfer of 3 + 4 s", w)
	}
}

// TestLongAdvance pins that one long Advance lets everything happen when it is due, in order:
// a 5min schedule fires at each of its minutes, and each update ends before the next starts.
func TestLongAdvance(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{TransferSetup: 30 * time.Second})
	rel := mirror(t, primary, secondary, "v", ontap.RelationshipSpec{Schedule: "5min"})
	f.AdvanceUntil(func() bool { return !relationshipOf(t, secondary).Transfer.State.Active() }, time.Second, time.Minute)
	before := len(f.History())
	f.Advance(12 * time.Minute)
	var updates int
	for _, op := range f.History()[before:] {
		if op.Name == "update" && op.Destination == rel.Destination {
			updates++
		}
	}
	if updates != 2 {
		t.Errorf("%d scheduled updates in 12 minutes of a 5min schedule, want 2: %v", updates, f.History()[before:])
	}
	if r := relationshipOf(t, secondary); r.Transfer.State != ontap.TransferSuccess {
		t.Errorf("the last update: %s, want ended", r.Transfer.State)
	}
}
