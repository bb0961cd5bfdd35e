package ontap

import (
	"fmt"
	"maps"
	"net/http"
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
	snapSeq           int
}

type transfer struct {
	uuid, state, typ string
	bytes            int64
	start, end       time.Time
	doneAt           time.Time
	// abortAt, once an abort was asked for on a cluster whose aborts take time, is when the
	// transfer ends as abortState; until then it runs, and a break answers "another transfer
	// is in progress", as on ONTAP.
	abortAt    time.Time
	abortState string
	// carry are the source snapshots the transfer brings to the destination, oldest first.
	carry []*snapshot
	err   map[string]any
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

func (f *Fabric) isProtected(c *Cluster, v *volume) bool {
	return f.protected(c)[v.svm+":"+v.name]
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
		tr := map[string]any{"state": t.state, "type": t.typ, "bytes_transferred": t.bytes}
		if t.active() {
			tr["uuid"] = t.uuid
			tr["last_updated_time"] = now.Format(time.RFC3339)
			tr["total_duration"] = isoDuration(now.Sub(t.start))
		} else {
			tr["end_time"] = t.end.Format(time.RFC3339)
			tr["total_duration"] = isoDuration(t.end.Sub(t.start))
		}
		rec["transfer"] = tr
	}
	return rec
}

func (c *Cluster) listRelationships(r *request) response {
	sourceSide := r.query.Get("list_destinations_only") == "true"
	var recs []map[string]any
	exact := r.query.Get("destination.path")
	if strings.ContainsAny(exact, "*|!<>") {
		exact = ""
	}
	for _, rel := range c.fabric.sortedRelationships() {
		if exact != "" && rel.dst != exact {
			continue // the filter would drop it; skip building its record
		}
		if (sourceSide && rel.srcCluster == c && rel.srcRecord) || (!sourceSide && rel.dstCluster == c && rel.dstRecord) {
			recs = append(recs, rel.record(c, r.now))
		}
	}
	return ok(recs)
}

// relationshipFor finds the relationship of the request's {uuid} among the records this
// cluster holds: the destination's, or with sourceSide the source's.
func (c *Cluster) relationshipFor(uuid string, sourceSide bool) *relationship {
	rel := c.fabric.relationships[uuid]
	if rel == nil {
		return nil
	}
	if (sourceSide && rel.srcCluster == c && rel.srcRecord) || (!sourceSide && rel.dstCluster == c && rel.dstRecord) {
		return rel
	}
	return nil
}

func (c *Cluster) getRelationship(r *request) response {
	rel := c.relationshipFor(r.vars["uuid"], r.query.Get("list_destinations_only") == "true")
	if rel == nil {
		return fail(errNotFound("uuid"))
	}
	return ok(rel.record(c, r.now))
}

func pathOf(body map[string]any, key string) string {
	m, _ := body[key].(map[string]any)
	p, _ := m["path"].(string)
	return p
}

func nameOf(body map[string]any, key string) (string, bool) {
	m, set := body[key].(map[string]any)
	n, _ := m["name"].(string)
	return n, set
}

// createRelationship runs on the destination's cluster. It checks synchronously what ONTAP
// checks before starting a job: the paths, the peering, the volumes, the policy and schedule,
// and duplicates.
func (c *Cluster) createRelationship(r *request) response {
	f := c.fabric
	src, dst := pathOf(r.body, "source"), pathOf(r.body, "destination")
	switch {
	case src == "" || dst == "":
		return fail(errInvalid(codeInvalidField, "destination.path", `"source.path" and "destination.path" are required fields`))
	case !strings.Contains(dst, ":"):
		return fail(errInvalid(codeDestinationPath, "destination.path", "Destination path %q is invalid: it must be svm:volume.", dst))
	case !strings.Contains(src, ":"):
		return fail(errInvalid(codeInvalidField, "source.path", "Source path %q is invalid: it must be svm:volume.", src))
	case src == dst:
		return fail(errInvalid(codeSameVolume, "", "The source and destination volumes are the same."))
	case r.body["state"] != nil && r.body["create_destination"] == nil:
		return fail(errInvalid(codeStateNeedsCreateDest, "state", "Specifying a state when creating a relationship is only supported when creating a destination endpoint."))
	}
	dstSVMName, dstVolName, _ := strings.Cut(dst, ":")
	srcSVMName, _, _ := strings.Cut(src, ":")
	dstSVM := c.svms[dstSVMName]
	if dstSVM == nil {
		return fail(&apiErr{status: http.StatusNotFound, code: codeNotFound, message: "SVM " + dstSVMName + " does not exist on this cluster.", target: "destination.path"})
	}
	srcSVM := dstSVM.peers[srcSVMName]
	if srcSVMName == dstSVMName {
		srcSVM = dstSVM
	}
	if srcSVM == nil {
		return fail(errInvalid(codePeerLookupFailed, "source.path", "SVM %s is not peered with SVM %s for SnapMirror: create the SVM peer relationship first.", srcSVMName, dstSVMName))
	}
	if !srcSVM.cluster.reachable() {
		return fail(errInvalid(codeStateUnreadable, "source.path", "Cannot reach the cluster of SVM %s. Retry later.", srcSVMName))
	}
	dv := c.volumeByName(dstSVMName, dstVolName)
	if dv == nil {
		return fail(&apiErr{status: http.StatusNotFound, code: codeNotFound, message: "Volume " + dst + " does not exist.", target: "destination.path"})
	}
	_, sv := f.volumeAt(src)
	if sv == nil {
		return fail(&apiErr{status: http.StatusNotFound, code: codeNotFound, message: "Volume " + src + " does not exist.", target: "source.path"})
	}
	policyName, _ := nameOf(r.body, "policy")
	if policyName == "" {
		policyName = "Asynchronous"
	}
	if c.findPolicy(policyName) == nil {
		return fail(errInvalid(codePolicyNotFound, "policy.name", "SnapMirror policy %q does not exist.", policyName))
	}
	sched, _ := nameOf(r.body, "transfer_schedule")
	if sched != "" && c.findSchedule(sched) == nil {
		return fail(errInvalid(codeScheduleNotFound, "transfer_schedule.name", "Schedule %q does not exist.", sched))
	}
	for _, rel := range f.relationships {
		if rel.dst == dst && rel.dstCluster == c && rel.dstRecord {
			return fail(&apiErr{status: http.StatusConflict, code: codeRelationshipExists, message: "A SnapMirror relationship with destination " + dst + " already exists.", target: "destination.path"})
		}
	}
	var rel *relationship
	for _, old := range f.relationships {
		// A source-side record left from an earlier relationship of the same pair is picked
		// up again, as ONTAP matches it on the next transfer.
		if old.src == src && old.dst == dst && !old.dstRecord {
			rel = old
		}
	}
	if rel == nil {
		rel = &relationship{uuid: f.newUUID(), src: src, dst: dst, srcCluster: srcSVM.cluster, dstCluster: c}
	}
	resp := c.async(r, func() *apiErr {
		f.relationships[rel.uuid] = rel
		f.record("create", rel)
		rel.dstRecord, rel.policy, rel.schedule, rel.healthy, rel.quiesced = true, policyName, sched, true, false
		rel.lastScheduleCheck = r.now
		rel.state = "uninitialized"
		if dv.typ == "rw" {
			// A relationship to a read-write volume waits for a resync (UNCONFIRMED: believed
			// broken_off, as Trident's reestablish relies on).
			rel.state = "broken_off"
		} else if len(dv.snapshots) > 0 {
			// A DP volume that holds snapshots from an earlier relationship is already
			// initialized for ONTAP's purposes: resync needs no baseline.
			rel.state = "broken_off"
		}
		return nil
	})
	if body, isMap := resp.body.(map[string]any); isMap && r.query.Get("return_records") == "true" {
		body["num_records"] = 1
		body["records"] = []map[string]any{{"uuid": rel.uuid}}
	}
	return resp
}

func (c *Cluster) modifyRelationship(r *request) response {
	rel := c.relationshipFor(r.vars["uuid"], false)
	if rel == nil {
		return fail(errNotFound("uuid"))
	}
	if p, set := nameOf(r.body, "policy"); set {
		if c.findPolicy(p) == nil {
			return fail(errInvalid(codePolicyNotFound, "policy.name", "SnapMirror policy %q does not exist.", p))
		}
	}
	if s, set := nameOf(r.body, "transfer_schedule"); set && s != "" && c.findSchedule(s) == nil {
		return fail(errInvalid(codeScheduleNotFound, "transfer_schedule.name", "Schedule %q does not exist.", s))
	}
	state, _ := r.body["state"].(string)
	restore, _ := r.body["restore_to_snapshot"].(string)
	if restore != "" && state != "broken_off" {
		return fail(errInvalid(codeOnlyWhenBrokenOff, "restore_to_snapshot", "restore_to_snapshot is valid only when the state is broken_off."))
	}
	if e := c.checkTransition(rel, state, restore); e != nil {
		return fail(e)
	}
	return c.async(r, func() *apiErr {
		if p, set := nameOf(r.body, "policy"); set {
			rel.policy = p
		}
		if s, set := nameOf(r.body, "transfer_schedule"); set {
			rel.schedule = s
		}
		return c.transition(rel, state, restore, r.now)
	})
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
		f.record("break", rel)
		rel.state, rel.quiesced = "broken_off", false
		dv.typ = "rw"
		if restore != "" {
			dv.files = maps.Clone(dv.snapshot(restore).files)
		} else if s := dv.snapshot(rel.exported); s != nil {
			dv.files = maps.Clone(s.files)
		}
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
	dv.snapshots = dv.snapshots[:common+1]
	dv.files = maps.Clone(dv.snapshots[common].files)
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
		rel.snapSeq++
		name := fmt.Sprintf("snapmirror.%s_%d.%s", rel.uuid, rel.snapSeq, now.UTC().Format("2006-01-02_150405"))
		newest = sc.takeSnapshot(sv, name, now)
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
	prev := map[string]string{}
	if common >= 0 {
		prev = dv.snapshots[common].files
	}
	for _, s := range t.carry {
		t.bytes += delta(prev, s.files)
		prev = s.files
	}
	t.doneAt = now.Add(dc.transferDelay)
	rate := f.opts.TransferRate
	if dc.transferRate > 0 {
		rate = dc.transferRate
	}
	if rate > 0 {
		t.doneAt = t.doneAt.Add(time.Duration(float64(t.bytes) / float64(rate) * float64(time.Second)))
	}
	if !now.Before(t.doneAt) {
		f.completeTransfer(rel, now)
	} else {
		f.transferring[rel] = true
	}
	return nil
}

// delta is how many bytes differ from one version of a file system to the next: the size of
// every file added or changed, and of every file removed.
func delta(prev, next map[string]string) int64 {
	var n int64
	for k, v := range next {
		if old, ok := prev[k]; !ok || old != v {
			n += int64(len(v))
		}
	}
	for k, v := range prev {
		if _, ok := next[k]; !ok {
			n += int64(len(v))
		}
	}
	return n
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
		need := contentSize(t.carry[len(t.carry)-1].files)
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
				cp := &snapshot{uuid: f.newUUID(), name: s.name, created: s.created, files: maps.Clone(s.files)}
				if strings.HasPrefix(s.name, "snapmirror.") {
					cp.owners = []string{"snapmirror"}
				}
				dv.snapshots = append(dv.snapshots, cp)
			}
		}
		last := t.carry[len(t.carry)-1]
		dv.files = maps.Clone(last.files)
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
	prune(sv, rel, 1)
	prune(dv, rel, 2)
}

// prune keeps the newest keep SnapMirror snapshots of the relationship on a volume.
func prune(v *volume, rel *relationship, keep int) {
	prefix := "snapmirror." + rel.uuid + "_"
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
	kept := v.snapshots[:0]
	for i, s := range v.snapshots {
		if !drop[i] {
			kept = append(kept, s)
		}
	}
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
		f.startTransfer(rel, "update", "", now)
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

func (c *Cluster) deleteRelationship(r *request) response {
	f := c.fabric
	q := r.query
	uuid := r.vars["uuid"]
	rel := f.relationships[uuid]
	var scope string
	for _, flag := range []string{"destination_only", "source_only", "source_info_only"} {
		if q.Get(flag) == "true" {
			if scope != "" {
				return fail(errInvalid(codeInvalidField, flag, "The flags destination_only, source_only and source_info_only are mutually exclusive."))
			}
			scope = flag
		}
	}
	switch {
	case rel == nil:
		return fail(errNotFound("uuid"))
	case (scope == "" || scope == "destination_only") && c.relationshipFor(uuid, false) == nil:
		return fail(errNotFound("uuid"))
	case scope == "source_only" && c.relationshipFor(uuid, true) == nil:
		return fail(errNotFound("uuid"))
	case scope == "source_info_only" && c.relationshipFor(uuid, true) == nil && c.relationshipFor(uuid, false) == nil:
		return fail(errNotFound("uuid"))
	case scope == "source_only" && rel.transfer.active():
		return fail(errInvalid(codeReleaseFailed, "", "The release failed: a transfer is in its data phase. Retry later."))
	}
	return c.async(r, func() *apiErr {
		f.record(map[string]string{"": "delete", "destination_only": "delete", "source_only": "release", "source_info_only": "release"}[scope], rel)
		switch scope {
		case "":
			if rel.transfer.active() {
				rel.transfer.state, rel.transfer.end = "aborted", r.now
			}
			rel.dstRecord, rel.srcRecord = false, false
			for _, path := range []string{rel.src, rel.dst} {
				if _, v := f.volumeAt(path); v != nil {
					prune(v, rel, 0)
				}
			}
		case "destination_only":
			if rel.transfer.active() {
				rel.transfer.state, rel.transfer.end = "aborted", r.now
			}
			rel.dstRecord = false
		case "source_only":
			rel.srcRecord = false
			if _, v := f.volumeAt(rel.src); v != nil {
				prune(v, rel, 0)
			}
		case "source_info_only":
			rel.srcRecord = false
		}
		if !rel.dstRecord && !rel.srcRecord {
			delete(f.relationships, rel.uuid)
		}
		return nil
	})
}

func (t *transfer) record(rel *relationship, now time.Time) map[string]any {
	rec := map[string]any{
		"uuid": t.uuid, "state": t.state, "bytes_transferred": t.bytes,
		"relationship": map[string]any{"uuid": rel.uuid, "destination": map[string]any{"path": rel.dst}},
	}
	if len(t.carry) > 0 {
		rec["snapshot"] = t.carry[len(t.carry)-1].name
	}
	if t.active() {
		rec["last_updated_time"] = now.Format(time.RFC3339)
		rec["total_duration"] = isoDuration(now.Sub(t.start))
	} else {
		rec["end_time"] = t.end.Format(time.RFC3339)
		rec["total_duration"] = isoDuration(t.end.Sub(t.start))
	}
	if t.err != nil {
		code, _ := strconv.Atoi(t.err["code"].(string))
		rec["error_info"] = map[string]any{"code": code, "message": t.err["message"]}
	}
	return rec
}

func (c *Cluster) listTransfers(r *request) response {
	rel := c.relationshipFor(r.vars["relationship.uuid"], false)
	if rel == nil {
		return fail(errNotFound("relationship.uuid"))
	}
	var recs []map[string]any
	for _, t := range rel.history {
		if t.active() || r.now.Sub(t.end) < 24*time.Hour {
			recs = append(recs, t.record(rel, r.now))
		}
	}
	return ok(recs)
}

// getTransfer answers one transfer of the relationship's history, kept for 24 hours.
func (c *Cluster) getTransfer(r *request) response {
	rel := c.relationshipFor(r.vars["relationship.uuid"], false)
	if rel == nil {
		return fail(errNotFound("relationship.uuid"))
	}
	for _, t := range rel.history {
		if t.uuid == r.vars["uuid"] && (t.active() || r.now.Sub(t.end) < 24*time.Hour) {
			return ok(t.record(rel, r.now))
		}
	}
	return fail(errNotFound("uuid"))
}

// createTransfer starts an initialize or an update; it answers 201 at once, as ONTAP does.
func (c *Cluster) createTransfer(r *request) response {
	rel := c.relationshipFor(r.vars["relationship.uuid"], false)
	if rel == nil {
		return fail(errNotFound("relationship.uuid"))
	}
	src, _ := r.body["source_snapshot"].(string)
	switch {
	case rel.transfer.active():
		return fail(errInvalid(codeTransferInProgress, "", "Transfer already in progress."))
	case rel.quiesced || rel.state == "paused":
		return fail(errInvalid(codeUpdateFailed, "", "Update failed: the relationship is quiesced. Resume it first."))
	case rel.state == "broken_off":
		return fail(errInvalid(codeUpdateFailed, "", "Update failed: the relationship is broken off. Resync it first."))
	}
	typ := "update"
	if rel.state == "uninitialized" {
		typ = "initialize"
	}
	if ft := r.jobFault; ft != nil {
		// A transfer is ONTAP's asynchronous work here: it starts, then fails as the fault
		// says, having carried nothing.
		e := ft.apiErr()
		c.fabric.beginTransfer(rel, typ, r.now)
		c.fabric.failTransfer(rel, r.now, e.code, e.message)
	} else if e := c.fabric.startTransfer(rel, typ, src, r.now); e != nil {
		return fail(e)
	}
	body := map[string]any{"num_records": 1, "records": []map[string]any{rel.transfer.record(rel, r.now)}}
	return response{status: http.StatusCreated, body: body}
}

func (c *Cluster) modifyTransfer(r *request) response {
	rel := c.relationshipFor(r.vars["relationship.uuid"], false)
	if rel == nil {
		return fail(errNotFound("relationship.uuid"))
	}
	if state, _ := r.body["state"].(string); state != "aborted" && state != "hard_aborted" {
		return fail(errInvalid(codeInvalidProperty, "state", "A transfer's state can only be set to aborted or hard_aborted."))
	}
	t := rel.transfer
	if t == nil || t.uuid != r.vars["uuid"] {
		return fail(errNotFound("uuid"))
	}
	if !t.active() {
		return fail(errInvalid(codeNoActiveTransfer, "state", "The transfer is not active."))
	}
	if c.abortDelay > 0 {
		if t.abortAt.IsZero() {
			t.abortAt, t.abortState = r.now.Add(c.abortDelay), r.body["state"].(string)
		}
		return ok(map[string]any{})
	}
	abort(rel, r.body["state"].(string), r.now)
	return ok(map[string]any{})
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
