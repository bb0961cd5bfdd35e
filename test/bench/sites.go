package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
	"github.com/snapmirror-csi/snapmirror-csi/frontend"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/controlplane"
)

// setup opens the backends and the CSI drivers.
func (b *bench) setup() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return err
	}
	os.WriteFile(filepath.Join(dir, "username"), []byte("admin"), 0o600)
	os.WriteFile(filepath.Join(dir, "password"), []byte(b.sim.password), 0o600)
	var cfgs []ontap.BackendConfig
	for _, c := range b.sim.clusters {
		svm := map[string]string{"primary": "datavserver", "secondary": "drvserver"}[c.Name]
		cfgs = append(cfgs, ontap.BackendConfig{
			Name: c.Name, Driver: ontap.DriverNAS, ManagementLIF: c.Address, SVM: svm, Aggregates: []string{"aggr1"},
			CAFile: c.CA, Credentials: ontap.CredentialsRef{File: dir}, ReplicationPolicy: "MirrorAllSnapshots",
			MaxConcurrentRequests: b.cfg.cap,
		})
	}
	backends, err := ontap.OpenBackends(ctx, &ontap.DriverConfig{Backends: cfgs}, ontap.OpenOptions{})
	if err != nil {
		return err
	}
	b.primary, b.secondary = backends[0], backends[1]
	// The secondary site reads the primary's SVM as a peer, to detect split brain.
	p := b.sim.clusters[0]
	if b.peers, err = ontap.OpenPeers(&ontap.DriverConfig{Peers: []ontap.PeerConfig{{
		Name: "primary-site", ManagementLIF: p.Address, SVM: "datavserver", CAFile: p.CA, Credentials: ontap.CredentialsRef{File: dir},
	}}}, ontap.OpenOptions{}); err != nil {
		return err
	}
	if b.srcDriver, err = csi.NewDriver(csi.Config{Backends: backends[:1], Log: logr.Discard()}); err != nil {
		return err
	}
	if b.dstDrv, err = csi.NewDriver(csi.Config{Backends: backends[1:], Mirrors: b.mirrors, Log: logr.Discard()}); err != nil {
		return err
	}
	b.ns = "bench"
	return b.cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}})
}

func (b *bench) startManager(ctx context.Context) error {
	restCfg := rest.CopyConfig(b.cp.Config())
	restCfg.QPS, restCfg.Burst = 500, 1000 // as --kube-api-qps and --kube-api-burst would set
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme: b.cp.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: b.cacheOptions(),
	})
	if err != nil {
		return err
	}
	vols := frontend.Volumes{Client: mgr.GetClient(), DriverName: csi.DefaultDriverName, Backends: map[string]*ontap.Backend{"secondary": b.secondary}, Peers: b.peers}
	events := mgr.GetEventRecorder("snapmirror-csi")
	// The TMR metrics are kept as the driver keeps them, so that their memory is measured.
	metrics, err := frontend.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	for _, r := range []interface{ SetupWithManager(ctrl.Manager) error }{
		&frontend.TMRReconciler{Client: mgr.GetClient(), Events: events, Volumes: vols, Recheck: b.cfg.recheck,
			Cache: &mirror.Cache{MaxAge: b.cfg.recheck}, MaxConcurrentReconciles: b.cfg.workers, Metrics: metrics},
		&frontend.TAMUReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Events: events, Volumes: vols, MaxConcurrentReconciles: b.cfg.workers, Poll: 200 * time.Millisecond},
	} {
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	b.watched = mgr.GetCache()
	go mgr.Start(ctx)
	// Phases are timed from the first change: the controllers must be running by then.
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.New("the manager's cache did not sync")
	}
	time.Sleep(time.Second)
	return nil
}

// cacheOptions are the driver's cache options, limited to the bench's namespace.
func (b *bench) cacheOptions() cache.Options {
	opts := frontend.CacheOptions()
	opts.DefaultNamespaces = map[string]cache.Config{b.ns: {}}
	return opts
}

// mapMirrors is the CSI driver's view of the destinations' TMRs, for provisioning.
type mapMirrors struct {
	mu sync.Mutex
	m  map[string]*csi.MirrorTarget
}

func (m *mapMirrors) set(pvc string, t *csi.MirrorTarget) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[pvc] = t
}

func (m *mapMirrors) DestinationOf(_ context.Context, _, pvc string) (*csi.MirrorTarget, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[pvc], nil
}

// realisticTopology is sim.RealisticTimings as topology keys.
func realisticTopology() string {
	r := sim.RealisticTimings()
	d := r.JobDurations
	return fmt.Sprintf("jobDurations: {queued: %s, volumeCreate: %s, volumeModify: %s, volumeDelete: %s, snapshotCreate: %s, snapshotDelete: %s, relationshipCreate: %s, relationshipModify: %s, relationshipDelete: %s}\n"+
		"transferSetup: %s\ntransferRate: %d\nabortDelay: %s\n",
		d.Queued, d.VolumeCreate, d.VolumeModify, d.VolumeDelete, d.SnapshotCreate, d.SnapshotDelete, d.RelationshipCreate, d.RelationshipModify, d.RelationshipDelete,
		r.TransferSetup, r.TransferRate, r.AbortDelay)
}

// simProcess is cmd/ontap-sim running a two-cluster topology.
type simProcess struct {
	cmd      *exec.Cmd
	password string
	clusters []struct{ Name, Address, CA string }
	http     *http.Client
}

func startSim(cfg config) (*simProcess, error) {
	dir, err := os.MkdirTemp("", "bench-sim-")
	if err != nil {
		return nil, err
	}
	s := &simProcess{password: "bench-pw"}
	os.WriteFile(filepath.Join(dir, "password"), []byte(s.password), 0o600)
	topo := fmt.Sprintf("credentials: {username: admin, passwordFile: password}\nlatency: %s\nmaxConcurrent: %d\n"+
		"clusters:\n- {name: primary, svms: [datavserver], aggregates: [aggr1]}\n- {name: secondary, svms: [drvserver], aggregates: [aggr1]}\n"+
		"peers:\n- [datavserver, drvserver]\n", cfg.latency, cfg.cap)
	if !cfg.instant {
		topo += realisticTopology()
	}
	os.WriteFile(filepath.Join(dir, "topology.yaml"), []byte(topo), 0o600)
	bin := filepath.Join(dir, "ontap-sim")
	root, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	build := exec.Command("go", "build", "-o", bin, "./cmd/ontap-sim")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build ontap-sim: %w: %s", err, out)
	}
	args := []string{"-topology", filepath.Join(dir, "topology.yaml"), "-ca-dir", dir, "-json"}
	if cfg.simCPUProfile != "" {
		args = append(args, "-cpuprofile", cfg.simCPUProfile)
	}
	s.cmd = exec.Command(bin, args...)
	var out bytes.Buffer
	s.cmd.Stdout = &out
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; out.Len() == 0 && i < 200; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if err := json.NewDecoder(&out).Decode(&s.clusters); err != nil {
		s.stop()
		return nil, fmt.Errorf("ontap-sim did not report its clusters: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range s.clusters {
		ca, _ := os.ReadFile(c.CA)
		pool.AppendCertsFromPEM(ca)
	}
	s.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return s, nil
}

func (s *simProcess) side(method, cluster, path string) ([]byte, error) {
	for _, c := range s.clusters {
		if c.Name != cluster {
			continue
		}
		r, _ := http.NewRequest(method, "https://"+c.Address+path, nil)
		r.SetBasicAuth("admin", s.password)
		resp, err := s.http.Do(r)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	return nil, fmt.Errorf("no cluster %s", cluster)
}

// setDown takes a cluster off the network, or brings it back, through the other cluster's
// side API (a cluster that is down does not answer its own).
func (s *simProcess) setDown(cluster string, down bool) error {
	action := map[bool]string{true: "down", false: "up"}[down]
	for _, c := range s.clusters {
		if c.Name != cluster {
			_, err := s.side("POST", c.Name, "/sim/clusters/"+cluster+"/"+action)
			return err
		}
	}
	return fmt.Errorf("no cluster besides %s", cluster)
}

func (s *simProcess) reset() {
	for _, c := range s.clusters {
		s.side("DELETE", c.Name, "/sim/requests")
	}
}

func (s *simProcess) setLatency(d time.Duration) {
	for _, c := range s.clusters {
		s.side("POST", c.Name, "/sim/latency?d="+d.String())
	}
}

func (s *simProcess) requests() map[string]map[string]int {
	return perCluster[map[string]int](s, "/sim/requests")
}

// work returns each cluster's jobs and transfers since the counters were reset.
func (s *simProcess) work() map[string]sim.Work { return perCluster[sim.Work](s, "/sim/work") }

// perCluster reads a side API path of every cluster; a cluster that cannot be read gets the
// zero value.
func perCluster[T any](s *simProcess, path string) map[string]T {
	out := map[string]T{}
	for _, c := range s.clusters {
		var v T
		if body, err := s.side("GET", c.Name, path); err == nil {
			json.Unmarshal(body, &v)
		}
		out[c.Name] = v
	}
	return out
}

func (s *simProcess) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
	}
}
