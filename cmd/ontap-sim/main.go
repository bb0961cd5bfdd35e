// Command ontap-sim serves simulated ONTAP clusters (package mocks/ontap) from a topology
// file, for the demo, end-to-end tests and trying the product by hand. It writes each
// cluster's CA to a file and prints the clusters' addresses, then serves until interrupted.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
)

func main() {
	topology := flag.String("topology", "test/topologies/two-clusters.yaml", "the topology file: clusters, SVMs, aggregates, peers and credentials")
	caDir := flag.String("ca-dir", "", "where to write each cluster's CA as <cluster>-ca.pem (default: a new temporary folder)")
	asJSON := flag.Bool("json", false, "print the clusters as one JSON line, for programs")
	dataDir := flag.String("data-dir", "", "where volumes keep their content, <dir>/<cluster>/<volume uuid>/ (default: a new temporary folder, removed at exit)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the simulator, from start to Ctrl-C, here (go tool pprof -top)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ontap-sim: -cpuprofile:", err)
			os.Exit(1)
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "ontap-sim: -cpuprofile:", err)
			}
		}()
	}
	if err := run(*topology, *caDir, *dataDir, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "ontap-sim:", err)
		os.Exit(1)
	}
}

// clusterInfo is what ontap-sim prints of each cluster.
type clusterInfo struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	CA      string `json:"ca"`
	// DataDir holds the cluster's volumes' content, for a node plugin's test fabric.
	DataDir string `json:"dataDir"`
}

func run(topologyFile, caDir, dataDir string, asJSON bool) error {
	topo, err := sim.LoadTopology(topologyFile)
	if err != nil {
		return err
	}
	if dataDir != "" {
		topo.DataDir = dataDir
	}
	if caDir == "" {
		if caDir, err = os.MkdirTemp("", "ontap-sim-"); err != nil {
			return err
		}
	}
	fabric, err := topo.Start()
	if err != nil {
		return err
	}
	defer fabric.Close()
	var infos []clusterInfo
	for _, c := range fabric.Clusters() {
		path := filepath.Join(caDir, c.Name()+"-ca.pem")
		if err := os.WriteFile(path, c.CA(), 0o644); err != nil {
			return err
		}
		infos = append(infos, clusterInfo{Name: c.Name(), Address: c.Address(), CA: path, DataDir: c.DataDir()})
	}
	if asJSON {
		if err := json.NewEncoder(os.Stdout).Encode(infos); err != nil {
			return err
		}
	} else {
		user, _ := fabric.Credentials()
		for _, i := range infos {
			fmt.Printf("cluster %-12s https://%s  CA %s  data %s\n", i.Name, i.Address, i.CA, i.DataDir)
		}
		fmt.Printf("user %q (password from the topology's passwordFile, or the simulator's default); side API under /sim/; Ctrl-C stops\n", user)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	return nil
}
