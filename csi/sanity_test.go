package csi_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// sanityNode is the node ID the suite's node reports: a node with an iSCSI initiator and an
// NFS address.
const sanityNode = "sanity-node;iqn=iqn.1994-05.com.redhat:sanity-node;nfs=10.0.0.9"

// sanityBackend, in the environment, makes TestSanity run the suite on a backend of that kind
// in this process.
const sanityBackend = "SANITY_BACKEND"

// TestSanity runs csi-test's sanity suite on the Identity and Controller services, against
// the driver wired to the simulator over a real gRPC socket, once for each kind of backend.
// Ginkgo runs one suite per process, so each kind runs in a process of its own. Node tests are
// TestSanityNode's; here a stand-in node reports a node ID and holds nothing.
func TestSanity(t *testing.T) {
	if kind := os.Getenv(sanityBackend); kind != "" {
		e := newEnv(t, sim.Options{})
		runSanity(t, e.driverWith(t, csi.Config{Nodes: knownNodes{sanityNode}}, e.kind(e.svm1, kind)))
		return
	}
	for _, kind := range []string{ontap.DriverNAS, ontap.DriverSAN} {
		t.Run(kind, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSanity$")
			cmd.Env = append(os.Environ(), sanityBackend+"="+kind)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sanity on %s: %v\n%s", kind, err, out)
			}
		})
	}
}

func runSanity(t *testing.T, d *csi.Driver) {
	sock := filepath.Join(t.TempDir(), "csi.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	d.Register(srv)
	csispec.RegisterNodeServer(srv, noNode{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + sock
	cfg.TestVolumeSize = 1 << 30
	cfg.TestVolumeExpandSize = 2 << 30
	cfg.IDGen = &sanity.DefaultIDGenerator{}
	sc := sanity.GinkgoTest(&cfg)
	RegisterFailHandler(Fail)
	suite, reporter := GinkgoConfiguration()
	suite.FocusStrings = []string{"Controller Server", "Identity Service"}
	RunSpecs(t, "CSI sanity: Identity and Controller", suite, reporter)
	sc.Finalize()
	srv.GracefulStop()
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// noNode is a node on which nothing is ever published.
type noNode struct {
	csispec.UnimplementedNodeServer
}

func (noNode) NodeUnpublishVolume(context.Context, *csispec.NodeUnpublishVolumeRequest) (*csispec.NodeUnpublishVolumeResponse, error) {
	return &csispec.NodeUnpublishVolumeResponse{}, nil
}

func (noNode) NodeGetCapabilities(context.Context, *csispec.NodeGetCapabilitiesRequest) (*csispec.NodeGetCapabilitiesResponse, error) {
	return &csispec.NodeGetCapabilitiesResponse{}, nil
}

func (noNode) NodeGetInfo(context.Context, *csispec.NodeGetInfoRequest) (*csispec.NodeGetInfoResponse, error) {
	return &csispec.NodeGetInfoResponse{NodeId: sanityNode}, nil
}

// knownNodes are the node IDs node plugins reported.
type knownNodes []string

func (k knownNodes) Known(_ context.Context, id string) (bool, error) {
	for _, n := range k {
		if n == id {
			return true, nil
		}
	}
	return false, nil
}
