package csi_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
)

// TestSanity runs csi-test's sanity suite on the Identity and Controller services, against
// the driver wired to the simulator over a real gRPC socket. Node tests are left out: there is
// no node plugin yet.
func TestSanity(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driver(t, nil, e.svm1)
	sock := filepath.Join(t.TempDir(), "csi.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	d.Register(srv)
	// The suite's cleanup unpublishes every volume from a node; with no node plugin yet, a
	// node that holds nothing answers it.
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
