package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

func name(kind string, i int) string { return fmt.Sprintf("pvc-%s-%05d", kind, i) }

// parallel runs f for 0..n-1 on 32 goroutines and returns each call's duration.
func parallel(n int, f func(i int) error) ([]time.Duration, error) { return parallelBy(32, n, f) }

// provisioners is how many CreateVolume calls are in flight at once: external-provisioner's
// default --worker-threads.
const provisioners = 100

// parallelBy runs f for 0..n-1 on the given number of goroutines and returns each call's
// duration.
func parallelBy(goroutines, n int, f func(i int) error) ([]time.Duration, error) {
	durs := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range goroutines {
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
	b.begin()
	start := time.Now()
	durs, err := parallelBy(provisioners, 2*n, func(i int) error {
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
	b.record("provision", 2*n, time.Since(start), durs)
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
	return b.transition(ctx, "establish", func(i int) error {
		return b.cp.Client.Create(ctx, &tridentv1.TridentMirrorRelationship{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m-%05d", i), Namespace: b.ns},
			Spec: tridentv1.TridentMirrorRelationshipSpec{State: tridentv1.MirrorStateEstablished, VolumeMappings: []tridentv1.VolumeMapping{{
				LocalPVCName: fmt.Sprintf("dst-%05d", i), RemoteVolumeHandle: "datavserver:trident_" + strings.ReplaceAll(name("src", i), "-", "_")}}},
		})
	}, tridentv1.MirrorStateEstablished)
}

// failover is the disaster: the source cluster is down, refusing connections, from before
// the N TMRs are set to promoted until the last one is, and its volume read-write. The source
// comes back afterwards, its volumes still read-write: the steady phase that follows sees
// every pair broken off, with both copies on line.
func (b *bench) failover(ctx context.Context) error {
	if err := b.sim.setDown("primary", true); err != nil {
		return err
	}
	if b.cfg.cpuProfile != "" {
		f, err := os.Create(b.cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	err := b.transition(ctx, "failover", b.setState(ctx, tridentv1.MirrorStatePromoted), tridentv1.MirrorStatePromoted)
	if err == nil {
		err = b.writable(ctx)
	}
	return errors.Join(err, b.sim.setDown("primary", false))
}

// writable checks that every destination is now a read-write volume.
func (b *bench) writable(ctx context.Context) error {
	vols, err := b.secondary.Client.ListVolumes(ctx, "drvserver", "trident_pvc_dst_*")
	if err != nil {
		return err
	}
	rw := 0
	for _, v := range vols {
		if v.Type == ontap.VolumeRW {
			rw++
		}
	}
	if rw != b.cfg.n {
		return fmt.Errorf("failover: %d of %d destinations read-write", rw, b.cfg.n)
	}
	return nil
}

func (b *bench) reestablish(ctx context.Context) error {
	return b.transition(ctx, "reestablish", b.setState(ctx, tridentv1.MirrorStateReestablished), tridentv1.MirrorStateReestablished)
}

func (b *bench) setState(ctx context.Context, state tridentv1.MirrorState) func(int) error {
	return func(i int) error {
		t := &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m-%05d", i), Namespace: b.ns}}
		patch := fmt.Sprintf(`{"spec":{"state":%q}}`, state)
		return b.cp.Client.Patch(ctx, t, client.RawPatch("application/merge-patch+json", []byte(patch)))
	}
}

// transition starts a change on every TMR and measures until each reports state.
func (b *bench) transition(ctx context.Context, phase string, change func(int) error, state tridentv1.MirrorState) error {
	n := b.cfg.n
	b.begin()
	start := time.Now()
	started := make([]time.Time, n)
	if _, err := parallel(n, func(i int) error { started[i] = time.Now(); return change(i) }); err != nil {
		return err
	}
	durs, last, err := waitAll(ctx, start, started, func() (map[int]bool, error) {
		var list tridentv1.TridentMirrorRelationshipList
		if err := b.watched.List(ctx, &list, client.InNamespace(b.ns), client.UnsafeDisableDeepCopy); err != nil {
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
	b.record(phase, n, last.Sub(start), durs)
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

// steadyMirrored and steadyPromoted hold the settled state for three re-check intervals,
// before and after the failover, and count the list calls each cluster serves. After the
// failover every relationship is broken off and the split-brain check reads both sites.
func (b *bench) steadyMirrored(ctx context.Context) error { return b.steady(ctx, "steady") }
func (b *bench) steadyPromoted(ctx context.Context) error {
	return b.steady(ctx, "steady-promoted")
}

func (b *bench) steady(ctx context.Context, phase string) error {
	// The first interval is left out, and, after the failover, the minute a peer that did not
	// answer may rest: in them, each pair newly broken off is measured once.
	warmUp := b.cfg.recheck
	if phase != "steady" {
		warmUp += ontap.PeerMaxRest
	}
	for i, window := range []time.Duration{warmUp, 3 * b.cfg.recheck} {
		if i == 1 {
			b.begin()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(window):
		}
	}
	start := time.Now().Add(-3 * b.cfg.recheck)
	counts := b.sim.requests()
	total, worst := 0, 0.0
	var per []string
	for _, c := range b.sim.clusters {
		total += counts[c.Name]["total"]
		lists := 0
		for op, n := range counts[c.Name] {
			if strings.HasPrefix(op, "GET ") && !strings.HasSuffix(op, "}") {
				lists += n
			}
		}
		perInterval := float64(lists) / 3
		worst = max(worst, perInterval)
		per = append(per, fmt.Sprintf("%s %.1f", c.Name, perInterval))
	}
	b.results = append(b.results, result{Phase: phase, Objects: b.cfg.n, WallSeconds: time.Since(start).Seconds(), Calls: total,
		CallsPerObject: float64(total) / float64(b.cfg.n), PeakRSSMiB: peakRSS(), ListsPerInterval: worst, Requests: counts,
		Note: fmt.Sprintf("list calls per cluster per interval: %s (target <= 2)", strings.Join(per, ", "))})
	return nil
}

// update runs N TridentActionMirrorUpdates and waits for them all.
func (b *bench) update(ctx context.Context) error {
	n := b.cfg.n
	b.begin()
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
		if err := b.watched.List(ctx, &list, client.InNamespace(b.ns), client.UnsafeDisableDeepCopy); err != nil {
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
	b.record("update", n, last.Sub(start), durs)
	return nil
}

// memory adds TMRs, up to memoryN, on read-write volumes made without latency, and reports the
// process's peak RSS once they are all settled.
func (b *bench) memory(ctx context.Context) error {
	m := b.cfg.memoryN
	// The phase measures the controller's memory, not ONTAP: its volumes are made at once.
	b.sim.setLatency(0)
	b.sim.side("POST", b.sim.clusters[0].Name, "/sim/instant")
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
		settled, all, err := b.settled(ctx)
		if err != nil {
			return err
		}
		if settled == all {
			break
		}
		if time.Since(start) > 15*time.Minute {
			return fmt.Errorf("memory: %d of %d TMRs settled", settled, all)
		}
		time.Sleep(time.Second)
	}
	time.Sleep(b.cfg.recheck) // one re-check round
	runtime.GC()
	debug.FreeOSMemory()
	if err := writeHeapProfile(b.cfg.memProfile); err != nil {
		return err
	}
	b.results = append(b.results, result{Phase: "memory", Objects: m + b.cfg.n, WallSeconds: time.Since(start).Seconds(), PeakRSSMiB: peakRSS(),
		Note: fmt.Sprintf("all TMRs settled and re-checked: RSS now %.0f MiB (target <= 150); the peak includes this harness creating %d objects at once", currentRSS(), 4*m)})
	return nil
}

// settled counts the TMRs whose status shows their desired state, and all of them, from the
// manager's informers without copies: the memory measured is the controller's, and a list of
// every TMR from the API server each second would add this harness's own garbage to it.
func (b *bench) settled(ctx context.Context) (settled, all int, err error) {
	var list tridentv1.TridentMirrorRelationshipList
	if err := b.watched.List(ctx, &list, client.InNamespace(b.ns), client.UnsafeDisableDeepCopy); err != nil {
		return 0, 0, err
	}
	for _, t := range list.Items {
		if len(t.Status.Conditions) == 1 && t.Status.Conditions[0].State == t.Spec.State {
			settled++
		}
	}
	return settled, len(list.Items), nil
}

// writeHeapProfile writes the live heap to file, if one is named, and prints its size.
func writeHeapProfile(file string) error {
	if file == "" {
		return nil
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Printf("live heap %.1f MiB (HeapAlloc), heap in use %.1f MiB, stacks %.1f MiB, runtime metadata %.1f MiB, from the OS %.1f MiB (Sys); heap profile in %s\n",
		mib(ms.HeapAlloc), mib(ms.HeapInuse), mib(ms.StackInuse), mib(ms.MSpanInuse+ms.MCacheInuse+ms.GCSys+ms.BuckHashSys+ms.OtherSys), mib(ms.Sys), file)
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
