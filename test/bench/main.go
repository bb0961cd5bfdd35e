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
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/controlplane"
)

type config struct {
	n, memoryN, cap, workers int
	latency, recheck         time.Duration
	jsonOut                  string
	memProfile               string
	// cpuProfile is written over the failover phase; simCPUProfile, the simulator's, over
	// the whole run.
	cpuProfile, simCPUProfile string
	// instant makes jobs, aborts and transfers end at once, as the simulator did before it
	// took ONTAP's time; the default is its realistic timings.
	instant bool
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
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of this process over the failover phase here (go tool pprof -top)")
	flag.StringVar(&cfg.simCPUProfile, "sim-cpuprofile", "", "write a CPU profile of the simulator (cmd/ontap-sim), over the whole run, here")
	flag.StringVar(&cfg.memProfile, "memprofile", "", "write a heap profile here once the memory phase has settled (go tool pprof -inuse_space)")
	flag.BoolVar(&cfg.instant, "instant", false, "jobs, aborts and transfers end at once (the simulator's old timing) instead of taking ONTAP's time")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
}

type bench struct {
	cfg                config
	cp                 *controlplane.ControlPlane
	sim                *simProcess
	primary, secondary *ontap.Backend
	srcDriver, dstDrv  *csi.Driver
	peers              []*ontap.Peer
	mirrors            *mapMirrors
	// watched reads what the manager's informers hold, for the harness's own polling: a list
	// of every TMR from the API server 20 times a second would load it more than the driver.
	watched client.Reader
	// cpuAt is the CPU time each process had used when the phase began (begin).
	cpuAt   map[string]float64
	results []result
	ns      string
}

func run(cfg config) (err error) {
	b := &bench{cfg: cfg, mirrors: &mapMirrors{m: map[string]*csi.MirrorTarget{}}}
	timings := "ONTAP's job, abort and transfer times (-instant: none)"
	if cfg.instant {
		timings = "instant jobs, aborts and transfers"
	}
	fmt.Printf("snapmirror-csi benchmark: N=%d, latency %s, cap %d, %d workers, re-check %s, %s\n\n", cfg.n, cfg.latency, cfg.cap, cfg.workers, cfg.recheck, timings)
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
	phases := []func(context.Context) error{b.provision, b.establish, b.steadyMirrored, b.failover, b.steadyPromoted, b.reestablish, b.update}
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
			"recheck_seconds": cfg.recheck.Seconds(), "instant": cfg.instant, "phases": b.results,
		}, "", "  ")
		if err := os.WriteFile(cfg.jsonOut, data, 0o644); err == nil {
			fmt.Printf("\nwritten to %s\n", cfg.jsonOut)
		}
	}
	return nil
}
