package csi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"
)

// The publish context's protocols (see publishVolume): what the node attaches.
const (
	protocolNFS   = "nfs"
	protocolISCSI = "iscsi"
)

// DefaultDeviceTimeout is how long a stage waits for a LUN's device to appear.
const DefaultDeviceTimeout = time.Minute

// NodeConfig wires a Node.
type NodeConfig struct {
	// DriverName is the CSI driver name; default DefaultDriverName.
	DriverName string
	// Version is reported by GetPluginInfo.
	Version string
	// NodeID is what NodeGetInfo reports: the node's name, and its IQN and NFS addresses,
	// which the controller puts in igroups and export rules.
	NodeID NodeID
	// Fabric attaches the storage; required.
	Fabric Fabric
	// StateDir holds what the node must remember across restarts (see stagedVolume); required.
	StateDir string
	// Mounter mounts and unmounts; default mount.New(""). Tests wrap the real one to fail at a
	// chosen step.
	Mounter mount.Interface
	// Exec runs mkfs, fsck, blkid and resize2fs; default the host's.
	Exec utilexec.Interface
	// DeviceTimeout bounds the wait for a LUN's device; default DefaultDeviceTimeout.
	DeviceTimeout time.Duration
	// Log receives one line per failed call, and what the node decides on its own.
	Log logr.Logger
}

// Node is the CSI Identity and Node services of the node plugin: it stages (mounts an NFS
// export, or logs in to an iSCSI target and formats and mounts its LUN), publishes (bind
// mounts), expands and reports on the volumes that the controller publishes to its node.
// It needs neither ONTAP credentials nor the Kubernetes API.
type Node struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedNodeServer

	name, version string
	id            NodeID
	fabric        Fabric
	state         nodeState
	mounter       mount.Interface
	exec          utilexec.Interface
	deviceTimeout time.Duration
	log           logr.Logger

	busy inflight
	// sessions serializes what decides iSCSI logins and logouts (the records of the volumes
	// staged from a target), so that a logout never races a login to the same target.
	sessions sync.Mutex
}

// NewNode checks cfg and builds a Node.
func NewNode(cfg NodeConfig) (*Node, error) {
	switch {
	case cfg.Fabric == nil:
		return nil, errors.New("node: no fabric")
	case cfg.StateDir == "":
		return nil, errors.New("node: no state directory")
	case !nodeName.MatchString(cfg.NodeID.Name):
		return nil, fmt.Errorf("node name %q is no Kubernetes node name", cfg.NodeID.Name)
	}
	if _, err := ParseNodeID(cfg.NodeID.String()); err != nil {
		return nil, fmt.Errorf("node ID: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	n := &Node{
		name: cfg.DriverName, version: cfg.Version, id: cfg.NodeID, fabric: cfg.Fabric, state: nodeState{cfg.StateDir},
		mounter: cfg.Mounter, exec: cfg.Exec, deviceTimeout: cfg.DeviceTimeout, log: cfg.Log,
		busy: inflight{keys: map[string]bool{}},
	}
	if n.name == "" {
		n.name = DefaultDriverName
	}
	if n.mounter == nil {
		n.mounter = mount.New("")
	}
	if n.exec == nil {
		n.exec = utilexec.New()
	}
	if n.deviceTimeout == 0 {
		n.deviceTimeout = DefaultDeviceTimeout
	}
	return n, nil
}

// Register adds the node's Identity and Node services to a gRPC server.
func (n *Node) Register(s *grpc.Server) {
	csi.RegisterIdentityServer(s, n)
	csi.RegisterNodeServer(s, n)
}

// Serve listens on endpoint (unix:///path or tcp://host:port) and serves until ctx ends.
func (n *Node) Serve(ctx context.Context, endpoint string) error {
	return serve(ctx, endpoint, n.log, n.Register)
}

// GetPluginInfo implements csi.IdentityServer.
func (n *Node) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: n.name, VendorVersion: n.version}, nil
}

// GetPluginCapabilities implements csi.IdentityServer: the node plugin serves no Controller
// service, and grows filesystems online.
func (n *Node) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{
		{Type: &csi.PluginCapability_VolumeExpansion_{VolumeExpansion: &csi.PluginCapability_VolumeExpansion{Type: csi.PluginCapability_VolumeExpansion_ONLINE}}},
	}}, nil
}

// Probe implements csi.IdentityServer: ready while the state directory can be written, since
// a node that cannot remember what it stages must not stage.
func (n *Node) Probe(ctx context.Context, _ *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return rpc(ctx, n.state.dir, func(_ context.Context, dir string) (*csi.ProbeResponse, error) {
		if err := unix.Access(dir, unix.W_OK); err != nil {
			return nil, refuse(errPrecondition, "state directory %s: %v", dir, err)
		}
		return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
	})
}

// NodeGetInfo implements csi.NodeServer. No maximum number of volumes is reported: ONTAP's
// limits are per SVM, not per node.
func (n *Node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.id.String()}, nil
}

// NodeGetCapabilities implements csi.NodeServer.
func (n *Node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	var caps []*csi.NodeServiceCapability
	for _, c := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
	} {
		caps = append(caps, &csi.NodeServiceCapability{Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: c}}})
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

// NodeStageVolume implements csi.NodeServer (see stageVolume).
func (n *Node) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	return nodeRPC(ctx, req, n.stageVolume)
}

// NodeUnstageVolume implements csi.NodeServer (see unstageVolume).
func (n *Node) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	return nodeRPC(ctx, req, n.unstageVolume)
}

// NodePublishVolume implements csi.NodeServer (see publishVolume).
func (n *Node) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	return nodeRPC(ctx, req, n.publishVolume)
}

// NodeUnpublishVolume implements csi.NodeServer (see unpublishVolume).
func (n *Node) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	return nodeRPC(ctx, req, n.unpublishVolume)
}

// NodeExpandVolume implements csi.NodeServer (see expandVolume).
func (n *Node) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	return nodeRPC(ctx, req, n.expandVolume)
}

// NodeGetVolumeStats implements csi.NodeServer (see volumeStats).
func (n *Node) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	return nodeRPC(ctx, req, n.volumeStats)
}

// nodeRPC is rpc for the node's methods: a failure of the host (a mount, a format, losetup)
// that is no refusal is Internal, where grpcError would take it for an ONTAP that does not
// answer (Unavailable).
func nodeRPC[Req, Resp any](ctx context.Context, req Req, handler func(context.Context, Req) (Resp, error)) (Resp, error) {
	resp, err := handler(ctx, req)
	var r *refusal
	if err != nil && !errors.As(err, &r) && !errors.Is(err, ctx.Err()) {
		err = &refusal{kind: errInternal, err: err}
	}
	return resp, grpcError(err)
}

// lock takes the in-flight guard on a volume: a second call on it while one runs is Aborted.
func (n *Node) lock(volumeID string) (end func(), err error) {
	end, ok := n.busy.begin(volumeID)
	if !ok {
		return nil, refuse(errPending, "an operation on volume %s is in progress on this node", volumeID)
	}
	return end, nil
}

// mountAt returns what is mounted at path, the last mount when several are stacked; nil when
// nothing is. It reads mountinfo, which names a bind mount's source, where a device comparison
// (mount.IsLikelyNotMountPoint) misses a bind mount within one filesystem.
func mountAt(path string) (*mount.MountInfo, error) {
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	path = filepath.Clean(path)
	for i := len(infos) - 1; i >= 0; i-- {
		if infos[i].MountPoint == path {
			return &infos[i], nil
		}
	}
	return nil, nil
}

// readOnlyMount reports whether a mount is read-only.
func readOnlyMount(m *mount.MountInfo) bool { return slices.Contains(m.MountOptions, "ro") }

// checkAccessType refuses a raw block volume, which this node plugin does not serve.
func checkAccessType(vc *csi.VolumeCapability) error {
	switch {
	case vc.GetBlock() != nil:
		return refuse(errInvalid, "volume_capability.block: raw block volumes are not supported; ask for volume_capability.mount")
	case vc.GetMount() == nil:
		return refuse(errInvalid, "volume_capability.access_type is required (mount)")
	}
	return nil
}
