package csi_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// sanityNodeProtocol, in the environment, makes TestSanityNode run the suite for volumes of
// that protocol (nfs or iscsi) in this process.
const sanityNodeProtocol = "SANITY_NODE_PROTOCOL"

// TestSanityNode runs csi-test's sanity suite on the Node service: the real node plugin, with
// the sim fabric, mounting for real (bind mounts, loop devices, ext4). The simulator's node
// routes are not merged yet, so the volumes are made by a stand-in controller (simController)
// over the test's fake of those routes, which gives NodeStageVolume the publish contexts that
// the controller is to give; once they are merged, this is to run the real Driver over
// mocks/ontap instead. Ginkgo runs one suite per process: each protocol runs in a process of
// its own.
func TestSanityNode(t *testing.T) {
	requireRoot(t)
	if protocol := os.Getenv(sanityNodeProtocol); protocol != "" {
		runSanityNode(t, protocol)
		return
	}
	for _, protocol := range []string{"nfs", "iscsi"} {
		t.Run(protocol, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSanityNode$")
			cmd.Env = append(os.Environ(), sanityNodeProtocol+"="+protocol)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("node sanity on %s: %v\n%s", protocol, err, out)
			}
		})
	}
}

func runSanityNode(t *testing.T, protocol string) {
	e := newNodeEnv(t)
	sock := filepath.Join(e.dir, "csi.sock")
	ln, err := net.Listen("unix", sock)
	must(t, err)
	srv := grpc.NewServer()
	ctl := &simController{env: e, protocol: protocol, volumes: map[string]map[string]string{}}
	csispec.RegisterIdentityServer(srv, ctl)
	csispec.RegisterControllerServer(srv, ctl)
	csispec.RegisterNodeServer(srv, e.node)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + sock
	cfg.TestVolumeSize = 64 << 20
	cfg.TestVolumeExpandSize = 128 << 20
	cfg.StagingPath = e.path("sanity-staging")
	cfg.TargetPath = e.path("sanity-target")
	cfg.IdempotentCount = 2
	cfg.IDGen = &sanity.DefaultIDGenerator{}
	sc := sanity.GinkgoTest(&cfg)
	RegisterFailHandler(Fail)
	suite, reporter := GinkgoConfiguration()
	suite.FocusStrings = []string{"Node Service"}
	RunSpecs(t, "CSI sanity: Node ("+protocol+")", suite, reporter)
	sc.Finalize()
	srv.GracefulStop()
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// simController is a stand-in CSI controller for the node's sanity suite: it makes volumes as
// exported directories or LUN images of the fake simulator, and publishes them with the
// publish context that the real controller gives.
type simController struct {
	csispec.UnimplementedIdentityServer
	csispec.UnimplementedControllerServer

	env      *nodeEnv
	protocol string

	mu      sync.Mutex
	volumes map[string]map[string]string // volume ID -> publish context
	luns    int
}

func (c *simController) GetPluginInfo(context.Context, *csispec.GetPluginInfoRequest) (*csispec.GetPluginInfoResponse, error) {
	return &csispec.GetPluginInfoResponse{Name: "csi.trident.netapp.io", VendorVersion: "test"}, nil
}

func (c *simController) GetPluginCapabilities(context.Context, *csispec.GetPluginCapabilitiesRequest) (*csispec.GetPluginCapabilitiesResponse, error) {
	return &csispec.GetPluginCapabilitiesResponse{Capabilities: []*csispec.PluginCapability{
		{Type: &csispec.PluginCapability_Service_{Service: &csispec.PluginCapability_Service{Type: csispec.PluginCapability_Service_CONTROLLER_SERVICE}}},
	}}, nil
}

func (c *simController) Probe(context.Context, *csispec.ProbeRequest) (*csispec.ProbeResponse, error) {
	return &csispec.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}

func (c *simController) ControllerGetCapabilities(context.Context, *csispec.ControllerGetCapabilitiesRequest) (*csispec.ControllerGetCapabilitiesResponse, error) {
	var caps []*csispec.ControllerServiceCapability
	for _, r := range []csispec.ControllerServiceCapability_RPC_Type{
		csispec.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME, csispec.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
	} {
		caps = append(caps, &csispec.ControllerServiceCapability{Type: &csispec.ControllerServiceCapability_Rpc{Rpc: &csispec.ControllerServiceCapability_RPC{Type: r}}})
	}
	return &csispec.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

// CreateVolume makes the volume in the fake simulator: a directory exported to the node, or a
// blank LUN image mapped to it.
func (c *simController) CreateVolume(_ context.Context, req *csispec.CreateVolumeRequest) (*csispec.CreateVolumeResponse, error) {
	if req.GetName() == "" || len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "name and volume_capabilities are required")
	}
	size := req.GetCapacityRange().GetRequiredBytes()
	if size == 0 {
		size = 64 << 20
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := req.GetName()
	if _, ok := c.volumes[id]; !ok {
		var pc map[string]string
		var err error
		if c.protocol == "nfs" {
			_, pc, err = c.env.makeNFS(id, false)
		} else {
			c.luns++
			_, pc, err = c.env.makeSAN(c.luns, fmt.Sprintf("sanity%06d", c.luns), size, false)
		}
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		c.volumes[id] = pc
	}
	return &csispec.CreateVolumeResponse{Volume: &csispec.Volume{VolumeId: id, CapacityBytes: size}}, nil
}

func (c *simController) DeleteVolume(_ context.Context, req *csispec.DeleteVolumeRequest) (*csispec.DeleteVolumeResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.volumes, req.GetVolumeId())
	return &csispec.DeleteVolumeResponse{}, nil
}

func (c *simController) ControllerPublishVolume(_ context.Context, req *csispec.ControllerPublishVolumeRequest) (*csispec.ControllerPublishVolumeResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, ok := c.volumes[req.GetVolumeId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s does not exist", req.GetVolumeId())
	}
	return &csispec.ControllerPublishVolumeResponse{PublishContext: pc}, nil
}

func (c *simController) ControllerUnpublishVolume(context.Context, *csispec.ControllerUnpublishVolumeRequest) (*csispec.ControllerUnpublishVolumeResponse, error) {
	return &csispec.ControllerUnpublishVolumeResponse{}, nil
}
