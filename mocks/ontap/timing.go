package ontap

import "time"

// JobDurations are how long each kind of asynchronous job takes on the simulated clock. A
// zero duration falls back to Options.JobDuration, which so stays "every kind".
type JobDurations struct {
	// Queued is how long a job waits in ONTAP's job queue, state queued, before it runs.
	Queued time.Duration
	// VolumeCreate, VolumeModify (a resize, a mount, autosize...), VolumeDelete.
	VolumeCreate time.Duration
	VolumeModify time.Duration
	VolumeDelete time.Duration
	// SnapshotCreate, SnapshotDelete: a volume's snapshots.
	SnapshotCreate time.Duration
	SnapshotDelete time.Duration
	// RelationshipCreate, RelationshipModify (initialize, quiesce, resume, break, resync, a
	// policy or schedule change), RelationshipDelete (delete, release).
	RelationshipCreate time.Duration
	RelationshipModify time.Duration
	RelationshipDelete time.Duration
	// LUNCreate, LUNModify (a resize, a rename, online/offline...), LUNDelete.
	LUNCreate time.Duration
	LUNModify time.Duration
	LUNDelete time.Duration
}

// byKey is every duration by its key in a topology's jobDurations.
func (d *JobDurations) byKey() map[string]*time.Duration {
	return map[string]*time.Duration{
		"queued": &d.Queued, "volumeCreate": &d.VolumeCreate, "volumeModify": &d.VolumeModify,
		"volumeDelete": &d.VolumeDelete, "snapshotCreate": &d.SnapshotCreate, "snapshotDelete": &d.SnapshotDelete,
		"relationshipCreate": &d.RelationshipCreate, "relationshipModify": &d.RelationshipModify,
		"relationshipDelete": &d.RelationshipDelete, "lunCreate": &d.LUNCreate, "lunModify": &d.LUNModify,
		"lunDelete": &d.LUNDelete,
	}
}

// running is the duration of the job an operation ("POST /storage/volumes", as the counters
// name it) starts, falling back to all.
func (d JobDurations) running(op string, all time.Duration) time.Duration {
	kind := map[string]time.Duration{
		"POST /storage/volumes":                       d.VolumeCreate,
		"PATCH /storage/volumes/{id}":                 d.VolumeModify,
		"DELETE /storage/volumes/{id}":                d.VolumeDelete,
		"POST /storage/volumes/{id}/snapshots":        d.SnapshotCreate,
		"DELETE /storage/volumes/{id}/snapshots/{id}": d.SnapshotDelete,
		"POST /snapmirror/relationships":              d.RelationshipCreate,
		"PATCH /snapmirror/relationships/{id}":        d.RelationshipModify,
		"DELETE /snapmirror/relationships/{id}":       d.RelationshipDelete,
		"POST /storage/luns":                          d.LUNCreate,
		"PATCH /storage/luns/{id}":                    d.LUNModify,
		"DELETE /storage/luns/{id}":                   d.LUNDelete,
	}[op]
	if kind == 0 {
		return all
	}
	return kind
}

// RealisticTimings is the preset of timings as slow as ONTAP's: jobs that queue and take
// seconds, transfers with a start-up cost and a finite bandwidth, aborts that take time. Set
// Manual, Start or ClockRate on what it returns. Every figure is UNCONFIRMED: none was
// measured on a real cluster. They are orders of magnitude from ONTAP's documentation and
// from what clients of its REST API are written to expect, chosen so that every job outlasts
// a call that does not wait (return_timeout=0) and most end within the 5 s a client waits
// by default, as on an idle cluster:
//
//   - Queued 500ms: ONTAP's job manager schedules a job on a node before it runs; the REST
//     documentation lists queued as a job's first state.
//   - VolumeCreate 4s: a FlexVol create (WAFL allocation, junction) is reported to take a few
//     seconds; Trident waits for it with return_timeout and polls beyond.
//   - VolumeModify 2s, VolumeDelete 3s (an offline, then the destroy).
//   - SnapshotCreate 1s, SnapshotDelete 2s: a snapshot is a metadata operation, about a
//     second; a delete frees blocks in the background but its job lasts longer.
//   - RelationshipCreate 3s: the destination cluster checks the peer and the source volume.
//   - RelationshipModify 3s: quiesce, resume, break and resync; initialize's job ends when
//     its transfer has started.
//   - RelationshipDelete 3s: a delete or a release, which also cleans snapshots.
//   - LUNCreate 1s, LUNModify 1s, LUNDelete 1s: a LUN is a file of its volume's; ONTAP's
//     specification says a LUN create is asynchronous and Trident polls its job, but gives no
//     duration. About a second each, a metadata operation like a snapshot.
//   - TransferSetup 5s: a SnapMirror transfer's fixed cost (a source snapshot, the session,
//     the checkpoint), however small the delta: an update is never instant.
//   - TransferRate 100 MiB/s: about a 1 Gb/s inter-cluster link.
//   - AbortDelay 5s: an abort is accepted at once, the transfer stops at its next
//     checkpoint.
func RealisticTimings() Options {
	return Options{
		JobDurations: JobDurations{
			Queued:       500 * time.Millisecond,
			VolumeCreate: 4 * time.Second, VolumeModify: 2 * time.Second, VolumeDelete: 3 * time.Second,
			SnapshotCreate: time.Second, SnapshotDelete: 2 * time.Second,
			RelationshipCreate: 3 * time.Second, RelationshipModify: 3 * time.Second, RelationshipDelete: 3 * time.Second,
			LUNCreate: time.Second, LUNModify: time.Second, LUNDelete: time.Second,
		},
		TransferSetup: 5 * time.Second,
		TransferRate:  100 << 20,
		AbortDelay:    5 * time.Second,
	}
}

// AdvanceUntil moves the clock forward by step until done reports true, at most limit in all;
// it reports whether done did. Tests on a manual clock wait so for a job or a transfer.
func (f *Fabric) AdvanceUntil(done func() bool, step, limit time.Duration) bool {
	for moved := time.Duration(0); !done(); moved += step {
		if moved >= limit {
			return false
		}
		f.Advance(step)
	}
	return true
}

// SetJobDurations changes the durations by kind of the jobs started from now on
// (Options.JobDurations): jobs that outlast the calls that start them, say.
func (f *Fabric) SetJobDurations(d JobDurations) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts.JobDurations = d
}

// SetInstant makes every job, transfer and abort started from now on take no time, as
// before the simulator took ONTAP's: for the set-up of a benchmark phase that measures
// something else.
func (f *Fabric) SetInstant() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts.JobDurations, f.opts.JobDuration = JobDurations{}, 0
	f.opts.TransferSetup, f.opts.TransferRate, f.opts.AbortDelay = 0, 0, 0
}

// Fabric is the fabric the cluster is part of.
func (c *Cluster) Fabric() *Fabric { return c.fabric }

// advanceTo moves the clock to target one event at a time (a job that starts running or ends,
// a transfer that starts moving, ends or is aborted, a minute of the schedules), so that what
// a long Advance passes over happens in the order and at the time it is due: a transfer that
// ends before a job does is over when the job's effect runs. Callers hold f.mu.
func (f *Fabric) advanceTo(target time.Time) {
	for {
		next, ok := f.nextEvent()
		if !ok || !next.Before(target) {
			break
		}
		f.clock.offset += next.Sub(f.clock.now())
		f.tick()
	}
	f.clock.offset += target.Sub(f.clock.now())
	f.tick()
}

// nextEvent is when the next thing is due after now; callers hold f.mu.
func (f *Fabric) nextEvent() (time.Time, bool) {
	now := f.clock.now()
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, c := range f.clusters {
		for _, j := range c.running {
			consider(j.runAt)
			consider(j.doneAt)
		}
	}
	for rel := range f.transferring {
		if t := rel.transfer; t.active() {
			consider(t.runAt)
			consider(t.doneAt)
			if !t.abortAt.IsZero() {
				consider(t.abortAt)
			}
		}
	}
	if len(f.relationships) > 0 {
		consider(now.Truncate(time.Minute).Add(time.Minute))
	}
	return next, !next.IsZero()
}
