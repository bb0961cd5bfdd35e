package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on Linux.
const clockTicks = 100

// cpuSeconds is the CPU time, user and system, that this process and each of its children
// (the simulator, etcd, kube-apiserver) have used, by command name. The bench runs them all
// on one machine, so a phase can be bounded by the machine's cores, not by ONTAP's time.
func cpuSeconds() map[string]float64 {
	out := map[string]float64{}
	self := os.Getpid()
	if name, _, t, ok := procCPU("/proc/self/stat"); ok {
		out[name+" (this process)"] += t
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		if name, ppid, t, ok := procCPU(f); ok && ppid == self {
			out[name] += t
		}
	}
	return out
}

// procCPU reads a /proc/PID/stat: the command name, the parent's PID and the CPU seconds used.
func procCPU(file string) (name string, ppid int, seconds float64, ok bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", 0, 0, false
	}
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, 0, false
	}
	// After the name: state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt,
	// cmajflt, utime, stime.
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return s[open+1 : end], ppid, (utime + stime) / clockTicks, true
}

// begin starts a phase: the simulator's counters and the CPU times are taken from here.
func (b *bench) begin() {
	b.sim.reset()
	b.cpuAt = cpuSeconds()
}

// cpuSince is the CPU each process used since the phase began, and a line that says it
// against what the machine's cores could give in wall seconds.
func (b *bench) cpuSince(wall float64) (map[string]float64, string) {
	used := map[string]float64{}
	total := 0.0
	for name, t := range cpuSeconds() {
		if d := t - b.cpuAt[name]; d > 0 {
			used[name] = d
			total += d
		}
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(used)) {
		parts = append(parts, fmt.Sprintf("%s %.1f", name, used[name]))
	}
	cores := runtime.NumCPU()
	return used, fmt.Sprintf("CPU %.1f s of the %.1f s %d cores give (%.0f%%): %s", total, wall*float64(cores), cores, 100*total/(wall*float64(cores)), strings.Join(parts, ", "))
}
