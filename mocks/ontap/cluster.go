package ontap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Cluster is one simulated ONTAP cluster with its own HTTPS address and CA.
type Cluster struct {
	fabric *Fabric
	name   string
	uuid   string
	// dir holds its volumes' content: <DataDir>/<name> (content.go).
	dir string

	// State, guarded by fabric.mu.
	svms       map[string]*svm
	aggregates map[string]*aggregate
	volumes    map[string]*volume // by UUID
	jobs       map[string]*job
	running    []*job // jobs not ended yet
	lastPurge  time.Time
	// msids numbers the volumes made here (volume.msid).
	msids          int64
	policies       []*policy
	schedules      []*schedule
	exportPolicies map[int64]*exportPolicy
	// policyIDs finds an export policy by "<svm>/<name>" (exportPolicyNamed).
	policyIDs    map[string]int64
	nextPolicyID int64
	// SAN (san.go): igroups by uuid, LUN maps, and the SVMs without an iSCSI service.
	igroups       map[string]*igroup
	lunMaps       []*lunMap
	noISCSI       map[string]bool
	requests      map[string]int
	work          Work
	faults        []*Fault
	transferDelay time.Duration
	transferRate  int64
	abortDelay    time.Duration
	latency       time.Duration
	disc          discovery
	// loc is the cluster's time zone: date-times are written with its offset.
	loc           *time.Location
	maxVolumeSize int64

	// Serving.
	cert    tls.Certificate
	ca      []byte
	addr    string
	slots   chan struct{}
	waiting int
	srvMu   sync.Mutex
	srv     *http.Server
	ln      net.Listener // srv's: stop closes it even before srv serves on it
	down    bool
	hole    *blackHole // while black-holed
}

type svm struct {
	cluster    *Cluster
	name, uuid string
	peers      map[string]*svm
}

type aggregate struct {
	name, uuid string
	size       int64
}

type volume struct {
	uuid, name, svm, aggregate string
	size                       int64
	typ                        string // rw or dp
	state                      string
	path                       string // junction path; "" when unmounted
	exportPolicy               string
	snapshotPolicy             string
	comment                    string
	autosizeMode               string
	autosizeMax                int64
	created                    time.Time
	// msid is ONTAP's master set ID of the volume; a relationship's SnapMirror snapshots are
	// named by its destination's (snapmirrorPrefix).
	msid int64
	// dir holds the volume's content on disk: the active file system and the snapshots'
	// frozen copies (content.go).
	dir       string
	snapshots []*snapshot
	// writes counts the writes of clients, as ONTAP's statistics.iops_raw.write does: those
	// through the side API, and the changes of mounted clients seen on the disk (seen is the
	// content's stamp at the last look; rebase says the simulator itself changed it since).
	writes int64
	seen   string
	rebase bool
	// luns are the identities of the LUNs its content holds, by the LUN's image ID (san.go).
	luns map[string]*lun
	// lunsStale is set when the simulator replaced the content or changed a LUN's metadata:
	// the next syncSAN reads the LUNs again. (Metadata is the simulator's alone; a client
	// changes a LUN's bytes, never which LUNs a volume holds.)
	lunsStale bool
}

type snapshot struct {
	uuid, name string
	created    time.Time
	// dir is the snapshot's frozen copy of its volume's content.
	dir tree
	// owners hold the snapshot: SnapMirror's base snapshots cannot be deleted by users.
	owners []string
}

type exportPolicy struct {
	id    int64
	name  string
	svm   string
	rules []map[string]any
}

// timestamp writes a date-time as ONTAP does, with the cluster's UTC offset and never "Z":
// "2026-12-02T10:15:00+01:00", "2026-12-02T09:15:00+00:00".
func (c *Cluster) timestamp(t time.Time) string {
	return t.In(c.loc).Format("2006-01-02T15:04:05-07:00")
}

// active is the volume's active file system on disk.
func (v *volume) active() tree { return tree(filepath.Join(v.dir, "active")) }

// used is the volume's logical data size in bytes, read from the disk: a mounted client may
// have written. A tree that cannot be read (the data directory removed under a closing
// fabric) counts what was read.
func (v *volume) used() int64 {
	n, _ := v.active().size()
	return n
}

// replaced notes that the volume's active content was replaced: its LUNs are read again, and
// the change is not a client's write.
func (v *volume) replaced() { v.lunsStale, v.rebase = true, true }

// clientWrites is the volume's statistics.iops_raw.write: the writes through the side API,
// plus one each time the content is seen changed by a mounted client since the last look
// (the simulator sees what a client did, not how many operations it took). A change the
// simulator made itself (replaced) counts nothing.
func (v *volume) clientWrites() int64 {
	stamp := v.active().stamp()
	if v.rebase {
		v.seen, v.rebase = stamp, false
	}
	if stamp != v.seen {
		v.writes++
		v.seen = stamp
	}
	return v.writes
}

// dropSnapshots removes the snapshots' frozen copies from the disk. A copy that cannot be
// removed costs disk space, not correctness: nothing refers to it any more.
func dropSnapshots(snaps []*snapshot) {
	for _, s := range snaps {
		_ = os.RemoveAll(string(s.dir))
	}
}

func (v *volume) snapshot(name string) *snapshot {
	for _, s := range v.snapshots {
		if s.name == name {
			return s
		}
	}
	return nil
}

func newCluster(f *Fabric, spec ClusterSpec, loc *time.Location) *Cluster {
	c := &Cluster{
		fabric: f, name: spec.Name, uuid: f.newUUID(), loc: loc, maxVolumeSize: spec.MaxVolumeSize,
		svms: map[string]*svm{}, aggregates: map[string]*aggregate{}, volumes: map[string]*volume{},
		jobs: map[string]*job{}, exportPolicies: map[int64]*exportPolicy{}, policyIDs: map[string]int64{}, igroups: map[string]*igroup{},
		noISCSI:  map[string]bool{},
		requests: map[string]int{}, slots: make(chan struct{}, f.opts.MaxConcurrent), nextPolicyID: 1,
	}
	if c.maxVolumeSize == 0 {
		c.maxVolumeSize = defaultMaxVolumeSize
	}
	size := spec.AggregateSize
	if size == 0 {
		size = 100 << 40
	}
	for _, a := range spec.Aggregates {
		c.aggregates[a] = &aggregate{name: a, uuid: f.newUUID(), size: size}
	}
	for _, s := range spec.ISCSIDisabled {
		c.noISCSI[s] = true
	}
	for _, s := range spec.SVMs {
		c.svms[s] = &svm{cluster: c, name: s, uuid: f.newUUID(), peers: map[string]*svm{}}
		// Every SVM has a "default" export policy, as on ONTAP.
		c.addExportPolicy(&exportPolicy{id: c.nextPolicyID, name: "default", svm: s})
		c.nextPolicyID++
	}
	c.policies = builtinPolicies(f)
	c.schedules = builtinSchedules(f)
	c.disc = newDiscovery(f, c, spec, len(f.clusters)+1)
	return c
}

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.name }

// Address is the cluster's management address, host:port.
func (c *Cluster) Address() string { return c.addr }

// DataDir is the directory of the cluster's volumes' content: <DataDir>/<name>, with "/" and
// "%" in the name escaped as in a URL (content.go).
func (c *Cluster) DataDir() string { return c.dir }

// CA is the PEM of the CA that signed the cluster's certificate.
func (c *Cluster) CA() []byte { return c.ca }

func (c *Cluster) start() error {
	cert, ca, err := newCertificate(c.name)
	if err != nil {
		return err
	}
	c.cert, c.ca = cert, ca
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.addr = ln.Addr().String()
	c.serve(ln)
	return nil
}

func (c *Cluster) serve(ln net.Listener) {
	srv := &http.Server{
		Handler:   c,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{c.cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	c.srvMu.Lock()
	c.srv, c.ln, c.down = srv, ln, false
	c.srvMu.Unlock()
	// It returns when stop closes it (http.ErrServerClosed): nothing to report.
	go func() { _ = srv.ServeTLS(ln, "", "") }()
}

func (c *Cluster) stop() {
	c.srvMu.Lock()
	srv, ln, hole := c.srv, c.ln, c.hole
	c.srv, c.ln, c.hole = nil, nil, nil
	c.srvMu.Unlock()
	if srv != nil {
		_ = srv.Close() // the cluster goes off the network; its clients see that
	}
	if ln != nil {
		// srv.Close closes the listener only once srv serves on it: its goroutine may not
		// have started yet, and the listener would accept meanwhile.
		_ = ln.Close()
	}
	if hole != nil {
		hole.close()
	}
}

// SetDown takes the cluster off the network (connections are refused and cut) or brings it
// back on the same address. While it is down, its peers cannot reach it either: transfers from
// it fail. SetBlackHoled (network.go) is the other way to be down.
func (c *Cluster) SetDown(down bool) error {
	if down {
		return c.setNetwork(refusing)
	}
	return c.setNetwork(answering)
}

// reachable reports whether the cluster answers its peers; callers hold fabric.mu.
func (c *Cluster) reachable() bool { return !c.down }

// Requests returns how many ONTAP requests the cluster has answered, by "METHOD /path" with
// identifiers replaced by {id}, and in all under "total".
func (c *Cluster) Requests() map[string]int {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	return maps.Clone(c.requests)
}

// ResetRequests zeroes the request counters.
func (c *Cluster) ResetRequests() {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	c.requests = map[string]int{}
	c.work = Work{}
}

// WriteFile writes a file into a volume's active file system, as an NFS client would. A DP
// volume is read-only.
func (c *Cluster) WriteFile(svmName, volName, path, content string) error {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	v := c.volumeByName(svmName, volName)
	if v == nil {
		return fmt.Errorf("volume %s:%s: %w", svmName, volName, errNoVolume)
	}
	if v.typ != "rw" {
		return fmt.Errorf("volume %s:%s is a read-only DP volume", svmName, volName)
	}
	clean, err := cleanFilePath(path)
	if err != nil {
		return err
	}
	full := filepath.Join(v.active().fs(), filepath.FromSlash(clean))
	if err := ensureTree(v.active()); err != nil {
		return fmt.Errorf("write %s to volume %s:%s: %w", path, svmName, volName, err)
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return fmt.Errorf("write %s to volume %s:%s: %w", path, svmName, volName, err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s to volume %s:%s: %w", path, svmName, volName, err)
	}
	v.writes++
	return nil
}

// Files returns a volume's active file system as read from the disk: its regular files by
// path (with / separators), not its LUNs (ReadLUN and LUNChecksum read those).
func (c *Cluster) Files(svmName, volName string) (map[string]string, error) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	v := c.volumeByName(svmName, volName)
	if v == nil {
		return nil, fmt.Errorf("volume %s:%s: %w", svmName, volName, errNoVolume)
	}
	return v.active().files()
}

// VolumeInfo is what tests read of a volume through the side API.
type VolumeInfo struct {
	UUID, Type, State string
	Size              int64
	Snapshots         []string
}

// Volume returns a volume's type, size and snapshot names (oldest first), or an error.
func (c *Cluster) Volume(svmName, volName string) (VolumeInfo, error) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	v := c.volumeByName(svmName, volName)
	if v == nil {
		return VolumeInfo{}, fmt.Errorf("volume %s:%s: %w", svmName, volName, errNoVolume)
	}
	info := VolumeInfo{UUID: v.uuid, Type: v.typ, State: v.state, Size: v.size}
	for _, s := range v.snapshots {
		info.Snapshots = append(info.Snapshots, s.name)
	}
	return info, nil
}

// VolumeNames lists the cluster's volumes as "svm:volume", sorted.
func (c *Cluster) VolumeNames() []string {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	var out []string
	for _, v := range c.volumes {
		out = append(out, v.svm+":"+v.name)
	}
	sort.Strings(out)
	return out
}

var errNoVolume = errors.New("no such volume")

func (c *Cluster) volumeByName(svmName, name string) *volume {
	for _, v := range c.volumes {
		if v.svm == svmName && v.name == name {
			return v
		}
	}
	return nil
}

// volumeAt finds a volume by "svm:volume" anywhere in the fabric, with its cluster.
func (f *Fabric) volumeAt(path string) (*Cluster, *volume) {
	svmName, volName, ok := strings.Cut(path, ":")
	if !ok {
		return nil, nil
	}
	s := f.findSVM(svmName)
	if s == nil {
		return nil, nil
	}
	return s.cluster, s.cluster.volumeByName(svmName, volName)
}

// acquire takes a processing slot, waiting in ONTAP's input queue; it fails when the queue is
// full.
func (c *Cluster) acquire(ctx context.Context) bool {
	select {
	case c.slots <- struct{}{}:
		return true
	default:
	}
	c.fabric.mu.Lock()
	if c.waiting >= c.fabric.opts.QueueLimit {
		c.fabric.mu.Unlock()
		return false
	}
	c.waiting++
	c.fabric.mu.Unlock()
	defer func() {
		c.fabric.mu.Lock()
		c.waiting--
		c.fabric.mu.Unlock()
	}()
	select {
	case c.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Cluster) release() { <-c.slots }
