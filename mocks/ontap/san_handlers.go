package ontap

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// igroups, LUN maps and the iSCSI service (docs/ontap-rest.md §11.3-§11.5): all synchronous,
// 201 on a create, 200 otherwise.

var igroupOSTypes = []string{"aix", "hpux", "hyper_v", "linux", "netware", "openvms", "solaris", "vmware", "windows", "xen"}

var (
	iqnName  = regexp.MustCompile(`^iqn\.\d{4}-\d{2}\.[A-Za-z0-9][A-Za-z0-9.-]*(:.+)?$`)
	euiName  = regexp.MustCompile(`^eui\.[0-9A-Fa-f]{16}$`)
	wwpnName = regexp.MustCompile(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){7}$`)
)

const (
	maxIgroupName    = 96
	maxInitiatorName = 96
	maxLUNNumber     = 4095
)

// checkInitiator refuses a malformed initiator name, or one of a kind the igroup's protocol
// does not take (an IQN or EUI is iSCSI, a WWPN is FC).
func checkInitiator(name, protocol, target string) *apiErr {
	iscsi := iqnName.MatchString(name) || euiName.MatchString(name)
	fc := wwpnName.MatchString(name)
	switch {
	case len(name) > maxInitiatorName || (!iscsi && !fc):
		return errInvalid(codeInitiatorInvalid, target, "Invalid initiator name %q: want an iSCSI name (iqn.yyyy-mm.domain[:id] or eui. and 16 hex digits) or an FC WWPN (8 colon-separated hex pairs).", name)
	case (protocol == "iscsi" && !iscsi) || (protocol == "fcp" && !fc):
		return errInvalid(codeInitiatorProtocol, target, "Initiator %q cannot be added to an igroup of protocol %s.", name, protocol)
	}
	return nil
}

// osConflict finds another igroup of the SVM holding the initiator with a different os_type:
// ONTAP refuses an initiator in igroups of conflicting OS types.
func (c *Cluster) osConflict(g *igroup, svmName, osType, name string) *igroup {
	for _, o := range sortedValues(c.igroups, func(x *igroup) string { return x.name }) {
		if o != g && o.svm == svmName && o.osType != osType && o.initiator(name) >= 0 {
			return o
		}
	}
	return nil
}

func (c *Cluster) igroupRecord(g *igroup) map[string]any {
	rec := map[string]any{
		"uuid": g.uuid, "name": g.name, "os_type": g.osType, "protocol": g.protocol,
		"svm": ref(g.svm, c.svms[g.svm].uuid), "delete_on_unmap": g.deleteOnUnmap,
	}
	if g.comment != "" {
		rec["comment"] = g.comment
	}
	if len(g.initiators) > 0 {
		var is []map[string]any
		for _, i := range g.initiators {
			m := map[string]any{"name": i.name}
			if i.comment != "" {
				m["comment"] = i.comment
			}
			is = append(is, m)
		}
		rec["initiators"] = is
	}
	if maps := c.mapsOfIgroup(g.uuid); len(maps) > 0 {
		var lm []map[string]any
		for _, m := range maps {
			l := c.lunByUUID(m.lun)
			lm = append(lm, map[string]any{"lun": ref(l.path(), l.uuid), "logical_unit_number": m.number})
		}
		rec["lun_maps"] = lm
	}
	return rec
}

func (c *Cluster) listIgroups(*request) response {
	c.syncSAN()
	recs := []map[string]any{}
	for _, g := range sortedValues(c.igroups, func(x *igroup) string { return x.svm + "/" + x.name }) {
		recs = append(recs, c.igroupRecord(g))
	}
	return ok(recs)
}

func errIgroupNotFound(target string) *apiErr {
	return &apiErr{status: http.StatusNotFound, code: codeIgroupNotFound, message: "The initiator group does not exist.", target: target}
}

func (c *Cluster) getIgroup(r *request) response {
	c.syncSAN()
	g := c.igroups[r.vars["uuid"]]
	if g == nil {
		return fail(errIgroupNotFound("uuid"))
	}
	return ok(c.igroupRecord(g))
}

func checkIgroupName(name string) *apiErr {
	if name == "" || len(name) > maxIgroupName {
		return errInvalid(codeIgroupNameInvalid, "name", "Invalid initiator group name %q: 1 to %d characters.", name, maxIgroupName)
	}
	return nil
}

func (c *Cluster) createIgroup(r *request) response {
	c.syncSAN()
	if r.body["svm"] == nil {
		return fail(errInvalid(codeSVMMissing, "svm", "neither svm.name nor svm.uuid was given"))
	}
	s := c.svmOf(r.body["svm"])
	if s == nil {
		return fail(&apiErr{status: http.StatusNotFound, code: codeSVMNotFound, message: "The specified SVM does not exist.", target: "svm.name"})
	}
	name, _ := r.body["name"].(string)
	osType, _ := r.body["os_type"].(string)
	protocol, _ := r.body["protocol"].(string)
	if protocol == "" {
		protocol = "mixed"
	}
	comment, _ := r.body["comment"].(string)
	switch {
	case r.body["name"] == nil:
		return fail(errInvalid(codeInvalidField, "name", `"name" is a required field`))
	case checkIgroupName(name) != nil:
		return fail(checkIgroupName(name))
	case osType == "":
		return fail(errInvalid(codeInvalidField, "os_type", `"os_type" is a required field`))
	case !slices.Contains(igroupOSTypes, osType):
		return fail(errInvalid(codeInvalidValue, "os_type", "The value %q is invalid for field \"os_type\" (<%s>)", osType, strings.Join(igroupOSTypes, ",")))
	case !slices.Contains([]string{"fcp", "iscsi", "mixed"}, protocol):
		return fail(errInvalid(codeInvalidValue, "protocol", "The value %q is invalid for field \"protocol\" (<fcp,iscsi,mixed>)", protocol))
	case len(comment) > 254:
		return fail(errInvalid(codeInvalidValue, "comment", "The comment is too long: at most 254 characters."))
	case c.igroupByName(s.name, name) != nil:
		return fail(&apiErr{status: http.StatusConflict, code: codeIgroupDuplicate, message: "An initiator group named \"" + name + "\" already exists in SVM \"" + s.name + "\".", target: "name"})
	}
	g := &igroup{uuid: c.fabric.newUUID(), name: name, svm: s.name, osType: osType, protocol: protocol, comment: comment}
	g.deleteOnUnmap, _ = r.body["delete_on_unmap"].(bool)
	list, _ := r.body["initiators"].([]any)
	for _, item := range list {
		m, _ := item.(map[string]any)
		in := initiator{}
		in.name, _ = m["name"].(string)
		in.comment, _ = m["comment"].(string)
		if e := c.checkNewInitiator(g, in.name, "initiators.name", codeInitiatorOSConflict); e != nil {
			return fail(e)
		}
		g.initiators = append(g.initiators, in)
	}
	c.igroups[g.uuid] = g
	body := map[string]any{}
	if r.query.Get("return_records") == "true" {
		body = map[string]any{"num_records": 1, "records": []map[string]any{c.igroupRecord(g)}}
	}
	return created("/api/protocols/san/igroups/"+g.uuid, body)
}

// checkNewInitiator checks an initiator to add to g: its form, that it is not in g yet, and
// that no igroup of another os_type holds it (conflict is the code: 5374732 on an igroup
// create, 5374734 on an add).
func (c *Cluster) checkNewInitiator(g *igroup, name, target, conflict string) *apiErr {
	if e := checkInitiator(name, g.protocol, target); e != nil {
		return e
	}
	if g.initiator(name) >= 0 {
		return &apiErr{status: http.StatusConflict, code: codeInitiatorExists, message: "Initiator " + name + " is already in initiator group " + g.name + ".", target: target}
	}
	if o := c.osConflict(g, g.svm, g.osType, name); o != nil {
		return &apiErr{status: http.StatusConflict, code: conflict, target: target,
			message: "Initiator " + name + " is in initiator group " + o.name + " of os_type " + o.osType + ", which conflicts with " + g.osType + "."}
	}
	return nil
}

func (c *Cluster) modifyIgroup(r *request) response {
	c.syncSAN()
	g := c.igroups[r.vars["uuid"]]
	if g == nil {
		return fail(errIgroupNotFound("uuid"))
	}
	name, nameSet := r.body["name"].(string)
	osType, osSet := r.body["os_type"].(string)
	comment, commentSet := r.body["comment"].(string)
	switch {
	case nameSet && checkIgroupName(name) != nil:
		return fail(checkIgroupName(name))
	case nameSet && name != g.name && c.igroupByName(g.svm, name) != nil:
		return fail(&apiErr{status: http.StatusConflict, code: codeIgroupDuplicate, message: "An initiator group named \"" + name + "\" already exists in SVM \"" + g.svm + "\".", target: "name"})
	case osSet && !slices.Contains(igroupOSTypes, osType):
		return fail(errInvalid(codeInvalidValue, "os_type", "The value %q is invalid for field \"os_type\" (<%s>)", osType, strings.Join(igroupOSTypes, ",")))
	case commentSet && len(comment) > 254:
		return fail(errInvalid(codeInvalidValue, "comment", "The comment is too long: at most 254 characters."))
	}
	if osSet {
		for _, in := range g.initiators {
			if o := c.osConflict(g, g.svm, osType, in.name); o != nil {
				return fail(&apiErr{status: http.StatusConflict, code: codeInitiatorOSConflict, target: "os_type",
					message: "Initiator " + in.name + " is in initiator group " + o.name + " of os_type " + o.osType + ", which conflicts with " + osType + "."})
			}
		}
		g.osType = osType
	}
	if nameSet {
		g.name = name
	}
	if commentSet {
		g.comment = comment
	}
	if d, set := r.body["delete_on_unmap"].(bool); set {
		g.deleteOnUnmap = d
	}
	return ok(map[string]any{})
}

func (c *Cluster) deleteIgroup(r *request) response {
	c.syncSAN()
	g := c.igroups[r.vars["uuid"]]
	if g == nil {
		return fail(errIgroupNotFound("uuid"))
	}
	maps := c.mapsOfIgroup(g.uuid)
	if len(maps) > 0 && r.query.Get("allow_delete_while_mapped") != "true" {
		return fail(&apiErr{status: http.StatusConflict, code: codeIgroupMapped, message: "Initiator group " + g.name + " is mapped to LUNs: unmap them first, or set allow_delete_while_mapped.", target: "allow_delete_while_mapped"})
	}
	c.lunMaps = slices.DeleteFunc(c.lunMaps, func(m *lunMap) bool { return m.igroup == g.uuid })
	delete(c.igroups, g.uuid)
	return ok(map[string]any{})
}

// Initiators of an igroup: /protocols/san/igroups/{igroup.uuid}/initiators[/{name}].

func (c *Cluster) initiatorIgroup(r *request) (*igroup, *apiErr) {
	c.syncSAN()
	g := c.igroups[r.vars["igroup.uuid"]]
	if g == nil {
		return nil, errIgroupNotFound("igroup.uuid")
	}
	return g, nil
}

func (c *Cluster) listInitiators(r *request) response {
	g, e := c.initiatorIgroup(r)
	if e != nil {
		return fail(e)
	}
	recs := []map[string]any{}
	for _, in := range g.initiators {
		rec := map[string]any{"name": in.name, "igroup": ref(g.name, g.uuid)}
		if in.comment != "" {
			rec["comment"] = in.comment
		}
		recs = append(recs, rec)
	}
	return ok(recs)
}

// addInitiators takes one initiator ({"name": ...}) or several ({"records": [...]}); all are
// checked before any is added.
func (c *Cluster) addInitiators(r *request) response {
	g, e := c.initiatorIgroup(r)
	if e != nil {
		return fail(e)
	}
	items := []any{r.body}
	target := "name"
	if recs, isList := r.body["records"].([]any); isList {
		if _, both := r.body["name"]; both {
			return fail(errInvalid(codeInvalidField, "records", "Give either name or records, not both."))
		}
		items, target = recs, "records.name"
	}
	var add []initiator
	trial := &igroup{uuid: g.uuid, name: g.name, svm: g.svm, osType: g.osType, protocol: g.protocol, initiators: slices.Clone(g.initiators)}
	for _, item := range items {
		m, _ := item.(map[string]any)
		in := initiator{}
		in.name, _ = m["name"].(string)
		in.comment, _ = m["comment"].(string)
		if in.name == "" {
			return fail(errInvalid(codeInvalidField, target, `"name" is a required field`))
		}
		if e := c.checkNewInitiator(trial, in.name, target, codeInitiatorOSConflict2); e != nil {
			return fail(e)
		}
		trial.initiators = append(trial.initiators, in)
		add = append(add, in)
	}
	g.initiators = append(g.initiators, add...)
	body := map[string]any{}
	if r.query.Get("return_records") == "true" {
		var recs []map[string]any
		for _, in := range add {
			recs = append(recs, map[string]any{"name": in.name, "igroup": ref(g.name, g.uuid)})
		}
		body = map[string]any{"num_records": len(recs), "records": recs}
	}
	return created("/api/protocols/san/igroups/"+g.uuid+"/initiators/"+add[len(add)-1].name, body)
}

func (c *Cluster) removeInitiator(r *request) response {
	g, e := c.initiatorIgroup(r)
	if e != nil {
		return fail(e)
	}
	i := g.initiator(r.vars["name"])
	switch {
	case i < 0:
		return fail(&apiErr{status: http.StatusNotFound, code: codeInitiatorNotMember, message: "Initiator " + r.vars["name"] + " is not in initiator group " + g.name + ".", target: "name"})
	case len(c.mapsOfIgroup(g.uuid)) > 0 && r.query.Get("allow_delete_while_mapped") != "true":
		return fail(&apiErr{status: http.StatusConflict, code: codeIgroupMapped, message: "Initiator group " + g.name + " is mapped to LUNs: set allow_delete_while_mapped to remove an initiator.", target: "allow_delete_while_mapped"})
	}
	g.initiators = slices.Delete(g.initiators, i, i+1)
	return ok(map[string]any{})
}

// LUN maps: /protocols/san/lun-maps[/{lun.uuid}/{igroup.uuid}[/reporting-nodes]].

func (c *Cluster) lunMapRecord(m *lunMap) map[string]any {
	l, g := c.lunByUUID(m.lun), c.igroups[m.igroup]
	n := c.lunNode(l)
	igroupRef := ref(g.name, g.uuid)
	igroupRef["protocol"], igroupRef["os_type"] = g.protocol, g.osType
	lunRef := ref(l.path(), l.uuid)
	lunRef["node"] = ref(n.name, n.uuid)
	return map[string]any{
		"svm": ref(g.svm, c.svms[g.svm].uuid), "igroup": igroupRef, "lun": lunRef,
		"logical_unit_number": m.number, "reporting_nodes": reportingNodes(n),
	}
}

// reportingNodes are the nodes that report a map's paths: by default (Selective LUN Map) the
// LUN's node and its HA partner.
func reportingNodes(n *node) []map[string]any {
	out := []map[string]any{ref(n.name, n.uuid)}
	if n.partner != nil {
		out = append(out, ref(n.partner.name, n.partner.uuid))
	}
	return out
}

func (c *Cluster) listLUNMaps(*request) response {
	c.syncSAN()
	recs := []map[string]any{}
	for _, m := range c.lunMaps {
		recs = append(recs, c.lunMapRecord(m))
	}
	return ok(recs)
}

// refOf reads a {name|uuid} reference from the body.
func refOf(body map[string]any, key string) (name, uuid string, set bool) {
	m, isMap := body[key].(map[string]any)
	name, _ = m["name"].(string)
	uuid, _ = m["uuid"].(string)
	return name, uuid, isMap && (name != "" || uuid != "")
}

// createLUNMap maps a LUN to an igroup. A LUN in a DP volume may be mapped: ONTAP's SAN
// documentation has an administrator map a SnapVault destination's read-only LUN to read it;
// the LUN reports status.read_only=true meanwhile (UNCONFIRMED for mirror destinations).
func (c *Cluster) createLUNMap(r *request) response {
	c.syncSAN()
	if r.body["svm"] == nil {
		return fail(errInvalid(codeSVMMissing, "svm", "neither svm.name nor svm.uuid was given"))
	}
	s := c.svmOf(r.body["svm"])
	if s == nil {
		return fail(&apiErr{status: http.StatusNotFound, code: codeSVMNotFound, message: "The specified SVM does not exist.", target: "svm.name"})
	}
	gName, gUUID, gSet := refOf(r.body, "igroup")
	lName, lUUID, lSet := refOf(r.body, "lun")
	switch {
	case !lSet:
		return fail(errInvalid(codeMapNoLUN, "lun", "A LUN (lun.name or lun.uuid) is required."))
	case !gSet:
		return fail(errInvalid(codeMapNoIgroup, "igroup", "An initiator group (igroup.name or igroup.uuid) is required."))
	case strings.Contains(lName, "/.snapshot/"):
		return fail(errInvalid(codeLUNInSnapshot, "lun.name", "A LUN in a Snapshot copy cannot be mapped: %q.", lName))
	}
	var l *lun
	if lUUID != "" {
		if l = c.lunByUUID(lUUID); l != nil && (l.vol.svm != s.name || (lName != "" && lName != l.path())) {
			l = nil
		}
	} else {
		l = c.lunByPath(s.name, lName)
	}
	if l == nil {
		return fail(&apiErr{status: http.StatusNotFound, code: codeMapLUNMissing, message: "The LUN does not exist in SVM \"" + s.name + "\".", target: "lun"})
	}
	var g *igroup
	if gUUID != "" {
		if g = c.igroups[gUUID]; g != nil && (g.svm != s.name || (gName != "" && gName != g.name)) {
			g = nil
		}
	} else {
		g = c.igroupByName(s.name, gName)
	}
	if g == nil {
		return fail(errIgroupNotFound("igroup"))
	}
	if c.lunMap(l.uuid, g.uuid) != nil {
		return fail(&apiErr{status: http.StatusConflict, code: codeMapExists, message: "LUN " + l.path() + " is already mapped to initiator group " + g.name + ".", target: "igroup"})
	}
	// The igroup's hosts reach the LUN through a LIF of its protocol on the LUN's node.
	// UNCONFIRMED: which code of 5374573-5374584 ONTAP answers; FC is not simulated, so an fcp
	// igroup never has a LIF.
	n := c.lunNode(l)
	switch {
	case g.protocol == "fcp":
		return fail(errInvalid(codeMapNoFCLIF, "igroup", "No FC LIF of SVM %q is on node %s, which hosts LUN %s.", s.name, n.name, l.path()))
	case !c.iscsiLIF(s.name, n):
		return fail(errInvalid(codeMapNoISCSILIF, "igroup", "No iSCSI LIF of SVM %q is on node %s, which hosts LUN %s.", s.name, n.name, l.path()))
	}
	used := map[int64]bool{}
	for _, m := range c.mapsOfIgroup(g.uuid) {
		used[m.number] = true
	}
	lunID := int64(0)
	if v, set := r.body["logical_unit_number"]; set {
		want, isNum := number(v)
		switch {
		case !isNum || want < 0 || want > maxLUNNumber:
			return fail(errInvalid(codeInvalidValue, "logical_unit_number", "The value %v is invalid for field \"logical_unit_number\": 0 to %d.", v, maxLUNNumber))
		case used[want]:
			// UNCONFIRMED: the code of a LUN number already used in the igroup; the generic
			// duplicate here.
			return fail(&apiErr{status: http.StatusConflict, code: codeDuplicate, message: fmt.Sprintf("LUN number %d is already used in initiator group %s.", want, g.name), target: "logical_unit_number"})
		}
		lunID = want
	} else {
		for used[lunID] {
			lunID++
		}
		if lunID > maxLUNNumber {
			return fail(errInvalid(codeInvalidValue, "logical_unit_number", "Initiator group %s has no free LUN number.", g.name))
		}
	}
	m := &lunMap{lun: l.uuid, igroup: g.uuid, number: lunID}
	c.lunMaps = append(c.lunMaps, m)
	body := map[string]any{}
	if r.query.Get("return_records") == "true" {
		body = map[string]any{"num_records": 1, "records": []map[string]any{c.lunMapRecord(m)}}
	}
	return created("/api/protocols/san/lun-maps/"+l.uuid+"/"+g.uuid, body)
}

// mapOf finds the map of the path's LUN and igroup: 5374875 without the LUN, igroupMissing
// without the igroup, 5374922 without the map.
func (c *Cluster) mapOf(r *request, igroupMissing string) (*lunMap, *apiErr) {
	c.syncSAN()
	if c.lunByUUID(r.vars["lun.uuid"]) == nil {
		return nil, errLUNNotFound("lun.uuid")
	}
	if c.igroups[r.vars["igroup.uuid"]] == nil {
		return nil, &apiErr{status: http.StatusNotFound, code: igroupMissing, message: "The initiator group does not exist.", target: "igroup.uuid"}
	}
	m := c.lunMap(r.vars["lun.uuid"], r.vars["igroup.uuid"])
	if m == nil {
		return nil, &apiErr{status: http.StatusNotFound, code: codeMapNotFound, message: "The LUN map does not exist.", target: "lun.uuid"}
	}
	return m, nil
}

func (c *Cluster) getLUNMap(r *request) response {
	m, e := c.mapOf(r, codeIgroupNotFound)
	if e != nil {
		return fail(e)
	}
	return ok(c.lunMapRecord(m))
}

func (c *Cluster) deleteLUNMap(r *request) response {
	m, e := c.mapOf(r, codeUnmapIgroupMissing)
	if e != nil {
		return fail(e)
	}
	c.unmap(m)
	return ok(map[string]any{})
}

func (c *Cluster) listReportingNodes(r *request) response {
	m, e := c.mapOf(r, codeIgroupNotFound)
	if e != nil {
		return fail(e)
	}
	return ok(reportingNodes(c.lunNode(c.lunByUUID(m.lun))))
}

// The iSCSI service of each SVM that has one: /protocols/san/iscsi/services[/{svm.uuid}].

func (c *Cluster) iscsiServiceRecord(s *svm) map[string]any {
	// ONTAP's target name: the cluster's uuid in hex and the SVM's id.
	target := "iqn.1992-08.com.netapp:sn." + strings.ReplaceAll(c.uuid, "-", "") + ":vs." + strconv.Itoa(c.svmID(s))
	return map[string]any{
		"svm": ref(s.name, s.uuid), "enabled": true,
		"target": map[string]any{"name": target, "alias": s.name},
	}
}

func (c *Cluster) listISCSIServices(*request) response {
	recs := []map[string]any{}
	for _, s := range sortedSVMs(c) {
		if !c.noISCSI[s.name] {
			recs = append(recs, c.iscsiServiceRecord(s))
		}
	}
	return ok(recs)
}

func (c *Cluster) getISCSIService(r *request) response {
	for _, s := range sortedSVMs(c) {
		if s.uuid != r.vars["svm.uuid"] {
			continue
		}
		if c.noISCSI[s.name] {
			return fail(&apiErr{status: http.StatusNotFound, code: codeISCSIServiceMissing, message: "An iSCSI service does not exist on SVM \"" + s.name + "\".", target: "svm.uuid"})
		}
		return ok(c.iscsiServiceRecord(s))
	}
	return fail(&apiErr{status: http.StatusNotFound, code: codeSVMNotFound, message: "The specified SVM does not exist.", target: "svm.uuid"})
}
