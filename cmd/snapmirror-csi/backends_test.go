package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/controlplane"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

// processEnv carries the configuration of TestProcess, the process that TestStartWithABackendDown
// starts: a process of its own, as a pod's container is, and as run's controllers and metrics
// are registered once per process.
const processEnv = "SNAPMIRROR_CSI_TEST_PROCESS"

type processConfig struct {
	Backends, CSI, Metrics, Probe string
}

// TestProcess is not a test: it is snapmirror-csi, run by TestStartWithABackendDown.
func TestProcess(t *testing.T) {
	var pc processConfig
	if err := json.Unmarshal([]byte(os.Getenv(processEnv)), &pc); err != nil {
		t.Skip("not a test: the process TestStartWithABackendDown starts")
	}
	if flag.Lookup("metrics-secure") != nil {
		flag.Set("metrics-secure", "false") // the test scrapes over plain HTTP
	}
	ctrl.SetLogger(klog.NewKlogr())
	cfg := config{
		backendFile: pc.Backends, csiEndpoint: pc.CSI, driverName: "csi.trident.netapp.io",
		metricsAddr: pc.Metrics, probeAddr: pc.Probe, workers: 4, recheck: time.Minute, secretTTL: time.Minute,
	}
	if err := run(ctrl.SetupSignalHandler(), cfg); err != nil {
		t.Fatal(err)
	}
}

// get GETs a URL and returns the status code and body; 0 and the error when there is no answer.
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestStartWithABackendDown: the process starts while the cluster of one of its two
// backends does not answer, as a restarted pod of the surviving site in a site outage. It is
// ready and serves with the other; the down backend is logged once, counted down in
// snapmirror_csi_backend_up, named by the readiness check when no backend answers, and CSI
// calls that need it are Unavailable, naming it. Once its cluster answers, it is used
// without a restart.
func TestStartWithABackendDown(t *testing.T) {
	cp, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	f := sim.NewFabric(sim.Options{})
	defer f.Close()
	var primary, secondary *sim.Cluster
	if primary, err = f.AddCluster(sim.ClusterSpec{Name: "c1", SVMs: []string{"svm1"}, Aggregates: []string{"aggr1"}}); err != nil {
		t.Fatal(err)
	}
	if secondary, err = f.AddCluster(sim.ClusterSpec{Name: "c2", SVMs: []string{"svm2"}, Aggregates: []string{"aggr1"}}); err != nil {
		t.Fatal(err)
	}
	secondary.SetDown(true)
	defer secondary.SetDown(false)

	dir := t.TempDir()
	if err := f.WriteCredentials(filepath.Join(dir, "creds")); err != nil {
		t.Fatal(err)
	}
	var backends strings.Builder
	backends.WriteString("backends:\n")
	for _, b := range []struct {
		name, svm string
		c         *sim.Cluster
	}{{"primary", "svm1", primary}, {"secondary", "svm2", secondary}} {
		os.WriteFile(filepath.Join(dir, b.name+"-ca.pem"), b.c.CA(), 0o600)
		backends.WriteString("- name: " + b.name + "\n  driver: ontap-nas\n  managementLIF: " + b.c.Address() + "\n  svm: " + b.svm +
			"\n  aggregates: [aggr1]\n  caFile: " + b.name + "-ca.pem\n  credentials: {file: creds}\n  replicationPolicy: MirrorAllSnapshots\n")
	}
	os.WriteFile(filepath.Join(dir, "backends.yaml"), []byte(backends.String()), 0o600)

	sock := filepath.Join(dir, "csi.sock")
	pc := processConfig{Backends: filepath.Join(dir, "backends.yaml"), CSI: "unix://" + sock, Metrics: freePort(t), Probe: freePort(t)}
	env, _ := json.Marshal(pc)
	var logs syncBuffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestProcess$")
	cmd.Env = append(os.Environ(), processEnv+"="+string(env), "KUBECONFIG="+cp.Kubeconfig)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		if err := <-exited; err != nil {
			t.Errorf("the process ended with %v:\n%s", err, logs.String())
		}
	}()

	// eventually polls cond until it holds; it fails the test when the process ends first.
	eventually := func(what string, cond func() bool) {
		t.Helper()
		var ended error
		if !wait.Until(60*time.Second, func() bool {
			select {
			case ended = <-exited:
				exited <- ended
				return true
			default:
				return cond()
			}
		}) {
			t.Fatalf("never: %s\n%s", what, logs.String())
		}
		if ended != nil || !cond() {
			t.Fatalf("the process ended (%v) before %s:\n%s", ended, what, logs.String())
		}
	}
	// logged counts the log lines with the message about the backend.
	logged := func(msg, backend string) int {
		n := 0
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"`+msg) && strings.Contains(line, `backend="`+backend+`"`) {
				n++
			}
		}
		return n
	}
	metric := func(series string) bool {
		_, body := get("http://" + pc.Metrics + "/metrics")
		return strings.Contains(body, series+"\n")
	}

	eventually("ready with the secondary backend down", func() bool {
		code, _ := get("http://" + pc.Probe + "/readyz")
		return code == http.StatusOK
	})
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	csi := csispec.NewControllerClient(conn)
	if probe, err := csispec.NewIdentityClient(conn).Probe(ctx, &csispec.ProbeRequest{}); err != nil || !probe.GetReady().GetValue() {
		t.Errorf("Probe: %v, %v; want ready, for the sidecars to serve", probe, err)
	}
	vol, err := csi.CreateVolume(ctx, &csispec.CreateVolumeRequest{
		Name: "pvc-a", VolumeCapabilities: []*csispec.VolumeCapability{{
			AccessType: &csispec.VolumeCapability_Mount{Mount: &csispec.VolumeCapability_MountVolume{}},
			AccessMode: &csispec.VolumeCapability_AccessMode{Mode: csispec.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
		}},
	})
	if err != nil || vol.GetVolume().GetVolumeContext()["backend"] != "primary" {
		t.Errorf("CreateVolume: %v, %v; want a volume on primary", vol, err)
	}
	for what, call := range map[string]func() error{
		"DeleteVolume of a volume primary does not have": func() error {
			_, err := csi.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: "pvc-elsewhere"})
			return err
		},
		"ListVolumes": func() error { _, err := csi.ListVolumes(ctx, &csispec.ListVolumesRequest{}); return err },
	} {
		if err := call(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "backend secondary") {
			t.Errorf("%s: %v, want Unavailable naming backend secondary", what, err)
		}
	}
	if !metric(`snapmirror_csi_backend_up{backend="primary"} 1`) || !metric(`snapmirror_csi_backend_up{backend="secondary"} 0`) {
		t.Error("snapmirror_csi_backend_up does not say primary 1, secondary 0")
	}
	if n := logged("Backend does not answer", "secondary"); n != 1 {
		t.Errorf("secondary's outage logged %d times, want once:\n%s", n, logs.String())
	}

	// With no backend answering the process is not ready, and the check names both.
	primary.SetDown(true)
	eventually("not ready, naming both backends", func() bool {
		code, body := get("http://" + pc.Probe + "/readyz/backends")
		return code != http.StatusOK && strings.Contains(body, "backend primary") && strings.Contains(body, "backend secondary")
	})
	primary.SetDown(false)
	secondary.SetDown(false)
	eventually("secondary in use", func() bool {
		list, err := csi.ListVolumes(ctx, &csispec.ListVolumesRequest{})
		return err == nil && len(list.GetEntries()) == 1
	})
	if _, err := csi.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: "pvc-elsewhere"}); err != nil {
		t.Errorf("DeleteVolume of a volume no backend has: %v", err)
	}
	eventually("ready, and secondary counted up", func() bool {
		code, _ := get("http://" + pc.Probe + "/readyz")
		return code == http.StatusOK && metric(`snapmirror_csi_backend_up{backend="secondary"} 1`)
	})
	if logged("Backend connected", "secondary") != 1 {
		t.Errorf("no log of secondary's connection:\n%s", logs.String())
	}
}
