package ontap

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
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
	// op is the operation as the counters name it, "POST /storage/volumes".
	op string
	// job is the job the request started, if any.
	job *job
}

// response is what a handler returns; one adapter renders it as ONTAP would.
type response struct {
	status int
	body   any
	err    *apiErr
	// location is the path of the object a synchronous create made, for the Location header.
	location string
	// await is a job the call waits for (within return_timeout) before it answers.
	await *job
	// shaped says fields, filters and paging were applied to body (shape).
	shaped bool
}

// created answers a synchronous create: 201, with the new object's path in Location.
func created(location string, body any) response {
	return response{status: http.StatusCreated, body: body, location: location}
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

// pathMatcher is what a route of either table, ONTAP's or the side API's, matches: a method
// and a path in which each {name} segment is a variable of one non-empty segment, and a
// last {name...} one of the rest of the path.
type pathMatcher struct {
	method  string
	pattern *regexp.Regexp
	names   []string
}

func newPathMatcher(method, path string) pathMatcher {
	var names []string
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}") && i == len(segs)-1:
			names = append(names, strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "...}"))
			segs[i] = "(.+)"
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			names = append(names, strings.Trim(seg, "{}"))
			segs[i] = "([^/]+)"
		default:
			segs[i] = regexp.QuoteMeta(seg)
		}
	}
	return pathMatcher{method: method, pattern: regexp.MustCompile("^" + strings.Join(segs, "/") + "$"), names: names}
}

// match returns the path variables, as they appear in path, when the request is for this
// route.
func (m *pathMatcher) match(method, path string) (map[string]string, bool) {
	if m.method != method {
		return nil, false
	}
	sub := m.pattern.FindStringSubmatch(path)
	if sub == nil {
		return nil, false
	}
	vars := map[string]string{}
	for j, n := range m.names {
		vars[n] = sub[j+1]
	}
	return vars, true
}

// route is one entry of the route table.
type route struct {
	pathMatcher
	// kind is the object kind the route serves: its fields are what fields=, filters and a
	// POST or PATCH body may name.
	kind *kind
	// params are the query parameters the route takes besides the common ones (§1.2).
	params []string
	// collection: a GET of a collection, which takes filters, order_by and paging.
	collection bool
	handle     func(*Cluster, *request) response
	// name is the path as counters and faults name it: "/api" dropped and every path
	// variable written {id}, as in "/storage/volumes/{id}/snapshots".
	name string
}

// singletons are the paths of single objects that do not end in a {uuid}.
var singletons = []string{"/api/cluster"}

func newRoute(method, path string, k *kind, params []string, handle func(*Cluster, *request) response) route {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			segs[i] = "{id}"
		}
	}
	name := strings.TrimPrefix(strings.Join(segs, "/"), "/api")
	collection := method == http.MethodGet && !strings.HasSuffix(path, "}") && !contains(singletons, path)
	return route{pathMatcher: newPathMatcher(method, path), kind: k, params: params, collection: collection, handle: handle, name: name}
}

// Route parameters beyond the common ones.
var (
	listDestinationsOnly = []string{"list_destinations_only"}
	// relationshipPatchParams: force overrides a break's checks; the failover ones are SVM-DR's.
	relationshipPatchParams = []string{"force", "validate_only", "failover", "force_failover", "failback"}
	relationshipDeleteFlags = []string{"destination_only", "source_only", "source_info_only"}
	restoreParams           = []string{"restore_to.snapshot.name", "restore_to.snapshot.uuid"}
	allowDeleteWhileMapped  = []string{"allow_delete_while_mapped"}
)

// routes is the whole ONTAP surface the simulator serves.
var routes = []route{
	newRoute("GET", "/api/cluster", clusterKind, nil, (*Cluster).getCluster),
	newRoute("GET", "/api/cluster/jobs", jobKind, nil, (*Cluster).listJobs),
	newRoute("GET", "/api/cluster/jobs/{uuid}", jobKind, nil, (*Cluster).getJob),
	newRoute("GET", "/api/cluster/schedules", scheduleKind, nil, (*Cluster).listSchedules),
	newRoute("GET", "/api/svm/svms", svmKind, nil, (*Cluster).listSVMs),
	newRoute("GET", "/api/svm/peers", svmPeerKind, nil, (*Cluster).listSVMPeers),
	newRoute("GET", "/api/storage/aggregates", aggregateKind, nil, (*Cluster).listAggregates),
	newRoute("GET", "/api/storage/volumes", volumeKind, nil, (*Cluster).listVolumes),
	newRoute("POST", "/api/storage/volumes", volumeKind, nil, (*Cluster).createVolume),
	newRoute("GET", "/api/storage/volumes/{uuid}", volumeKind, nil, (*Cluster).getVolume),
	newRoute("PATCH", "/api/storage/volumes/{uuid}", volumeKind, restoreParams, (*Cluster).modifyVolume),
	newRoute("DELETE", "/api/storage/volumes/{uuid}", volumeKind, []string{"force"}, (*Cluster).deleteVolume),
	newRoute("GET", "/api/storage/volumes/{volume.uuid}/snapshots", snapshotKind, nil, (*Cluster).listSnapshots),
	newRoute("POST", "/api/storage/volumes/{volume.uuid}/snapshots", snapshotKind, nil, (*Cluster).createSnapshot),
	newRoute("GET", "/api/storage/volumes/{volume.uuid}/snapshots/{uuid}", snapshotKind, nil, (*Cluster).getSnapshot),
	newRoute("DELETE", "/api/storage/volumes/{volume.uuid}/snapshots/{uuid}", snapshotKind, nil, (*Cluster).deleteSnapshot),
	newRoute("GET", "/api/snapmirror/relationships", relationshipKind, listDestinationsOnly, (*Cluster).listRelationships),
	newRoute("POST", "/api/snapmirror/relationships", relationshipKind, []string{"validate_only"}, (*Cluster).createRelationship),
	newRoute("GET", "/api/snapmirror/relationships/{uuid}", relationshipKind, listDestinationsOnly, (*Cluster).getRelationship),
	newRoute("PATCH", "/api/snapmirror/relationships/{uuid}", relationshipKind, relationshipPatchParams, (*Cluster).modifyRelationship),
	newRoute("DELETE", "/api/snapmirror/relationships/{uuid}", relationshipKind, relationshipDeleteFlags, (*Cluster).deleteRelationship),
	newRoute("GET", "/api/snapmirror/relationships/{relationship.uuid}/transfers", transferKind, nil, (*Cluster).listTransfers),
	newRoute("POST", "/api/snapmirror/relationships/{relationship.uuid}/transfers", transferKind, nil, (*Cluster).createTransfer),
	newRoute("GET", "/api/snapmirror/relationships/{relationship.uuid}/transfers/{uuid}", transferKind, nil, (*Cluster).getTransfer),
	newRoute("PATCH", "/api/snapmirror/relationships/{relationship.uuid}/transfers/{uuid}", transferKind, nil, (*Cluster).modifyTransfer),
	newRoute("GET", "/api/snapmirror/policies", policyKind, nil, (*Cluster).listPolicies),
	newRoute("GET", "/api/protocols/nfs/export-policies", exportPolicyKind, nil, (*Cluster).listExportPolicies),
	newRoute("POST", "/api/protocols/nfs/export-policies", exportPolicyKind, nil, (*Cluster).createExportPolicy),
	newRoute("GET", "/api/protocols/nfs/export-policies/{policy.id}/rules", exportRuleKind, nil, (*Cluster).listExportRules),
	newRoute("POST", "/api/protocols/nfs/export-policies/{policy.id}/rules", exportRuleKind, nil, (*Cluster).createExportRule),
	newRoute("DELETE", "/api/protocols/nfs/export-policies/{id}", exportPolicyKind, nil, (*Cluster).deleteExportPolicy),
	newRoute("DELETE", "/api/protocols/nfs/export-policies/{policy.id}/rules/{index}", exportRuleKind, nil, (*Cluster).deleteExportRule),
	// Start-up and discovery calls (discovery_handlers.go).
	newRoute("GET", "/api/cluster/nodes", nodeKind, nil, (*Cluster).listNodes),
	newRoute("GET", "/api/cluster/nodes/{uuid}", nodeKind, nil, one((*Cluster).listNodes, "uuid")),
	newRoute("GET", "/api/network/ip/interfaces", ipInterfaceKind, nil, (*Cluster).listInterfaces),
	newRoute("GET", "/api/network/ip/interfaces/{uuid}", ipInterfaceKind, nil, one((*Cluster).listInterfaces, "uuid")),
	newRoute("GET", "/api/storage/aggregates/{uuid}", aggregateKind, nil, one((*Cluster).listAggregates, "uuid")),
	newRoute("GET", "/api/svm/svms/{uuid}", svmKind, nil, one((*Cluster).listSVMs, "uuid")),
	newRoute("GET", "/api/svm/peers/{uuid}", svmPeerKind, nil, one((*Cluster).listSVMPeers, "uuid")),
	newRoute("GET", "/api/cluster/licensing/licenses", licenseKind, nil, (*Cluster).listLicenses),
	newRoute("GET", "/api/cluster/licensing/licenses/{name}", licenseKind, nil, one((*Cluster).listLicenses, "name")),
	newRoute("POST", "/api/support/ems/application-logs", emsKind, nil, (*Cluster).createEMSLog),
	newRoute("GET", "/api/snapmirror/policies/{uuid}", policyKind, nil, one((*Cluster).listPolicies, "uuid")),
	newRoute("GET", "/api/cluster/schedules/{uuid}", scheduleKind, nil, one((*Cluster).listSchedules, "uuid")),
	// SAN (lun_handlers.go, san_handlers.go).
	newRoute("GET", "/api/storage/luns", lunKind, nil, (*Cluster).listLUNs),
	newRoute("POST", "/api/storage/luns", lunKind, nil, (*Cluster).createLUN),
	newRoute("GET", "/api/storage/luns/{uuid}", lunKind, nil, (*Cluster).getLUN),
	newRoute("PATCH", "/api/storage/luns/{uuid}", lunKind, nil, (*Cluster).modifyLUN),
	newRoute("DELETE", "/api/storage/luns/{uuid}", lunKind, allowDeleteWhileMapped, (*Cluster).deleteLUN),
	newRoute("GET", "/api/storage/luns/{lun.uuid}/attributes", lunAttributeKind, nil, (*Cluster).listLUNAttributes),
	newRoute("POST", "/api/storage/luns/{lun.uuid}/attributes", lunAttributeKind, nil, (*Cluster).createLUNAttribute),
	newRoute("GET", "/api/storage/luns/{lun.uuid}/attributes/{name}", lunAttributeKind, nil, (*Cluster).getLUNAttribute),
	newRoute("PATCH", "/api/storage/luns/{lun.uuid}/attributes/{name}", lunAttributeKind, nil, (*Cluster).modifyLUNAttribute),
	newRoute("DELETE", "/api/storage/luns/{lun.uuid}/attributes/{name}", lunAttributeKind, nil, (*Cluster).deleteLUNAttribute),
	newRoute("GET", "/api/protocols/san/igroups", igroupKind, nil, (*Cluster).listIgroups),
	newRoute("POST", "/api/protocols/san/igroups", igroupKind, nil, (*Cluster).createIgroup),
	newRoute("GET", "/api/protocols/san/igroups/{uuid}", igroupKind, nil, (*Cluster).getIgroup),
	newRoute("PATCH", "/api/protocols/san/igroups/{uuid}", igroupKind, nil, (*Cluster).modifyIgroup),
	newRoute("DELETE", "/api/protocols/san/igroups/{uuid}", igroupKind, allowDeleteWhileMapped, (*Cluster).deleteIgroup),
	newRoute("GET", "/api/protocols/san/igroups/{igroup.uuid}/initiators", initiatorKind, nil, (*Cluster).listInitiators),
	newRoute("POST", "/api/protocols/san/igroups/{igroup.uuid}/initiators", initiatorKind, nil, (*Cluster).addInitiators),
	newRoute("DELETE", "/api/protocols/san/igroups/{igroup.uuid}/initiators/{name}", initiatorKind, allowDeleteWhileMapped, (*Cluster).removeInitiator),
	newRoute("GET", "/api/protocols/san/lun-maps", lunMapKind, nil, (*Cluster).listLUNMaps),
	newRoute("POST", "/api/protocols/san/lun-maps", lunMapKind, nil, (*Cluster).createLUNMap),
	newRoute("GET", "/api/protocols/san/lun-maps/{lun.uuid}/{igroup.uuid}", lunMapKind, nil, (*Cluster).getLUNMap),
	newRoute("DELETE", "/api/protocols/san/lun-maps/{lun.uuid}/{igroup.uuid}", lunMapKind, nil, (*Cluster).deleteLUNMap),
	newRoute("GET", "/api/protocols/san/lun-maps/{lun.uuid}/{igroup.uuid}/reporting-nodes", reportingNodeKind, nil, (*Cluster).listReportingNodes),
	newRoute("GET", "/api/protocols/san/iscsi/services", iscsiServiceKind, nil, (*Cluster).listISCSIServices),
	newRoute("GET", "/api/protocols/san/iscsi/services/{svm.uuid}", iscsiServiceKind, nil, (*Cluster).getISCSIService),
}

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
		render(w, r, fail(unknownPath(r.Method, r.URL.Path)))
		return
	}
	if rt.kind != nil && rt.kind.hyphens && strings.Contains(r.URL.Query().Get("fields"), "-") {
		q := r.URL.Query()
		q.Set("fields", strings.ReplaceAll(q.Get("fields"), "-", "_"))
		r.URL.RawQuery = q.Encode()
	}
	req := &request{Request: r, vars: vars, query: r.URL.Query(), op: op}
	if fault != nil && fault.FailJob {
		req.jobFault = fault
	}
	filters, e := rt.checkQuery(req.query, c.disc.version)
	if e == nil && (r.Method == http.MethodPost || r.Method == http.MethodPatch) {
		e = req.decode(rt.kind, map[string]access{http.MethodPost: onPost, http.MethodPatch: onPatch}[r.Method])
	}
	if e != nil {
		render(w, r, fail(e))
		return
	}
	var keys []string
	if rt.kind != nil {
		keys = rt.kind.keys
	}
	f.mu.Lock()
	req.now = f.clock.now()
	f.tick()
	resp := rt.handle(c, req)
	f.mu.Unlock()
	if resp.await != nil {
		resp = c.awaitJob(req, resp)
	}
	// The lazy fields a shaped answer works out read (and a write counter updates) the
	// simulator's state: under its lock, like the handler.
	f.mu.Lock()
	resp = shape(r, resp, filters, keys)
	f.mu.Unlock()
	if fault != nil && fault.LoseAnswer {
		hangUp(w)
	}
	renderWith(w, r, resp, filters, keys)
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close() // the answer is meant to be lost
		}
	}
	panic(http.ErrAbortHandler)
}

func match(method, path string) (*route, map[string]string) {
	for i := range routes {
		rt := &routes[i]
		if vars, ok := rt.match(method, path); ok {
			for n, v := range vars {
				vars[n], _ = url.PathUnescape(v)
			}
			return rt, vars
		}
	}
	return nil, nil
}

func (r *request) decode(k *kind, verb access) *apiErr {
	r.body = map[string]any{}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&r.body); err != nil && err.Error() != "EOF" {
		return errInvalid(codeInvalidField, "", "invalid JSON body: %v", err)
	}
	return k.checkBody(r.body, verb)
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
	renderWith(w, r, resp, nil, nil)
}

// renderWith renders, filtering a collection with filters, which its records also echo, as
// they carry the kind's own key fields.
func renderWith(w http.ResponseWriter, r *http.Request, resp response, filters url.Values, keys []string) {
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
		// A client that went away cannot be told; nor can a failed write be answered.
		_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
		return
	}
	resp = shape(r, resp, filters, keys)
	body := resp.body
	if resp.location != "" {
		w.Header().Set("Location", resp.location)
	}
	w.WriteHeader(resp.status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

// shape applies fields, filters and paging to a collection, or fields= to a record of a GET,
// once. The lazy fields it works out read the simulator's state: callers that answer records
// hold fabric.mu.
func shape(r *http.Request, resp response, filters url.Values, keys []string) response {
	if resp.err != nil || resp.shaped {
		return resp
	}
	if recs, isList := resp.body.([]map[string]any); isList {
		resp.body = page(r, recs, filters, keys)
	} else if rec, isRec := resp.body.(map[string]any); isRec && r.Method == http.MethodGet {
		resp.body = project(rec, fieldList(r.URL.Query(), "*"), keys)
	}
	resp.shaped = true
	return resp
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
