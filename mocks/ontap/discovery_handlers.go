package ontap

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The start-up and discovery calls a standard ONTAP REST client makes (Trident, Ansible,
// Terraform): the cluster and its nodes, network interfaces, aggregates, SVMs, licenses, EMS
// application logs, and single-object reads of policies, schedules and SVM peers
// (shared/docs/ontap-rest.md sections 2 and 13).

// DefaultVersion is the ONTAP release a cluster reports when its ClusterSpec names none.
const DefaultVersion = "9.14.1"

// maxEMSEvents is how many EMS application-log events a cluster keeps for the side API.
const maxEMSEvents = 100

// discovery is what a cluster shows of itself beyond storage: its release, nodes, network
// interfaces and logged EMS events. It is fixed when the cluster is made, except the events;
// guarded by fabric.mu.
type discovery struct {
	version  [3]int
	nodes    []*node
	aggrNode map[string]*node // the node that owns each aggregate
	lifs     []*lif
	ems      []map[string]any
}

type node struct {
	uuid, name, serial, systemID string
	partner                      *node
}

// lif is a network interface: cluster-scoped (svm "") or an SVM's data LIF.
type lif struct {
	uuid, name, svm, policy, address, port string
	services                               []string
	node                                   *node
}

// parseVersion reads "9.14.1" as ONTAP's generation, major and minor; empty is DefaultVersion.
func parseVersion(s string) ([3]int, error) {
	var v [3]int
	if s == "" {
		s = DefaultVersion
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("version %q: want generation.major.minor, e.g. %s", s, DefaultVersion)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("version %q: want generation.major.minor, e.g. %s", s, DefaultVersion)
		}
		v[i] = n
	}
	return v, nil
}

// checkSpec refuses a ClusterSpec the simulator cannot model.
func checkSpec(spec ClusterSpec) error {
	if _, err := parseVersion(spec.Version); err != nil {
		return fmt.Errorf("cluster %s: %w", spec.Name, err)
	}
	if spec.Nodes < 0 {
		return fmt.Errorf("cluster %s: nodes: %d is negative", spec.Name, spec.Nodes)
	}
	return nil
}

// newDiscovery makes the cluster's nodes, in HA pairs, and its LIFs; number is the cluster's
// place in the fabric (1 for the first added). Callers hold fabric.mu, after the SVMs and
// aggregates are made.
//
// Addresses: the cluster management LIF is 127.0.0.1, where the simulator serves (on a port
// of its own). Each SVM's NFS LIF on the first node is 127.0.0.1 too, since a backend mounts
// its management host when no dataLIF is configured (ontap.BackendConfig.DataAddress): what
// the CSI driver mounts is a LIF the SVM lists. ONTAP refuses a duplicate address within an
// IPspace; the simulator does not model IPspaces. Every other LIF has a made-up loopback
// address 127.<cluster>.<svm>.<n> (svm 0 for cluster-scoped LIFs), unique in the fabric and
// never served.
func newDiscovery(f *Fabric, c *Cluster, spec ClusterSpec, number int) discovery {
	d := discovery{aggrNode: map[string]*node{}}
	d.version, _ = parseVersion(spec.Version) // checked by checkSpec
	n := spec.Nodes
	if n == 0 {
		n = 2
	}
	for i := range n {
		d.nodes = append(d.nodes, &node{
			uuid: f.newUUID(), name: fmt.Sprintf("%s-%02d", c.name, i+1),
			serial:   fmt.Sprintf("%07d-%02d-%d", 4000000+number*100+i, 60+i, i%10),
			systemID: fmt.Sprintf("%010d", 537000000+number*100+i),
		})
		if i%2 == 1 {
			d.nodes[i].partner, d.nodes[i-1].partner = d.nodes[i-1], d.nodes[i]
		}
	}
	for i, a := range sortedAggregates(c) {
		d.aggrNode[a.name] = d.nodes[i%len(d.nodes)]
	}
	addr := func(svm, k int) string { return fmt.Sprintf("127.%d.%d.%d", number, svm, k) }
	mgmt := []string{"management_core", "management_ssh", "management_https", "management_http"}
	d.lifs = append(d.lifs, &lif{uuid: f.newUUID(), name: "cluster_mgmt", policy: "default-management", address: "127.0.0.1", port: "e0M", services: mgmt, node: d.nodes[0]})
	for i, nd := range d.nodes {
		d.lifs = append(d.lifs, &lif{
			uuid: f.newUUID(), name: nd.name + "_icl1", policy: "default-intercluster", address: addr(0, i+1), port: "e0c",
			services: []string{"intercluster_core", "management_https"}, node: nd,
		})
	}
	// The services of ONTAP's default-data-files and default-data-blocks policies (their full
	// lists are UNCONFIRMED; these are the ones clients filter on).
	files := []string{"data_core", "data_nfs", "data_cifs", "data_flexcache"}
	blocks := []string{"data_core", "data_iscsi"}
	for si, s := range sortedSVMs(c) {
		for i, nd := range d.nodes {
			nfsAddr := addr(si+1, 2*i+1)
			if i == 0 {
				nfsAddr = "127.0.0.1"
			}
			d.lifs = append(d.lifs, &lif{uuid: f.newUUID(), name: fmt.Sprintf("%s_nfs_lif%d", s.name, i+1), svm: s.name, policy: "default-data-files", address: nfsAddr, port: "e0d", services: files, node: nd})
			if !c.noISCSI[s.name] {
				d.lifs = append(d.lifs, &lif{uuid: f.newUUID(), name: fmt.Sprintf("%s_iscsi_lif%d", s.name, i+1), svm: s.name, policy: "default-data-blocks", address: addr(si+1, 2*i+2), port: "e0e", services: blocks, node: nd})
			}
		}
	}
	return d
}

// at reports whether the cluster runs at least release gen.major.minor.
func (d *discovery) at(gen, major, minor int) bool {
	return slices.Compare(d.version[:], []int{gen, major, minor}) >= 0
}

func ref(name, uuid string) map[string]any { return map[string]any{"name": name, "uuid": uuid} }

func (c *Cluster) versionRecord() map[string]any {
	v := c.disc.version
	// The build date is made up: ONTAP prints the date its release was built.
	full := fmt.Sprintf("NetApp Release %d.%d.%d: Mon Jan 08 12:00:00 UTC 2024", v[0], v[1], v[2])
	return map[string]any{"full": full, "generation": v[0], "major": v[1], "minor": v[2]}
}

// getCluster answers GET /api/cluster, a single object. ignore_unknown_fields=true is
// accepted: unknown names in fields= are then ignored (without it, they are refused: 262197;
// san_optimized and disaggregated are unknown before 9.16.1).
func (c *Cluster) getCluster(*request) response {
	mg := c.disc.lifs[0]
	rec := map[string]any{
		"name": c.name, "uuid": c.uuid, "version": c.versionRecord(),
		"management_interfaces": []map[string]any{{"name": mg.name, "uuid": mg.uuid, "ip": map[string]any{"address": mg.address}}},
	}
	if c.disc.at(9, 16, 1) {
		// Trident reads these on 9.16.1 and later; the release that introduced them is
		// UNCONFIRMED. The simulator is neither an ASA r2 nor a disaggregated system.
		rec["san_optimized"], rec["disaggregated"] = false, false
	}
	return ok(rec)
}

func (c *Cluster) listNodes(*request) response {
	recs := make([]map[string]any, 0, len(c.disc.nodes))
	for _, n := range c.disc.nodes {
		ha := map[string]any{"enabled": n.partner != nil}
		if n.partner != nil {
			ha["partners"] = []map[string]any{ref(n.partner.name, n.partner.uuid)}
			ha["type"] = "shared_storage"
		}
		recs = append(recs, map[string]any{
			"uuid": n.uuid, "name": n.name, "serial_number": n.serial, "system_id": n.systemID,
			"model": "AFF-A400", "vendor_serial_number": n.serial, "state": "up", "membership": "member",
			"ha": ha, "version": c.versionRecord(),
		})
	}
	return ok(recs)
}

func (c *Cluster) listInterfaces(*request) response {
	recs := make([]map[string]any, 0, len(c.disc.lifs))
	for _, l := range c.disc.lifs {
		home := ref(l.node.name, l.node.uuid)
		port := map[string]any{"name": l.port, "node": map[string]any{"name": l.node.name}}
		rec := map[string]any{
			"uuid": l.uuid, "name": l.name, "enabled": true, "state": "up", "scope": "cluster",
			"services": l.services, "service_policy": map[string]any{"name": l.policy},
			"ip":       map[string]any{"address": l.address, "netmask": "8", "family": "ipv4"},
			"ipspace":  map[string]any{"name": "Default"},
			"location": map[string]any{"home_node": home, "node": home, "home_port": port, "port": port, "is_home": true, "auto_revert": false},
		}
		if l.svm != "" {
			rec["scope"], rec["svm"] = "svm", ref(l.svm, c.svms[l.svm].uuid)
		}
		recs = append(recs, rec)
	}
	return ok(recs)
}

// aggregateSpace is an aggregate's size and what its volumes take (thick: their whole size).
func (c *Cluster) aggregateSpace(a *aggregate) (size, used int64) {
	for _, v := range c.volumes {
		if v.aggregate == a.name {
			used += v.size
		}
	}
	return a.size, used
}

func (c *Cluster) listAggregates(*request) response {
	var recs []map[string]any
	for _, a := range sortedAggregates(c) {
		size, used := c.aggregateSpace(a)
		n := c.disc.aggrNode[a.name]
		recs = append(recs, map[string]any{
			"name": a.name, "uuid": a.uuid, "state": "online",
			"node": ref(n.name, n.uuid), "home_node": ref(n.name, n.uuid),
			"block_storage": map[string]any{
				"primary": map[string]any{"disk_type": "ssd", "disk_class": "solid_state", "raid_type": "raid_dp", "disk_count": 23, "raid_size": 24},
				"mirror":  map[string]any{"enabled": false},
			},
			"space": map[string]any{"block_storage": map[string]any{"size": size, "available": size - used, "used": used}},
		})
	}
	return ok(recs)
}

func (c *Cluster) listSVMs(*request) response {
	var recs []map[string]any
	for _, s := range sortedSVMs(c) {
		var aggrs []map[string]any
		for _, a := range sortedAggregates(c) {
			size, used := c.aggregateSpace(a)
			aggrs = append(aggrs, map[string]any{"name": a.name, "uuid": a.uuid, "available_size": size - used, "state": "online", "snaplock_type": "non_snaplock"})
		}
		enabled := func(on bool) map[string]any { return map[string]any{"enabled": on} }
		recs = append(recs, map[string]any{
			"name": s.name, "uuid": s.uuid, "state": "running", "subtype": "default",
			"aggregates": aggrs, "aggregates_delegated": true, "language": "c.utf_8",
			"ipspace": map[string]any{"name": "Default"},
			"nfs":     enabled(true), "iscsi": enabled(!c.noISCSI[s.name]), "cifs": enabled(false), "fcp": enabled(false), "nvme": enabled(false),
		})
	}
	return ok(recs)
}

// licensePackages are the packages every simulated cluster has installed, with the
// descriptions `license show` prints. The package name "snapmirror" follows ONTAP's lowercase
// pattern (UNCONFIRMED), as do the scopes: base per cluster, the others locked to each node.
var licensePackages = [][2]string{
	{"base", "Cluster Base License"}, {"nfs", "NFS License"}, {"cifs", "CIFS License"}, {"iscsi", "iSCSI License"},
	{"fcp", "FCP License"}, {"snapmirror", "SnapMirror License"}, {"snaprestore", "SnapRestore License"},
	{"flexclone", "FlexClone License"},
}

func (c *Cluster) listLicenses(*request) response {
	license := func(serial, owner string) map[string]any {
		return map[string]any{"serial_number": serial, "owner": owner, "active": true, "evaluation": false, "compliance": map[string]any{"state": "compliant"}}
	}
	recs := make([]map[string]any, 0, len(licensePackages))
	for _, p := range licensePackages {
		rec := map[string]any{"name": p[0], "description": p[1], "state": "compliant", "scope": "node"}
		var ls []map[string]any
		if p[0] == "base" {
			rec["scope"] = "cluster"
			ls = append(ls, license("1-80-"+c.disc.nodes[0].serial[:6], c.name))
		} else {
			for _, n := range c.disc.nodes {
				ls = append(ls, license(n.serial, n.name))
			}
		}
		rec["licenses"] = ls
		recs = append(recs, rec)
	}
	return ok(recs)
}

// emsFields are the body of POST /api/support/ems/application-logs: all required.
var emsFields = []string{"computer_name", "event_source", "app_version", "event_id", "category", "event_description", "severity", "autosupport_required"}

var emsSeverities = []string{"emergency", "alert", "error", "notice"}

// Generic request-validation codes (ontap-rest.md section 14).
const (
	codeInvalidValue  = "262185" // invalid value for a field
	codeRequiredField = "262212" // a required value is missing
)

// createEMSLog logs an application event. ONTAP answers 201; which code it gives a missing
// field (262212 here; 2 is also seen with this message) and a value of the wrong type
// (262185 here) is UNCONFIRMED. The body of the answer is UNCONFIRMED too: {} here, or the
// event as a record with return_records=true (Trident accepts either).
func (c *Cluster) createEMSLog(r *request) response {
	for _, k := range emsFields {
		if _, set := r.body[k]; !set {
			return fail(errInvalid(codeRequiredField, k, "%q is a required field", k))
		}
	}
	for _, k := range emsFields {
		v := r.body[k]
		good := false
		switch k {
		case "event_id":
			_, good = number(v)
		case "autosupport_required":
			_, good = v.(bool)
		default:
			_, good = v.(string)
		}
		if !good {
			return fail(errInvalid(codeInvalidValue, k, "The value %v is invalid for field %q", v, k))
		}
	}
	if sev, _ := r.body["severity"].(string); !slices.Contains(emsSeverities, sev) {
		return fail(errInvalid(codeInvalidValue, "severity", "The value %q is invalid for field \"severity\" (<%s>)", sev, strings.Join(emsSeverities, ",")))
	}
	event := map[string]any{"time": c.timestamp(r.now)}
	for _, k := range emsFields {
		event[k] = r.body[k]
	}
	c.disc.ems = append(c.disc.ems, event)
	if len(c.disc.ems) > maxEMSEvents {
		c.disc.ems = c.disc.ems[len(c.disc.ems)-maxEMSEvents:]
	}
	body := map[string]any{}
	if r.query.Get("return_records") == "true" {
		body = map[string]any{"num_records": 1, "records": []map[string]any{event}}
	}
	return response{status: http.StatusCreated, body: body}
}

// EMSEvents returns the application events logged on the cluster, oldest first (the last
// 100), each with the body's fields and the simulated "time" it was logged.
func (c *Cluster) EMSEvents() []map[string]any {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	return append([]map[string]any{}, c.disc.ems...)
}

func (c *Cluster) sideEMS(*sideRequest) sideResponse {
	return sideResponse{status: http.StatusOK, body: c.EMSEvents()}
}

// one makes a single-object GET out of a collection's handler: the record whose key field
// (uuid, or name for licenses) is the path's variable of that name, with every common field,
// or 404 code 4 with the key as target.
func one(list func(*Cluster, *request) response, key string) func(*Cluster, *request) response {
	return func(c *Cluster, r *request) response {
		recs, _ := list(c, r).body.([]map[string]any)
		for _, rec := range recs {
			if rec[key] == r.vars[key] {
				return ok(rec)
			}
		}
		return fail(errNotFound(key))
	}
}
