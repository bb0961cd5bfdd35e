package ontap_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
)

// dig returns the value at a dotted path of a decoded JSON answer; a number segment indexes
// a list.
func dig(v any, path string) (any, bool) {
	for _, seg := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			var found bool
			if v, found = t[seg]; !found {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// discoveryFabric starts "primary" (the defaults: ONTAP 9.14.1, one HA pair; SVMs svm1 and
// svm3, aggregates aggr1 and aggr2) and "big" (9.16.1, three nodes: an HA pair and a node
// without a partner; SVM svm9), with svm1 and svm9 peered.
func discoveryFabric(t *testing.T) (*sim.Fabric, *rest, *rest) {
	t.Helper()
	f, apis := restFabric(t, 0, [2]string{"svm1", "svm9"},
		sim.ClusterSpec{Name: "primary", SVMs: []string{"svm1", "svm3"}, Aggregates: []string{"aggr1", "aggr2"}, AggregateSize: 1 << 40},
		sim.ClusterSpec{Name: "big", SVMs: []string{"svm9"}, Aggregates: []string{"aggr9"}, Version: "9.16.1", Nodes: 3},
	)
	return f, apis[0], apis[1]
}

// endpointCase is one request and what the answer must hold: want maps dotted paths of the
// JSON answer to their values as fmt.Sprint prints them, absent lists paths that must not be
// there, keys the exact keys at a path ("" for the top level); an error answer is checked
// against code and target.
type endpointCase struct {
	name   string
	api    *rest
	method string
	path   string
	body   any
	status int
	code   string
	target string
	want   map[string]string
	absent []string
	keys   map[string][]string
}

func (tc endpointCase) run(t *testing.T) {
	t.Helper()
	method := tc.method
	if method == "" {
		method = "GET"
	}
	var got map[string]any
	status, e := tc.api.call(t, method, tc.path, tc.body, &got)
	if status != tc.status {
		t.Fatalf("%s %s: %d %+v, want %d", method, tc.path, status, e, tc.status)
	}
	if tc.code != "" && (e == nil || e.Code != tc.code || e.Target != tc.target) {
		t.Errorf("%s %s: error %+v, want code %s target %q", method, tc.path, e, tc.code, tc.target)
	}
	for path, want := range tc.want {
		if v, found := dig(got, path); !found || fmt.Sprint(v) != want {
			t.Errorf("%s: %v (set: %v), want %s", path, v, found, want)
		}
	}
	for _, path := range tc.absent {
		if v, found := dig(got, path); found {
			t.Errorf("%s: %v, want it absent", path, v)
		}
	}
	for path, want := range tc.keys {
		v := any(got)
		if path != "" {
			v, _ = dig(got, path)
		}
		m, _ := v.(map[string]any)
		if keys := sortedKeys(m); !slices.Equal(keys, want) {
			t.Errorf("keys at %q: %v, want %v", path, keys, want)
		}
	}
}

// lookup returns the value at path of the first record a collection GET answers.
func lookup(t *testing.T, o *rest, query, path string) string {
	t.Helper()
	var c collection[map[string]any]
	o.get(t, query, &c)
	if len(c.Records) == 0 {
		t.Fatalf("GET %s: no records", query)
	}
	v, _ := dig(c.Records[0], path)
	return fmt.Sprint(v)
}

func TestDiscoveryEndpoints(t *testing.T) {
	_, primary, big := discoveryFabric(t)
	svm1 := lookup(t, primary, "/api/svm/svms?name=svm1", "uuid")
	node1 := lookup(t, primary, "/api/cluster/nodes?name=primary-01", "uuid")
	node2 := lookup(t, primary, "/api/cluster/nodes?name=primary-02", "uuid")
	aggr1 := lookup(t, primary, "/api/storage/aggregates?name=aggr1", "uuid")
	nfsLIF := lookup(t, primary, "/api/network/ip/interfaces?name=svm1_nfs_lif1", "uuid")
	policy := lookup(t, primary, "/api/snapmirror/policies?name=MirrorAllSnapshots", "uuid")
	sched := lookup(t, primary, "/api/cluster/schedules?name=5min", "uuid")
	peer := lookup(t, primary, "/api/svm/peers?svm.name=svm1", "uuid")
	const missing = "00000000-0000-4000-a000-000000000000"
	notFound := func(name, path, target string) endpointCase {
		return endpointCase{name: name, api: primary, path: path, status: 404, code: "4", target: target}
	}

	cases := []endpointCase{
		// /api/cluster
		{name: "cluster, default fields", api: primary, path: "/api/cluster", status: 200, want: map[string]string{
			"name": "primary", "version.generation": "9", "version.major": "14", "version.minor": "1",
			"management_interfaces.0.ip.address": "127.0.0.1",
		}, absent: []string{"records", "san_optimized"}},
		{name: "cluster, fields=**", api: primary, path: "/api/cluster?fields=**", status: 200, want: map[string]string{
			"version.full": "NetApp Release 9.14.1: Mon Jan 08 12:00:00 UTC 2024",
		}},
		{name: "cluster, version only", api: primary, path: "/api/cluster?fields=version", status: 200, keys: map[string][]string{"version": {"full", "generation", "major", "minor"}}},
		{name: "cluster 9.16.1, Trident's second call", api: big, path: "/api/cluster?fields=san_optimized,disaggregated&ignore_unknown_fields=true", status: 200,
			want: map[string]string{"san_optimized": "false", "disaggregated": "false"}},
		{name: "cluster 9.14.1, unknown fields ignored", api: primary, path: "/api/cluster?fields=name,san_optimized,disaggregated&ignore_unknown_fields=true", status: 200,
			keys: map[string][]string{"": {"name", "uuid"}}},

		// /api/cluster/nodes
		{name: "nodes, key fields", api: primary, path: "/api/cluster/nodes", status: 200, want: map[string]string{"num_records": "2", "records.0.name": "primary-01"},
			keys: map[string][]string{"records.0": {"name", "uuid"}}},
		{name: "nodes, Trident's serial numbers", api: primary, path: "/api/cluster/nodes?name=*&fields=serial_number", status: 200, want: map[string]string{"num_records": "2"},
			keys: map[string][]string{"records.1": {"name", "serial_number", "uuid"}}},
		{name: "node by uuid", api: primary, path: "/api/cluster/nodes/" + node1, status: 200, want: map[string]string{
			"uuid": node1, "name": "primary-01", "model": "AFF-A400", "state": "up", "membership": "member",
			"ha.enabled": "true", "ha.type": "shared_storage", "ha.partners.0.name": "primary-02", "ha.partners.0.uuid": node2,
			"version.major": "14",
		}},
		{name: "nodes filtered by HA partner", api: primary, path: "/api/cluster/nodes?ha.partners.name=primary-01&fields=name", status: 200, want: map[string]string{"num_records": "1", "records.0.name": "primary-02"}},
		{name: "three nodes: the third has no partner", api: big, path: "/api/cluster/nodes?name=big-03&fields=ha", status: 200, want: map[string]string{"num_records": "1", "records.0.ha.enabled": "false"},
			absent: []string{"records.0.ha.partners"}},
		notFound("node, unknown uuid", "/api/cluster/nodes/"+missing, "uuid"),

		// /api/network/ip/interfaces
		{name: "NFS LIFs of an SVM, Trident's fields", api: primary, path: "/api/network/ip/interfaces?services=data_nfs&svm.uuid=" + svm1 + "&fields=ip.address,state", status: 200,
			want: map[string]string{"num_records": "2", "records.0.ip.address": "127.0.0.1", "records.0.state": "up"}, keys: map[string][]string{"records.1": {"ip", "name", "services", "state", "svm", "uuid"}}},
		{name: "iSCSI LIFs of an SVM", api: primary, path: "/api/network/ip/interfaces?services=data_iscsi&svm.name=svm1&fields=services,location.node.name", status: 200,
			want: map[string]string{"num_records": "2", "records.0.services": "[data_core data_iscsi]", "records.1.location.node.name": "primary-02"}},
		{name: "NFS or iSCSI LIFs", api: primary, path: "/api/network/ip/interfaces?services=data_nfs|data_iscsi&svm.name=svm3", status: 200, want: map[string]string{"num_records": "4"}},
		{name: "cluster-scoped LIFs", api: primary, path: "/api/network/ip/interfaces?scope=cluster&fields=name,services", status: 200,
			want: map[string]string{"num_records": "3", "records.0.name": "cluster_mgmt", "records.1.services": "[intercluster_core management_https]"}, absent: []string{"records.0.svm"}},
		{name: "LIF by address", api: primary, path: "/api/network/ip/interfaces?ip.address=127.0.0.1&svm.uuid=" + svm1, status: 200, want: map[string]string{"num_records": "1", "records.0.name": "svm1_nfs_lif1"}},
		{name: "LIFs down", api: primary, path: "/api/network/ip/interfaces?state=down", status: 200, want: map[string]string{"num_records": "0"}},
		{name: "no bare management service", api: primary, path: "/api/network/ip/interfaces?services=management", status: 200, want: map[string]string{"num_records": "0"}},
		{name: "LIF by uuid", api: primary, path: "/api/network/ip/interfaces/" + nfsLIF, status: 200, want: map[string]string{
			"name": "svm1_nfs_lif1", "scope": "svm", "svm.name": "svm1", "svm.uuid": svm1, "ip.family": "ipv4", "ip.netmask": "8",
			"location.home_node.name": "primary-01", "location.node.name": "primary-01", "location.home_port.name": "e0d", "location.port.name": "e0d",
			"location.is_home": "true", "service_policy.name": "default-data-files",
		}},
		notFound("LIF, unknown uuid", "/api/network/ip/interfaces/"+missing, "uuid"),

		// /api/storage/aggregates
		{name: "aggregates, Trident's disk type", api: primary, path: "/api/storage/aggregates?name=*&fields=block_storage.primary.disk_type", status: 200,
			want: map[string]string{"num_records": "2", "records.1.block_storage.primary.disk_type": "ssd"}, keys: map[string][]string{"records.0.block_storage.primary": {"disk_type"}}},
		{name: "aggregate by uuid", api: primary, path: "/api/storage/aggregates/" + aggr1, status: 200, want: map[string]string{
			"name": "aggr1", "state": "online", "node.name": "primary-01", "node.uuid": node1,
			"block_storage.primary.disk_class": "solid_state", "block_storage.primary.raid_type": "raid_dp", "block_storage.primary.disk_count": "23",
			"space.block_storage.size": strconv.Itoa(1 << 40), "space.block_storage.used": "0", "space.block_storage.available": strconv.Itoa(1 << 40),
		}},
		{name: "aggregates on a node", api: primary, path: "/api/storage/aggregates?node.name=primary-02", status: 200, want: map[string]string{"num_records": "1", "records.0.name": "aggr2"}},
		notFound("aggregate, unknown uuid", "/api/storage/aggregates/"+missing, "uuid"),

		// /api/svm/svms
		{name: "SVM by name, empty fields", api: primary, path: "/api/svm/svms?name=svm1&fields=", status: 200, want: map[string]string{"num_records": "1"},
			keys: map[string][]string{"records.0": {"name", "uuid"}}},
		{name: "SVM by uuid, default fields", api: primary, path: "/api/svm/svms/" + svm1, status: 200, want: map[string]string{
			"uuid": svm1, "name": "svm1", "state": "running", "subtype": "default", "aggregates.0.name": "aggr1", "aggregates.0.uuid": aggr1,
			"aggregates.1.name": "aggr2", "nfs.enabled": "true", "iscsi.enabled": "true", "cifs.enabled": "false",
		}},
		notFound("SVM, unknown uuid", "/api/svm/svms/"+missing, "uuid"),

		// /api/cluster/licensing/licenses
		{name: "licenses, key fields", api: primary, path: "/api/cluster/licensing/licenses", status: 200, want: map[string]string{"num_records": "8", "records.5.name": "snapmirror"},
			keys: map[string][]string{"records.0": {"name"}}},
		{name: "license by name filter", api: primary, path: "/api/cluster/licensing/licenses?name=snapmirror&fields=*", status: 200, want: map[string]string{
			"num_records": "1", "records.0.state": "compliant", "records.0.scope": "node", "records.0.licenses.1.owner": "primary-02",
		}},
		{name: "license package", api: primary, path: "/api/cluster/licensing/licenses/snapmirror", status: 200, want: map[string]string{
			"name": "snapmirror", "description": "SnapMirror License", "licenses.0.owner": "primary-01", "licenses.0.active": "true",
			"licenses.0.evaluation": "false", "licenses.0.compliance.state": "compliant",
		}},
		{name: "base license, cluster scope", api: primary, path: "/api/cluster/licensing/licenses/base", status: 200, want: map[string]string{"scope": "cluster", "licenses.0.owner": "primary"}},
		notFound("license, unknown package", "/api/cluster/licensing/licenses/fabricpool", "name"),

		// Single-object reads of policies, schedules, SVM peers
		{name: "policy by uuid", api: primary, path: "/api/snapmirror/policies/" + policy, status: 200, want: map[string]string{
			"name": "MirrorAllSnapshots", "type": "async", "scope": "cluster", "copy_all_source_snapshots": "true",
		}},
		notFound("policy, unknown uuid", "/api/snapmirror/policies/"+missing, "uuid"),
		{name: "schedule by uuid", api: primary, path: "/api/cluster/schedules/" + sched, status: 200, want: map[string]string{
			"name": "5min", "type": "cron", "scope": "cluster", "cron.minutes": "[0 5 10 15 20 25 30 35 40 45 50 55]",
		}},
		notFound("schedule, unknown uuid", "/api/cluster/schedules/"+missing, "uuid"),
		{name: "SVM peer by uuid", api: primary, path: "/api/svm/peers/" + peer, status: 200, want: map[string]string{
			"svm.name": "svm1", "peer.svm.name": "svm9", "peer.cluster.name": "big", "state": "peered", "applications": "[snapmirror]",
		}},
		notFound("SVM peer, unknown uuid", "/api/svm/peers/"+missing, "uuid"),
	}
	cases = append(cases, emsCases(primary)...)
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

// emsCases are the EMS application-log POSTs: a good one, each field missing, bad values.
func emsCases(o *rest) []endpointCase {
	good := func() map[string]any {
		return map[string]any{
			"computer_name": "node1", "event_source": "snapmirror-csi", "app_version": "1.0", "event_id": 42,
			"category": "heartbeat", "event_description": "alive", "severity": "notice", "autosupport_required": false,
		}
	}
	with := func(k string, v any) map[string]any {
		b := good()
		b[k] = v
		return b
	}
	const path = "/api/support/ems/application-logs"
	cases := []endpointCase{
		{name: "EMS log", api: o, method: "POST", path: path, body: good(), status: 201},
		{name: "EMS log, return_records", api: o, method: "POST", path: path + "?return_records=true", body: with("severity", "alert"), status: 201,
			want: map[string]string{"num_records": "1", "records.0.severity": "alert", "records.0.event_id": "42"}},
		{name: "EMS log, severity informational", api: o, method: "POST", path: path, body: with("severity", "informational"), status: 400, code: "262185", target: "severity"},
		{name: "EMS log, event_id a string", api: o, method: "POST", path: path, body: with("event_id", "42"), status: 400, code: "262185", target: "event_id"},
		{name: "EMS log, autosupport_required a string", api: o, method: "POST", path: path, body: with("autosupport_required", "no"), status: 400, code: "262185", target: "autosupport_required"},
		{name: "EMS log, unknown field", api: o, method: "POST", path: path, body: with("node", "n1"), status: 400, target: "node"},
	}
	for k := range good() {
		b := good()
		delete(b, k)
		cases = append(cases, endpointCase{name: "EMS log without " + k, api: o, method: "POST", path: path, body: b, status: 400, code: "262212", target: k})
	}
	slices.SortStableFunc(cases[6:], func(a, b endpointCase) int { return strings.Compare(a.name, b.name) })
	return cases
}

// TestEMSEventsInSideAPI checks the logged events are readable under /sim/ems, newest last.
func TestEMSEventsInSideAPI(t *testing.T) {
	f, primary, _ := discoveryFabric(t)
	for i := range 3 {
		if status, e := primary.call(t, "POST", "/api/support/ems/application-logs", map[string]any{
			"computer_name": "node1", "event_source": "test", "app_version": "1", "event_id": i,
			"category": "c", "event_description": "d", "severity": "error", "autosupport_required": true,
		}, nil); status != http.StatusCreated {
			t.Fatalf("EMS log %d: %d %+v", i, status, e)
		}
	}
	var events []map[string]any
	primary.get(t, "/sim/ems", &events)
	if len(events) != 3 || fmt.Sprint(events[2]["event_id"]) != "2" || !loggedAt(events[0], f.Now()) {
		t.Errorf("/sim/ems: %v", events)
	}
	if got := f.Cluster("primary").EMSEvents(); len(got) != 3 || got[1]["severity"] != "error" {
		t.Errorf("EMSEvents: %v", got)
	}
}

// loggedAt reports whether an event's time is t, whatever offset it is written with.
func loggedAt(event map[string]any, t time.Time) bool {
	s, _ := event["time"].(string)
	at, err := time.Parse(time.RFC3339, s)
	return err == nil && at.Equal(t)
}

// TestClusterSpecVersionAndNodes checks the settings are refused when the simulator cannot
// model them.
func TestClusterSpecVersionAndNodes(t *testing.T) {
	f := sim.NewFabric(sim.Options{})
	t.Cleanup(f.Close)
	for _, tc := range []struct {
		name string
		spec sim.ClusterSpec
		want string
	}{
		{"version without a minor", sim.ClusterSpec{Name: "a", Version: "9.14"}, "version"},
		{"version with a patch", sim.ClusterSpec{Name: "b", Version: "9.14.1P3"}, "version"},
		{"negative nodes", sim.ClusterSpec{Name: "c", Nodes: -1}, "nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.AddCluster(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("AddCluster(%+v): %v, want an error naming %s", tc.spec, err, tc.want)
			}
		})
	}
}
