// Command bench is `make bench`: it measures snapmirror-csi at scale against the physical
// limit that ONTAP's management plane sets. The real CSI driver, the real controllers and the
// real ONTAP client run in this process against a real API server and the simulator, which runs
// as its own process (cmd/ontap-sim) with a per-request latency and a concurrency cap, so that
// the process's peak RSS is the controller's.
//
// For each phase it prints, and writes as JSON: wall time, ONTAP REST calls (in total and per
// object, from the simulator's counters), p50 and p99 per-object latency, peak RSS, and the
// floor: the fewest ONTAP mutations the phase needs per object x N x latency / cap, with the
// ratio of the wall time to it.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	"github.com/snapmirror-csi/snapmirror-csi/frontend"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/controlplane"
)

type config struct {
	n, memoryN, cap, workers int
	latency, recheck         time.Duration
	jsonOut                  string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.n, "n", 1000, "mirrored pairs")
	flag.DurationVar(&cfg.latency, "latency", 20*time.Millisecond, "the simulator's latency per ONTAP request")
	flag.IntVar(&cfg.cap, "cap", 10, "requests each simulated cluster works on at once (and the client's cap)")
	flag.IntVar(&cfg.workers, "workers", 16, "concurrent reconciles")
	flag.DurationVar(&cfg.recheck, "recheck", 10*time.Second, "re-check interval of settled relationships")
	flag.IntVar(&cfg.memoryN, "memory-n", 10000, "TMRs of the memory phase; 0 skips it")
	flag.StringVar(&cfg.jsonOut, "json", "bin/bench.json", "where to write the results")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
}

// result is one phase's figures.
type result struct {
	Phase          string  `json:"phase"`
	Objects        int     `json:"objects"`
	WallSeconds    float64 `json:"wall_seconds"`
	Calls          int     `json:"rest_calls"`
	CallsPerObject float64 `json:"rest_calls_per_object"`
	P50Seconds     float64 `json:"p50_seconds"`
	P99Seconds     float64 `json:"p99_seconds"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
	FloorSeconds   float64 `json:"floor_seconds"`
	RatioToFloor   float64 `json:"ratio_to_floor"`
	Note           string  `json:"note,omitempty"`
}

type bench struct {
	cfg                config
	cp                 *controlplane.ControlPlane
	sim                *simProcess
	primary, secondary *ontap.Backend
	srcDriver, dstDrv  *csi.Driver
	mirrors            *mapMirrors
	results            []result
	ns                 string
}

func run(cfg config) (err error) {
	b := &bench{cfg: cfg, mirrors: &mapMirrors{m: map[string]*csi.MirrorTarget{}}}
	fmt.Printf("snapmirror-csi benchmark: N=%d, latency %s, cap %d, %d workers, re-check %s\n\n", cfg.n, cfg.latency, cfg.cap, cfg.workers, cfg.recheck)
	if b.sim, err = startSim(cfg); err != nil {
		return err
	}
	defer b.sim.stop()
	if b.cp, err = controlplane.Start(); err != nil {
		return err
	}
	defer b.cp.Stop()
	// Interrupted, it still stops the simulator and the control plane.
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-interrupted
		b.sim.stop()
		b.cp.Stop()
		os.Exit(130)
	}()
	if err := b.setup(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.startManager(ctx); err != nil {
		return err
	}
	phases := []func(context.Context) error{b.provision, b.establish, b.steady, b.failover, b.reestablish, b.update}
	if cfg.memoryN > 0 {
		phases = append(phases, b.memory)
	}
	printHeader()
	for _, p := range phases {
		if err := p(ctx); err != nil {
			return err
		}
		printRow(b.results[len(b.results)-1])
	}
	if err := os.MkdirAll(filepath.Dir(cfg.jsonOut), 0o755); err == nil {
		data, _ := json.MarshalIndent(map[string]any{
			"n": cfg.n, "latency_ms": cfg.latency.Milliseconds(), "cap": cfg.cap, "workers": cfg.workers,
			"recheck_seconds": cfg.recheck.Seconds(), "phases": b.results,
		}, "", "  ")
		if err := os.WriteFile(cfg.jsonOut, data, 0o644); err == nil {
			fmt.Printf("\nwritten to %s\n", cfg.jsonOut)
		}
	}
	return nil
}

func printHeader() {
	fmt.Printf("%-13s %7s %9s %8s %9s %8s %8s %9s %9s %7s\n", "phase", "objects", "wall", "calls", "calls/obj", "p50", "p99", "RSS MiB", "floor", "x floor")
}

func printRow(r result) {
	fmt.Printf("%-13s %7d %8.2fs %8d %9.2f %7.2fs %7.2fs %9.1f %8.2fs %7.2f", r.Phase, r.Objects, r.WallSeconds, r.Calls, r.CallsPerObject,
		r.P50Seconds, r.P99Seconds, r.PeakRSSMiB, r.FloorSeconds, r.RatioToFloor)
	if r.Note != "" {
		fmt.Printf("  %s", r.Note)
	}
	fmt.Println()
}

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
	vols := frontend.Volumes{Client: mgr.GetClient(), DriverName: csi.DefaultDriverName, Backends: map[string]*ontap.Backend{"secondary": b.secondary}}
	events := mgr.GetEventRecorder("snapmirror-csi")
	for _, r := range []interface{ SetupWithManager(ctrl.Manager) error }{
		&frontend.TMRReconciler{Client: mgr.GetClient(), Events: events, Volumes: vols, Recheck: b.cfg.recheck,
			Cache: &mirror.Cache{MaxAge: b.cfg.recheck}, MaxConcurrentReconciles: b.cfg.workers},
		&frontend.TAMUReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Events: events, Volumes: vols, MaxConcurrentReconciles: b.cfg.workers, Poll: 200 * time.Millisecond},
	} {
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
	}
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

func name(kind string, i int) string { return fmt.Sprintf("pvc-%s-%05d", kind, i) }

// parallel runs f for 0..n-1 on 32 goroutines and returns each call's duration.
func parallel(n int, f func(i int) error) ([]time.Duration, error) {
	durs := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				start := time.Now()
				errs[i] = f(i)
				durs[i] = time.Since(start)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return durs, errors.Join(errs...)
}

func req(pv, pvc string, replication bool) *csispec.CreateVolumeRequest {
	params := map[string]string{"csi.storage.k8s.io/pvc/name": pvc, "csi.storage.k8s.io/pvc/namespace": "bench"}
	if replication {
		params["trident.netapp.io/replication"] = "true"
	}
	return &csispec.CreateVolumeRequest{
		Name: pv, CapacityRange: &csispec.CapacityRange{RequiredBytes: 1 << 30}, Parameters: params,
		VolumeCapabilities: []*csispec.VolumeCapability{{AccessType: &csispec.VolumeCapability_Mount{Mount: &csispec.VolumeCapability_MountVolume{}}, AccessMode: &csispec.VolumeCapability_AccessMode{Mode: csispec.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER}}},
	}
}

// provision creates N source volumes and N DP destinations through CSI CreateVolume, and the
// destinations' PVs and bound PVCs.
func (b *bench) provision(ctx context.Context) error {
	n := b.cfg.n
	for i := range n {
		b.mirrors.set(fmt.Sprintf("dst-%05d", i), &csi.MirrorTarget{Relationship: fmt.Sprintf("m-%05d", i), RemoteVolumeHandle: "datavserver:trident_" + strings.ReplaceAll(name("src", i), "-", "_")})
	}
	b.sim.reset()
	start := time.Now()
	durs, err := parallel(2*n, func(i int) error {
		if i%2 == 0 {
			_, err := b.srcDriver.CreateVolume(ctx, req(name("src", i/2), fmt.Sprintf("src-%05d", i/2), true))
			return err
		}
		_, err := b.dstDrv.CreateVolume(ctx, req(name("dst", i/2), fmt.Sprintf("dst-%05d", i/2), false))
		return err
	})
	if err != nil {
		return err
	}
	b.record("provision", 2*n, time.Since(start), durs, 1, "CreateVolume, sources and DP destinations")
	// The destinations' PVs and bound PVCs, as the provisioner and the PV controller make them.
	_, err = parallel(n, func(i int) error { return b.bind(ctx, name("dst", i), fmt.Sprintf("dst-%05d", i)) })
	return err
}

// bind makes a volume's PV and its bound PVC, as the provisioner and the PV controller do.
func (b *bench) bind(ctx context.Context, pvName, pvcName string) error {
	vol := "trident_" + strings.ReplaceAll(pvName, "-", "_")
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			ClaimRef: &corev1.ObjectReference{Namespace: b.ns, Name: pvcName},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: csi.DefaultDriverName, VolumeHandle: pvName,
				VolumeAttributes: map[string]string{"backend": "secondary", "svm": "drvserver", "internalName": vol}}},
		},
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: pvcName, Namespace: b.ns},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}, VolumeName: pvName,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	}
	if err := b.cp.Client.Create(ctx, pv); err != nil {
		return err
	}
	if err := b.cp.Client.Create(ctx, pvc); err != nil {
		return err
	}
	pvc.Status.Phase = corev1.ClaimBound
	return b.cp.Client.Status().Update(ctx, pvc)
}

// establish creates N TMRs in state established and waits for them all.
func (b *bench) establish(ctx context.Context) error {
	return b.transition(ctx, "establish", 2, func(i int) error {
		return b.cp.Client.Create(ctx, &tridentv1.TridentMirrorRelationship{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m-%05d", i), Namespace: b.ns},
			Spec: tridentv1.TridentMirrorRelationshipSpec{State: tridentv1.MirrorStateEstablished, VolumeMappings: []tridentv1.VolumeMapping{{
				LocalPVCName: fmt.Sprintf("dst-%05d", i), RemoteVolumeHandle: "datavserver:trident_" + strings.ReplaceAll(name("src", i), "-", "_")}}},
		})
	}, tridentv1.MirrorStateEstablished, "create + initialize")
}

func (b *bench) failover(ctx context.Context) error {
	return b.transition(ctx, "failover", 2, b.setState(ctx, tridentv1.MirrorStatePromoted), tridentv1.MirrorStatePromoted, "quiesce + break")
}

func (b *bench) reestablish(ctx context.Context) error {
	return b.transition(ctx, "reestablish", 1, b.setState(ctx, tridentv1.MirrorStateReestablished), tridentv1.MirrorStateReestablished, "resync")
}

func (b *bench) setState(ctx context.Context, state tridentv1.MirrorState) func(int) error {
	return func(i int) error {
		t := &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m-%05d", i), Namespace: b.ns}}
		patch := fmt.Sprintf(`{"spec":{"state":%q}}`, state)
		return b.cp.Client.Patch(ctx, t, client.RawPatch("application/merge-patch+json", []byte(patch)))
	}
}

// transition starts a change on every TMR and measures until each reports state.
func (b *bench) transition(ctx context.Context, phase string, floorCalls int, change func(int) error, state tridentv1.MirrorState, what string) error {
	n := b.cfg.n
	b.sim.reset()
	start := time.Now()
	started := make([]time.Time, n)
	if _, err := parallel(n, func(i int) error { started[i] = time.Now(); return change(i) }); err != nil {
		return err
	}
	durs, last, err := waitAll(ctx, start, started, func() (map[int]bool, error) {
		var list tridentv1.TridentMirrorRelationshipList
		if err := b.cp.Client.List(ctx, &list, client.InNamespace(b.ns)); err != nil {
			return nil, err
		}
		done := map[int]bool{}
		for _, t := range list.Items {
			var i int
			fmt.Sscanf(t.Name, "m-%05d", &i)
			c := t.Status.Conditions
			done[i] = len(c) == 1 && c[0].State == state && c[0].ObservedGeneration == t.Generation
		}
		return done, nil
	})
	if err != nil {
		return fmt.Errorf("%s: TMRs reaching %s: %w", phase, state, err)
	}
	b.record(phase, n, last.Sub(start), durs, floorCalls, what)
	return nil
}

// waitAll polls done until all of the started objects are done, and returns each one's time
// from its start to when it was first seen done, and when the last one was.
func waitAll(ctx context.Context, start time.Time, started []time.Time, done func() (map[int]bool, error)) ([]time.Duration, time.Time, error) {
	n := len(started)
	reached := make([]time.Time, n)
	left := n
	for left > 0 {
		seen, err := done()
		if err != nil {
			return nil, start, err
		}
		now := time.Now()
		for i, ok := range seen {
			if ok && i < n && reached[i].IsZero() {
				reached[i] = now
				left--
			}
		}
		if time.Since(start) > 10*time.Minute {
			return nil, start, fmt.Errorf("%d of %d not done after 10 minutes", left, n)
		}
		select {
		case <-ctx.Done():
			return nil, start, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	durs := make([]time.Duration, n)
	last := start
	for i := range n {
		durs[i] = reached[i].Sub(started[i])
		if reached[i].After(last) {
			last = reached[i]
		}
	}
	return durs, last, nil
}

// steady holds the settled state for three re-check intervals and counts list calls.
func (b *bench) steady(ctx context.Context) error {
	b.sim.reset()
	start := time.Now()
	time.Sleep(3 * b.cfg.recheck)
	counts := b.sim.requests()
	lists := counts["secondary"]["GET /snapmirror/relationships"]
	total := counts["secondary"]["total"] + counts["primary"]["total"]
	r := result{Phase: "steady", Objects: b.cfg.n, WallSeconds: time.Since(start).Seconds(), Calls: total, CallsPerObject: float64(total) / float64(b.cfg.n), PeakRSSMiB: peakRSS(),
		Note: fmt.Sprintf("%.1f relationship lists per cluster per interval (target <= 2)", float64(lists)/3)}
	b.results = append(b.results, r)
	return nil
}

// update runs N TridentActionMirrorUpdates and waits for them all.
func (b *bench) update(ctx context.Context) error {
	n := b.cfg.n
	b.sim.reset()
	start := time.Now()
	started := make([]time.Time, n)
	if _, err := parallel(n, func(i int) error {
		started[i] = time.Now()
		return b.cp.Client.Create(ctx, &tridentv1.TridentActionMirrorUpdate{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("u-%05d", i), Namespace: b.ns},
			Spec:       tridentv1.TridentActionMirrorUpdateSpec{TridentMirrorRelationshipName: fmt.Sprintf("m-%05d", i)},
		})
	}); err != nil {
		return err
	}
	durs, last, err := waitAll(ctx, start, started, func() (map[int]bool, error) {
		var list tridentv1.TridentActionMirrorUpdateList
		if err := b.cp.Client.List(ctx, &list, client.InNamespace(b.ns)); err != nil {
			return nil, err
		}
		done := map[int]bool{}
		for _, t := range list.Items {
			var i int
			fmt.Sscanf(t.Name, "u-%05d", &i)
			if t.Status.State == tridentv1.ActionStateFailed {
				return nil, fmt.Errorf("update %s failed: %s", t.Name, t.Status.Message)
			}
			done[i] = t.Status.State == tridentv1.ActionStateSucceeded
		}
		return done, nil
	})
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	b.record("update", n, last.Sub(start), durs, 1, "TAMU: one transfer each")
	return nil
}

// memory adds TMRs, up to memoryN, on read-write volumes made without latency, and reports the
// process's peak RSS once they are all settled.
func (b *bench) memory(ctx context.Context) error {
	m := b.cfg.memoryN
	b.sim.setLatency(0)
	start := time.Now()
	_, err := parallel(m, func(i int) error {
		pv := name("mem", i)
		if _, err := b.dstDrv.CreateVolume(ctx, req(pv, "mem", false)); err != nil {
			return err
		}
		pvc := fmt.Sprintf("mem-%05d", i)
		if err := b.bind(ctx, pv, pvc); err != nil {
			return err
		}
		return b.cp.Client.Create(ctx, &tridentv1.TridentMirrorRelationship{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("x-%05d", i), Namespace: b.ns},
			Spec:       tridentv1.TridentMirrorRelationshipSpec{State: tridentv1.MirrorStatePromoted, VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: pvc}}},
		})
	})
	if err != nil {
		return err
	}
	for {
		var list tridentv1.TridentMirrorRelationshipList
		if err := b.cp.Client.List(ctx, &list, client.InNamespace(b.ns)); err != nil {
			return err
		}
		settled := 0
		for _, t := range list.Items {
			if len(t.Status.Conditions) == 1 && t.Status.Conditions[0].State == t.Spec.State {
				settled++
			}
		}
		if settled == len(list.Items) {
			break
		}
		if time.Since(start) > 15*time.Minute {
			return fmt.Errorf("memory: %d of %d TMRs settled", settled, len(list.Items))
		}
		time.Sleep(time.Second)
	}
	time.Sleep(b.cfg.recheck) // one re-check round
	runtime.GC()
	debug.FreeOSMemory()
	b.results = append(b.results, result{Phase: "memory", Objects: m + b.cfg.n, WallSeconds: time.Since(start).Seconds(), PeakRSSMiB: peakRSS(),
		Note: fmt.Sprintf("all TMRs settled and re-checked: RSS now %.0f MiB (target <= 200); the peak includes this harness creating %d objects at once", currentRSS(), 4*m)})
	return nil
}

// currentRSS is the process's resident set now, from /proc/self/statm.
func currentRSS() float64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	fmt.Sscan(string(data), &size, &resident)
	return float64(resident*int64(os.Getpagesize())) / (1 << 20)
}

// record adds a phase's figures.
func (b *bench) record(phase string, n int, wall time.Duration, durs []time.Duration, floorCalls int, what string) {
	counts := b.sim.requests()
	calls := counts["primary"]["total"] + counts["secondary"]["total"]
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	floor := float64(floorCalls*n) * b.cfg.latency.Seconds() / float64(b.cfg.cap)
	b.results = append(b.results, result{
		Phase: phase, Objects: n, WallSeconds: wall.Seconds(), Calls: calls, CallsPerObject: float64(calls) / float64(n),
		P50Seconds: durs[len(durs)/2].Seconds(), P99Seconds: durs[len(durs)*99/100].Seconds(), PeakRSSMiB: peakRSS(),
		FloorSeconds: floor, RatioToFloor: wall.Seconds() / floor, Note: fmt.Sprintf("floor: %d mutation(s)/object (%s)", floorCalls, what),
	})
}

func peakRSS() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
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
	s.cmd = exec.Command(bin, "-topology", filepath.Join(dir, "topology.yaml"), "-ca-dir", dir, "-json")
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
	out := map[string]map[string]int{}
	for _, c := range s.clusters {
		body, err := s.side("GET", c.Name, "/sim/requests")
		m := map[string]int{}
		if err == nil {
			json.Unmarshal(body, &m)
		}
		out[c.Name] = m
	}
	return out
}

func (s *simProcess) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
	}
}
