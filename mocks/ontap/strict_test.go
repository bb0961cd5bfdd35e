package ontap_test

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// rawCall sends one ONTAP request over HTTPS as any client would, and decodes the answer.
type rawCall func(t *testing.T, method, path, body string) (int, map[string]any)

func raw(t *testing.T, f *sim.Fabric, s site) rawCall {
	send := sideClient(t, f, s)
	return func(t *testing.T, method, path, body string) (int, map[string]any) {
		t.Helper()
		status, text, _ := send(t, method, path, body, true)
		var out map[string]any
		if text != "" {
			if err := json.Unmarshal([]byte(text), &out); err != nil {
				t.Fatalf("%s %s: %d %q is not JSON: %v", method, path, status, text, err)
			}
		}
		return status, out
	}
}

// strictErr is ONTAP's error envelope, {"error": {"code", "message", "target"}}.
type strictErr struct{ code, message, target string }

func errorOf(body map[string]any) strictErr {
	e, _ := body["error"].(map[string]any)
	str := func(k string) string { s, _ := e[k].(string); return s }
	return strictErr{str("code"), str("message"), str("target")}
}

// strictCase is one malformed request and ONTAP's answer to it.
type strictCase struct {
	name, method, path, body string
	status                   int
	want                     strictErr
}

func runStrict(t *testing.T, call rawCall, cases []strictCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, tc.method, tc.path, tc.body)
			if got := errorOf(body); status != tc.status || got != tc.want {
				t.Errorf("%s %s: %d %+v, want %d %+v", tc.method, tc.path, status, got, tc.status, tc.want)
			}
		})
	}
}

const newVolume = `{"name":"n","svm":{"name":"svm1"},"aggregates":[{"name":"aggr1"}],"size":1073741824`

// TestStrictPaths: an unknown endpoint is 404, a method a known path does not serve 405, and
// an extra segment under a known endpoint 404 262179 naming it (ontap-rest.md §14).
func TestStrictPaths(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	v := volume(t, primary, "svm1", "v", ontap.VolumeRW)
	runStrict(t, raw(t, f, primary), []strictCase{
		{"unknown endpoint", "GET", "/api/no/such/thing", "", 404, strictErr{"3", "API not found: GET /api/no/such/thing", ""}},
		{"method not served", "PUT", "/api/storage/volumes/" + v.UUID, "{}", 405, strictErr{"3", "The method PUT is not supported on /api/storage/volumes/" + v.UUID + "; use GET, PATCH, DELETE.", ""}},
		{"method not served on a collection", "DELETE", "/api/snapmirror/policies", "", 405, strictErr{"3", "The method DELETE is not supported on /api/snapmirror/policies; use GET.", ""}},
		{"extra segment", "GET", "/api/storage/volumes/" + v.UUID + "/qtree01", "", 404, strictErr{"262179", `Unexpected argument "qtree01".`, ""}},
		{"extra segments", "GET", "/api/cluster/jobs/" + v.UUID + "/a/b", "", 404, strictErr{"262179", `Unexpected argument "a".`, ""}},
	})
}

// TestStrictQuery: a query parameter the endpoint does not take, a filter on a field its
// objects do not have, and an unknown name in fields= are refused.
func TestStrictQuery(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	v := volume(t, primary, "svm1", "v", ontap.VolumeRW)
	call := raw(t, f, primary)
	runStrict(t, call, []strictCase{
		{"unknown parameter", "GET", "/api/storage/volumes?nme=v", "", 400, strictErr{"262179", `Unexpected argument "nme".`, "nme"}},
		{"filter on an unknown field", "GET", "/api/storage/volumes?svm.nam=svm1", "", 400, strictErr{"262179", `Unexpected argument "svm.nam".`, "svm.nam"}},
		{"filter on an object", "GET", "/api/storage/volumes?svm=svm1", "", 400, strictErr{"262179", `Unexpected argument "svm".`, "svm"}},
		{"filter on a single object", "GET", "/api/storage/volumes/" + v.UUID + "?name=v", "", 400, strictErr{"262179", `Unexpected argument "name".`, "name"}},
		{"another endpoint's flag", "DELETE", "/api/storage/volumes/" + v.UUID + "?destination_only=true", "", 400, strictErr{"262179", `Unexpected argument "destination_only".`, "destination_only"}},
		{"paging on a PATCH", "PATCH", "/api/storage/volumes/" + v.UUID + "?max_records=1", "{}", 400, strictErr{"262179", `Unexpected argument "max_records".`, "max_records"}},
		{"unknown field", "GET", "/api/storage/volumes?fields=name,fru", "", 400, strictErr{"262197", `The value "fru" is invalid for field "fields" (<field,...>)`, "fields"}},
		{"unknown sub-field", "GET", "/api/storage/volumes/" + v.UUID + "?fields=space.nope", "", 400, strictErr{"262197", `The value "space.nope" is invalid for field "fields" (<field,...>)`, "fields"}},
		{"unknown field of the cluster", "GET", "/api/cluster?fields=san_optimized", "", 400, strictErr{"262197", `The value "san_optimized" is invalid for field "fields" (<field,...>)`, "fields"}},
	})
	for _, tc := range []struct{ name, path string }{
		{"ignore_unknown_fields", "/api/cluster?fields=name,san_optimized,disaggregated&ignore_unknown_fields=true"},
		{"common parameters", "/api/storage/volumes?fields=*&max_records=5&return_records=true&return_timeout=15&order_by=name%20desc&start.index=0"},
		{"an object in fields", "/api/storage/volumes?fields=space,svm"},
		{"an action parameter", "/api/snapmirror/relationships?list_destinations_only=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := call(t, "GET", tc.path, ""); status != 200 {
				t.Errorf("%s: %d %v", tc.path, status, body)
			}
		})
	}
}

// TestStrictBody: a POST or PATCH body field the object does not have is 262179, target the
// full dotted name; one it has that the operation cannot set is 262196.
func TestStrictBody(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	v := volume(t, primary, "svm1", "v", ontap.VolumeRW)
	rel := mirror(t, primary, secondary, "m", ontap.RelationshipSpec{})
	runStrict(t, raw(t, f, primary), []strictCase{
		{"unknown top-level field", "POST", "/api/storage/volumes", newVolume + `,"sise":1}`, 400, strictErr{"262179", `Unexpected argument "sise".`, "sise"}},
		{"unknown nested field", "POST", "/api/storage/volumes", newVolume + `,"space":{"foo":1}}`, 400, strictErr{"262179", `Unexpected argument "space.foo".`, "space.foo"}},
		{"unknown object", "POST", "/api/storage/volumes", newVolume + `,"ndmp":{"allowed":true}}`, 400, strictErr{"262179", `Unexpected argument "ndmp".`, "ndmp.allowed"}},
		{"unknown field in a list", "POST", "/api/storage/volumes", `{"name":"n","svm":{"name":"svm1"},"aggregates":[{"name":"aggr1","size":1}]}`, 400, strictErr{"262179", `Unexpected argument "aggregates.size".`, "aggregates.size"}},
		{"read-only statistic", "POST", "/api/storage/volumes", newVolume + `,"space":{"used":5}}`, 400, strictErr{"262196", `Field "space.used" cannot be set in this operation`, "space.used"}},
		{"read-only uuid", "POST", "/api/storage/volumes", newVolume + `,"uuid":"x"}`, 400, strictErr{"262196", `Field "uuid" cannot be set in this operation`, "uuid"}},
		{"create-only field in a PATCH", "PATCH", "/api/storage/volumes/" + v.UUID, `{"svm":{"name":"svm1"}}`, 400, strictErr{"262196", `Field "svm.name" cannot be set in this operation`, "svm.name"}},
		{"unknown snapshot field", "POST", "/api/storage/volumes/" + v.UUID + "/snapshots", `{"name":"s","label":"x"}`, 400, strictErr{"262179", `Unexpected argument "label".`, "label"}},
		{"read-only snapshot owners", "POST", "/api/storage/volumes/" + v.UUID + "/snapshots", `{"name":"s","owners":["x"]}`, 400, strictErr{"262196", `Field "owners" cannot be set in this operation`, "owners"}},
	})
	runStrict(t, raw(t, f, secondary), []strictCase{
		{"PATCH-only field in a transfer POST", "POST", "/api/snapmirror/relationships/" + rel.UUID + "/transfers", `{"state":"aborted"}`, 400, strictErr{"262196", `Field "state" cannot be set in this operation`, "state"}},
		{"read-only relationship field", "PATCH", "/api/snapmirror/relationships/" + rel.UUID, `{"healthy":true}`, 400, strictErr{"262196", `Field "healthy" cannot be set in this operation`, "healthy"}},
		{"PATCH-only field in a relationship POST", "POST", "/api/snapmirror/relationships", `{"source":{"path":"svm1:v"},"destination":{"path":"svm2:x"},"preserve":true}`, 400, strictErr{"262196", `Field "preserve" cannot be set in this operation`, "preserve"}},
		{"unknown nested relationship field", "POST", "/api/snapmirror/relationships", `{"source":{"path":"svm1:v","volume":"v"},"destination":{"path":"svm2:x"}}`, 400, strictErr{"262179", `Unexpected argument "source.volume".`, "source.volume"}},
	})
}

// names lists the key a collection's records carry, sorted.
func names(t *testing.T, call rawCall, path, key string) []string {
	t.Helper()
	status, body := call(t, "GET", path, "")
	if status != 200 {
		t.Fatalf("GET %s: %d %v", path, status, body)
	}
	var out []string
	recs, _ := body["records"].([]any)
	for _, r := range recs {
		v, _ := r.(map[string]any)[key].(string)
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// TestDurationAndDateFilters: <, > and = on durations and date-times compare values, not
// strings ("PT2H" sorts after "P1D" as a string, and is shorter).
func TestDurationAndDateFilters(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	rel := mirror(t, primary, secondary, "m", ontap.RelationshipSpec{Policy: "MirrorAllSnapshots"}) // no schedule: no update
	f.Advance(2 * time.Hour)
	call := raw(t, f, secondary)
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"longer than an hour", "lag_time=>PT1H", []string{rel.UUID}},
		{"shorter than an hour", "lag_time=<PT1H", nil},
		{"shorter than a day", "lag_time=<P1D", []string{rel.UUID}},
		{"days with an empty time part", "lag_time=<P2DT", []string{rel.UUID}},
		{"at least two hours, in minutes", "lag_time=>=PT120M", []string{rel.UUID}},
		{"equal, written otherwise", "lag_time=PT120M", []string{rel.UUID}},
		{"ended after a date", "transfer.end_time=>2026-01-01T11:00:00Z", []string{rel.UUID}},
		{"ended after a date, another offset", "transfer.end_time=>2026-01-01T12:30:00%2B01:00", []string{rel.UUID}},
		{"ended before a date", "transfer.end_time=<2026-01-01T11:00:00Z", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(t, call, "/api/snapmirror/relationships?"+tc.query, "uuid"); !slices.Equal(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
			}
		})
	}
	pcall := raw(t, f, primary)
	if got := names(t, pcall, "/api/storage/volumes?create_time=>=2026-01-01T12:00:00%2B00:00", "name"); !slices.Equal(got, []string{"m"}) {
		t.Errorf("create_time on or after the start: %v", got)
	}
	if got := names(t, pcall, "/api/storage/volumes?create_time=<2026-01-01T12:00:00%2B01:00", "name"); got != nil {
		t.Errorf("create_time before an hour before the start: %v", got)
	}
}

// TestKeyFieldsAndEcho: key fields come whatever fields= names, an empty fields= gives them
// alone, and the fields a query filters on are echoed.
func TestKeyFieldsAndEcho(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	v := volume(t, primary, "svm1", "v", ontap.VolumeRW)
	call := raw(t, f, primary)
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"fields names no key", "/api/storage/volumes?fields=size", []string{"name", "size", "uuid"}},
		{"empty fields", "/api/storage/volumes?fields=", []string{"name", "uuid"}},
		{"no fields", "/api/storage/volumes", []string{"name", "uuid"}},
		{"filters are echoed", "/api/storage/volumes?type=rw&svm.name=svm1", []string{"name", "svm", "type", "uuid"}},
		{"filters are echoed beside fields", "/api/storage/volumes?fields=size&state=online", []string{"name", "size", "state", "uuid"}},
		{"a single object", "/api/storage/volumes/" + v.UUID + "?fields=size", []string{"name", "size", "uuid"}},
		{"a single object with empty fields", "/api/storage/volumes/" + v.UUID + "?fields=", []string{"name", "uuid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, "GET", tc.path, "")
			rec := body
			if recs, isList := body["records"].([]any); isList && len(recs) == 1 {
				rec = recs[0].(map[string]any)
			}
			var got []string
			for k := range rec {
				got = append(got, k)
			}
			sort.Strings(got)
			if status != 200 || !slices.Equal(got, tc.want) {
				t.Errorf("%s: %d %v, want the fields %v", tc.path, status, body, tc.want)
			}
		})
	}
}

// TestRecordsFollowTheirKind: every field a record carries is declared in its kind, the one
// declaration that fields=, filters and bodies are checked against.
func TestRecordsFollowTheirKind(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	rel := mirror(t, primary, secondary, "m", ontap.RelationshipSpec{})
	ctx := context.Background()
	v, _ := primary.api.GetVolume(ctx, "svm1", "m")
	must(t, primary.api)(primary.api.CreateSnapshot(ctx, v.UUID, "s"))
	status, accepted := raw(t, f, primary)(t, "PATCH", "/api/storage/volumes/"+v.UUID, `{"comment":"c"}`)
	if status != 202 {
		t.Fatalf("PATCH: %d %v", status, accepted)
	}
	job := accepted["job"].(map[string]any)["uuid"].(string)
	if _, err := primary.api.CreateExportPolicy(ctx, "svm1", "p", []ontap.ExportRule{{Clients: []string{"0.0.0.0/0"}}}); err != nil {
		t.Fatal(err)
	}
	// SAN objects, through ONTAP's API: a LUN with an attribute, mapped to an igroup.
	call := raw(t, f, primary)
	for _, req := range [][2]string{
		{"/api/storage/luns?return_timeout=10", `{"svm":{"name":"svm1"},"name":"/vol/m/lun0","os_type":"linux","space":{"size":1048576},"comment":"c","qos_policy":{"name":"q"},"attributes":[{"name":"a","value":"1"}]}`},
		{"/api/protocols/san/igroups", `{"svm":{"name":"svm1"},"name":"g","os_type":"linux","comment":"c","initiators":[{"name":"iqn.1994-05.com.redhat:h","comment":"c"}]}`},
		{"/api/protocols/san/lun-maps", `{"svm":{"name":"svm1"},"lun":{"name":"/vol/m/lun0"},"igroup":{"name":"g"}}`},
	} {
		if status, body := call(t, "POST", req[0], req[1]); status != 201 {
			t.Fatalf("POST %s: %d %v", req[0], status, body)
		}
	}
	_, luns := call(t, "GET", "/api/storage/luns", "")
	lunUUID := luns["records"].([]any)[0].(map[string]any)["uuid"].(string)
	_, groups := call(t, "GET", "/api/protocols/san/igroups", "")
	igroupUUID := groups["records"].([]any)[0].(map[string]any)["uuid"].(string)
	for _, tc := range []struct {
		s    site
		path string
	}{
		{primary, "/api/cluster"},
		{primary, "/api/cluster/jobs/" + job},
		{primary, "/api/cluster/schedules"},
		{primary, "/api/svm/svms"},
		{secondary, "/api/svm/peers"},
		{primary, "/api/storage/aggregates"},
		{primary, "/api/storage/volumes"},
		{primary, "/api/storage/volumes/" + v.UUID},
		{primary, "/api/storage/volumes/" + v.UUID + "/snapshots"},
		{secondary, "/api/snapmirror/relationships"},
		{primary, "/api/snapmirror/relationships?list_destinations_only=true"},
		{secondary, "/api/snapmirror/relationships/" + rel.UUID + "/transfers"},
		{primary, "/api/snapmirror/policies"},
		{primary, "/api/protocols/nfs/export-policies"},
		{primary, "/api/storage/luns"},
		{primary, "/api/storage/luns/" + lunUUID},
		{primary, "/api/storage/luns/" + lunUUID + "/attributes"},
		{primary, "/api/protocols/san/igroups"},
		{primary, "/api/protocols/san/igroups/" + igroupUUID + "/initiators"},
		{primary, "/api/protocols/san/lun-maps"},
		{primary, "/api/protocols/san/lun-maps/" + lunUUID + "/" + igroupUUID + "/reporting-nodes"},
		{primary, "/api/protocols/san/iscsi/services"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			sep := "?"
			if strings.Contains(tc.path, "?") {
				sep = "&"
			}
			status, body := raw(t, f, tc.s)(t, "GET", tc.path+sep+"fields=**", "")
			recs, isList := body["records"].([]any)
			if !isList {
				recs = []any{body}
			}
			if status != 200 || len(recs) == 0 {
				t.Fatalf("%d %v", status, body)
			}
			for _, r := range recs {
				if bad := sim.Undeclared(tc.path, r.(map[string]any)); len(bad) > 0 {
					t.Errorf("undeclared fields %v in %v", bad, r)
				}
			}
		})
	}
}
