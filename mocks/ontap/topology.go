package ontap

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Topology is a fabric described in YAML, for cmd/ontap-sim, the demo and end-to-end tests:
//
//	credentials: {username: admin, passwordFile: ./password}
//	latency: 20ms
//	clusters:
//	- name: primary
//	  svms: [svm1]
//	  aggregates: [aggr1]
//	  timezone: Europe/Berlin
//	  maxVolumeSize: 109951162777600
//	  iscsiDisabled: []      # SVMs without iSCSI; default: every SVM serves it
//	peers:
//	- [svm1, svm2]
type Topology struct {
	Credentials struct {
		Username string `json:"username"`
		// PasswordFile holds the password; relative paths are from the topology file.
		PasswordFile string `json:"passwordFile"`
	} `json:"credentials"`
	// Latency, JobDuration: Go durations such as "20ms".
	Latency       string `json:"latency"`
	JobDuration   string `json:"jobDuration"`
	MaxConcurrent int    `json:"maxConcurrent"`
	TransferRate  int64  `json:"transferRate"`
	// JobDurations are durations by kind of job (Options.JobDurations), keyed queued,
	// volumeCreate, volumeModify, volumeDelete, snapshotCreate, snapshotDelete,
	// relationshipCreate, relationshipModify, relationshipDelete, lunCreate, lunModify,
	// lunDelete; TransferSetup and
	// AbortDelay are durations too; ClockRate is Options.ClockRate.
	JobDurations  map[string]string `json:"jobDurations"`
	TransferSetup string            `json:"transferSetup"`
	AbortDelay    string            `json:"abortDelay"`
	ClockRate     float64           `json:"clockRate"`
	Clusters      []struct {
		Name          string   `json:"name"`
		SVMs          []string `json:"svms"`
		Aggregates    []string `json:"aggregates"`
		AggregateSize int64    `json:"aggregateSize"`
		Version       string   `json:"version"`
		Nodes         int      `json:"nodes"`
		// Timezone: an IANA name ("Europe/Berlin") or an offset ("+01:00"); default UTC.
		Timezone string `json:"timezone"`
		// MaxVolumeSize: the largest FlexVol in bytes; default 100 TiB.
		MaxVolumeSize int64 `json:"maxVolumeSize"`
		// ISCSIDisabled: SVMs without an iSCSI service or iSCSI LIFs; the others have both.
		ISCSIDisabled []string `json:"iscsiDisabled"`
	} `json:"clusters"`
	// Peers are pairs of SVM names to peer for SnapMirror.
	Peers [][]string `json:"peers"`
	// DataDir is where volumes keep their content (Options.DataDir); empty means a temporary
	// directory that the fabric's Close removes.
	DataDir string `json:"dataDir,omitempty"`
}

// LoadTopology reads and checks a topology file.
func LoadTopology(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Topology
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	if len(t.Clusters) == 0 {
		return nil, fmt.Errorf("topology %s: clusters: give at least one cluster", path)
	}
	if t.Credentials.PasswordFile != "" && !strings.HasPrefix(t.Credentials.PasswordFile, "/") {
		t.Credentials.PasswordFile = pathBeside(path, t.Credentials.PasswordFile)
	}
	return &t, nil
}

func pathBeside(file, rel string) string {
	if i := strings.LastIndex(file, "/"); i >= 0 {
		return file[:i+1] + rel
	}
	return rel
}

// Start builds the fabric the topology describes and starts its clusters.
func (t *Topology) Start() (*Fabric, error) {
	opts := Options{Username: t.Credentials.Username, MaxConcurrent: t.MaxConcurrent, TransferRate: t.TransferRate, ClockRate: t.ClockRate, DataDir: t.DataDir}
	if t.Credentials.PasswordFile != "" {
		b, err := os.ReadFile(t.Credentials.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("credentials.passwordFile: %w", err)
		}
		opts.Password = strings.TrimSpace(string(b))
	}
	if (opts.Username == "") != (opts.Password == "") {
		return nil, errors.New("credentials: give both username and passwordFile, or neither")
	}
	durations := map[string]struct {
		in  string
		out *time.Duration
	}{"latency": {t.Latency, &opts.Latency}, "jobDuration": {t.JobDuration, &opts.JobDuration},
		"transferSetup": {t.TransferSetup, &opts.TransferSetup}, "abortDelay": {t.AbortDelay, &opts.AbortDelay}}
	kinds := opts.JobDurations.byKey()
	for key, in := range t.JobDurations {
		out, known := kinds[key]
		if !known {
			return nil, fmt.Errorf("jobDurations: unknown key %q", key)
		}
		durations["jobDurations."+key] = struct {
			in  string
			out *time.Duration
		}{in, out}
	}
	for field, s := range durations {
		if s.in == "" {
			continue
		}
		d, err := time.ParseDuration(s.in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		*s.out = d
	}
	f := NewFabric(opts)
	for _, c := range t.Clusters {
		if _, err := f.AddCluster(ClusterSpec{
			Name: c.Name, SVMs: c.SVMs, Aggregates: c.Aggregates, AggregateSize: c.AggregateSize,
			Version: c.Version, Nodes: c.Nodes, Timezone: c.Timezone, MaxVolumeSize: c.MaxVolumeSize,
			ISCSIDisabled: c.ISCSIDisabled,
		}); err != nil {
			f.Close()
			return nil, err
		}
	}
	for _, p := range t.Peers {
		if len(p) != 2 {
			f.Close()
			return nil, fmt.Errorf("peers: each entry is a pair of SVM names, got %v", p)
		}
		if err := f.PeerSVMs(p[0], p[1]); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// Clusters returns the fabric's clusters in name order.
func (f *Fabric) Clusters() []*Cluster {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sortedClusters()
}
