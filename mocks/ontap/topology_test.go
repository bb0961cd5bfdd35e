package ontap_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
)

// TestShippedTopology starts the two-cluster topology of the demo and the end-to-end tests.
func TestShippedTopology(t *testing.T) {
	topo, err := sim.LoadTopology("../../test/topologies/two-clusters.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := topo.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, want := f.Opts(), sim.RealisticTimings()
	if got.JobDurations != want.JobDurations || got.TransferSetup != want.TransferSetup || got.TransferRate != want.TransferRate || got.AbortDelay != want.AbortDelay {
		t.Errorf("the shipped topology's timings are not the realistic preset: %+v", got)
	}
	clusters := f.Clusters()
	if len(clusters) != 2 || clusters[0].Name() != "primary" || clusters[1].Name() != "secondary" {
		t.Fatalf("clusters: %v", clusters)
	}
	peers, err := client(t, f, clusters[1], clusters[1].CA()).SVMPeers(context.Background(), "drvserver")
	if err != nil || len(peers) != 1 || peers[0].PeerSVM != "datavserver" || !peers[0].Peered() {
		t.Errorf("peers of drvserver: %+v, %v", peers, err)
	}
}

func TestBadTopologies(t *testing.T) {
	for _, tc := range []struct {
		// yaml is the topology; want a fragment of the error.
		yaml, want string
	}{
		{"clusters: []", "give at least one cluster"},
		{"clusters: [{name: a, svms: [s]}]\nunknown: 1", "unknown"},
		{"clusters: [{name: a, svms: [s]}]\npeers: [[s]]", "pair of SVM names"},
		{"clusters: [{name: a, svms: [s]}]\npeers: [[s, t]]", "no such SVM"},
		{"clusters: [{name: a, svms: [s]}]\nlatency: fast", "latency"},
		{"clusters: [{name: a, svms: [s], version: nine}]", "version"},
		{"clusters: [{name: a, svms: [s], nodes: -2}]", "nodes"},
		{"clusters: [{name: a, svms: [s]}]\ncredentials: {username: u}", "credentials"},
		{"clusters: [{name: a, svms: [s], timezone: Mars/Olympus}]", "timezone"},
		{"clusters: [{name: a, svms: [s]}]\njobDurations: {volumeCreat: 1s}", `jobDurations: unknown key "volumeCreat"`},
		{"clusters: [{name: a, svms: [s]}]\njobDurations: {volumeCreate: soon}", "jobDurations.volumeCreate"},
		{"clusters: [{name: a, svms: [s]}]\nabortDelay: soon", "abortDelay"},
	} {
		path := filepath.Join(t.TempDir(), "t.yaml")
		os.WriteFile(path, []byte(tc.yaml), 0o600)
		topo, err := sim.LoadTopology(path)
		if err == nil {
			var f *sim.Fabric
			if f, err = topo.Start(); err == nil {
				f.Close()
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}
