package main

import (
	"fmt"
	"os"
	"sort"
	"syscall"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
)

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
	// ListsPerInterval is, for a steady phase, the most list calls a cluster served per
	// re-check interval.
	ListsPerInterval float64 `json:"lists_per_cluster_per_interval,omitempty"`
	// Requests are the simulator's counters for the phase: per cluster, per operation.
	Requests map[string]map[string]int `json:"requests,omitempty"`
	// Work is the simulator's jobs and transfers for the phase, per cluster.
	Work map[string]sim.Work `json:"work,omitempty"`
	// CPUSeconds is the CPU time each process used in the phase: this one (driver and
	// controllers), the simulator, etcd and kube-apiserver, all on this machine.
	CPUSeconds map[string]float64 `json:"cpu_seconds,omitempty"`
	Note       string             `json:"note,omitempty"`
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

// record adds a phase's figures. Its floor is what ONTAP itself needed, from what the
// simulator saw: the calls of the busiest cluster served at the cap, or, if longer, one
// object's share of the jobs and transfers it ran plus its calls one after another.
func (b *bench) record(phase string, n int, wall time.Duration, durs []time.Duration) {
	counts, work := b.sim.requests(), b.sim.work()
	calls, busiest := 0, 0
	var workSeconds float64
	for _, c := range b.sim.clusters {
		calls += counts[c.Name]["total"]
		busiest = max(busiest, counts[c.Name]["total"])
		workSeconds += work[c.Name].JobSeconds + work[c.Name].TransferSeconds
	}
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	latency := b.cfg.latency.Seconds()
	atCap := float64(busiest) * latency / float64(b.cfg.cap)
	perObject := workSeconds/float64(n) + float64(calls)/float64(n)*latency
	floor := max(atCap, perObject)
	cpu, cpuNote := b.cpuSince(wall.Seconds())
	b.results = append(b.results, result{
		Phase: phase, Objects: n, WallSeconds: wall.Seconds(), Calls: calls, CallsPerObject: float64(calls) / float64(n),
		P50Seconds: durs[len(durs)/2].Seconds(), P99Seconds: durs[len(durs)*99/100].Seconds(), PeakRSSMiB: peakRSS(),
		FloorSeconds: floor, RatioToFloor: wall.Seconds() / floor, Requests: counts, Work: work, CPUSeconds: cpu,
		Note: fmt.Sprintf("floor = max(calls of the busiest cluster at the cap %.2fs, per object: jobs and transfers %.2fs + calls %.2fs); %s",
			atCap, workSeconds/float64(n), float64(calls)/float64(n)*latency, cpuNote),
	})
}

func peakRSS() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}
