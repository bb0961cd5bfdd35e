package ontap

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// request is what a handler gets: the HTTP request, its path variables, its query, and its
// decoded JSON body.
type request struct {
	*http.Request
	vars  map[string]string
	query url.Values
	body  map[string]any
	now   time.Time
	// jobFault, when set, fails the job the request starts.
	jobFault *Fault
}

// response is what a handler returns; one adapter renders it as ONTAP would.
type response struct {
	status int
	body   any
	err    *apiErr
}

// apiErr is ONTAP's error: an HTTP status and the {"error": {...}} envelope.
type apiErr struct {
	status                int
	code, message, target string
}

func (e *apiErr) Error() string { return e.code + ": " + e.message }

func errNotFound(target string) *apiErr {
	return &apiErr{status: http.StatusNotFound, code: codeNotFound, message: "entry doesn't exist", target: target}
}

func errInvalid(code, target, format string, args ...any) *apiErr {
	return &apiErr{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...), target: target}
}

func ok(body any) response    { return response{status: http.StatusOK, body: body} }
func fail(e *apiErr) response { return response{err: e} }

// route is one entry of the route table.
type route struct {
	method  string
	pattern *regexp.Regexp
	names   []string
	// fields are the top-level fields a POST or PATCH body may carry; others are refused,
	// as ONTAP refuses unexpected arguments.
	fields []string
	handle func(*Cluster, *request) response
	// name is the path as counters and faults name it: "/api" dropped and every path
	// variable written {id}, as in "/storage/volumes/{id}/snapshots".
	name string
}

func newRoute(method, path string, fields []string, handle func(*Cluster, *request) response) route {
	var names []string
	segs := strings.Split(path, "/")
	opSegs := slices.Clone(segs)
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, strings.Trim(seg, "{}"))
			segs[i] = "([^/]+)"
			opSegs[i] = "{id}"
		} else {
			segs[i] = regexp.QuoteMeta(seg)
		}
	}
	name := strings.TrimPrefix(strings.Join(opSegs, "/"), "/api")
	return route{method: method, pattern: regexp.MustCompile("^" + strings.Join(segs, "/") + "$"), names: names, fields: fields, handle: handle, name: name}
}

// routes is the whole ONTAP surface the simulator serves.
var routes = []route{
	newRoute("GET", "/api/cluster", nil, (*Cluster).getCluster),
	newRoute("GET", "/api/cluster/jobs/{uuid}", nil, (*Cluster).getJob),
	newRoute("GET", "/api/cluster/schedules", nil, (*Cluster).listSchedules),
	newRoute("GET", "/api/cluster/peers", nil, (*Cluster).listClusterPeers),
	newRoute("GET", "/api/svm/svms", nil, (*Cluster).listSVMs),
	newRoute("GET", "/api/svm/peers", nil, (*Cluster).listSVMPeers),
	newRoute("GET", "/api/storage/aggregates", nil, (*Cluster).listAggregates),
	newRoute("GET", "/api/storage/volumes", nil, (*Cluster).listVolumes),
	newRoute("POST", "/api/storage/volumes", volumeWritable, (*Cluster).createVolume),
	newRoute("GET", "/api/storage/volumes/{uuid}", nil, (*Cluster).getVolume),
	newRoute("PATCH", "/api/storage/volumes/{uuid}", volumeWritable, (*Cluster).modifyVolume),
	newRoute("DELETE", "/api/storage/volumes/{uuid}", nil, (*Cluster).deleteVolume),
	newRoute("GET", "/api/storage/volumes/{volume.uuid}/snapshots", nil, (*Cluster).listSnapshots),
	newRoute("POST", "/api/storage/volumes/{volume.uuid}/snapshots", []string{"name", "comment", "snapmirror_label", "expiry_time"}, (*Cluster).createSnapshot),
	newRoute("GET", "/api/storage/volumes/{volume.uuid}/snapshots/{uuid}", nil, (*Cluster).getSnapshot),
	newRoute("DELETE", "/api/storage/volumes/{volume.uuid}/snapshots/{uuid}", nil, (*Cluster).deleteSnapshot),
	newRoute("GET", "/api/snapmirror/relationships", nil, (*Cluster).listRelationships),
	newRoute("POST", "/api/snapmirror/relationships", []string{"source", "destination", "policy", "transfer_schedule", "throttle", "state", "create_destination", "restore"}, (*Cluster).createRelationship),
	newRoute("GET", "/api/snapmirror/relationships/{uuid}", nil, (*Cluster).getRelationship),
	newRoute("PATCH", "/api/snapmirror/relationships/{uuid}", []string{"state", "restore_to_snapshot", "preserve", "quick_resync", "policy", "transfer_schedule", "throttle", "source", "destination"}, (*Cluster).modifyRelationship),
	newRoute("DELETE", "/api/snapmirror/relationships/{uuid}", nil, (*Cluster).deleteRelationship),
	newRoute("GET", "/api/snapmirror/relationships/{relationship.uuid}/transfers", nil, (*Cluster).listTransfers),
	newRoute("POST", "/api/snapmirror/relationships/{relationship.uuid}/transfers", []string{"source_snapshot", "throttle", "storage_efficiency_enabled"}, (*Cluster).createTransfer),
	newRoute("GET", "/api/snapmirror/relationships/{relationship.uuid}/transfers/{uuid}", nil, (*Cluster).getTransfer),
	newRoute("PATCH", "/api/snapmirror/relationships/{relationship.uuid}/transfers/{uuid}", []string{"state"}, (*Cluster).modifyTransfer),
	newRoute("GET", "/api/snapmirror/policies", nil, (*Cluster).listPolicies),
	newRoute("GET", "/api/protocols/nfs/export-policies", nil, (*Cluster).listExportPolicies),
	newRoute("POST", "/api/protocols/nfs/export-policies", []string{"name", "svm", "rules"}, (*Cluster).createExportPolicy),
	newRoute("GET", "/api/protocols/nfs/export-policies/{policy.id}/rules", nil, (*Cluster).listExportRules),
	newRoute("POST", "/api/protocols/nfs/export-policies/{policy.id}/rules", []string{"clients", "protocols", "ro_rule", "rw_rule", "superuser", "anonymous_user"}, (*Cluster).createExportRule),
}

var volumeWritable = []string{"name", "svm", "aggregates", "size", "type", "state", "style", "comment", "guarantee", "nas", "snapshot_policy", "space", "autosize", "encryption", "language", "clone"}

// operation names a request for counters and faults after the route table, with every path
// variable written {id}: "PATCH /storage/volumes/{id}". A method no route serves on a known
// path is named after that path; an unknown path as sent.
func operation(rt *route, method, path string) string {
	if rt != nil {
		return method + " " + rt.name
	}
	for i := range routes {
		if routes[i].pattern.MatchString(path) {
			return method + " " + routes[i].name
		}
	}
	return method + " " + strings.TrimPrefix(path, "/api")
}

// ServeHTTP authenticates, queues, applies latency and faults, routes, and renders.
func (c *Cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := c.fabric
	if u, p, okAuth := r.BasicAuth(); !okAuth || u != f.opts.Username || p != f.opts.Password {
		w.Header().Set("WWW-Authenticate", `Basic realm="ONTAP"`)
		render(w, r, fail(&apiErr{status: http.StatusUnauthorized, code: codePermissionDenied, message: "not authorized for that account"}))
		return
	}
	if strings.HasPrefix(r.URL.Path, "/sim/") {
		c.serveSide(w, r)
		return
	}
	if !c.acquire(r.Context()) {
		render(w, r, fail(&apiErr{status: http.StatusServiceUnavailable, code: codeBusy, message: "The system is busy: too many requests are queued. Retry later."}))
		return
	}
	defer c.release()
	f.mu.Lock()
	latency := f.opts.Latency
	if c.latency > 0 {
		latency = c.latency
	}
	f.mu.Unlock()
	if latency > 0 {
		time.Sleep(latency)
	}
	rt, vars := match(r.Method, r.URL.Path)
	op := operation(rt, r.Method, r.URL.Path)

	f.mu.Lock()
	c.requests[op]++
	c.requests["total"]++
	fault := c.matchFault(op)
	f.mu.Unlock()
	if fault != nil && !fault.FailJob && !fault.LoseAnswer {
		if fault.Hang > 0 {
			select {
			case <-time.After(fault.Hang):
			case <-r.Context().Done():
				return
			}
		}
		if fault.Drop {
			hangUp(w)
		}
		render(w, r, fail(fault.apiErr()))
		return
	}

	if rt == nil {
		render(w, r, fail(&apiErr{status: http.StatusNotFound, code: codeNotSupported, message: "API not found: " + r.Method + " " + r.URL.Path}))
		return
	}
	req := &request{Request: r, vars: vars, query: r.URL.Query()}
	if fault != nil && fault.FailJob {
		req.jobFault = fault
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		if e := req.decode(rt.fields); e != nil {
			render(w, r, fail(e))
			return
		}
	}
	f.mu.Lock()
	req.now = f.clock.now()
	f.tick()
	resp := rt.handle(c, req)
	f.mu.Unlock()
	if fault != nil && fault.LoseAnswer {
		hangUp(w)
	}
	render(w, r, resp)
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
		}
	}
	panic(http.ErrAbortHandler)
}

func match(method, path string) (*route, map[string]string) {
	for i := range routes {
		rt := &routes[i]
		if rt.method != method {
			continue
		}
		if m := rt.pattern.FindStringSubmatch(path); m != nil {
			vars := map[string]string{}
			for j, n := range rt.names {
				vars[n], _ = url.PathUnescape(m[j+1])
			}
			return rt, vars
		}
	}
	return nil, nil
}

func (r *request) decode(allowed []string) *apiErr {
	r.body = map[string]any{}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&r.body); err != nil && err.Error() != "EOF" {
		return errInvalid(codeInvalidField, "", "invalid JSON body: %v", err)
	}
	for k := range r.body {
		if !contains(allowed, k) {
			return errInvalid(codeInvalidField, k, "Unexpected argument %q.", k)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// render writes the response as ONTAP does: application/hal+json, the error envelope on
// failure, collections as {records, num_records, _links}, with fields, filters and paging
// applied by the adapter.
func render(w http.ResponseWriter, r *http.Request, resp response) {
	w.Header().Set("Content-Type", "application/hal+json")
	if resp.err != nil {
		status := resp.err.status
		if status == 0 {
			status = http.StatusBadRequest
		}
		e := map[string]any{"message": resp.err.message, "code": resp.err.code}
		if resp.err.target != "" {
			e["target"] = resp.err.target
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": e})
		return
	}
	body := resp.body
	if recs, isList := body.([]map[string]any); isList {
		body = page(r, recs)
	} else if rec, isRec := body.(map[string]any); isRec && r.Method == http.MethodGet {
		body = project(rec, fieldList(r.URL.Query(), "*"))
	}
	w.WriteHeader(resp.status)
	if body != nil {
		json.NewEncoder(w).Encode(body)
	}
}

// page filters, orders, pages and projects a collection.
func page(r *http.Request, recs []map[string]any) map[string]any {
	q := r.URL.Query()
	var kept []map[string]any
	for _, rec := range recs {
		if matches(rec, q) {
			kept = append(kept, rec)
		}
	}
	if ob := q.Get("order_by"); ob != "" {
		keys := strings.Split(ob, ",")
		sort.SliceStable(kept, func(i, j int) bool {
			for _, k := range keys {
				name, dir, _ := strings.Cut(strings.TrimSpace(k), " ")
				a, b := scalar(lookup(kept[i], name)), scalar(lookup(kept[j], name))
				if a != b {
					return (a < b) != (dir == "desc")
				}
			}
			return false
		})
	}
	start, _ := strconv.Atoi(q.Get("start.index"))
	end := len(kept)
	out := map[string]any{}
	if n, err := strconv.Atoi(q.Get("max_records")); err == nil && n > 0 && start+n < len(kept) {
		end = start + n
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("start.index", strconv.Itoa(end))
		out["_links"] = map[string]any{"next": map[string]any{"href": r.URL.Path + "?" + next.Encode()}}
	}
	if start > len(kept) {
		start = len(kept)
	}
	fields := fieldList(q, "")
	records := make([]map[string]any, 0, end-start)
	for _, rec := range kept[start:end] {
		records = append(records, project(rec, fields))
	}
	out["records"] = records
	out["num_records"] = len(records)
	return out
}

// reserved query parameters are not filters.
var reserved = map[string]bool{
	"fields": true, "max_records": true, "return_records": true, "return_timeout": true, "order_by": true,
	"list_destinations_only": true, "start.index": true, "force": true, "validate_only": true,
}

// matches applies ONTAP's query filters: "field=value", with * wildcards, | alternatives,
// ! negation, null and !null, and <, >, <=, >= on numbers. Unset fields never match.
func matches(rec map[string]any, q url.Values) bool {
	for k, vs := range q {
		if reserved[k] {
			continue
		}
		got, set := values(rec, k)
		for _, want := range vs {
			if !matchAny(got, set, want) {
				return false
			}
		}
	}
	return true
}

func matchAny(got []string, set bool, want string) bool {
	for _, alt := range strings.Split(want, "|") {
		neg := strings.HasPrefix(alt, "!")
		alt = strings.TrimPrefix(alt, "!")
		if alt == "null" {
			if set != neg {
				return false
			}
			return true
		}
		if !set {
			continue
		}
		hit := false
		for _, g := range got {
			if matchOne(g, alt) {
				hit = true
				break
			}
		}
		if hit != neg {
			return true
		}
	}
	return false
}

func matchOne(got, want string) bool {
	for _, op := range []string{"<=", ">=", "<", ">"} {
		if rest, found := strings.CutPrefix(want, op); found {
			a, err1 := strconv.ParseFloat(got, 64)
			b, err2 := strconv.ParseFloat(rest, 64)
			if err1 != nil || err2 != nil {
				return false
			}
			switch op {
			case "<=":
				return a <= b
			case ">=":
				return a >= b
			case "<":
				return a < b
			}
			return a > b
		}
	}
	if strings.Contains(want, "*") {
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(want), `\*`, ".*") + "$"
		m, _ := regexp.MatchString("(?i)"+re, got)
		return m
	}
	return strings.EqualFold(got, want)
}

// values returns the scalar values at a dotted path; lists are flattened.
func values(v any, path string) ([]string, bool) {
	head, rest, _ := strings.Cut(path, ".")
	switch t := v.(type) {
	case map[string]any:
		child, found := t[head]
		if !found {
			return nil, false
		}
		if rest == "" {
			switch c := child.(type) {
			case []any:
				out := make([]string, 0, len(c))
				for _, x := range c {
					out = append(out, scalar(x))
				}
				return out, true
			case []string:
				return c, true
			}
			return []string{scalar(child)}, true
		}
		return values(child, rest)
	case []any:
		var out []string
		set := false
		for _, x := range t {
			vs, s := values(x, path)
			out, set = append(out, vs...), set || s
		}
		return out, set
	case []map[string]any:
		var out []string
		set := false
		for _, x := range t {
			vs, s := values(x, path)
			out, set = append(out, vs...), set || s
		}
		return out, set
	}
	return nil, false
}

func lookup(rec map[string]any, path string) any {
	vs, _ := values(rec, path)
	if len(vs) == 0 {
		return nil
	}
	return vs[0]
}

func scalar(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	default:
		return fmt.Sprint(t)
	}
}

// fieldList returns the requested fields, or def when none were requested ("" for a
// collection's key fields).
func fieldList(q url.Values, def string) []string {
	f := q.Get("fields")
	if f == "" {
		f = def
	}
	if f == "" {
		return nil
	}
	return strings.Split(f, ",")
}

// expensive fields are returned only when asked for by name or with **.
var expensive = map[string]bool{"nas": true, "snapmirror": true, "reclaimable_space": true, "delta": true}

// keyFields are what a collection returns without fields=.
var keyFields = []string{"uuid", "name", "id", "index"}

// project keeps the requested fields of a record: nil means the key fields, "*" the common
// ones, "**" all, and dotted names pick sub-fields. Unset fields are omitted.
func project(rec map[string]any, fields []string) map[string]any {
	out := map[string]any{}
	if fields == nil {
		fields = keyFields
	}
	for _, f := range fields {
		switch f {
		case "**":
			for k, v := range rec {
				out[k] = v
			}
		case "*":
			for k, v := range rec {
				if !expensive[k] {
					out[k] = v
				}
			}
		default:
			pick(out, rec, f)
		}
	}
	return out
}

// pick copies the value at a dotted path from src into dst, through objects and lists.
func pick(dst, src map[string]any, path string) {
	head, rest, _ := strings.Cut(path, ".")
	v, found := src[head]
	if !found {
		return
	}
	if rest == "" {
		dst[head] = v
		return
	}
	switch t := v.(type) {
	case map[string]any:
		sub, _ := dst[head].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
		}
		pick(sub, t, rest)
		if len(sub) > 0 {
			dst[head] = sub
		}
	case []map[string]any:
		prev, _ := dst[head].([]map[string]any)
		items := make([]map[string]any, len(t))
		for i, item := range t {
			if i < len(prev) {
				items[i] = prev[i]
			} else {
				items[i] = map[string]any{}
			}
			pick(items[i], item, rest)
		}
		dst[head] = items
	}
}

// Fault makes a cluster misbehave on the requests that match it.
type Fault struct {
	// Method and Path select requests, e.g. "PATCH" and "/snapmirror/relationships/{id}";
	// empty matches any.
	Method, Path string
	// After lets that many matching requests through first; Times is how many then fail
	// (0: every one). Rate, when above 0, fails that fraction of matching requests instead.
	After, Times int
	Rate         float64
	// Status, Code and Message make the error answer; 0 status means 500.
	Status        int
	Code, Message string
	// Hang delays the answer, for client timeouts; Drop cuts the connection without one.
	Hang time.Duration
	Drop bool
	// LoseAnswer lets the request take effect, then cuts the connection before the answer:
	// a network failure, or a client that died, after ONTAP did the work.
	LoseAnswer bool
	// FailJob lets the request start its job, then fails the job with Code and Message; on a
	// transfer start, the transfer fails.
	FailJob bool

	seen, fired int
}

func (ft *Fault) apiErr() *apiErr {
	e := &apiErr{status: ft.Status, code: ft.Code, message: ft.Message}
	if e.status == 0 {
		e.status = http.StatusInternalServerError
	}
	if e.message == "" {
		e.message = "simulated fault"
	}
	return e
}

// InjectFault adds a fault to the cluster; ClearFaults removes them all.
func (c *Cluster) InjectFault(f Fault) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	c.faults = append(c.faults, &f)
}

// ClearFaults removes every fault.
func (c *Cluster) ClearFaults() {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	c.faults = nil
}

// matchFault returns the fault that fires on this request, if any; callers hold fabric.mu.
func (c *Cluster) matchFault(op string) *Fault {
	method, path, _ := strings.Cut(op, " ")
	for _, ft := range c.faults {
		if (ft.Method != "" && ft.Method != method) || (ft.Path != "" && ft.Path != path) {
			continue
		}
		ft.seen++
		if ft.seen <= ft.After || (ft.Times > 0 && ft.fired >= ft.Times) {
			continue
		}
		if ft.Rate > 0 && rand.Float64() >= ft.Rate {
			continue
		}
		ft.fired++
		return ft
	}
	return nil
}
