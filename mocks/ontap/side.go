package ontap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// serveSide is the simulator's own API under /sim/, beside ONTAP's, for tests and demos:
//
//	GET    /sim/volumes/{svm}/{volume}              the volume's type, size and snapshots
//	GET    /sim/volumes/{svm}/{volume}/files        its active file system, {path: content}
//	GET    /sim/volumes/{svm}/{volume}/checksum     a SHA-256 of that file system
//	PUT    /sim/volumes/{svm}/{volume}/files/{path} write a file, as an NFS client
//	POST   /sim/clock?advance=5m                    move the simulated clock forward
//	GET    /sim/requests                            ONTAP requests answered, by operation
//	DELETE /sim/requests                            reset those counters, and the work
//	GET    /sim/work                                jobs and transfers started, and their simulated seconds
//	POST   /sim/instant                             from now on, jobs, transfers and aborts of the whole fabric take no time
//	POST   /sim/faults                              add a Fault (JSON); DELETE removes all
//	POST   /sim/latency?d=20ms                      this cluster's per-request latency
//	POST   /sim/transfer-rate?bytes=1048576         its transfers' bandwidth (0: the fabric's)
//	POST   /sim/clusters/{name}/down, .../up        take a cluster off the network, or back
//	GET    /sim/ems                                 the last EMS application-log events
//	POST   /sim/clusters/{name}/down?mode=blackhole  black-hole it: connections accepted, never answered
//	GET    /sim/luns/{svm}/{volume}/{lun}           a LUN's uuid, serial, size, written bytes, read_only, mapped
//	PUT    /sim/luns/{svm}/{volume}/{lun}/data?offset=N   write the body at offset N, as a host
//	GET    /sim/luns/{svm}/{volume}/{lun}/data?offset=N&length=M   read M bytes: {"offset","length","data" (base64)}
//	GET    /sim/luns/{svm}/{volume}/{lun}/checksum  a SHA-256 of its size and data extents
//	GET    /sim/nfs/mount?server=IP&path=/junction&client=IP&write=true   an NFS mount, for a node plugin (node.go):
//	                                                {"svm","volume","dir","readOnly"}; 403 if the export policy denies the client
//	GET    /sim/iscsi/session?portal=IP[:3260]&target=IQN&initiator=IQN   an iSCSI login (node.go):
//	                                                {"luns":[{"number","serial","image","readOnly","size","svm","path"}]}
//
// The route table sideRoutes serves them. Any other path, or a method its path does not
// serve, answers 404 {"error": "no such simulator endpoint: METHOD /path"}.
func (c *Cluster) serveSide(w http.ResponseWriter, r *http.Request) {
	resp := sideError(http.StatusNotFound, "no such simulator endpoint: "+r.Method+" "+r.URL.Path)
	for i := range sideRoutes {
		if vars, ok := sideRoutes[i].match(r.Method, r.URL.Path); ok {
			resp = sideRoutes[i].handle(c, &sideRequest{Request: r, vars: vars})
			break
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	if resp.body != nil {
		_ = json.NewEncoder(w).Encode(resp.body) // a client that went away cannot be told
	}
}

// sideRoute is one entry of the side API's route table.
type sideRoute struct {
	pathMatcher
	handle func(*Cluster, *sideRequest) sideResponse
}

// sideRequest is what a side handler gets: the HTTP request and its path variables, as
// net/http unescaped them.
type sideRequest struct {
	*http.Request
	vars map[string]string
}

// sideResponse is what a side handler returns: a status and a body, written as JSON unless nil.
type sideResponse struct {
	status int
	body   any
}

// sideError is the side API's error: {"error": msg}.
func sideError(status int, msg string) sideResponse {
	return sideResponse{status: status, body: map[string]string{"error": msg}}
}

// sideRefused answers 409: the simulator refuses (no such volume, a read-only volume).
func sideRefused(err error) sideResponse { return sideError(http.StatusConflict, err.Error()) }

var sideDone = sideResponse{status: http.StatusNoContent}

func newSideRoute(method, path string, handle func(*Cluster, *sideRequest) sideResponse) sideRoute {
	return sideRoute{pathMatcher: newPathMatcher(method, path), handle: handle}
}

// sideRoutes is the whole side API.
var sideRoutes = []sideRoute{
	newSideRoute("GET", "/sim/volumes/{svm}/{volume}", (*Cluster).sideVolume),
	newSideRoute("GET", "/sim/volumes/{svm}/{volume}/files", (*Cluster).sideFiles),
	newSideRoute("GET", "/sim/volumes/{svm}/{volume}/checksum", (*Cluster).sideChecksum),
	newSideRoute("PUT", "/sim/volumes/{svm}/{volume}/files/{path...}", (*Cluster).sideWriteFile),
	newSideRoute("POST", "/sim/clock", (*Cluster).sideAdvance),
	newSideRoute("GET", "/sim/requests", (*Cluster).sideRequests),
	newSideRoute("DELETE", "/sim/requests", (*Cluster).sideResetRequests),
	newSideRoute("POST", "/sim/faults", (*Cluster).sideInjectFault),
	newSideRoute("DELETE", "/sim/faults", (*Cluster).sideClearFaults),
	newSideRoute("POST", "/sim/latency", (*Cluster).sideLatency),
	newSideRoute("POST", "/sim/transfer-rate", (*Cluster).sideTransferRate),
	newSideRoute("POST", "/sim/clusters/{name}/{action}", (*Cluster).sideSetDown),
	newSideRoute("GET", "/sim/ems", (*Cluster).sideEMS),
	newSideRoute("GET", "/sim/work", (*Cluster).sideWork),
	newSideRoute("POST", "/sim/instant", (*Cluster).sideInstant),
	newSideRoute("GET", "/sim/luns/{svm}/{volume}/{lun}", (*Cluster).sideLUN),
	newSideRoute("PUT", "/sim/luns/{svm}/{volume}/{lun}/data", (*Cluster).sideWriteLUN),
	newSideRoute("GET", "/sim/luns/{svm}/{volume}/{lun}/data", (*Cluster).sideReadLUN),
	newSideRoute("GET", "/sim/luns/{svm}/{volume}/{lun}/checksum", (*Cluster).sideLUNChecksum),
	newSideRoute("GET", "/sim/nfs/mount", (*Cluster).sideNFSMount),
	newSideRoute("GET", "/sim/iscsi/session", (*Cluster).sideISCSISession),
}

func (c *Cluster) sideLUN(r *sideRequest) sideResponse {
	info, err := c.LUN(r.vars["svm"], r.vars["volume"], r.vars["lun"])
	if err != nil {
		return sideRefused(err)
	}
	return sideResponse{status: http.StatusOK, body: info}
}

// sideInt reads an integer query parameter; absent is 0.
func sideInt(r *sideRequest, name string) (int64, *sideResponse) {
	text := r.URL.Query().Get(name)
	if text == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		resp := sideError(http.StatusBadRequest, name+": "+err.Error())
		return 0, &resp
	}
	return n, nil
}

func (c *Cluster) sideWriteLUN(r *sideRequest) sideResponse {
	off, bad := sideInt(r, "offset")
	if bad != nil {
		return *bad
	}
	data, err := io.ReadAll(r.Body)
	if err == nil {
		err = c.WriteLUN(r.vars["svm"], r.vars["volume"], r.vars["lun"], off, data)
	}
	if err != nil {
		return sideRefused(err)
	}
	return sideDone
}

func (c *Cluster) sideReadLUN(r *sideRequest) sideResponse {
	off, bad := sideInt(r, "offset")
	if bad != nil {
		return *bad
	}
	length, bad := sideInt(r, "length")
	if bad != nil {
		return *bad
	}
	data, err := c.ReadLUN(r.vars["svm"], r.vars["volume"], r.vars["lun"], off, length)
	if err != nil {
		return sideRefused(err)
	}
	return sideResponse{status: http.StatusOK, body: map[string]any{"offset": off, "length": length, "data": data}}
}

func (c *Cluster) sideLUNChecksum(r *sideRequest) sideResponse {
	sum, err := c.LUNChecksum(r.vars["svm"], r.vars["volume"], r.vars["lun"])
	if err != nil {
		return sideRefused(err)
	}
	return sideResponse{status: http.StatusOK, body: map[string]string{"sha256": sum}}
}

func (c *Cluster) sideVolume(r *sideRequest) sideResponse {
	info, err := c.Volume(r.vars["svm"], r.vars["volume"])
	if err != nil {
		return sideRefused(err)
	}
	return sideResponse{status: http.StatusOK, body: info}
}

func (c *Cluster) sideFiles(r *sideRequest) sideResponse {
	files, err := c.Files(r.vars["svm"], r.vars["volume"])
	if err != nil {
		return sideRefused(err)
	}
	return sideResponse{status: http.StatusOK, body: files}
}

func (c *Cluster) sideChecksum(r *sideRequest) sideResponse {
	sum, err := c.Checksum(r.vars["svm"], r.vars["volume"])
	if err != nil {
		return sideRefused(err)
	}
	return sideResponse{status: http.StatusOK, body: map[string]string{"sha256": sum}}
}

func (c *Cluster) sideWriteFile(r *sideRequest) sideResponse {
	content, err := io.ReadAll(r.Body)
	if err == nil {
		err = c.WriteFile(r.vars["svm"], r.vars["volume"], r.vars["path"], string(content))
	}
	if err != nil {
		return sideRefused(err)
	}
	return sideDone
}

func (c *Cluster) sideAdvance(r *sideRequest) sideResponse {
	d, err := time.ParseDuration(r.URL.Query().Get("advance"))
	if err != nil {
		return sideError(http.StatusBadRequest, "advance: "+err.Error())
	}
	c.fabric.Advance(d)
	return sideResponse{status: http.StatusOK, body: map[string]any{"now": c.fabric.Now()}}
}

func (c *Cluster) sideRequests(*sideRequest) sideResponse {
	return sideResponse{status: http.StatusOK, body: c.Requests()}
}

func (c *Cluster) sideInstant(*sideRequest) sideResponse {
	c.fabric.SetInstant()
	return sideDone
}

func (c *Cluster) sideWork(*sideRequest) sideResponse {
	return sideResponse{status: http.StatusOK, body: c.Work()}
}

func (c *Cluster) sideResetRequests(*sideRequest) sideResponse {
	c.ResetRequests()
	return sideDone
}

func (c *Cluster) sideInjectFault(r *sideRequest) sideResponse {
	var f Fault
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
		return sideError(http.StatusBadRequest, err.Error())
	}
	c.InjectFault(f)
	return sideDone
}

func (c *Cluster) sideClearFaults(*sideRequest) sideResponse {
	c.ClearFaults()
	return sideDone
}

func (c *Cluster) sideLatency(r *sideRequest) sideResponse {
	d, err := time.ParseDuration(r.URL.Query().Get("d"))
	if err != nil {
		return sideError(http.StatusBadRequest, "d: "+err.Error())
	}
	c.SetLatency(d)
	return sideDone
}

func (c *Cluster) sideTransferRate(r *sideRequest) sideResponse {
	n, err := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
	if err != nil {
		return sideError(http.StatusBadRequest, "bytes: "+err.Error())
	}
	c.SetTransferRate(n)
	return sideDone
}

// sideSetDown takes another cluster down or up; a cluster cannot take itself down (it would
// not answer the up). POST .../down?mode=blackhole black-holes it instead of refusing
// connections; mode=refuse, or none, is SetDown.
func (c *Cluster) sideSetDown(r *sideRequest) sideResponse {
	action := r.vars["action"]
	target := c.fabric.Cluster(r.vars["name"])
	if target == nil || target == c || (action != "down" && action != "up") {
		return sideError(http.StatusBadRequest, "want POST /sim/clusters/{another cluster}/down or /up")
	}
	mode := r.URL.Query().Get("mode")
	if mode != "" && (action != "down" || (mode != "refuse" && mode != "blackhole")) {
		return sideError(http.StatusBadRequest, "mode: want refuse or blackhole, on /down only")
	}
	var err error
	if mode == "blackhole" {
		err = target.SetBlackHoled(true)
	} else {
		err = target.SetDown(action == "down")
	}
	if err != nil {
		return sideRefused(err)
	}
	return sideDone
}

// SetTransferDelay makes every transfer into this cluster take at least d of simulated time;
// 0 falls back to Options.TransferSetup.
func (c *Cluster) SetTransferDelay(d time.Duration) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	c.transferDelay = d
}

// SetTransferRate sets the bandwidth, in bytes per simulated second, of transfers into this
// cluster: the slow-transfer fault. 0 falls back to the fabric's TransferRate.
func (c *Cluster) SetTransferRate(bytesPerSecond int64) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	c.transferRate = bytesPerSecond
}

// SetAbortDelay makes aborts of transfers into this cluster take d of simulated time, as
// ONTAP's do: the abort is accepted at once, the transfer runs on until then, and a break
// meanwhile answers 13303808 "another transfer is in progress". 0 falls back to
// Options.AbortDelay (0 there too: aborts at once).
func (c *Cluster) SetAbortDelay(d time.Duration) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	c.abortDelay = d
}

// SetLatency sets this cluster's per-request latency, overriding the fabric's.
func (c *Cluster) SetLatency(d time.Duration) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	c.latency = d
}

// Checksum is a SHA-256 over a volume's active file system, paths and contents in path order.
func (c *Cluster) Checksum(svmName, volName string) (string, error) {
	files, err := c.Files(svmName, volName)
	if err != nil {
		return "", err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		_, _ = fmt.Fprintf(h, "%d:%s%d:%s", len(p), p, len(files[p]), files[p]) // a hash takes every write
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sortRecords(recs []map[string]any, key string) {
	sort.Slice(recs, func(i, j int) bool { return scalar(recs[i][key]) < scalar(recs[j][key]) })
}
