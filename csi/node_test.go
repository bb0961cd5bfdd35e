package csi_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/mount-utils"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
)

// requireRootEnv, set to 1, makes a test that needs root fail instead of skipping (CI sets it).
const requireRootEnv = "SNAPMIRROR_REQUIRE_ROOT_TESTS"

// requireRoot skips a test that mounts or uses loop devices unless it runs as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv(requireRootEnv) == "1" {
		t.Fatalf("this test mounts filesystems and attaches loop devices, so it needs root, and %s=1 requires it to run", requireRootEnv)
	}
	t.Skipf("this test mounts filesystems and attaches loop devices: run it as root (%s=1 makes this skip a failure)", requireRootEnv)
}

// testNode is the node the tests' plugin runs on.
var testNode = csi.NodeID{Name: "node-1", IQN: "iqn.1994-05.com.redhat:node-1", NFS: []string{"10.0.0.5"}}

const (
	testTarget  = "iqn.1992-08.com.netapp:sn.1234:vs.5"
	testPortals = "10.0.0.1:3260,10.0.0.2:3260"
)

// nodeEnv is a node plugin over the sim fabric and a fake simulator, in a directory of the
// test's that holds the exported directories, LUN images, staging and target paths.
type nodeEnv struct {
	sim  *fakeSim
	node *csi.Node
	cfg  csi.NodeConfig
	dir  string
}

// fabricWrapper is a Fabric of a test's that wraps the sim fabric: an option that sets one as
// the configuration's Fabric gets the sim fabric to wrap.
type fabricWrapper interface {
	csi.Fabric
	wrap(csi.Fabric)
}

// newNodeEnv builds the node; options change its configuration (the mounter or exec to wrap,
// a fabricWrapper).
// Every mount under the test's directory and every loop device on its images is undone when
// the test ends, whether it passed or not.
func newNodeEnv(t *testing.T, opts ...func(*csi.NodeConfig)) *nodeEnv {
	t.Helper()
	s, ca, creds := newFakeSim(t)
	// A cluster that serves none of the test's addresses answers first: the fabric must ask
	// the next.
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"not this cluster"}`, http.StatusNotFound)
	}))
	t.Cleanup(other.Close)
	dir := t.TempDir()
	t.Cleanup(func() { undoMounts(t, dir) })
	cfg := csi.NodeConfig{NodeID: testNode, StateDir: filepath.Join(dir, "state"), DeviceTimeout: 500 * time.Millisecond, Log: logr.Discard()}
	for _, o := range opts {
		o(&cfg)
	}
	fabric, err := csi.NewSimFabric(csi.SimFabricConfig{Endpoints: []string{other.URL, s.srv.URL}, CAFile: ca, CredentialsDir: creds, NodeID: testNode, Mounter: cfg.Mounter})
	must(t, err)
	if w, ok := cfg.Fabric.(fabricWrapper); ok {
		w.wrap(fabric)
	} else {
		cfg.Fabric = fabric
	}
	n, err := csi.NewNode(cfg)
	must(t, err)
	return &nodeEnv{sim: s, node: n, cfg: cfg, dir: dir}
}

// undoMounts unmounts what is mounted under dir, the last mount first, and detaches the loop
// devices of images under it.
func undoMounts(t *testing.T, dir string) {
	mounts, loops := heldUnder(t, dir)
	for _, m := range mounts {
		if err := syscall.Unmount(m, 0); err != nil {
			t.Errorf("clean up: unmount %s: %v", m, err)
		}
	}
	for _, dev := range loops {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("clean up: losetup -d %s: %v: %s", dev, err, out)
		}
	}
}

// heldUnder lists the mount points under dir, the last mounted first, and the loop devices
// attached to images under it.
func heldUnder(t *testing.T, dir string) (mounts, loops []string) {
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("list mounts: %v", err)
	}
	for i := len(infos) - 1; i >= 0; i-- {
		if strings.HasPrefix(infos[i].MountPoint, dir+"/") {
			mounts = append(mounts, infos[i].MountPoint)
		}
	}
	out, _ := exec.Command("losetup", "-a").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if dev, _, ok := strings.Cut(line, ":"); ok && strings.Contains(line, "("+dir+"/") {
			loops = append(loops, dev)
		}
	}
	return mounts, loops
}

// path is a path in the test's directory.
func (e *nodeEnv) path(name string) string { return filepath.Join(e.dir, name) }

// nfsVolume exports a new directory to the node and returns it and its publish context.
func (e *nodeEnv) nfsVolume(t *testing.T, name string, readOnly bool) (dir string, pc map[string]string) {
	t.Helper()
	dir, pc, err := e.makeNFS(name, readOnly)
	must(t, err)
	return dir, pc
}

func (e *nodeEnv) makeNFS(name string, readOnly bool) (dir string, pc map[string]string, err error) {
	dir = e.path("exports/" + name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	e.sim.export("10.0.0.1", "/trident_"+name, dir, readOnly, testNode.NFS[0])
	return dir, map[string]string{"protocol": "nfs", "nfsServer": "10.0.0.1", "nfsPath": "/trident_" + name, "readOnly": boolString(readOnly)}, nil
}

// sanVolume maps a new blank LUN of size bytes to the node and returns its image and its
// publish context.
func (e *nodeEnv) sanVolume(t *testing.T, number int, serial string, size int64, readOnly bool) (image string, pc map[string]string) {
	t.Helper()
	image, pc, err := e.makeSAN(number, serial, size, readOnly)
	must(t, err)
	return image, pc
}

func (e *nodeEnv) makeSAN(number int, serial string, size int64, readOnly bool) (image string, pc map[string]string, err error) {
	image = e.path("luns/" + serial + ".img")
	if err := os.MkdirAll(filepath.Dir(image), 0o755); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(image, nil, 0o600); err != nil {
		return "", nil, err
	}
	if err := os.Truncate(image, size); err != nil {
		return "", nil, err
	}
	e.sim.mapLUN(testTarget, &fakeLUN{Number: number, Serial: serial, Image: image, ReadOnly: readOnly, Size: size, SVM: "svm1", Path: "/vol/trident_" + serial + "/lun0"})
	return image, map[string]string{
		"protocol": "iscsi", "lunNumber": strconv.Itoa(number), "lunSerial": serial, "targetIQN": testTarget, "portals": testPortals, "readOnly": boolString(readOnly),
	}, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// mountCap is a mount capability with an access mode.
func mountCap(mode csispec.VolumeCapability_AccessMode_Mode) *csispec.VolumeCapability {
	return &csispec.VolumeCapability{
		AccessType: &csispec.VolumeCapability_Mount{Mount: &csispec.VolumeCapability_MountVolume{}},
		AccessMode: &csispec.VolumeCapability_AccessMode{Mode: mode},
	}
}

var rwo = csispec.VolumeCapability_AccessMode_SINGLE_NODE_WRITER

func (e *nodeEnv) stage(t *testing.T, id string, pc map[string]string, mode csispec.VolumeCapability_AccessMode_Mode) error {
	t.Helper()
	_, err := e.node.NodeStageVolume(t.Context(), &csispec.NodeStageVolumeRequest{
		VolumeId: id, StagingTargetPath: e.path("staging/" + id), VolumeCapability: mountCap(mode), PublishContext: pc,
	})
	return err
}

func (e *nodeEnv) unstage(t *testing.T, id string) error {
	t.Helper()
	_, err := e.node.NodeUnstageVolume(t.Context(), &csispec.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: e.path("staging/" + id)})
	return err
}

func (e *nodeEnv) publish(t *testing.T, id string, mode csispec.VolumeCapability_AccessMode_Mode, readonly bool) error {
	t.Helper()
	_, err := e.node.NodePublishVolume(t.Context(), &csispec.NodePublishVolumeRequest{
		VolumeId: id, StagingTargetPath: e.path("staging/" + id), TargetPath: e.path("pods/" + id), VolumeCapability: mountCap(mode), Readonly: readonly,
	})
	return err
}

func (e *nodeEnv) unpublish(t *testing.T, id string) error {
	t.Helper()
	_, err := e.node.NodeUnpublishVolume(t.Context(), &csispec.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: e.path("pods/" + id)})
	return err
}

// ok fails the test on an error.
func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantCode fails the test unless err has the gRPC code and its message says what it must.
func wantCode(t *testing.T, what string, err error, code codes.Code, says string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), says) {
		t.Fatalf("%s: %v; want %s saying %q", what, err, code, says)
	}
}

// mounts counts the mounts at path.
func mounts(t *testing.T, path string) int {
	t.Helper()
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	must(t, err)
	n := 0
	for _, i := range infos {
		if i.MountPoint == path {
			n++
		}
	}
	return n
}

// loops lists the loop devices on an image.
func loops(t *testing.T, image string) string {
	t.Helper()
	out, err := exec.Command("losetup", "-j", image).CombinedOutput()
	must(t, err)
	return strings.TrimSpace(string(out))
}

// TestNodeGetInfo checks the node ID and capabilities the plugin reports.
func TestNodeGetInfo(t *testing.T) {
	n, err := csi.NewNode(csi.NodeConfig{NodeID: testNode, StateDir: t.TempDir(), Fabric: csi.NewHostFabric(csi.HostFabricConfig{}), Log: logr.Discard()})
	must(t, err)
	info, err := n.NodeGetInfo(t.Context(), &csispec.NodeGetInfoRequest{})
	ok(t, "NodeGetInfo", err)
	if info.GetNodeId() != "node-1;iqn=iqn.1994-05.com.redhat:node-1;nfs=10.0.0.5" || info.GetMaxVolumesPerNode() != 0 {
		t.Errorf("NodeGetInfo = %v", info)
	}
	if _, err := csi.ParseNodeID(info.GetNodeId()); err != nil {
		t.Errorf("the controller cannot read the node ID: %v", err)
	}
	caps, err := n.NodeGetCapabilities(t.Context(), &csispec.NodeGetCapabilitiesRequest{})
	ok(t, "NodeGetCapabilities", err)
	var got []string
	for _, c := range caps.GetCapabilities() {
		got = append(got, c.GetRpc().GetType().String())
	}
	if strings.Join(got, ",") != "STAGE_UNSTAGE_VOLUME,EXPAND_VOLUME,GET_VOLUME_STATS" {
		t.Errorf("capabilities %v", got)
	}
}

// TestNodeRefusesBadRequests checks that a malformed request is InvalidArgument naming the
// field, before anything is mounted.
func TestNodeRefusesBadRequests(t *testing.T) {
	n, err := csi.NewNode(csi.NodeConfig{NodeID: testNode, StateDir: t.TempDir(), Fabric: csi.NewHostFabric(csi.HostFabricConfig{}), Log: logr.Discard()})
	must(t, err)
	dir := t.TempDir()
	san := map[string]string{"protocol": "iscsi", "lunNumber": "0", "lunSerial": "s", "targetIQN": testTarget, "portals": testPortals}
	with := func(k, v string) map[string]string {
		pc := map[string]string{}
		for k, v := range san {
			pc[k] = v
		}
		pc[k] = v
		return pc
	}
	block := &csispec.VolumeCapability{AccessType: &csispec.VolumeCapability_Block{Block: &csispec.VolumeCapability_BlockVolume{}}, AccessMode: &csispec.VolumeCapability_AccessMode{Mode: rwo}}
	for _, c := range []struct {
		// name is the case.
		name string
		// req is the stage request.
		req *csispec.NodeStageVolumeRequest
		// says is what the message must name.
		says string
	}{
		{"no volume", &csispec.NodeStageVolumeRequest{StagingTargetPath: dir, VolumeCapability: mountCap(rwo), PublishContext: san}, "volume_id"},
		{"no staging path", &csispec.NodeStageVolumeRequest{VolumeId: "v", VolumeCapability: mountCap(rwo), PublishContext: san}, "staging_target_path"},
		{"no capability", &csispec.NodeStageVolumeRequest{VolumeId: "v", StagingTargetPath: dir, PublishContext: san}, "volume_capability"},
		{"block", &csispec.NodeStageVolumeRequest{VolumeId: "v", StagingTargetPath: dir, VolumeCapability: block, PublishContext: san}, "volume_capability.block"},
		{"no protocol", &csispec.NodeStageVolumeRequest{VolumeId: "v", StagingTargetPath: dir, VolumeCapability: mountCap(rwo)}, "publish_context.protocol"},
		{"bad LUN number", &csispec.NodeStageVolumeRequest{VolumeId: "v", StagingTargetPath: dir, VolumeCapability: mountCap(rwo), PublishContext: with("lunNumber", "x")}, "publish_context.lunNumber"},
		{"no serial", &csispec.NodeStageVolumeRequest{VolumeId: "v", StagingTargetPath: dir, VolumeCapability: mountCap(rwo), PublishContext: with("lunSerial", "")}, "publish_context.lunSerial"},
		{"no portals", &csispec.NodeStageVolumeRequest{VolumeId: "v", StagingTargetPath: dir, VolumeCapability: mountCap(rwo), PublishContext: with("portals", "")}, "publish_context.portals"},
		{"bad readOnly", &csispec.NodeStageVolumeRequest{VolumeId: "v", StagingTargetPath: dir, VolumeCapability: mountCap(rwo), PublishContext: with("readOnly", "yes")}, "publish_context.readOnly"},
		{"no NFS path", &csispec.NodeStageVolumeRequest{VolumeId: "v", StagingTargetPath: dir, VolumeCapability: mountCap(rwo), PublishContext: map[string]string{"protocol": "nfs", "nfsServer": "10.0.0.1"}}, "publish_context.nfsPath"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := n.NodeStageVolume(t.Context(), c.req)
			wantCode(t, "stage", err, codes.InvalidArgument, c.says)
		})
	}
	_, err = n.NodePublishVolume(t.Context(), &csispec.NodePublishVolumeRequest{VolumeId: "v", TargetPath: dir, VolumeCapability: mountCap(rwo)})
	wantCode(t, "publish without staging path", err, codes.InvalidArgument, "staging_target_path")
	_, err = n.NodeGetVolumeStats(t.Context(), &csispec.NodeGetVolumeStatsRequest{VolumeId: "v"})
	wantCode(t, "stats without path", err, codes.InvalidArgument, "volume_path")
	_, err = n.NodeExpandVolume(t.Context(), &csispec.NodeExpandVolumeRequest{VolumePath: dir})
	wantCode(t, "expand without volume", err, codes.InvalidArgument, "volume_id")
}
