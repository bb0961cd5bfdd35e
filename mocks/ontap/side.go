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
	"strings"
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
//	DELETE /sim/requests                            reset those counters
//	POST   /sim/faults                              add a Fault (JSON); DELETE removes all
//	POST   /sim/latency?d=20ms                      this cluster's per-request latency
//	POST   /sim/transfer-rate?bytes=1048576         its transfers' bandwidth (0: instant)
//	POST   /sim/clusters/{name}/down, .../up        take a cluster off the network, or back
func (c *Cluster) serveSide(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/sim/"), "/", 5)
	write := func(status int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if body != nil {
			json.NewEncoder(w).Encode(body)
		}
	}
	fault := func(err error) { write(http.StatusConflict, map[string]string{"error": err.Error()}) }
	switch {
	case parts[0] == "volumes" && len(parts) == 3 && r.Method == http.MethodGet:
		info, err := c.Volume(parts[1], parts[2])
		if err != nil {
			fault(err)
			return
		}
		write(http.StatusOK, info)
	case parts[0] == "volumes" && len(parts) == 4 && parts[3] == "files" && r.Method == http.MethodGet:
		files, err := c.Files(parts[1], parts[2])
		if err != nil {
			fault(err)
			return
		}
		write(http.StatusOK, files)
	case parts[0] == "volumes" && len(parts) == 4 && parts[3] == "checksum" && r.Method == http.MethodGet:
		sum, err := c.Checksum(parts[1], parts[2])
		if err != nil {
			fault(err)
			return
		}
		write(http.StatusOK, map[string]string{"sha256": sum})
	case parts[0] == "volumes" && len(parts) == 5 && parts[3] == "files" && r.Method == http.MethodPut:
		content, err := io.ReadAll(r.Body)
		if err == nil {
			err = c.WriteFile(parts[1], parts[2], parts[4], string(content))
		}
		if err != nil {
			fault(err)
			return
		}
		write(http.StatusNoContent, nil)
	case parts[0] == "clock" && r.Method == http.MethodPost:
		d, err := time.ParseDuration(r.URL.Query().Get("advance"))
		if err != nil {
			write(http.StatusBadRequest, map[string]string{"error": "advance: " + err.Error()})
			return
		}
		c.fabric.Advance(d)
		write(http.StatusOK, map[string]any{"now": c.fabric.Now()})
	case parts[0] == "requests" && r.Method == http.MethodGet:
		write(http.StatusOK, c.Requests())
	case parts[0] == "requests" && r.Method == http.MethodDelete:
		c.ResetRequests()
		write(http.StatusNoContent, nil)
	case parts[0] == "faults" && r.Method == http.MethodPost:
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			write(http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		c.InjectFault(f)
		write(http.StatusNoContent, nil)
	case parts[0] == "latency" && r.Method == http.MethodPost:
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			write(http.StatusBadRequest, map[string]string{"error": "d: " + err.Error()})
			return
		}
		c.SetLatency(d)
		write(http.StatusNoContent, nil)
	case parts[0] == "transfer-rate" && r.Method == http.MethodPost:
		n, err := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
		if err != nil {
			write(http.StatusBadRequest, map[string]string{"error": "bytes: " + err.Error()})
			return
		}
		c.SetTransferRate(n)
		write(http.StatusNoContent, nil)
	case parts[0] == "faults" && r.Method == http.MethodDelete:
		c.ClearFaults()
		write(http.StatusNoContent, nil)
	case parts[0] == "clusters" && len(parts) == 3 && r.Method == http.MethodPost:
		target := c.fabric.Cluster(parts[1])
		if target == nil || target == c || (parts[2] != "down" && parts[2] != "up") {
			write(http.StatusBadRequest, map[string]string{"error": "want POST /sim/clusters/{another cluster}/down or /up"})
			return
		}
		if err := target.SetDown(parts[2] == "down"); err != nil {
			fault(err)
			return
		}
		write(http.StatusNoContent, nil)
	default:
		write(http.StatusNotFound, map[string]string{"error": "no such simulator endpoint: " + r.Method + " " + r.URL.Path})
	}
}

// SetTransferDelay makes every transfer into this cluster take at least d of simulated time.
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
// meanwhile answers 13303808 "another transfer is in progress". 0 aborts at once.
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
		fmt.Fprintf(h, "%d:%s%d:%s", len(p), p, len(files[p]), files[p])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sortRecords(recs []map[string]any, key string) {
	sort.Slice(recs, func(i, j int) bool { return scalar(recs[i][key]) < scalar(recs[j][key]) })
}
