package csi_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// sanityNodeProtocol, in the environment, makes TestSanityNode run the suite for volumes of
// that protocol (nfs or iscsi) in this process.
const sanityNodeProtocol = "SANITY_NODE_PROTOCOL"

// TestSanityNode runs csi-test's sanity suite on the Node service, with the whole path a
// volume takes in a cluster: the real controller (csi.Driver) makes and publishes volumes on
// the simulator (mocks/ontap: export rules for ontap-nas, igroups and LUN maps for ontap-san),
// and the real node plugin, with the sim fabric, mounts them for real (bind mounts of the
// volumes' directories, loop devices on the LUNs' images, ext4). So the node is admitted, or
// not, by what the controller did, not by a test's stand-in. Ginkgo runs one suite per
// process: each protocol runs in a process of its own.
func TestSanityNode(t *testing.T) {
	requireRoot(t)
	if protocol := os.Getenv(sanityNodeProtocol); protocol != "" {
		runSanityNode(t, protocol)
		return
	}
	for _, protocol := range []string{"nfs", "iscsi"} {
		t.Run(protocol, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSanityNode$", "-test.v", "-ginkgo.no-color")
			cmd.Env = append(os.Environ(), sanityNodeProtocol+"="+protocol)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node sanity on %s: %v\n%s", protocol, err, out)
			}
			t.Log(ginkgoSummary(out))
		})
	}
}

// ginkgoSummary is the lines of a suite's output that count its specs ("Ran 23 of 103
// Specs", "23 Passed | 0 Failed | ..."), so that go test -v shows how many ran. Ginkgo counts
// the specs that the focus leaves out as skipped.
func ginkgoSummary(out []byte) string {
	var summary []string
	for line := range bytes.Lines(out) {
		if (bytes.HasPrefix(line, []byte("Ran ")) && bytes.Contains(line, []byte(" Specs"))) || bytes.Contains(line, []byte(" Passed | ")) {
			summary = append(summary, string(bytes.TrimSpace(line)))
		}
	}
	if len(summary) == 0 {
		return "no summary in the suite's output"
	}
	return strings.Join(summary, "; ")
}

func runSanityNode(t *testing.T, protocol string) {
	kind := map[string]string{"nfs": ontap.DriverNAS, "iscsi": ontap.DriverSAN}[protocol]
	if kind == "" {
		t.Fatalf("%s=%q: want nfs or iscsi", sanityNodeProtocol, protocol)
	}
	// The simulator keeps the volumes' content in dir, so that the clean-up below finds the
	// loop devices on their LUNs' images as well as the mounts of the staging and target
	// paths. Cleanups run last first: the mounts go before the simulator closes and before
	// dir is removed, which would otherwise delete through a bind mount.
	dir := t.TempDir()
	e := newEnv(t, sim.Options{DataDir: filepath.Join(dir, "sim")})
	t.Cleanup(func() { undoMounts(t, dir) })

	node := nodeOnSim(t, e, filepath.Join(dir, "state"))
	info, err := node.NodeGetInfo(t.Context(), &csispec.NodeGetInfoRequest{})
	must(t, err)
	// The driver publishes only to the node ID the node plugin reports, as it does in a
	// cluster where the CSINode objects tell it which node IDs exist.
	d := e.driverWith(t, csi.Config{Nodes: knownNodes{info.GetNodeId()}}, e.kind(e.svm1, kind))

	volumesBefore := e.primary.VolumeNames()

	sock := filepath.Join(dir, "csi.sock")
	ln, err := net.Listen("unix", sock)
	must(t, err)
	srv := grpc.NewServer()
	d.Register(srv)
	csispec.RegisterNodeServer(srv, node)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + sock
	// A LUN's image is sparse: mkfs writes a few megabytes of a gigabyte.
	cfg.TestVolumeSize = 1 << 30
	cfg.TestVolumeExpandSize = 2 << 30
	cfg.StagingPath = filepath.Join(dir, "sanity-staging")
	cfg.TargetPath = filepath.Join(dir, "sanity-target")
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
	// Every volume of the suite was unstaged and deleted: nothing of theirs may be left
	// mounted or attached (the clean-up would hide it).
	if mounts, loops := heldUnder(t, dir); len(mounts)+len(loops) > 0 {
		t.Errorf("left after the suite: mounts %v, loop devices %v", mounts, loops)
	}
	// Nor on the storage: the volumes (and with them their export policies) and the node's
	// igroup, which goes with its last LUN map.
	if after := e.primary.VolumeNames(); !slices.Equal(after, volumesBefore) {
		t.Errorf("volumes left after the suite: %v, before it %v", after, volumesBefore)
	}
	id, err := csi.ParseNodeID(info.GetNodeId())
	must(t, err)
	igroup := id.Name + "-" + csi.DefaultInstallationID
	if _, err := client(t, e, e.primary).GetIgroup(t.Context(), "svm1", igroup); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("igroup %s after the suite: %v; want it gone", igroup, err)
	}
}

// nodeOnSim builds the node plugin on the sim fabric of e's clusters, with the node ID
// sanityNode. Both clusters are endpoints, the one without the volumes first, so that the
// fabric also asks a real cluster that answers "not mine".
func nodeOnSim(t *testing.T, e *env, stateDir string) *csi.Node {
	t.Helper()
	id, err := csi.ParseNodeID(sanityNode)
	must(t, err)
	ca := filepath.Join(e.dir, "sim-ca.pem")
	must(t, os.WriteFile(ca, append(append([]byte{}, e.secondary.CA()...), e.primary.CA()...), 0o600))
	fabric, err := csi.NewSimFabric(csi.SimFabricConfig{
		Endpoints: []string{"https://" + e.secondary.Address(), "https://" + e.primary.Address()},
		CAFile:    ca, CredentialsDir: e.svm1.Credentials.File, NodeID: id,
	})
	must(t, err)
	n, err := csi.NewNode(csi.NodeConfig{NodeID: id, StateDir: stateDir, Fabric: fabric, Log: logr.Discard()})
	must(t, err)
	return n
}
