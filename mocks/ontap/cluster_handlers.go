package ontap

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

type policy struct {
	uuid, name, typ, syncType string
	copyAll, copyLatest       bool
	schedule                  string
}

type schedule struct {
	uuid, name string
	// minutes, hours and weekdays of a cron schedule; nil means every one.
	minutes, hours, weekdays []int
}

// builtinPolicies are ONTAP's cluster-wide SnapMirror policies (shared/docs/ontap-rest.md
// section 7.1). The exact retention rules of the vault-type ones are UNCONFIRMED and not
// modelled: the simulator treats them like MirrorLatest.
func builtinPolicies(f *Fabric) []*policy {
	mk := func(name, typ, syncType string, copyAll, copyLatest bool, sched string) *policy {
		return &policy{uuid: f.newUUID(), name: name, typ: typ, syncType: syncType, copyAll: copyAll, copyLatest: copyLatest, schedule: sched}
	}
	return []*policy{
		mk("Asynchronous", "async", "", false, false, "hourly"),
		mk("MirrorAllSnapshots", "async", "", true, false, ""),
		mk("MirrorAllSnapshotsDiscardNetwork", "async", "", true, false, ""),
		mk("MirrorAndVault", "async", "", false, false, ""),
		mk("MirrorLatest", "async", "", false, true, ""),
		mk("DPDefault", "async", "", true, false, ""),
		mk("XDPDefault", "async", "", false, false, ""),
		mk("Sync", "sync", "sync", false, false, ""),
		mk("StrictSync", "sync", "strict_sync", false, false, ""),
	}
}

// builtinSchedules are cron schedules every cluster has. The full default set of ONTAP is
// UNCONFIRMED; these are the common ones.
func builtinSchedules(f *Fabric) []*schedule {
	every := func(step int) []int {
		var m []int
		for i := 0; i < 60; i += step {
			m = append(m, i)
		}
		return m
	}
	return []*schedule{
		{uuid: f.newUUID(), name: "5min", minutes: every(5)},
		{uuid: f.newUUID(), name: "10min", minutes: every(10)},
		{uuid: f.newUUID(), name: "15min", minutes: every(15)},
		{uuid: f.newUUID(), name: "hourly", minutes: []int{5}},
		{uuid: f.newUUID(), name: "8hour", minutes: []int{15}, hours: []int{2, 10, 18}},
		{uuid: f.newUUID(), name: "daily", minutes: []int{10}, hours: []int{0}},
		{uuid: f.newUUID(), name: "weekly", minutes: []int{15}, hours: []int{0}, weekdays: []int{0}},
	}
}

func (c *Cluster) findPolicy(name string) *policy {
	for _, p := range c.policies {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (c *Cluster) findSchedule(name string) *schedule {
	for _, s := range c.schedules {
		if s.name == name {
			return s
		}
	}
	return nil
}

func (c *Cluster) listSVMPeers(*request) response {
	var recs []map[string]any
	for _, s := range sortedSVMs(c) {
		names := make([]string, 0, len(s.peers))
		for n := range s.peers {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p := s.peers[n]
			recs = append(recs, map[string]any{
				"uuid": pairUUID(s.uuid, p.uuid), "name": p.name, "state": "peered", "applications": []string{"snapmirror"},
				"svm":  map[string]any{"name": s.name, "uuid": s.uuid},
				"peer": map[string]any{"svm": map[string]any{"name": p.name, "uuid": p.uuid}, "cluster": map[string]any{"name": p.cluster.name, "uuid": p.cluster.uuid}},
			})
		}
	}
	return ok(recs)
}

func (c *Cluster) listSchedules(*request) response {
	var recs []map[string]any
	for _, s := range c.schedules {
		cron := map[string]any{"minutes": s.minutes}
		if s.hours != nil {
			cron["hours"] = s.hours
		}
		if s.weekdays != nil {
			cron["weekdays"] = s.weekdays
		}
		recs = append(recs, map[string]any{"uuid": s.uuid, "name": s.name, "type": "cron", "scope": "cluster", "cron": cron})
	}
	return ok(recs)
}

func (c *Cluster) listPolicies(*request) response {
	var recs []map[string]any
	for _, p := range c.policies {
		rec := map[string]any{"uuid": p.uuid, "name": p.name, "type": p.typ, "scope": "cluster"}
		if p.syncType != "" {
			rec["sync_type"] = p.syncType
		}
		if p.copyAll {
			rec["copy_all_source_snapshots"] = true
		}
		if p.copyLatest {
			rec["copy_latest_source_snapshot"] = true
		}
		if p.schedule != "" {
			rec["transfer_schedule"] = map[string]any{"name": p.schedule}
		}
		recs = append(recs, rec)
	}
	return ok(recs)
}

func (c *Cluster) exportPolicyRecord(p *exportPolicy) map[string]any {
	rules := make([]map[string]any, len(p.rules))
	copy(rules, p.rules)
	return map[string]any{"id": p.id, "name": p.name, "svm": map[string]any{"name": p.svm, "uuid": c.svms[p.svm].uuid}, "rules": rules}
}

func (c *Cluster) listExportPolicies(*request) response {
	ids := make([]int64, 0, len(c.exportPolicies))
	for id := range c.exportPolicies {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var recs []map[string]any
	for _, id := range ids {
		recs = append(recs, c.exportPolicyRecord(c.exportPolicies[id]))
	}
	return ok(recs)
}

func (c *Cluster) createExportPolicy(r *request) response {
	name, _ := r.body["name"].(string)
	s := c.svmOf(r.body["svm"])
	switch {
	case name == "":
		return fail(errInvalid(codeInvalidField, "name", `"name" is a required field`))
	case s == nil:
		return fail(&apiErr{status: http.StatusNotFound, code: codeNotFound, message: "entry doesn't exist", target: "svm.name"})
	}
	if c.exportPolicyNamed(s.name, name) != nil {
		return fail(&apiErr{status: http.StatusConflict, code: codeDuplicate, message: "Duplicate export policy name " + name})
	}
	p := &exportPolicy{id: c.nextPolicyID, name: name, svm: s.name}
	if rules, isList := r.body["rules"].([]any); isList {
		for i, rule := range rules {
			m, _ := rule.(map[string]any)
			if e := checkExportRule(m, fmt.Sprintf("rules[%d].", i)); e != nil {
				return fail(e)
			}
			m["index"] = i + 1
			p.rules = append(p.rules, m)
		}
	}
	c.nextPolicyID++
	c.addExportPolicy(p)
	rec := c.exportPolicyRecord(p)
	return created(fmt.Sprintf("/api/protocols/nfs/export-policies/%d", p.id), map[string]any{"num_records": 1, "records": []map[string]any{project(rec, []string{"id", "name"}, nil)}})
}

func (c *Cluster) exportPolicyOf(r *request) *exportPolicy {
	id, err := strconv.ParseInt(r.vars["policy.id"], 10, 64)
	if err != nil {
		return nil
	}
	return c.exportPolicies[id]
}

func (c *Cluster) listExportRules(r *request) response {
	p := c.exportPolicyOf(r)
	if p == nil {
		return fail(errNotFound("policy.id"))
	}
	return ok(p.rules)
}

func (c *Cluster) createExportRule(r *request) response {
	p := c.exportPolicyOf(r)
	if p == nil {
		return fail(errNotFound("policy.id"))
	}
	rule := map[string]any{}
	for k, v := range r.body {
		rule[k] = v
	}
	if e := checkExportRule(rule, ""); e != nil {
		return fail(e)
	}
	// After the last rule's index: a deleted rule's index is not given again at once.
	index := 1
	if n := len(p.rules); n > 0 {
		last, _ := p.rules[n-1]["index"].(int)
		index = last + 1
	}
	rule["index"] = index
	p.rules = append(p.rules, rule)
	return created(fmt.Sprintf("/api/protocols/nfs/export-policies/%d/rules/%d", p.id, rule["index"]), map[string]any{})
}

// The values of an export rule's lists (ONTAP's published model).
var (
	exportProtocols = []string{"any", "nfs", "nfs3", "nfs4", "cifs", "flexcache"}
	exportFlavors   = []string{"any", "none", "never", "krb5", "krb5i", "krb5p", "ntlm", "sys"}
)

// checkExportRule refuses a rule ONTAP refuses: clients.match, ro_rule and rw_rule are
// required, and the lists hold known values ("any" alone among protocols). It fills in
// ONTAP's defaults of what the simulator reads: protocols any, superuser any. prefix names the
// rule in a policy's rules[] in the error's target.
func checkExportRule(rule map[string]any, prefix string) *apiErr {
	if rule == nil {
		return errInvalid(codeInvalidField, strings.TrimSuffix(prefix, "."), "An export rule must be an object.")
	}
	clients, _ := rule["clients"].([]any)
	if len(clients) == 0 {
		return errInvalid(codeInvalidField, prefix+"clients", `"clients" is a required field`)
	}
	for _, item := range clients {
		m, _ := item.(map[string]any)
		if match, _ := m["match"].(string); match == "" {
			return errInvalid(codeInvalidField, prefix+"clients.match", `"clients.match" is a required field`)
		}
	}
	for _, field := range []string{"ro_rule", "rw_rule"} {
		if _, given := rule[field]; !given {
			return errInvalid(codeInvalidField, prefix+field, `"%s" is a required field`, field)
		}
	}
	if _, given := rule["protocols"]; !given {
		rule["protocols"] = []any{"any"}
	}
	if _, given := rule["superuser"]; !given {
		rule["superuser"] = []any{"any"}
	}
	for field, allowed := range map[string][]string{"protocols": exportProtocols, "ro_rule": exportFlavors, "rw_rule": exportFlavors, "superuser": exportFlavors} {
		list, isList := rule[field].([]any)
		values := strList(list)
		if !isList || len(values) != len(list) || len(values) == 0 {
			return errInvalid(codeInvalidField, prefix+field, `"%s" must be a non-empty list of strings`, field)
		}
		for _, v := range values {
			if !slices.Contains(allowed, v) {
				return errInvalid(codeInvalidValue, prefix+field, "The value %q is invalid for field \"%s\" (<%s>)", v, field, strings.Join(allowed, ","))
			}
		}
		if field == "protocols" && len(values) > 1 && slices.Contains(values, "any") {
			return errInvalid(codeInvalidValue, prefix+field, `"any" cannot be given with other protocols.`)
		}
	}
	return nil
}

// svmOf resolves a {"name"} or {"uuid"} SVM reference of a body.
func (c *Cluster) svmOf(ref any) *svm {
	m, _ := ref.(map[string]any)
	if name, _ := m["name"].(string); name != "" {
		return c.svms[name]
	}
	if uuid, _ := m["uuid"].(string); uuid != "" {
		for _, s := range c.svms {
			if s.uuid == uuid {
				return s
			}
		}
	}
	return nil
}

func sortedSVMs(c *Cluster) []*svm {
	return sortedValues(c.svms, func(s *svm) string { return s.name })
}

// svmID is the SVM's number in its cluster, as in ONTAP's iSCSI target names and SnapMirror
// snapshot names (UNCONFIRMED: the simulator numbers data SVMs from 2 in name order, the
// admin SVM taking the lower).
func (c *Cluster) svmID(s *svm) int { return slices.Index(sortedSVMs(c), s) + 2 }

// nextMSID numbers a new volume: ONTAP's MSIDs are large numbers (2147484680 in the example
// of shared/docs/ontap-rest.md 9.2).
func (c *Cluster) nextMSID() int64 {
	c.msids++
	return 2147484648 + c.msids
}

func sortedAggregates(c *Cluster) []*aggregate {
	return sortedValues(c.aggregates, func(a *aggregate) string { return a.name })
}

// sortedValues returns a map's values ordered by key, for deterministic answers.
func sortedValues[K comparable, V any](m map[K]V, key func(V) string) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

// number reads a JSON number of a body.
func number(v any) (int64, bool) {
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// pairUUID is the UUID of the peering of two SVMs, the same whichever is named first.
func pairUUID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	h := sha1.Sum([]byte(a + b))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
