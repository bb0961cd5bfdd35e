package ontap

import (
	"net/http"
	"strings"
	"time"
)

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
	if e := c.duplicateRelationship(dst); e != nil {
		return fail(e)
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
		if dc, dv := f.volumeAt(dst); dv != nil {
			rel.snapPrefix = snapmirrorPrefix(dc, dv)
		}
	}
	resp := c.async(r, func() *apiErr {
		// Another create for the destination may have started before this one ended: one
		// wins, the other's job fails, as on ONTAP.
		if e := c.duplicateRelationship(dst); e != nil {
			return e
		}
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

// duplicateRelationship refuses a second relationship to the destination dst (6619637).
func (c *Cluster) duplicateRelationship(dst string) *apiErr {
	for _, rel := range c.fabric.relationships {
		if rel.dst == dst && rel.dstCluster == c && rel.dstRecord {
			return &apiErr{status: http.StatusConflict, code: codeRelationshipExists, message: "A SnapMirror relationship with destination " + dst + " already exists.", target: "destination.path"}
		}
	}
	return nil
}

func (c *Cluster) modifyRelationship(r *request) response {
	rel := c.relationshipFor(r.vars["uuid"], false)
	if rel == nil {
		return fail(errNotFound("uuid"))
	}
	if e := rel.busy(); e != nil {
		return fail(e)
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
	resp := c.async(r, func() *apiErr {
		if p, set := nameOf(r.body, "policy"); set {
			rel.policy = p
		}
		if s, set := nameOf(r.body, "transfer_schedule"); set {
			rel.schedule = s
		}
		return c.transition(rel, state, restore, r.now)
	})
	rel.job = r.job
	return resp
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
	if e := rel.busy(); e != nil {
		return fail(e)
	}
	defer func() { rel.job = r.job }()
	return c.async(r, func() *apiErr {
		if scope == "" && rel.srcRecord && !rel.srcCluster.reachable() {
			// A DELETE without flags releases the source too, which cannot be reached: the job
			// fails and nothing is removed. UNCONFIRMED: ONTAP's code and message, and whether
			// it removes the destination's record before failing; 13303822 is "release failed".
			return errInvalid(codeReleaseFailed, "", "Failed to release the source information of the relationship from %s: the source cluster %s cannot be reached. Delete it with destination_only, then release it on the source.", rel.src, rel.srcCluster.name)
		}
		f.record(map[string]string{"": "delete", "destination_only": "delete", "source_only": "release", "source_info_only": "release"}[scope], rel)
		switch scope {
		case "":
			if rel.transfer.active() {
				rel.transfer.state, rel.transfer.end = "aborted", r.now
			}
			rel.dstRecord, rel.srcRecord = false, false
			for _, path := range []string{rel.src, rel.dst} {
				if _, v := f.volumeAt(path); v != nil {
					prune(v, rel.snapPrefix, 0)
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
				prune(v, rel.snapPrefix, 0)
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

func (c *Cluster) listTransfers(r *request) response {
	rel := c.relationshipFor(r.vars["relationship.uuid"], false)
	if rel == nil {
		return fail(errNotFound("relationship.uuid"))
	}
	var recs []map[string]any
	for _, t := range rel.history {
		if t.active() || r.now.Sub(t.end) < 24*time.Hour {
			recs = append(recs, t.record(c, rel, r.now))
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
			return ok(t.record(c, rel, r.now))
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
	body := map[string]any{"num_records": 1, "records": []map[string]any{rel.transfer.record(c, rel, r.now)}}
	return created("/api/snapmirror/relationships/"+rel.uuid+"/transfers/"+rel.transfer.uuid, body)
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
	delay := c.fabric.opts.AbortDelay
	if c.abortDelay > 0 {
		delay = c.abortDelay
	}
	if delay > 0 {
		if t.abortAt.IsZero() {
			t.abortAt, t.abortState = r.now.Add(delay), r.body["state"].(string)
		}
		return ok(map[string]any{})
	}
	abort(rel, r.body["state"].(string), r.now)
	return ok(map[string]any{})
}
