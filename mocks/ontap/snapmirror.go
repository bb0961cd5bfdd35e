package ontap

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// relationship is one SnapMirror relationship, shared by its two ends: the destination's
// record from create until delete, and the source's from the first transfer until release.
// Both records carry the same UUID (UNCONFIRMED in shared/docs/ontap-rest.md; Trident
// assumes it).
type relationship struct {
	uuid                   string
	src, dst               string // "svm:volume"
	srcCluster, dstCluster *Cluster
	policy, schedule       string
	state                  string
	dstRecord, srcRecord   bool
	// quiesced stops new transfers; a quiesce during a transfer takes effect when it ends.
	quiesced          bool
	healthy           bool
	unhealthy         []map[string]any
	exported          string
	exportedTime      time.Time
	lastTransferType  string
	transfer          *transfer // the active one, or the last
	history           []*transfer
	totalBytes        int64
	totalDuration     time.Duration
	lastScheduleCheck time.Time
	// job is the job of the last PATCH or DELETE of the relationship: another waits for it.
	job *job
	// snapPrefix begins the names of its SnapMirror snapshots (snapmirrorPrefix): set at
	// creation, from its destination, so that a release still finds them once the
	// destination is gone.
	snapPrefix string
}

// busy refuses a PATCH or DELETE while the job of an earlier one runs.
func (r *relationship) busy() *apiErr {
	if r.job != nil && !r.job.ended() {
		return errInvalid(codeModifyInProgress, "", "A modification of the relationship is in progress (job %s). Retry later.", r.job.uuid)
	}
	return nil
}

type transfer struct {
	uuid, state, typ string
	// bytes is what the transfer carries; it moves them from runAt on, at rate bytes per
	// simulated second (0: all at once), and ends at doneAt.
	bytes         int64
	rate          int64
	start, end    time.Time
	runAt, doneAt time.Time
	// abortAt, once an abort was asked for on a cluster whose aborts take time, is when the
	// transfer ends as abortState; until then it runs, and a break answers "another transfer
	// is in progress", as on ONTAP.
	abortAt    time.Time
	abortState string
	// carry are the source snapshots the transfer brings to the destination, oldest first.
	carry []*snapshot
	err   map[string]any
}

// moved is how many bytes the transfer has moved by now: none while queued or setting up,
// then at its rate (without one, all at doneAt), all of them once it succeeded; a transfer
// that failed or was aborted moved what it had by its end.
func (t *transfer) moved(now time.Time) int64 {
	if t.state == "success" {
		return t.bytes
	}
	if !t.active() {
		now = t.end
	}
	from := t.doneAt
	if t.rate > 0 {
		from = t.doneAt.Add(-time.Duration(float64(t.bytes) / float64(t.rate) * float64(time.Second)))
	}
	if !now.After(from) {
		return 0
	}
	if !now.Before(t.doneAt) || !t.doneAt.After(from) {
		return t.bytes
	}
	return int64(float64(t.bytes) * float64(now.Sub(from)) / float64(t.doneAt.Sub(from)))
}

func (t *transfer) active() bool {
	return t != nil && (t.state == "queued" || t.state == "transferring")
}

// Destination volume semantics are driven by these: a relationship holds a volume while any
// of its records exist. Callers hold fabric.mu.
func (f *Fabric) relationshipsOf(c *Cluster, v *volume) (asSource, asDestination []*relationship) {
	path := v.svm + ":" + v.name
	for _, r := range f.sortedRelationships() {
		if r.srcCluster == c && r.src == path && r.srcRecord {
			asSource = append(asSource, r)
		}
		if r.dstCluster == c && r.dst == path && r.dstRecord {
			asDestination = append(asDestination, r)
		}
	}
	return asSource, asDestination
}

// protected is the set of this cluster's volumes that are SnapMirror sources.
func (f *Fabric) protected(c *Cluster) map[string]bool {
	out := map[string]bool{}
	for _, r := range f.relationships {
		if r.srcCluster == c && r.srcRecord {
			out[r.src] = true
		}
	}
	return out
}

func (f *Fabric) inRelationship(c *Cluster, v *volume) bool {
	src, dst := f.relationshipsOf(c, v)
	return len(src)+len(dst) > 0
}

func (f *Fabric) initialized(c *Cluster, v *volume) bool {
	_, dst := f.relationshipsOf(c, v)
	for _, r := range dst {
		if r.state != "uninitialized" {
			return true
		}
	}
	return false
}

func (f *Fabric) sortedRelationships() []*relationship {
	return sortedValues(f.relationships, func(r *relationship) string { return r.uuid })
}

// record renders the relationship as the cluster c sees it: cluster names appear only for
// ends on another cluster.
func (r *relationship) record(c *Cluster, now time.Time) map[string]any {
	endpoint := func(path string, cl *Cluster) map[string]any {
		svmName, _, _ := strings.Cut(path, ":")
		e := map[string]any{"path": path, "svm": map[string]any{"name": svmName}}
		if s := cl.svms[svmName]; s != nil {
			e["svm"] = map[string]any{"name": svmName, "uuid": s.uuid}
		}
		if cl != c {
			e["cluster"] = map[string]any{"name": cl.name, "uuid": cl.uuid}
		}
		return e
	}
	pol := r.dstCluster.findPolicy(r.policy)
	rec := map[string]any{
		"uuid": r.uuid, "source": endpoint(r.src, r.srcCluster), "destination": endpoint(r.dst, r.dstCluster),
		"policy": map[string]any{"name": r.policy, "uuid": pol.uuid, "type": pol.typ},
		"state":  r.state, "healthy": r.healthy, "total_transfer_bytes": r.totalBytes,
		"total_transfer_duration": isoDuration(r.totalDuration), "group_type": "none",
	}
	if r.schedule != "" {
		rec["transfer_schedule"] = map[string]any{"name": r.schedule}
	}
	if len(r.unhealthy) > 0 {
		rec["unhealthy_reason"] = r.unhealthy
	}
	if r.exported != "" {
		rec["exported_snapshot"] = r.exported
		rec["lag_time"] = isoDuration(now.Sub(r.exportedTime))
	}
	if r.lastTransferType != "" {
		rec["last_transfer_type"] = r.lastTransferType
	}
	if t := r.transfer; t != nil {
		tr := map[string]any{"state": t.state, "type": t.typ, "bytes_transferred": t.moved(now)}
		if t.active() {
			tr["uuid"] = t.uuid
			tr["last_updated_time"] = c.timestamp(now)
			tr["total_duration"] = isoDuration(now.Sub(t.start))
		} else {
			tr["end_time"] = c.timestamp(t.end)
			tr["total_duration"] = isoDuration(t.end.Sub(t.start))
		}
		rec["transfer"] = tr
	}
	return rec
}

// checkTransition refuses, synchronously, the state changes ONTAP refuses.
func (c *Cluster) checkTransition(rel *relationship, state, restore string) *apiErr {
	switch state {
	case "":
		return nil
	case "snapmirrored", "paused":
		if rel.transfer.active() && state == "snapmirrored" && rel.state != "paused" {
			return errInvalid(codeTransferInProgress, "state", "Transfer already in progress.")
		}
	case "broken_off":
		if rel.state == "uninitialized" {
			return errInvalid(codeInvalidTransition, "state", "The relationship cannot be broken: its mirror state is uninitialized.")
		}
		if rel.transfer.active() {
			return errInvalid(codeAnotherTransfer, "state", "Another transfer is in progress: quiesce the relationship or abort the transfer first.")
		}
		if restore != "" {
			_, dv := c.fabric.volumeAt(rel.dst)
			if dv == nil || dv.snapshot(restore) == nil {
				return errInvalid(codeInvalidTransition, "restore_to_snapshot", "Snapshot %q does not exist on the destination %s.", restore, rel.dst)
			}
		}
	default:
		return errInvalid(codeUnknownState, "state", "Unknown value %q for state.", state)
	}
	return nil
}

// transition applies a state change in a job.
func (c *Cluster) transition(rel *relationship, state, restore string, now time.Time) *apiErr {
	f := c.fabric
	_, dv := f.volumeAt(rel.dst)
	switch state {
	case "paused":
		c.fabric.record("quiesce", rel)
		rel.quiesced = true
		if !rel.transfer.active() && rel.state == "snapmirrored" {
			rel.state = "paused"
		}
	case "snapmirrored":
		rel.quiesced = false
		switch rel.state {
		case "paused":
			f.record("resume", rel)
			rel.state = "snapmirrored"
		case "uninitialized":
			return f.startTransfer(rel, "initialize", "", now)
		case "broken_off":
			return f.resync(rel, now)
		}
	case "broken_off":
		// The destination becomes what its exported (or the named) snapshot holds, in place:
		// a client that has it mounted read-only sees the same files once it is writable.
		from := dv.snapshot(rel.exported)
		if restore != "" {
			from = dv.snapshot(restore)
		}
		if from != nil {
			if err := syncTree(from.dir, dv.active()); err != nil {
				return errDisk(err)
			}
			dv.replaced()
		}
		f.record("break", rel)
		rel.state, rel.quiesced = "broken_off", false
		dv.typ = "rw"
	}
	return nil
}

// resync reverts the destination to the newest snapshot it has in common with the source,
// discarding what was written since, makes it DP again, and transfers what is newer.
func (f *Fabric) resync(rel *relationship, now time.Time) *apiErr {
	sc, sv := f.volumeAt(rel.src)
	_, dv := f.volumeAt(rel.dst)
	if sv == nil || !sc.reachable() {
		return errInvalid(codeStateUnreadable, "source.path", "Cannot reach the source volume %s. Retry later.", rel.src)
	}
	common := commonSnapshot(sv, dv)
	if common < 0 {
		return errInvalid(codeNoCommonSnapshot, "", "No common Snapshot copy between %s and %s: the destination was never in a relationship with this source, or their common snapshots were deleted. Delete the destination's data and initialize a new relationship.", rel.src, rel.dst)
	}
	// Rolled back in place: a client that has the volume mounted sees the common snapshot.
	if err := syncTree(dv.snapshots[common].dir, dv.active()); err != nil {
		return errDisk(err)
	}
	dv.replaced()
	dropSnapshots(dv.snapshots[common+1:])
	dv.snapshots = slices.Clone(dv.snapshots[:common+1])
	dv.typ = "dp"
	return f.startTransfer(rel, "resync", "", now)
}

// commonSnapshot returns the index in dv of the newest snapshot that sv also holds, or -1.
func commonSnapshot(sv, dv *volume) int {
	for i := len(dv.snapshots) - 1; i >= 0; i-- {
		d := dv.snapshots[i]
		if s := sv.snapshot(d.name); s != nil && s.created.Equal(d.created) {
			return i
		}
	}
	return -1
}

// beginTransfer records a new transfer of the relationship, not yet moving anything.
func (f *Fabric) beginTransfer(rel *relationship, typ string, now time.Time) *transfer {
	t := &transfer{uuid: f.newUUID(), state: "transferring", typ: typ, start: now}
	f.record(typ, rel)
	rel.transfer = t
	rel.history = append(rel.history, t)
	return t
}

// startTransfer takes a SnapMirror snapshot of the source, chooses what to carry, and
// starts the transfer; it ends at once unless a transfer rate or delay holds it.
func (f *Fabric) startTransfer(rel *relationship, typ, sourceSnapshot string, now time.Time) *apiErr {
	t := f.beginTransfer(rel, typ, now)
	sc, sv := f.volumeAt(rel.src)
	dc, dv := f.volumeAt(rel.dst)
	if sv == nil || !sc.reachable() || dv == nil {
		f.failTransfer(rel, now, codeSourceUnreachable, "Transfer failed: the source cluster cannot be reached.")
		return nil
	}
	pol := dc.findPolicy(rel.policy)
	var newest *snapshot
	if sourceSnapshot != "" {
		if newest = sv.snapshot(sourceSnapshot); newest == nil {
			f.failTransfer(rel, now, codeInvalidProperty, fmt.Sprintf("Source snapshot %q does not exist.", sourceSnapshot))
			return nil
		}
	} else {
		var err error
		if newest, err = sc.takeSnapshot(sv, snapmirrorName(sv, dv, rel.snapPrefix, now), now); err != nil {
			f.failTransfer(rel, now, codeSimulatorDisk, "Transfer failed: the simulator could not snapshot the source: "+err.Error())
			return nil
		}
		newest.owners = []string{"snapmirror"}
	}
	common := commonSnapshot(sv, dv)
	var newer []*snapshot
	after := common < 0
	for _, s := range sv.snapshots {
		if after {
			newer = append(newer, s)
		}
		if common >= 0 && s.name == dv.snapshots[common].name {
			after = true
		}
		if s == newest {
			break
		}
	}
	if pol.copyAll {
		t.carry = newer
	} else if len(newer) > 0 {
		t.carry = []*snapshot{newest}
	}
	var prev tree // none: everything is new
	if common >= 0 {
		prev = dv.snapshots[common].dir
	}
	for _, s := range t.carry {
		n, err := delta(prev, s.dir)
		if err != nil {
			f.failTransfer(rel, now, codeSimulatorDisk, "Transfer failed: the simulator could not read the source: "+err.Error())
			return nil
		}
		t.bytes += n
		prev = s.dir
	}
	setup := f.opts.TransferSetup
	if dc.transferDelay > 0 {
		setup = dc.transferDelay
	}
	// The transfer is queued for the first part of its setup, a second at most, then
	// transferring: it moves its bytes after the setup, at the rate.
	t.runAt, t.doneAt = now.Add(min(setup/5, time.Second)), now.Add(setup)
	if t.runAt.After(now) {
		t.state = "queued"
	}
	t.rate = f.opts.TransferRate
	if dc.transferRate > 0 {
		t.rate = dc.transferRate
	}
	if t.rate > 0 {
		t.doneAt = t.doneAt.Add(time.Duration(float64(t.bytes) / float64(t.rate) * float64(time.Second)))
	}
	dc.work.Transfers++
	dc.work.TransferSeconds += t.doneAt.Sub(now).Seconds()
	dc.work.TransferredBytes += t.bytes
	if !now.Before(t.doneAt) {
		f.completeTransfer(rel, now)
	} else {
		f.transferring[rel] = true
	}
	return nil
}

func (f *Fabric) failTransfer(rel *relationship, now time.Time, code, msg string) {
	t := rel.transfer
	t.state, t.end = "failed", now
	t.err = map[string]any{"code": code, "message": msg}
	rel.healthy = false
	rel.unhealthy = []map[string]any{{"code": code, "message": msg}}
	if rel.quiesced && rel.state == "snapmirrored" {
		rel.state = "paused"
	}
}

// completeTransfer lands the carried snapshots on the destination, exports the newest, prunes
// SnapMirror's older base snapshots, and records the source-side information.
func (f *Fabric) completeTransfer(rel *relationship, now time.Time) {
	t := rel.transfer
	sc, sv := f.volumeAt(rel.src)
	_, dv := f.volumeAt(rel.dst)
	if sv == nil || dv == nil || !sc.reachable() {
		f.failTransfer(rel, now, codeSourceUnreachable, "Transfer failed: the source cluster cannot be reached.")
		return
	}
	if len(t.carry) > 0 {
		need, err := t.carry[len(t.carry)-1].dir.size()
		if err != nil {
			f.failTransfer(rel, now, codeSimulatorDisk, "Transfer failed: the simulator could not read the source: "+err.Error())
			return
		}
		if need > dv.size {
			if dv.autosizeMode == "grow" || dv.autosizeMode == "grow_shrink" {
				grown := need + need/4
				if dv.autosizeMax > 0 && grown > dv.autosizeMax {
					grown = dv.autosizeMax
				}
				dv.size = max(dv.size, grown)
			}
			if need > dv.size {
				f.failTransfer(rel, now, codeDestinationOutOfSpace, fmt.Sprintf("Transfer failed: the destination volume %s is out of space.", rel.dst))
				return
			}
		}
		for _, s := range t.carry {
			if dv.snapshot(s.name) == nil {
				uuid := f.newUUID()
				cp := &snapshot{uuid: uuid, name: s.name, created: s.created, dir: dv.snapshotTree(uuid)}
				if err := copyTree(s.dir, cp.dir); err != nil {
					_ = os.RemoveAll(string(cp.dir)) // half a copy is no snapshot
					f.failTransfer(rel, now, codeSimulatorDisk, "Transfer failed: the simulator could not write the destination: "+err.Error())
					return
				}
				if strings.HasPrefix(s.name, "snapmirror.") {
					cp.owners = []string{"snapmirror"}
				}
				dv.snapshots = append(dv.snapshots, cp)
			}
		}
		last := t.carry[len(t.carry)-1]
		// In place: a client that has the destination mounted sees the new content.
		if err := syncTree(last.dir, dv.active()); err != nil {
			f.failTransfer(rel, now, codeSimulatorDisk, "Transfer failed: the simulator could not write the destination: "+err.Error())
			return
		}
		dv.replaced()
		rel.exported, rel.exportedTime = last.name, last.created
	}
	t.state, t.end = "success", now
	rel.totalBytes += t.bytes
	rel.totalDuration += now.Sub(t.start)
	rel.lastTransferType = t.typ
	rel.healthy, rel.unhealthy = true, nil
	rel.srcRecord = true
	if rel.state == "uninitialized" || rel.state == "broken_off" {
		rel.state = "snapmirrored"
	}
	if rel.quiesced {
		rel.state = "paused"
	}
	prune(sv, rel.snapPrefix, 1)
	prune(dv, rel.snapPrefix, 2)
}

// snapmirrorPrefix begins the names of the SnapMirror snapshots of the relationship whose
// destination is volume dv on cluster dc, as ONTAP names them:
// snapmirror.<destination SVM's uuid>_<its id>_<destination volume's MSID>.<time>
// (shared/docs/ontap-rest.md 9.2, whose example is
// snapmirror.f2b20bdd-6da5-11e3-9034-123478563412_4_2147484680.2013-12-28_133001; the meaning
// of the numbers is UNCONFIRMED, and so is whether the time is UTC, as here, or the cluster's).
func snapmirrorPrefix(dc *Cluster, dv *volume) string {
	s := dc.svms[dv.svm]
	if s == nil {
		return "snapmirror." + dv.uuid + "_0_0."
	}
	return fmt.Sprintf("snapmirror.%s_%d_%d.", s.uuid, dc.svmID(s), dv.msid)
}

// snapmirrorName is a new SnapMirror snapshot's name on the source volume sv: the prefix and
// the time to the second, the next free second when a transfer of the same second took one
// (UNCONFIRMED: what ONTAP does then). Free on the destination dv too: the source keeps only
// the newest, the destination an older one of the same relationship, and a name taken again
// would stand for two contents.
func snapmirrorName(sv, dv *volume, prefix string, now time.Time) string {
	for t := now.UTC(); ; t = t.Add(time.Second) {
		if name := prefix + t.Format("2006-01-02_150405"); sv.snapshot(name) == nil && dv.snapshot(name) == nil {
			return name
		}
	}
}

// prune keeps the newest keep SnapMirror snapshots of a relationship, those whose names
// begin with its prefix, on a volume.
func prune(v *volume, prefix string, keep int) {
	if prefix == "" {
		return
	}
	var idx []int
	for i, s := range v.snapshots {
		if strings.HasPrefix(s.name, prefix) {
			idx = append(idx, i)
		}
	}
	if len(idx) <= keep {
		return
	}
	drop := map[int]bool{}
	for _, i := range idx[:len(idx)-keep] {
		drop[i] = true
	}
	var kept, dropped []*snapshot
	for i, s := range v.snapshots {
		if drop[i] {
			dropped = append(dropped, s)
		} else {
			kept = append(kept, s)
		}
	}
	dropSnapshots(dropped)
	v.snapshots = kept
}

// progressTransfers completes the transfers that are due. Callers hold f.mu.
func (f *Fabric) progressTransfers(now time.Time) {
	for rel := range f.transferring {
		if !rel.transfer.active() {
			delete(f.transferring, rel)
			continue
		}
		t := rel.transfer
		if t.state == "queued" && !now.Before(t.runAt) {
			t.state = "transferring"
		}
		switch {
		case !now.Before(t.doneAt) && (t.abortAt.IsZero() || !t.abortAt.Before(t.doneAt)):
			f.completeTransfer(rel, t.doneAt)
			delete(f.transferring, rel)
		case !t.abortAt.IsZero() && !now.Before(t.abortAt):
			abort(rel, t.abortState, t.abortAt)
			delete(f.transferring, rel)
		}
	}
}

// runSchedules starts the updates whose schedule came due since the last check: the
// relationship's transfer_schedule, else its policy's. Callers hold f.mu.
func (f *Fabric) runSchedules(now time.Time) {
	for _, rel := range f.sortedRelationships() {
		last := rel.lastScheduleCheck
		rel.lastScheduleCheck = now
		if !rel.dstRecord || rel.state != "snapmirrored" || rel.quiesced || rel.transfer.active() {
			continue
		}
		name := rel.schedule
		if name == "" {
			name = rel.dstCluster.findPolicy(rel.policy).schedule
		}
		sched := rel.dstCluster.findSchedule(name)
		if sched == nil || !sched.dueBetween(last, now) {
			continue
		}
		_ = f.startTransfer(rel, "update", "", now) // a scheduled update fails as its transfer
	}
}

// dueBetween reports whether a minute the schedule fires on lies in (from, to]. It looks at
// most a week back.
func (s *schedule) dueBetween(from, to time.Time) bool {
	t := from.Truncate(time.Minute).Add(time.Minute)
	if to.Sub(t) > 7*24*time.Hour {
		t = to.Add(-7 * 24 * time.Hour).Truncate(time.Minute)
	}
	in := func(list []int, v int) bool { return list == nil || slices.Contains(list, v) }
	for ; !t.After(to); t = t.Add(time.Minute) {
		if in(s.minutes, t.Minute()) && in(s.hours, t.Hour()) && in(s.weekdays, int(t.Weekday())) {
			return true
		}
	}
	return false
}

func (t *transfer) record(c *Cluster, rel *relationship, now time.Time) map[string]any {
	rec := map[string]any{
		"uuid": t.uuid, "state": t.state, "bytes_transferred": t.moved(now),
		"relationship": map[string]any{"uuid": rel.uuid, "destination": map[string]any{"path": rel.dst}},
	}
	if len(t.carry) > 0 {
		rec["snapshot"] = t.carry[len(t.carry)-1].name
	}
	if t.active() {
		rec["last_updated_time"] = c.timestamp(now)
		rec["total_duration"] = isoDuration(now.Sub(t.start))
	} else {
		rec["end_time"] = c.timestamp(t.end)
		rec["total_duration"] = isoDuration(t.end.Sub(t.start))
	}
	if t.err != nil {
		code, _ := strconv.Atoi(t.err["code"].(string))
		rec["error_info"] = map[string]any{"code": code, "message": t.err["message"]}
	}
	return rec
}

// abort ends the relationship's transfer as aborted. Callers hold fabric.mu.
func abort(rel *relationship, state string, now time.Time) {
	t := rel.transfer
	t.state, t.end = state, now
	t.err = map[string]any{"code": codeTransferAborted, "message": "Transfer aborted"}
	if rel.quiesced && rel.state == "snapmirrored" {
		rel.state = "paused"
	}
}
