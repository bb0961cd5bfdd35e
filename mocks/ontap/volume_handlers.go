package ontap

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

const minVolumeSize = 20 << 20 // ONTAP's smallest FlexVol

var volumeName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func (c *Cluster) volumeRecord(v *volume) map[string]any {
	return c.volumeRecordWith(v, c.fabric.protected(c), true)
}

// volumeRecordWith renders a volume, given the set of protected (source) volumes; its space
// is lazy (read from the disk when shown) unless now.
func (c *Cluster) volumeRecordWith(v *volume, protected map[string]bool, now bool) map[string]any {
	rec := map[string]any{
		"uuid": v.uuid, "name": v.name, "size": v.size, "type": v.typ, "state": v.state, "style": "flexvol",
		"svm":         map[string]any{"name": v.svm, "uuid": c.svms[v.svm].uuid},
		"aggregates":  []map[string]any{{"name": v.aggregate, "uuid": c.aggregates[v.aggregate].uuid}},
		"create_time": c.timestamp(v.created), "snapshot_count": len(v.snapshots),
		"snapmirror": map[string]any{"is_protected": protected[v.svm+":"+v.name]},
		// A client's writes, counted as ONTAP counts write operations since boot: read from
		// the disk (lazy), where a mounted client's writes show.
		"statistics": lazy(func() any { return map[string]any{"iops_raw": map[string]any{"write": v.clientWrites()}} }),
	}
	space := lazy(func() any {
		used := v.used()
		return map[string]any{"size": v.size, "used": used, "available": max(v.size-used, 0)}
	})
	if now {
		rec["space"] = space()
		resolve(rec, nil)
	} else {
		rec["space"] = space
	}
	if v.comment != "" {
		rec["comment"] = v.comment
	}
	nas := map[string]any{}
	if v.path != "" {
		nas["path"] = v.path
	}
	if v.exportPolicy != "" {
		ep := map[string]any{"name": v.exportPolicy}
		if p := c.exportPolicyNamed(v.svm, v.exportPolicy); p != nil {
			ep["id"] = p.id
		}
		nas["export_policy"] = ep
	}
	if len(nas) > 0 {
		rec["nas"] = nas
	}
	if v.snapshotPolicy != "" {
		rec["snapshot_policy"] = map[string]any{"name": v.snapshotPolicy}
	}
	if v.autosizeMode != "" {
		rec["autosize"] = map[string]any{"mode": v.autosizeMode, "maximum": v.autosizeMax}
	}
	return rec
}

func (c *Cluster) listVolumes(r *request) response {
	protected := c.fabric.protected(c)
	// An exact name filter is applied here too, so that a lookup by name does not render
	// every volume; the generic filters still run on what is returned.
	name := r.query.Get("name")
	if strings.ContainsAny(name, "*|!<>") {
		name = ""
	}
	// The used space, read from the disk, is lazy: read for the page answered, not for
	// thousands of volumes at each page.
	recs := make([]map[string]any, 0, len(c.volumes))
	for _, v := range c.volumes {
		if name == "" || strings.EqualFold(v.name, name) {
			recs = append(recs, c.volumeRecordWith(v, protected, false))
		}
	}
	sortByUUID(recs)
	return ok(recs)
}

func (c *Cluster) getVolume(r *request) response {
	v := c.volumes[r.vars["uuid"]]
	if v == nil {
		return fail(errNotFound("uuid"))
	}
	return ok(c.volumeRecord(v))
}

// createVolume checks the request synchronously, as ONTAP does for malformed input, and makes
// the volume in a job; a duplicate name fails the job (917526).
func (c *Cluster) createVolume(r *request) response {
	name, _ := r.body["name"].(string)
	switch {
	case name == "":
		return fail(errInvalid(codeInvalidField, "name", `"name" is a required field`))
	case len(name) > 203:
		return fail(errInvalid(codeVolumeNameTooLong, "name", "Volume name %q is too long: the maximum is 203 characters.", name))
	case !(name[0] == '_' || (name[0]|0x20 >= 'a' && name[0]|0x20 <= 'z')):
		return fail(errInvalid(codeVolumeNameFirstChar, "name", "Volume name %q is invalid: the first character must be a letter or an underscore.", name))
	case !volumeName.MatchString(name):
		return fail(errInvalid(codeVolumeNameInvalid, "name", "Volume name %q is invalid: only alphanumerics and underscores are allowed.", name))
	}
	if r.body["svm"] == nil {
		return fail(errInvalid(codeSVMMissing, "svm", "neither svm.name nor svm.uuid was given"))
	}
	s := c.svmOf(r.body["svm"])
	if s == nil {
		return fail(&apiErr{status: http.StatusNotFound, code: codeSVMNotFound, message: "The specified SVM does not exist.", target: "svm.name"})
	}
	aggrs, _ := r.body["aggregates"].([]any)
	if len(aggrs) != 1 {
		return fail(errInvalid(codeOneAggregate, "aggregates", "A FlexVol volume needs exactly one aggregate."))
	}
	aggrRef, _ := aggrs[0].(map[string]any)
	aggrName, _ := aggrRef["name"].(string)
	if c.aggregates[aggrName] == nil {
		return fail(errInvalid(codeAggregateNotFound, "aggregates.name", "Aggregate %q does not exist.", aggrName))
	}
	v := &volume{
		uuid: c.fabric.newUUID(), name: name, svm: s.name, aggregate: aggrName, size: minVolumeSize,
		typ: "rw", state: "online", snapshotPolicy: "default", created: r.now, msid: c.nextMSID(),
	}
	v.dir = filepath.Join(c.dir, v.uuid)
	// from is what the new volume's content starts as: empty, or a FlexClone's parent snapshot.
	var from *snapshot
	var parent *volume
	if size, set := number(r.body["size"]); set {
		v.size = size
	}
	if t, _ := r.body["type"].(string); t != "" {
		v.typ = strings.ToLower(t) // Trident sends "DP"; ONTAP accepts either case
		if v.typ != "rw" && v.typ != "dp" {
			return fail(errInvalid(codeInvalidField, "type", "Unsupported volume type %q.", t))
		}
	}
	v.comment, _ = r.body["comment"].(string)
	if v.typ == "dp" {
		// A DP volume takes no snapshots of its own: its snapshots come from the source. A
		// create may still name a policy (clients send "none"); only a PATCH is refused.
		v.snapshotPolicy = ""
	}
	if e := applyVolumeFields(v, r.body, true); e != nil {
		return fail(e)
	}
	if clone, isMap := r.body["clone"].(map[string]any); isMap {
		// A FlexClone starts with the content of its parent's snapshot. The simulator copies
		// it, as if the clone were split at once; ONTAP keeps the two sharing blocks.
		parentName, _ := nameOf(clone, "parent_volume")
		snapName, _ := nameOf(clone, "parent_snapshot")
		parent = c.volumeByName(s.name, parentName)
		if parent == nil {
			return fail(&apiErr{status: http.StatusNotFound, code: codeNotFound, message: "Parent volume " + parentName + " does not exist.", target: "clone.parent_volume.name"})
		}
		if from = parent.snapshot(snapName); from == nil {
			return fail(&apiErr{status: http.StatusNotFound, code: codeNotFound, message: "Snapshot copy " + snapName + " of volume " + parentName + " does not exist.", target: "clone.parent_snapshot.name"})
		}
	}
	if v.typ == "dp" {
		if v.path != "" {
			// An uninitialized DP volume cannot be mounted (Trident expects 917536).
			return fail(errInvalid(codeDPNotInitialized, "nas.path", "Cannot mount an uninitialized DP volume."))
		}
	}
	return c.async(r, func() *apiErr {
		if e := c.checkVolumeSize(v.size, minVolumeSize); e != nil {
			return e
		}
		if c.volumeByName(v.svm, v.name) != nil {
			return &apiErr{status: http.StatusConflict, code: codeVolumeDuplicate, message: "Duplicate volume name " + v.name + ".", target: "name"}
		}
		if from != nil && !slices.Contains(parent.snapshots, from) {
			return &apiErr{status: http.StatusNotFound, code: codeNotFound, message: "Snapshot copy " + from.name + " of volume " + parent.name + " does not exist.", target: "clone.parent_snapshot.name"}
		}
		if err := makeVolumeDir(v, from); err != nil {
			return errDisk(err)
		}
		c.volumes[v.uuid] = v
		return nil
	})
}

// applyVolumeFields sets what a create or a PATCH may change besides name, size and type.
func applyVolumeFields(v *volume, body map[string]any, create bool) *apiErr {
	if nas, isMap := body["nas"].(map[string]any); isMap {
		if p, set := nas["path"]; set {
			path, _ := p.(string)
			if path != "" && (!strings.HasPrefix(path, "/") || (len(path) > 1 && strings.HasSuffix(path, "/"))) {
				return errInvalid(codeJunctionPathInvalid, "nas.path", "Junction path %q is invalid.", path)
			}
			v.path = path
		}
		if ep, isEP := nas["export_policy"].(map[string]any); isEP {
			v.exportPolicy, _ = ep["name"].(string)
		}
	}
	if sp, isMap := body["snapshot_policy"].(map[string]any); isMap {
		if v.typ == "dp" && !create {
			return errInvalid(codeSnapshotPolicyOnDP, "snapshot_policy", "Cannot modify the Snapshot policy of a DP volume.")
		}
		v.snapshotPolicy, _ = sp["name"].(string)
	}
	if as, isMap := body["autosize"].(map[string]any); isMap {
		if mode, _ := as["mode"].(string); mode != "" {
			v.autosizeMode = mode
		}
		if m, set := number(as["maximum"]); set {
			v.autosizeMax = m
		}
	}
	return nil
}

func (c *Cluster) modifyVolume(r *request) response {
	v := c.volumes[r.vars["uuid"]]
	if v == nil {
		return fail(errNotFound("uuid"))
	}
	if snap := r.query.Get("restore_to.snapshot.name"); snap != "" || r.query.Get("restore_to.snapshot.uuid") != "" {
		return c.restoreVolume(r, v, snap, r.query.Get("restore_to.snapshot.uuid"))
	}
	if _, set := r.body["type"]; set {
		return fail(errInvalid(codeNotModifiableForType, "type", "The volume type changes only through SnapMirror break and resync."))
	}
	if name, set := r.body["name"].(string); set && !volumeName.MatchString(name) {
		return fail(errInvalid(codeVolumeNameInvalid, "name", "Volume name %q is invalid: only alphanumerics and underscores are allowed.", name))
	}
	if path, set := nasPath(r.body); set && path != "" && v.typ == "dp" && !c.fabric.initialized(c, v) {
		return fail(errInvalid(codeDPNotInitialized, "nas.path", "Cannot mount an uninitialized DP volume."))
	}
	return c.async(r, func() *apiErr {
		if size, set := number(r.body["size"]); set {
			if e := c.checkVolumeSize(size, max(minVolumeSize, v.used())); e != nil {
				return e
			}
			v.size = size
		}
		if name, set := r.body["name"].(string); set {
			v.name = name
		}
		if comment, set := r.body["comment"].(string); set {
			v.comment = comment
		}
		return applyVolumeFields(v, r.body, false)
	})
}

// checkVolumeSize refuses a size below least or above the cluster's largest FlexVol, in the
// job, as ONTAP does for a size too small (917534, seen by Trident as a failed job).
func (c *Cluster) checkVolumeSize(size, least int64) *apiErr {
	switch {
	case size < least:
		return errInvalid(codeVolumeTooSmall, "size", "Size %d is too small. Minimum size is %d bytes.", size, least)
	case size > c.maxVolumeSize:
		// UNCONFIRMED: the code and wording; ontap-rest.md documents only the too-small one.
		return errInvalid(codeVolumeTooLarge, "size", "Size %d is too large. Maximum size is %d bytes.", size, c.maxVolumeSize)
	}
	return nil
}

func nasPath(body map[string]any) (string, bool) {
	nas, _ := body["nas"].(map[string]any)
	p, set := nas["path"].(string)
	return p, set
}

// restoreVolume reverts the active file system to a snapshot and deletes the newer snapshots,
// as a snapshot restore does. DP volumes refuse.
func (c *Cluster) restoreVolume(r *request, v *volume, name, uuid string) response {
	if v.typ != "rw" {
		return fail(errInvalid(codeNotModifiableForType, "restore_to", "Snapshot restore is not supported on a DP volume."))
	}
	idx := -1
	for i, s := range v.snapshots {
		if s.name == name || s.uuid == uuid {
			idx = i
		}
	}
	if idx < 0 {
		return fail(errInvalid(codeRestoreInvalid, "restore_to.snapshot.name", "Snapshot %q does not exist.", name+uuid))
	}
	return c.async(r, func() *apiErr {
		for _, newer := range v.snapshots[idx+1:] {
			if len(newer.owners) > 0 {
				return errInvalid(codeNewerSnapshotIsSMRef, "restore_to", "Newer Snapshot copy %q is in use as a SnapMirror reference.", newer.name)
			}
		}
		// In place: a client that has the volume mounted sees the snapshot's content.
		if err := syncTree(v.snapshots[idx].dir, v.active()); err != nil {
			return errDisk(err)
		}
		v.replaced()
		dropSnapshots(v.snapshots[idx+1:])
		v.snapshots = slices.Clone(v.snapshots[:idx+1])
		return nil
	})
}

// deleteVolume refuses, in the job, while the volume is an end of a SnapMirror relationship
// (917858), as ONTAP does. Its LUNs go with it, mapped or not, and their maps (syncSAN drops
// them). UNCONFIRMED: that ONTAP deletes a volume holding mapped LUNs; Trident unmaps first.
func (c *Cluster) deleteVolume(r *request) response {
	v := c.volumes[r.vars["uuid"]]
	if v == nil {
		return fail(errNotFound("uuid"))
	}
	return c.async(r, func() *apiErr {
		if c.fabric.inRelationship(c, v) {
			return errInvalid(codeVolumeInRelationship, "", `Volume "%s" in SVM "%s" is the destination or source endpoint of one or more SnapMirror relationships. Before you can delete the volume, you must delete the relationships for which it is the destination endpoint, and release the source information for the relationships for which it is the source endpoint using "snapmirror release".`, v.name, v.svm)
		}
		if err := os.RemoveAll(v.dir); err != nil {
			return errDisk(err)
		}
		delete(c.volumes, v.uuid)
		return nil
	})
}

// snapshotRecord renders a snapshot; its size, read from the disk, is lazy: a list works it
// out only for the records its answer shows (page), not for every snapshot of every volume.
func (c *Cluster) snapshotRecord(v *volume, s *snapshot) map[string]any {
	rec := map[string]any{
		"uuid": s.uuid, "name": s.name, "create_time": c.timestamp(s.created),
		"size": lazy(func() any { return snapshotSize(s) }), "volume": map[string]any{"name": v.name, "uuid": v.uuid},
		"svm": map[string]any{"name": v.svm, "uuid": c.svms[v.svm].uuid}, "state": "valid",
	}
	if len(s.owners) > 0 {
		rec["owners"] = s.owners
	}
	return rec
}

// volumesOf returns the volume of the request's {volume.uuid}, or every volume for "*".
func (c *Cluster) volumesOf(r *request) ([]*volume, *apiErr) {
	if r.vars["volume.uuid"] == "*" {
		return sortedValues(c.volumes, func(v *volume) string { return v.uuid }), nil
	}
	v, e := c.volumeOf(r)
	if e != nil {
		return nil, e
	}
	return []*volume{v}, nil
}

func (c *Cluster) volumeOf(r *request) (*volume, *apiErr) {
	v := c.volumes[r.vars["volume.uuid"]]
	if v == nil {
		return nil, &apiErr{status: http.StatusNotFound, code: codeVolumeUUIDNotFound, message: "The volume does not exist.", target: "volume.uuid"}
	}
	return v, nil
}

func (c *Cluster) listSnapshots(r *request) response {
	vols, e := c.volumesOf(r)
	if e != nil {
		return fail(e)
	}
	// delta, expensive, is worked out only when asked for, between each snapshot and the
	// active file system. UNCONFIRMED: ONTAP documents delta as the space that differs between
	// the snapshot the query names and the active file system, or between two named snapshots;
	// the two-name form is not simulated, and the size is the bytes of the files that differ.
	withDelta := slices.ContainsFunc(fieldList(r.query, ""), func(f string) bool { return f == "**" || strings.HasPrefix(f, "delta") })
	var recs []map[string]any
	for _, v := range vols {
		for _, s := range v.snapshots {
			rec := c.snapshotRecord(v, s)
			if withDelta {
				// Lazy too: worked out for the snapshots the filters keep. A copy that cannot
				// be read counts what was read.
				rec["delta"] = lazy(func() any {
					d, _ := delta(s.dir, v.active())
					return map[string]any{"size_consumed": d, "time_elapsed": isoDuration(r.now.Sub(s.created))}
				})
			}
			recs = append(recs, rec)
		}
	}
	return ok(recs)
}

func (c *Cluster) getSnapshot(r *request) response {
	v, e := c.volumeOf(r)
	if e != nil {
		return fail(e)
	}
	for _, s := range v.snapshots {
		if s.uuid == r.vars["uuid"] {
			rec := c.snapshotRecord(v, s)
			resolve(rec, nil)
			return ok(rec)
		}
	}
	return fail(&apiErr{status: http.StatusNotFound, code: codeSnapshotNotFound, message: "Snapshot copy does not exist.", target: "uuid"})
}

func (c *Cluster) createSnapshot(r *request) response {
	v, e := c.volumeOf(r)
	if e != nil {
		return fail(e)
	}
	name, _ := r.body["name"].(string)
	if ref, given := r.body["svm"]; given {
		// The body may name the volume's SVM, by name or UUID; another SVM has no such volume.
		if s := c.svmOf(ref); s == nil || s.name != v.svm {
			return fail(&apiErr{status: http.StatusNotFound, code: codeNotFound, message: "entry doesn't exist", target: "svm"})
		}
	}
	switch {
	case name == "":
		return fail(errInvalid(codeInvalidField, "name", `"name" is a required field`))
	case v.typ != "rw":
		return fail(errInvalid(codeSnapshotOnlyOnRW, "", "Snapshot copies can only be created on read/write (RW) volumes."))
	case strings.HasPrefix(name, "snapmirror."):
		// The reserved prefix list is UNCONFIRMED; snapmirror. is the likely one.
		return fail(errInvalid(codeSnapshotReservedName, "name", "User-created Snapshot copy names cannot begin with %q.", "snapmirror."))
	case len(name) > 255 || strings.ContainsAny(name, "/ "):
		return fail(errInvalid(codeSnapshotNameInvalid, "name", "Snapshot copy name %q is invalid.", name))
	case v.snapshot(name) != nil:
		return fail(&apiErr{status: http.StatusConflict, code: codeSnapshotDuplicate, message: "Snapshot copy " + name + " already exists.", target: "name"})
	}
	return c.async(r, func() *apiErr {
		if v.snapshot(name) != nil {
			return &apiErr{status: http.StatusConflict, code: codeSnapshotDuplicate, message: "Snapshot copy " + name + " already exists.", target: "name"}
		}
		if _, err := c.takeSnapshot(v, name, r.now); err != nil {
			return errDisk(err)
		}
		return nil
	})
}

// takeSnapshot freezes the volume's active file system into a copy on disk; callers hold
// fabric.mu.
func (c *Cluster) takeSnapshot(v *volume, name string, now time.Time) (*snapshot, error) {
	uuid := c.fabric.newUUID()
	s := &snapshot{uuid: uuid, name: name, created: now, dir: v.snapshotTree(uuid)}
	if err := copyTree(v.active(), s.dir); err != nil {
		_ = os.RemoveAll(string(s.dir)) // half a copy is no snapshot
		return nil, err
	}
	v.snapshots = append(v.snapshots, s)
	return s, nil
}

// snapshotTree is where a snapshot of the volume keeps its copy.
func (v *volume) snapshotTree(uuid string) tree {
	return tree(filepath.Join(v.dir, "snapshots", uuid))
}

// makeVolumeDir gives a new volume its content: none (its directory comes with its first
// content), or a copy of a FlexClone's parent snapshot.
func makeVolumeDir(v *volume, from *snapshot) error {
	if from == nil {
		return nil
	}
	v.replaced() // its LUNs are the parent's, to be given identities of their own
	if err := copyTree(from.dir, v.active()); err != nil {
		_ = os.RemoveAll(v.dir) // nothing refers to it
		return err
	}
	return nil
}

// snapshotSize is the space a snapshot's copy takes, as the volume's used space counts it.
func snapshotSize(s *snapshot) int64 {
	n, _ := s.dir.size() // a copy that cannot be read counts what was read
	return n
}

func (c *Cluster) deleteSnapshot(r *request) response {
	v, e := c.volumeOf(r)
	if e != nil {
		return fail(e)
	}
	idx := -1
	for i, s := range v.snapshots {
		if s.uuid == r.vars["uuid"] {
			idx = i
		}
	}
	switch {
	case idx < 0:
		return fail(&apiErr{status: http.StatusNotFound, code: codeSnapshotNotFound, message: "Snapshot copy does not exist.", target: "uuid"})
	case v.typ != "rw":
		return fail(errInvalid(codeSnapshotDeleteOnlyRW, "", "Snapshot copies can only be deleted on read/write (RW) volumes."))
	case len(v.snapshots[idx].owners) > 0:
		return fail(errInvalid(codeSnapshotHasOwner, "", "Snapshot copy %q has owners: %s.", v.snapshots[idx].name, strings.Join(v.snapshots[idx].owners, ", ")))
	}
	uuid := r.vars["uuid"]
	return c.async(r, func() *apiErr {
		for i, s := range v.snapshots {
			if s.uuid == uuid {
				if err := os.RemoveAll(string(s.dir)); err != nil {
					return errDisk(err)
				}
				v.snapshots = slices.Delete(v.snapshots, i, i+1)
				return nil
			}
		}
		return &apiErr{status: http.StatusNotFound, code: codeSnapshotNotFound, message: "Snapshot copy does not exist."}
	})
}

func sortByUUID(recs []map[string]any) {
	sortRecords(recs, "uuid")
}
