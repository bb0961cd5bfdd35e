package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/controlplane"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBinary runs the whole process against a real API server and a simulated cluster: it
// serves CSI, reports ready once the backend answers, and exports metrics.
func TestBinary(t *testing.T) {
	cp, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	t.Setenv("KUBECONFIG", cp.Kubeconfig)
	f := sim.NewFabric(sim.Options{})
	defer f.Close()
	c, err := f.AddCluster(sim.ClusterSpec{Name: "c1", SVMs: []string{"svm1"}, Aggregates: []string{"aggr1"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	u, p := f.Credentials()
	os.Mkdir(filepath.Join(dir, "creds"), 0o700)
	os.WriteFile(filepath.Join(dir, "creds", "username"), []byte(u), 0o600)
	os.WriteFile(filepath.Join(dir, "creds", "password"), []byte(p), 0o600)
	os.WriteFile(filepath.Join(dir, "ca.pem"), c.CA(), 0o600)
	backends := "backends:\n- name: primary\n  driver: ontap-nas\n  managementLIF: " + c.Address() +
		"\n  svm: svm1\n  aggregates: [aggr1]\n  caFile: ca.pem\n  credentials: {file: creds}\n  replicationPolicy: MirrorAllSnapshots\n" +
		// The other site is down: a peer that does not answer does not stop the process
		// from starting or being ready.
		"peers:\n- name: other-site\n  managementLIF: 127.0.0.1:1\n  svm: drvserver\n  credentials: {file: creds}\n"
	os.WriteFile(filepath.Join(dir, "backends.yaml"), []byte(backends), 0o600)

	sock := filepath.Join(dir, "csi.sock")
	cfg := config{
		backendFile: filepath.Join(dir, "backends.yaml"), csiEndpoint: "unix://" + sock, driverName: "csi.trident.netapp.io",
		metricsAddr: freePort(t), probeAddr: freePort(t), workers: 4, recheck: time.Minute, secretTTL: time.Minute,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := get("http://" + cfg.probeAddr + "/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	info, err := csispec.NewIdentityClient(conn).GetPluginInfo(ctx, &csispec.GetPluginInfoRequest{})
	if err != nil || info.GetName() != "csi.trident.netapp.io" {
		t.Errorf("GetPluginInfo: %v, %v", info, err)
	}
	probe, err := csispec.NewIdentityClient(conn).Probe(ctx, &csispec.ProbeRequest{})
	if err != nil || !probe.GetReady().GetValue() {
		t.Errorf("Probe: %v, %v", probe, err)
	}
	if code, body := get("http://" + cfg.metricsAddr + "/metrics"); code != http.StatusOK || !strings.Contains(body, `snapmirror_csi_ontap_requests_total{cluster="primary"`) {
		t.Errorf("metrics: %d, no ONTAP request counter", code)
	}
	// The backend goes away: not ready, with the reason.
	c.SetDown(true)
	if code, _ := get("http://" + cfg.probeAddr + "/readyz"); code == http.StatusOK {
		t.Error("ready with the backend down")
	}
	c.SetDown(false)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

// TestBadBackendFile: the process refuses to start, naming the field and the fix.
func TestBadBackendFile(t *testing.T) {
	cp, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	t.Setenv("KUBECONFIG", cp.Kubeconfig)
	path := filepath.Join(t.TempDir(), "backends.yaml")
	os.WriteFile(path, []byte("backends:\n- name: b\n  driver: ontap-san\n  svm: s\n  credentials: {file: x, secret: a/b}\n"+
		"peers:\n- name: b\n  managementLIF: other:443\n  credentials: {secret: nonamespace}\n"), 0o600)
	err = run(context.Background(), config{backendFile: path, metricsAddr: "0", probeAddr: "0"})
	for _, want := range []string{`driver "ontap-san" is not supported yet`, "managementLIF is empty", "aggregates is empty", "give exactly one of file",
		"peers[0]: svm is empty", `credentials.secret "nonamespace": write it as namespace/name`, `peers[0].name: "b" is used twice`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to say %q", err, want)
		}
	}
}
