// Command snapmirror-csi is one process that serves the CSI Identity and Controller services
// on a unix socket and runs the controllers of the trident.netapp.io custom resources, with
// leader election, health and readiness probes, and Prometheus metrics; or, with --mode=node,
// the node plugin (CSI Identity and Node, kubelet's plugin registration and a liveness probe).
// main only parses flags into a config and wires the parts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	"github.com/snapmirror-csi/snapmirror-csi/frontend"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// Leader election holds a Lease and records events on it.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=snapmirror-csi
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// The installation ID, when no flag gives it, is the kube-system namespace's UID.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get,resourceNames=kube-system

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// config is what the flags say.
type config struct {
	mode                                 string
	node                                 nodeConfig
	backendFile, csiEndpoint, driverName string
	installationID                       string
	metricsAddr, probeAddr               string
	leaderElect                          bool
	leaderElectionNamespace              string
	workers                              int
	qps                                  float64
	burst                                int
	recheck, secretTTL                   time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.mode, "mode", "controller", "controller: the CSI controller and the custom resources' controllers; node: the node plugin")
	flag.StringVar(&cfg.node.nodeName, "node-name", os.Getenv("NODE_NAME"), "node mode: this Kubernetes node's name; default $NODE_NAME")
	flag.StringVar(&cfg.node.initiatorFile, "iscsi-initiator-file", "/etc/iscsi/initiatorname.iscsi", "node mode: open-iscsi's initiator file, whose InitiatorName= gives the node's IQN; a missing file means no iSCSI")
	flag.StringVar(&cfg.node.nfsAddresses, "nfs-addresses", "", "node mode: the addresses the node mounts NFS from, comma-separated; default its global unicast addresses")
	flag.StringVar(&cfg.node.stateDir, "state-dir", "/var/lib/snapmirror-csi", "node mode: where the plugin remembers what it staged, across restarts")
	flag.StringVar(&cfg.node.fabric, "fabric", "host", "node mode: how the node reaches storage: host (mount.nfs, iscsiadm) or sim (the ONTAP simulator's volumes on this host)")
	flag.StringVar(&cfg.node.simEndpoints, "sim-endpoints", "", "node mode, --fabric=sim: the simulated clusters, https://host:port, comma-separated")
	flag.StringVar(&cfg.node.simCAFile, "sim-ca-file", "", "node mode, --fabric=sim: the CA of the simulators' certificates")
	flag.StringVar(&cfg.node.simCredentialsDir, "sim-credentials-dir", "", "node mode, --fabric=sim: a directory with the files username and password")
	flag.StringVar(&cfg.node.registrationSocket, "registration-socket", "/var/lib/kubelet/plugins_registry/csi.trident.netapp.io-reg.sock", "node mode: where to serve kubelet's plugin registration; empty: do not register")
	flag.StringVar(&cfg.node.kubeletCSIEndpoint, "kubelet-csi-endpoint", "/var/lib/kubelet/plugins/csi.trident.netapp.io/csi.sock", "node mode: the path of the CSI socket as kubelet sees it")
	flag.StringVar(&cfg.backendFile, "backends", "/etc/snapmirror-csi/backends.yaml", "the backend configuration file")
	flag.StringVar(&cfg.csiEndpoint, "csi-endpoint", "unix:///csi/csi.sock", "where to serve CSI: unix:///path or tcp://host:port")
	flag.StringVar(&cfg.driverName, "driver-name", csi.DefaultDriverName, "the CSI driver name of the StorageClasses to serve")
	flag.StringVar(&cfg.installationID, "installation-id", "", "ends the name of each igroup made (<node>-<id>); the same on every replica and restart, and different for each installation sharing an SVM; default: the UID of namespace kube-system")
	flag.StringVar(&cfg.metricsAddr, "metrics-bind-address", ":8080", `Prometheus metrics address; "0" turns metrics off`)
	flag.StringVar(&cfg.probeAddr, "health-probe-bind-address", ":8081", "health and readiness probe address (node mode: /healthz only)")
	flag.BoolVar(&cfg.leaderElect, "leader-elect", false, "elect one active controller among replicas (CSI is served by all)")
	flag.StringVar(&cfg.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease; default: the pod's")
	flag.IntVar(&cfg.workers, "max-concurrent-reconciles", 16, "TMRs worked on at once; operations on one TMR are serialized")
	flag.Float64Var(&cfg.qps, "kube-api-qps", 100, "Kubernetes API requests per second (status writes of many TMRs at once)")
	flag.IntVar(&cfg.burst, "kube-api-burst", 200, "Kubernetes API request burst")
	flag.DurationVar(&cfg.recheck, "recheck-interval", time.Minute, "how often settled relationships are re-checked, from one list per cluster")
	flag.DurationVar(&cfg.secretTTL, "credentials-ttl", 30*time.Second, "how long credentials read from Secrets are cached")
	klog.InitFlags(nil)
	flag.Parse()
	ctrl.SetLogger(klog.NewKlogr())
	ctx := ctrl.SetupSignalHandler()
	var err error
	switch cfg.mode {
	case "controller":
		err = run(ctx, cfg)
	case "node":
		err = runNode(ctx, cfg)
	default:
		err = fmt.Errorf("--mode=%q: want controller or node", cfg.mode)
	}
	if err != nil {
		klog.ErrorS(err, "snapmirror-csi stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	log := ctrl.Log.WithName("snapmirror-csi")
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), tridentv1.AddToScheme(scheme), snapshotv1.AddToScheme(scheme)); err != nil {
		return err
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("Kubernetes API: %w", err)
	}
	if cfg.qps > 0 {
		restCfg.QPS, restCfg.Burst = float32(cfg.qps), cfg.burst
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   frontend.CacheOptions(),
		Metrics:                 metricsOptions(cfg.metricsAddr),
		HealthProbeBindAddress:  cfg.probeAddr,
		LeaderElection:          cfg.leaderElect,
		LeaderElectionID:        "snapmirror-csi.trident.netapp.io",
		LeaderElectionNamespace: cfg.leaderElectionNamespace,
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}

	driverCfg, err := ontap.LoadConfig(cfg.backendFile)
	if err != nil {
		return err
	}
	ontapMetrics, err := ontap.NewMetrics(metrics.Registry)
	if err != nil {
		return err
	}
	openOpts := ontap.OpenOptions{Secrets: frontend.SecretCredentials(mgr.GetAPIReader(), cfg.secretTTL), Metrics: ontapMetrics, Log: log}
	backends, err := ontap.OpenBackends(ctx, driverCfg, openOpts)
	if err != nil {
		return fmt.Errorf("backends:\n%w", err)
	}
	peers, err := ontap.OpenPeers(driverCfg, openOpts)
	if err != nil {
		return fmt.Errorf("peers:\n%w", err)
	}
	byName := map[string]*ontap.Backend{}
	for _, b := range backends {
		byName[b.Name] = b
	}

	installation, err := installationID(ctx, mgr.GetAPIReader(), cfg.installationID)
	if err != nil {
		return err
	}
	driver, err := csi.NewDriver(csi.Config{
		DriverName: cfg.driverName, Version: version, Backends: backends, InstallationID: installation,
		Mirrors: frontend.Mirrors{Reader: mgr.GetAPIReader()},
		Nodes:   frontend.Nodes{Cache: mgr.GetClient(), Live: mgr.GetAPIReader(), DriverName: cfg.driverName},
		Log:     log.WithName("csi"),
	})
	if err != nil {
		return err
	}
	// Every replica serves CSI; only the leader reconciles.
	if err := mgr.Add(csiServer{driver: driver, endpoint: cfg.csiEndpoint}); err != nil {
		return err
	}

	volumes := frontend.Volumes{Client: mgr.GetClient(), Backends: byName, Peers: peers, DriverName: cfg.driverName}
	mirrorMetrics, err := frontend.NewMetrics(metrics.Registry)
	if err != nil {
		return err
	}
	tmr := &frontend.TMRReconciler{
		Client: mgr.GetClient(), Events: mgr.GetEventRecorder("snapmirror-csi"), Volumes: volumes,
		Recheck: cfg.recheck, Cache: &mirror.Cache{MaxAge: cfg.recheck},
		MaxConcurrentReconciles: cfg.workers, Metrics: mirrorMetrics,
	}
	events := mgr.GetEventRecorder("snapmirror-csi")
	for _, r := range []interface{ SetupWithManager(ctrl.Manager) error }{
		tmr,
		&frontend.TAMUReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Events: events, Volumes: volumes, MaxConcurrentReconciles: cfg.workers, Metrics: mirrorMetrics},
		&frontend.SnapshotInfoReconciler{Client: mgr.GetClient(), DriverName: cfg.driverName},
		&frontend.SnapshotInfoReconciler{Client: mgr.GetClient(), DriverName: cfg.driverName, Trident: true},
	} {
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("backends", func(*http.Request) error { return ready(ctx, backends) }); err != nil {
		return err
	}
	log.Info("Starting", "version", version, "driver", cfg.driverName, "installation", installation, "backends", len(backends), "peers", len(peers), "csi", cfg.csiEndpoint)
	if len(peers) == 0 {
		log.Info("Split brain is not checked: the backend file lists no peers. List the other site's SVM under peers, with read-only credentials, to have it detected; each affected TMR says so in status.conditions[0].splitBrainCheck")
	}
	return mgr.Start(ctx)
}

// installationID is the flag's value or, when it is empty, the UID of namespace kube-system:
// the same for every replica and restart of the installation, and different in every
// Kubernetes cluster, so that two clusters whose nodes share names never share an igroup.
func installationID(ctx context.Context, r client.Reader, flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: metav1.NamespaceSystem}, ns); err != nil {
		return "", fmt.Errorf("installation ID: read namespace %s for its UID (or give --installation-id): %w", metav1.NamespaceSystem, err)
	}
	return string(ns.UID), nil
}

// csiServer runs the CSI gRPC server as a manager runnable on every replica.
type csiServer struct {
	driver   *csi.Driver
	endpoint string
}

func (s csiServer) Start(ctx context.Context) error { return s.driver.Serve(ctx, s.endpoint) }

// NeedLeaderElection is false: the sidecars of every replica talk to their own socket.
func (csiServer) NeedLeaderElection() bool { return false }

var _ manager.LeaderElectionRunnable = csiServer{}

// ready is the readiness check: ready while at least one backend answers, since in a site
// outage the surviving site must keep serving; otherwise an error naming each backend and
// why. A backend that stops answering is logged, and snapmirror_csi_backend_up says which.
func ready(ctx context.Context, backends []*ontap.Backend) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if answered, err := ontap.Check(ctx, backends); answered == 0 {
		return fmt.Errorf("no backend answers:\n%w", err)
	}
	return nil
}
