package csi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"google.golang.org/grpc"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// DefaultDriverName is Trident's, so that the documented StorageClasses work unchanged.
const DefaultDriverName = "csi.trident.netapp.io"

// Config wires a Driver.
type Config struct {
	// DriverName is the CSI driver name; default DefaultDriverName.
	DriverName string
	// Version is reported by GetPluginInfo.
	Version string
	// Backends are the ONTAP backends, as ontap.OpenBackends returns them; at least one. A
	// call that needs one that is unavailable is answered Unavailable, naming it.
	Backends []*ontap.Backend
	// Mirrors answers whether a PVC's volume must be a mirror destination; nil means no PVC
	// is ever one (no Kubernetes API, as in csi-sanity).
	Mirrors Mirrors
	// Nodes answers whether a node ID is one a node plugin of this driver reported; nil
	// takes every well-formed node ID for an existing node.
	Nodes Nodes
	// InstallationID ends the name of every igroup the driver makes (<node>-<installation>),
	// as Trident's installation UUID ends its: letters, digits, '_', '.' and '-', at most 40.
	// It must be the same on every replica and restart, and differ between installations
	// that share an SVM. Default: DefaultInstallationID.
	InstallationID string
	// Log receives one line per call.
	Log logr.Logger
}

// MirrorTarget is the mirror relationship a new volume must be the destination of.
type MirrorTarget struct {
	// Relationship names the TridentMirrorRelationship.
	Relationship string
	// RemoteVolumeHandle is the source volume, <svm>:<volume>.
	RemoteVolumeHandle string
}

// Mirrors is what the driver needs from Kubernetes; package frontend implements it.
type Mirrors interface {
	// DestinationOf returns the mirror a PVC's new volume must be the destination of: nil
	// when the PVC carries no trident.netapp.io/mirrorRelationship annotation. When the
	// annotation names a TMR that is missing or maps another PVC, it returns a *MirrorError
	// that says what to create.
	DestinationOf(ctx context.Context, namespace, pvc string) (*MirrorTarget, error)
}

// DefaultInstallationID ends igroup names when the configuration names no installation.
const DefaultInstallationID = "snapmirror-csi"

// Nodes is what the driver needs to know of the cluster's nodes; package frontend implements it.
type Nodes interface {
	// Known reports whether a node plugin of this driver reported id as its node ID.
	Known(ctx context.Context, id string) (bool, error)
}

// MirrorError is a problem with the mirror relationship a PVC names; the user fixes it.
type MirrorError struct{ Message string }

func (e *MirrorError) Error() string { return e.Message }

// Driver is the CSI Identity and Controller services over ONTAP backends.
type Driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer

	name, version string
	backends      []*ontap.Backend
	mirrors       Mirrors
	nodes         Nodes
	installation  string
	log           logr.Logger

	busy   inflight
	peers  peerCache
	placed sync.Map // PV name -> *ontap.Backend, where the volume was last found
	// published remembers, for each volume and node this process published, whether it was
	// read-only (see publishVolume).
	published sync.Map // publication -> bool
}

// NewDriver checks cfg and builds a Driver.
func NewDriver(cfg Config) (*Driver, error) {
	if len(cfg.Backends) == 0 {
		return nil, errors.New("no backend: configure at least one ONTAP backend")
	}
	name := cfg.DriverName
	if name == "" {
		name = DefaultDriverName
	}
	installation := cfg.InstallationID
	if installation == "" {
		installation = DefaultInstallationID
	}
	if !installationID.MatchString(installation) {
		return nil, fmt.Errorf("installation ID %q: use letters, digits, '_', '.' and '-', at most 40, starting with a letter or digit", installation)
	}
	return &Driver{
		name: name, version: cfg.Version, backends: cfg.Backends, mirrors: cfg.Mirrors, nodes: cfg.Nodes, installation: installation, log: cfg.Log,
		busy: inflight{keys: map[string]bool{}}, peers: peerCache{entries: map[string]peerEntry{}},
	}, nil
}

// Register adds the driver's services to a gRPC server.
func (d *Driver) Register(s *grpc.Server) {
	csi.RegisterIdentityServer(s, d)
	csi.RegisterControllerServer(s, d)
}

// Serve listens on endpoint (unix:///path or tcp://host:port) and serves until ctx ends.
func (d *Driver) Serve(ctx context.Context, endpoint string) error {
	return serve(ctx, endpoint, d.log, d.Register)
}

// serve listens on a CSI endpoint (unix:///path or tcp://host:port), registers services on a
// gRPC server that logs each call, and serves until ctx ends.
func serve(ctx context.Context, endpoint string, log logr.Logger, register func(*grpc.Server)) error {
	ln, err := listen(endpoint)
	if err != nil {
		return err
	}
	s := grpc.NewServer(grpc.UnaryInterceptor(logCalls(log)))
	register(s)
	go func() {
		<-ctx.Done()
		s.GracefulStop()
	}()
	log.Info("Serving CSI", "endpoint", endpoint)
	return s.Serve(ln)
}

// listen opens a CSI endpoint, unix:///path or tcp://host:port; a unix socket left by an
// earlier process is removed first.
func listen(endpoint string) (net.Listener, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "unix" && u.Scheme != "tcp") {
		return nil, fmt.Errorf("CSI endpoint %q: want unix:///path/csi.sock or tcp://host:port", endpoint)
	}
	if u.Scheme == "unix" {
		return listenUnix(u.Path)
	}
	ln, err := net.Listen(u.Scheme, u.Host)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", endpoint, err)
	}
	return ln, nil
}

// listenUnix listens on a unix socket, removing one an earlier process left.
func listenUnix(path string) (net.Listener, error) {
	// kubelet's plugin folder for the driver does not exist on a new node.
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return ln, nil
}

// logCalls logs each call once, with secrets stripped from the request.
func logCalls(l logr.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		log := l.WithValues("method", info.FullMethod, "duration", time.Since(start).Round(time.Millisecond))
		if err != nil {
			log.Info("CSI call failed", "request", protosanitizer.StripSecrets(req), "error", err.Error())
		} else {
			log.V(1).Info("CSI call", "request", protosanitizer.StripSecrets(req))
		}
		return resp, err
	}
}

// rpc runs an RPC's handler and maps the plain Go error it returns to its gRPC status
// (grpcError): every method of the Controller service that can fail goes through it, and
// nothing else makes codes. It is not a unary interceptor because the driver's methods are
// also called directly (by this package's tests and by frontend's) and registered on servers
// built without the driver's interceptors (csi-sanity's), and every caller must get codes.
func rpc[Req, Resp any](ctx context.Context, req Req, handler func(context.Context, Req) (Resp, error)) (Resp, error) {
	resp, err := handler(ctx, req)
	return resp, grpcError(err)
}

// inflight serializes operations on one volume: a second call while one runs is refused
// with ABORTED, the CSI spec's "operation pending" answer.
type inflight struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (f *inflight) begin(key string) (end func(), ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys[key] {
		return nil, false
	}
	f.keys[key] = true
	return func() {
		f.mu.Lock()
		delete(f.keys, key)
		f.mu.Unlock()
	}, true
}

// lock takes the in-flight guard on key, "volume <id>" or "snapshot <name>", and returns
// what releases it; errPending while another call holds it.
func (d *Driver) lock(key string) (end func(), err error) {
	end, ok := d.busy.begin(key)
	if !ok {
		return nil, refuse(errPending, "an operation on %s is in progress", key)
	}
	return end, nil
}

// peerCache keeps each backend's SVM peers for a short while: provisioning checks them on
// every replicated volume, and they change rarely.
type peerCache struct {
	mu      sync.Mutex
	entries map[string]peerEntry
}

type peerEntry struct {
	peers []ontap.SVMPeer
	at    time.Time
}

const peerCacheTTL = 30 * time.Second

func (c *peerCache) get(ctx context.Context, b *ontap.Backend) ([]ontap.SVMPeer, error) {
	c.mu.Lock()
	e, ok := c.entries[b.Name]
	c.mu.Unlock()
	if ok && time.Since(e.at) < peerCacheTTL {
		return e.peers, nil
	}
	peers, err := b.SVMPeers(ctx, b.SVM)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.entries[b.Name] = peerEntry{peers: peers, at: time.Now()}
	c.mu.Unlock()
	return peers, nil
}

// peeredWith reports whether the backend's SVM is peered for SnapMirror with remote ("" for
// any SVM).
func (d *Driver) peeredWith(ctx context.Context, b *ontap.Backend, remote string) (bool, error) {
	peers, err := d.peers.get(ctx, b)
	if err != nil {
		return false, answered(ctx, b, err)
	}
	for _, p := range peers {
		if p.Peered() && (remote == "" || strings.EqualFold(p.PeerSVM, remote)) {
			return true, nil
		}
	}
	return false, nil
}
