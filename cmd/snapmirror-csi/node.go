package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
)

// nodeConfig is what the flags of --mode=node say.
type nodeConfig struct {
	nodeName, initiatorFile, nfsAddresses, stateDir string
	fabric                                          string
	simEndpoints, simCAFile, simCredentialsDir      string
	registrationSocket, kubeletCSIEndpoint          string
}

// runNode serves the node plugin: CSI Identity and Node on the CSI endpoint, kubelet's plugin
// registration on its socket (the node-driver-registrar's job), and /healthz (the livenessprobe's).
// It needs neither ONTAP credentials nor the Kubernetes API. It ends when ctx does, when a
// server fails, or when kubelet reports that it did not register the driver.
func runNode(ctx context.Context, cfg config) error {
	log := ctrl.Log.WithName("snapmirror-csi-node")
	nc := cfg.node
	id, err := nodeID(nc, log)
	if err != nil {
		return err
	}
	var fabric csi.Fabric
	switch nc.fabric {
	case "host":
		fabric = csi.NewHostFabric(csi.HostFabricConfig{})
	case "sim":
		fabric, err = csi.NewSimFabric(csi.SimFabricConfig{
			Endpoints: splitList(nc.simEndpoints), CAFile: nc.simCAFile, CredentialsDir: nc.simCredentialsDir, NodeID: id,
		})
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("--fabric=%q: want host or sim", nc.fabric)
	}
	node, err := csi.NewNode(csi.NodeConfig{
		DriverName: cfg.driverName, Version: version, NodeID: id, Fabric: fabric, StateDir: nc.stateDir, Log: log.WithName("csi"),
	})
	if err != nil {
		return err
	}
	health, err := net.Listen("tcp", cfg.probeAddr)
	if err != nil {
		return fmt.Errorf("health probe address: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 3)
	running := 0
	start := func(f func() error) {
		running++
		go func() { done <- f() }()
	}
	start(func() error { return node.Serve(ctx, cfg.csiEndpoint) })
	if nc.registrationSocket != "" {
		reg := &csi.Registration{DriverName: cfg.driverName, Endpoint: nc.kubeletCSIEndpoint, Log: log}
		start(func() error { return reg.Serve(ctx, nc.registrationSocket) })
	}
	srv := &http.Server{Handler: liveness(node), ReadHeaderTimeout: 10 * time.Second}
	start(func() error {
		if err := srv.Serve(health); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	log.Info("Starting the node plugin", "version", version, "driver", cfg.driverName, "nodeID", id.String(), "fabric", nc.fabric, "csi", cfg.csiEndpoint)

	// The first server to end ends the others.
	err = <-done
	cancel()
	shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	err = errors.Join(err, srv.Shutdown(shutdown))
	for range running - 1 {
		err = errors.Join(err, <-done)
	}
	return err
}

// liveness answers GET /healthz with the node plugin's Probe: 200 when ready, 500 saying why
// not.
func liveness(node *csi.Node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := node.Probe(r.Context(), nil)
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case !resp.GetReady().GetValue():
			http.Error(w, "not ready", http.StatusInternalServerError)
		default:
			_, _ = w.Write([]byte("ok")) // a prober that went away needs no answer
		}
	})
	return mux
}

// nodeID is the node's ID: its name, the IQN of its iSCSI initiator (none when the initiator
// file is missing: the node then serves ontap-nas volumes only) and its NFS addresses.
func nodeID(nc nodeConfig, log logr.Logger) (csi.NodeID, error) {
	if nc.nodeName == "" {
		return csi.NodeID{}, errors.New("no node name: give --node-name, or set NODE_NAME (from spec.nodeName)")
	}
	id := csi.NodeID{Name: nc.nodeName}
	iqn, err := initiatorName(nc.initiatorFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		log.Info("No iSCSI initiator on this node: ontap-san volumes cannot be published to it", "file", nc.initiatorFile)
	case err != nil:
		return id, err
	}
	id.IQN = iqn
	if nc.nfsAddresses != "" {
		id.NFS = splitList(nc.nfsAddresses)
	} else if id.NFS, err = hostAddresses(); err != nil {
		return id, err
	}
	if _, err := csi.ParseNodeID(id.String()); err != nil {
		return id, fmt.Errorf("node ID: %w", err)
	}
	return id, nil
}

// initiatorName reads the InitiatorName= line of open-iscsi's initiator file.
func initiatorName(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "InitiatorName="); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s has no InitiatorName= line", file)
}

// hostAddresses lists the node's global unicast addresses: those an export rule may name.
func hostAddresses() ([]string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list the node's addresses (or give --nfs-addresses): %w", err)
	}
	var ips []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
			ips = append(ips, n.IP.String())
		}
	}
	return ips, nil
}

// splitList splits a comma-separated flag value, dropping empty items and spaces.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
