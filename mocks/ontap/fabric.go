package ontap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // cluster time zones by name, whatever the host has
)

// Options configure a Fabric.
type Options struct {
	// Username and Password are every cluster's admin credentials; empty means "admin" and
	// "netapp1!".
	Username, Password string
	// Start is the simulated clock's start; zero means now. The clock runs with real time
	// unless Manual is set, and Advance moves it forward either way.
	Start  time.Time
	Manual bool
	// ClockRate, when the clock runs, is how many simulated seconds pass per real second
	// (0 means 1): an accelerated clock, for tests of slow operations that must stay fast.
	ClockRate float64
	// Latency is added to every ONTAP request, as a real cluster's management plane takes
	// tens of milliseconds per call.
	Latency time.Duration
	// MaxConcurrent is how many requests a cluster works on at once; more wait, and beyond
	// QueueLimit waiting ones ONTAP answers 503. 0 means 10 and 100.
	MaxConcurrent, QueueLimit int
	// JobDuration is how long asynchronous jobs take on the simulated clock. A request whose
	// return_timeout covers it gets its answer in the same call.
	JobDuration time.Duration
	// JobDurations are the durations by kind of job, and the time jobs spend queued
	// (timing.go); a zero duration falls back to JobDuration.
	JobDurations JobDurations
	// TransferRate is how many bytes a SnapMirror transfer moves per simulated second; 0 means
	// transfers end at once.
	TransferRate int64
	// TransferSetup is a SnapMirror transfer's fixed cost: every transfer takes at least
	// that (Cluster.SetTransferDelay overrides it per destination cluster).
	TransferSetup time.Duration
	// AbortDelay is how long aborting a transfer takes (Cluster.SetAbortDelay overrides it).
	AbortDelay time.Duration
	// DataDir is where volumes keep their content on disk (content.go), made if need be and
	// left in place by Close. Empty means a new temporary directory, which Close removes.
	DataDir string
}

// RealisticTimings (timing.go) is the preset of these timings as slow as ONTAP's.

// Fabric is a set of simulated ONTAP clusters that can peer with each other. One mutex guards
// the state of every cluster, since SnapMirror transfers span clusters.
type Fabric struct {
	opts Options

	mu       sync.Mutex
	clock    clock
	clusters map[string]*Cluster
	// relationships are shared by their two ends: the destination's record and, after the
	// first transfer, the source's.
	relationships map[string]*relationship
	// transferring are the relationships with an active transfer.
	transferring       map[*relationship]bool
	lastScheduleMinute time.Time
	seq                int
	// history is every SnapMirror operation that took effect, in order.
	history []Operation
	// dataDir is Options.DataDir, or the temporary directory the fabric made (ownDataDir),
	// once the first cluster is added.
	dataDir    string
	ownDataDir bool
}

// Operation is a SnapMirror operation that took effect on ONTAP: create, initialize, update,
// quiesce, resume, break, resync, delete or release, on the relationship Source -> Destination.
type Operation struct {
	Name, Source, Destination string
}

func (o Operation) String() string { return o.Name + " " + o.Source + " -> " + o.Destination }

// History returns the SnapMirror operations that took effect, oldest first, for tests that
// check what was (and was not) done: a resync nobody asked for, a break of the wrong side.
func (f *Fabric) History() []Operation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.history)
}

// record notes an operation; callers hold mu.
func (f *Fabric) record(name string, rel *relationship) {
	f.history = append(f.history, Operation{Name: name, Source: rel.src, Destination: rel.dst})
}

// NewFabric creates an empty fabric.
func NewFabric(opts Options) *Fabric {
	if opts.Username == "" {
		opts.Username, opts.Password = "admin", "netapp1!"
	}
	if opts.MaxConcurrent == 0 {
		opts.MaxConcurrent = 10
	}
	if opts.QueueLimit == 0 {
		opts.QueueLimit = 100
	}
	start := opts.Start
	if start.IsZero() {
		start = time.Now()
	}
	return &Fabric{
		opts:          opts,
		clock:         clock{base: start, wall: time.Now(), manual: opts.Manual, rate: opts.ClockRate},
		clusters:      map[string]*Cluster{},
		relationships: map[string]*relationship{},
		transferring:  map[*relationship]bool{},
	}
}

// Credentials returns the user name and password every cluster accepts.
func (f *Fabric) Credentials() (username, password string) { return f.opts.Username, f.opts.Password }

// WriteCredentials writes the credentials as a mounted Secret holds them, in the files
// username and password of dir, which it makes if need be; tests name dir in a backend's
// credentials.file.
func (f *Fabric) WriteCredentials(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	u, p := f.Credentials()
	return errors.Join(os.WriteFile(filepath.Join(dir, "username"), []byte(u), 0o600), os.WriteFile(filepath.Join(dir, "password"), []byte(p), 0o600))
}

// Now is the simulated time.
func (f *Fabric) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clock.now()
}

// Advance moves the simulated clock forward, then lets every cluster catch up: jobs end,
// transfers complete, scheduled updates start.
func (f *Fabric) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advanceTo(f.clock.now().Add(d))
}

// SetJobDuration changes how long asynchronous jobs started from now on take (Options.JobDuration).
func (f *Fabric) SetJobDuration(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts.JobDuration = d
}

// Close stops every cluster's server, and removes the data directory if the fabric made it.
func (f *Fabric) Close() {
	f.mu.Lock()
	clusters := make([]*Cluster, 0, len(f.clusters))
	for _, c := range f.clusters {
		clusters = append(clusters, c)
	}
	f.mu.Unlock()
	for _, c := range clusters {
		c.stop()
	}
	// Under the lock, so that no request still running writes there meanwhile; what one
	// writes later fails, since content is made only under existing directories (makeTree).
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ownDataDir {
		_ = os.RemoveAll(f.dataDir) // a temporary directory: the system cleans what is left
		f.ownDataDir = false
	}
}

// DataDir is the directory that holds the volumes' content (Options.DataDir, or the
// temporary one the fabric made); empty until the first cluster is added.
func (f *Fabric) DataDir() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dataDir
}

// dirName is a cluster's name as one path segment: as it is, with "%" and "/" escaped as in a
// URL, and "", "." and ".." prefixed with "%".
func dirName(name string) string {
	name = strings.NewReplacer("%", "%25", "/", "%2F").Replace(name)
	if name == "" || name == "." || name == ".." {
		return "%" + name
	}
	return name
}

// clusterDir makes the directory of a cluster's content, and the data directory first if
// need be; callers hold mu.
func (f *Fabric) clusterDir(name string) (string, error) {
	if f.dataDir == "" {
		if f.opts.DataDir != "" {
			if err := os.MkdirAll(f.opts.DataDir, 0o755); err != nil {
				return "", fmt.Errorf("data directory: %w", err)
			}
			f.dataDir = f.opts.DataDir
		} else {
			dir, err := os.MkdirTemp("", "ontap-sim-data-")
			if err != nil {
				return "", fmt.Errorf("data directory: %w", err)
			}
			f.dataDir, f.ownDataDir = dir, true
		}
	}
	dir := filepath.Join(f.dataDir, dirName(name))
	// A data directory given again keeps what an earlier run left; volumes have new UUIDs.
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("data directory of cluster %s: %w", name, err)
	}
	return dir, nil
}

// Cluster returns the cluster of that name, or nil.
func (f *Fabric) Cluster(name string) *Cluster {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clusters[name]
}

// newUUID returns a fresh UUID-shaped identifier, unique in the fabric.
func (f *Fabric) newUUID() string {
	f.seq++
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", f.seq, uint16(b[0])<<8|uint16(b[1]), uint16(b[2])&0xfff, uint16(b[3])&0xfff, b)
}

// ClusterSpec describes a cluster to add.
type ClusterSpec struct {
	Name string
	// SVMs are the data SVMs; their names must be unique across the fabric.
	SVMs []string
	// Aggregates are assigned to every SVM; each has AggregateSize bytes (default 100 TiB).
	Aggregates    []string
	AggregateSize int64
	// Version is the ONTAP release the cluster reports, "generation.major.minor"; empty
	// means DefaultVersion (9.14.1).
	Version string
	// Nodes is how many nodes the cluster has, in HA pairs; 0 means 2 (one HA pair).
	Nodes int
	// Timezone is the cluster's time zone, an IANA name ("Europe/Berlin") or a UTC offset
	// ("+01:00"); ONTAP writes every date-time with the cluster's offset. Empty means UTC.
	Timezone string
	// MaxVolumeSize is the largest FlexVol the cluster creates, in bytes (default 100 TiB,
	// the common platform maximum).
	MaxVolumeSize int64
	// ISCSIDisabled are SVMs without an iSCSI service and without iSCSI data LIFs; every
	// other SVM has both (one iSCSI LIF per node).
	ISCSIDisabled []string
}

// defaultMaxVolumeSize is the common ONTAP platform maximum for a FlexVol.
const defaultMaxVolumeSize = 100 << 40

// location reads a ClusterSpec's Timezone.
func location(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	if t, err := time.Parse("-07:00", tz); err == nil {
		_, offset := t.Zone()
		return time.FixedZone(tz, offset), nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("cluster timezone %q: give an IANA name such as Europe/Berlin or an offset such as +01:00", tz)
	}
	return loc, nil
}

// AddCluster creates a cluster and starts its HTTPS server on 127.0.0.1, with a CA of its own.
func (f *Fabric) AddCluster(spec ClusterSpec) (*Cluster, error) {
	if err := checkSpec(spec); err != nil {
		return nil, err
	}
	loc, err := location(spec.Timezone)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if _, ok := f.clusters[spec.Name]; ok {
		f.mu.Unlock()
		return nil, fmt.Errorf("cluster %s exists", spec.Name)
	}
	dir, err := f.clusterDir(spec.Name)
	if err != nil {
		f.mu.Unlock()
		return nil, err
	}
	c := newCluster(f, spec, loc)
	c.dir = dir
	f.clusters[spec.Name] = c
	f.mu.Unlock()
	if err := c.start(); err != nil {
		return nil, err
	}
	return c, nil
}

// PeerSVMs peers two SVMs for SnapMirror (their clusters' peering is implied; the cluster
// peers listing is not modelled until a feature needs it).
func (f *Fabric) PeerSVMs(svmA, svmB string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, b := f.findSVM(svmA), f.findSVM(svmB)
	if a == nil || b == nil {
		return fmt.Errorf("peer %s with %s: no such SVM", svmA, svmB)
	}
	a.peers[b.name] = b
	b.peers[a.name] = a
	return nil
}

func (f *Fabric) findSVM(name string) *svm {
	for _, c := range f.clusters {
		if s, ok := c.svms[name]; ok {
			return s
		}
	}
	return nil
}

// sortedClusters returns the clusters in name order, for deterministic iteration.
func (f *Fabric) sortedClusters() []*Cluster {
	return sortedValues(f.clusters, func(c *Cluster) string { return c.name })
}

// clock is the simulated time: a base plus the real time elapsed (unless manual) plus
// whatever Advance added.
type clock struct {
	base, wall time.Time
	offset     time.Duration
	manual     bool
	rate       float64 // simulated per real time; 0 means 1
}

func (c *clock) now() time.Time {
	t := c.base.Add(c.offset)
	if !c.manual {
		t = t.Add(c.simulated(time.Since(c.wall)))
	}
	return t.Truncate(time.Millisecond)
}

// simulated is how much simulated time passes in real time d; real is the converse.
func (c *clock) simulated(d time.Duration) time.Duration {
	if c.rate <= 0 {
		return d
	}
	return time.Duration(float64(d) * c.rate)
}

func (c *clock) real(d time.Duration) time.Duration {
	if c.rate <= 0 {
		return d
	}
	return time.Duration(float64(d) / c.rate)
}

// newCertificate makes a CA and a server certificate for 127.0.0.1 and localhost signed by
// it, and returns the server's TLS certificate and the CA's PEM.
func newCertificate(cluster string) (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cluster + " simulated ONTAP CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cluster},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, caPEM, nil
}
