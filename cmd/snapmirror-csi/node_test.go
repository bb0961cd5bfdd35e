package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

// startNode runs the node plugin as --mode=node would, in a directory of the test's, and
// returns its configuration and what runNode returns when it ends.
func startNode(t *testing.T, ctx context.Context, initiator string) (config, <-chan error) {
	t.Helper()
	dir := t.TempDir()
	iqnFile := filepath.Join(dir, "initiatorname.iscsi")
	if initiator != "" {
		if err := os.WriteFile(iqnFile, []byte("## written by iscsi-iname\nInitiatorName="+initiator+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config{
		mode: "node", driverName: csi.DefaultDriverName, csiEndpoint: "unix://" + filepath.Join(dir, "csi.sock"), probeAddr: freePort(t),
		node: nodeConfig{
			nodeName: "worker-1", initiatorFile: iqnFile, nfsAddresses: "10.1.0.7, 10.1.0.8", stateDir: filepath.Join(dir, "state"), fabric: "host",
			registrationSocket: filepath.Join(dir, "reg.sock"), kubeletCSIEndpoint: "/var/lib/kubelet/plugins/csi.trident.netapp.io/csi.sock",
		},
	}
	ended := make(chan error, 1)
	go func() { ended <- runNode(ctx, cfg) }()
	wait.For(t, 10*time.Second, "the node plugin's sockets", func() bool {
		_, err1 := os.Stat(cfg.node.registrationSocket)
		_, err2 := os.Stat(strings.TrimPrefix(cfg.csiEndpoint, "unix://"))
		return err1 == nil && err2 == nil
	})
	return cfg, ended
}

func dial(t *testing.T, socket string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestNodeMode plays kubelet to the node plugin: it reads the registration socket as the
// plugin watcher does, calls the CSI endpoint for the node ID, probes /healthz, and reports a
// failed registration, which ends the plugin with an error (its pod restarts).
func TestNodeMode(t *testing.T) {
	cfg, ended := startNode(t, t.Context(), "iqn.1994-05.com.redhat:worker-1")

	reg := registerapi.NewRegistrationClient(dial(t, cfg.node.registrationSocket))
	info, err := reg.GetInfo(t.Context(), &registerapi.InfoRequest{})
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	if info.GetType() != "CSIPlugin" || info.GetName() != "csi.trident.netapp.io" || info.GetEndpoint() != cfg.node.kubeletCSIEndpoint || strings.Join(info.GetSupportedVersions(), ",") != "1.0.0" {
		t.Errorf("GetInfo = %v", info)
	}

	node := csispec.NewNodeClient(dial(t, strings.TrimPrefix(cfg.csiEndpoint, "unix://")))
	got, err := node.NodeGetInfo(t.Context(), &csispec.NodeGetInfoRequest{})
	if err != nil || got.GetNodeId() != "worker-1;iqn=iqn.1994-05.com.redhat:worker-1;nfs=10.1.0.7,10.1.0.8" {
		t.Errorf("NodeGetInfo = %v, %v", got, err)
	}

	resp, err := http.Get("http://" + cfg.probeAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Errorf("/healthz: %s %q", resp.Status, body)
	}

	if _, err := reg.NotifyRegistrationStatus(t.Context(), &registerapi.RegistrationStatus{PluginRegistered: false, Error: "plugin name already registered"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err == nil || !strings.Contains(err.Error(), "plugin name already registered") {
			t.Fatalf("the plugin ended with %v, want kubelet's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin still runs after a failed registration")
	}
	if _, err := os.Stat(cfg.node.registrationSocket); !os.IsNotExist(err) {
		t.Errorf("the registration socket is left: %v", err)
	}
}

// TestNodeModeWithoutISCSI checks that a node without an initiator file reports no IQN, that
// a successful registration keeps the plugin running, and that it stops cleanly.
func TestNodeModeWithoutISCSI(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cfg, ended := startNode(t, ctx, "")
	node := csispec.NewNodeClient(dial(t, strings.TrimPrefix(cfg.csiEndpoint, "unix://")))
	got, err := node.NodeGetInfo(t.Context(), &csispec.NodeGetInfoRequest{})
	if err != nil || got.GetNodeId() != "worker-1;nfs=10.1.0.7,10.1.0.8" {
		t.Errorf("NodeGetInfo = %v, %v", got, err)
	}
	reg := registerapi.NewRegistrationClient(dial(t, cfg.node.registrationSocket))
	if _, err := reg.NotifyRegistrationStatus(t.Context(), &registerapi.RegistrationStatus{PluginRegistered: true}); err != nil {
		t.Fatal(err)
	}
	// Still serving after the registration.
	if _, err := reg.GetInfo(t.Context(), &registerapi.InfoRequest{}); err != nil {
		t.Fatalf("GetInfo after registering: %v", err)
	}
	cancel()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin does not stop")
	}
}
