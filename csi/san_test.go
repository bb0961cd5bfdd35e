package csi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

const (
	node1 = "node1;iqn=iqn.1994-05.com.redhat:node1"
	node2 = "node2;iqn=iqn.1994-05.com.redhat:node2"
	// flexvol is the FlexVol of pv.
	flexvol = "trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1"
)

// sanReq is a CreateVolume of a filesystem volume that one node writes.
func sanReq(name string, params map[string]string) *csispec.CreateVolumeRequest {
	r := createReq(name, params)
	r.VolumeCapabilities[0].AccessMode.Mode = csispec.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	return r
}

func publishReq(id, node string, readonly bool) *csispec.ControllerPublishVolumeRequest {
	return &csispec.ControllerPublishVolumeRequest{
		VolumeId: id, NodeId: node, Readonly: readonly,
		VolumeCapability: sanReq(id, nil).VolumeCapabilities[0],
	}
}

// TestSANCreateVolume: a SAN volume is a FlexVol with room for its LUN and the LUN, whose
// context tells the node where to log in and what to look for; a repeat answers the same.
func TestSANCreateVolume(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driver(t, nil, e.kind(e.svm1, ontap.DriverSAN))
	ctx := context.Background()
	e.primary.ResetRequests()
	resp, err := d.CreateVolume(ctx, sanReq(pv, map[string]string{"backendType": "ontap-san", "fsType": "xfs"}))
	if err != nil {
		t.Fatal(err)
	}
	creates := e.primary.Requests()["total"]
	lun, err := e.primary.LUN("svm1", flexvol, "lun0")
	if err != nil {
		t.Fatal(err)
	}
	vc := resp.GetVolume().GetVolumeContext()
	for k, want := range map[string]string{
		"backend": "svm1", "backendType": "ontap-san", "svm": "svm1", "internalName": flexvol, "type": "rw", "protocol": "iscsi",
		"lunPath": "/vol/" + flexvol + "/lun0", "lunSerial": lun.Serial, "fsType": "xfs",
	} {
		if vc[k] != want {
			t.Errorf("volume context %s = %q, want %q", k, vc[k], want)
		}
	}
	if !strings.HasPrefix(vc["targetIQN"], "iqn.1992-08.com.netapp:") || !strings.Contains(vc["portals"], ":3260") {
		t.Errorf("target %q, portals %q", vc["targetIQN"], vc["portals"])
	}
	if vc["path"] != "" || vc["server"] != "" {
		t.Errorf("an NFS path in a SAN volume's context: %v", vc)
	}
	vol, _ := e.primary.Volume("svm1", flexvol)
	if resp.GetVolume().GetCapacityBytes() != 1<<30 || lun.Size < 1<<30 || vol.Size != 1186<<20 {
		t.Errorf("capacity %d, LUN %d bytes, FlexVol %d bytes (want 1 GiB, at least 1 GiB, 1186 MiB)", resp.GetVolume().GetCapacityBytes(), lun.Size, vol.Size)
	}
	again, err := d.CreateVolume(ctx, sanReq(pv, map[string]string{"fsType": "xfs"}))
	if err != nil || again.GetVolume().GetVolumeContext()["lunSerial"] != lun.Serial {
		t.Errorf("repeat: %v, %v", again, err)
	}
	bigger := sanReq(pv, nil)
	bigger.CapacityRange.RequiredBytes = 2 << 30
	if _, err := d.CreateVolume(ctx, bigger); code(err) != codes.AlreadyExists {
		t.Errorf("another size: %v", err)
	}
	t.Logf("REST calls: CreateVolume (SAN) %d", creates)
	// The look for a half-made volume, the FlexVol's POST and its job's end, the LUN's POST
	// and its job's end, the LUN's serial.
	if creates > 6 {
		t.Errorf("REST calls: CreateVolume (SAN) %d, budget 6", creates)
	}
}

// TestSANHalfMade: a FlexVol left without its LUN (a call cut short between the two) is
// completed by the retry; a LUN ONTAP refuses leaves no FlexVol behind.
func TestSANHalfMade(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driver(t, nil, e.kind(e.svm1, ontap.DriverSAN))
	ctx := context.Background()
	e.primary.InjectFault(sim.Fault{Method: "POST", Path: "/storage/luns", Status: 500, Message: "cut short"})
	if _, err := d.CreateVolume(ctx, sanReq(pv, nil)); err == nil {
		t.Fatal("the LUN's failure was not reported")
	}
	if _, err := e.primary.Volume("svm1", flexvol); err != nil {
		t.Fatalf("no half-made FlexVol to complete: %v", err)
	}
	e.primary.ClearFaults()
	resp, err := d.CreateVolume(ctx, sanReq(pv, nil))
	if err != nil || resp.GetVolume().GetVolumeContext()["lunSerial"] == "" {
		t.Fatalf("retry: %v, %v", resp, err)
	}
	if _, err := e.primary.LUN("svm1", flexvol, "lun0"); err != nil {
		t.Errorf("the retry did not make the LUN: %v", err)
	}
	e.primary.InjectFault(sim.Fault{Method: "POST", Path: "/storage/luns", Times: 1, Status: 400, Code: "5374124", Message: "size too small"})
	if _, err := d.CreateVolume(ctx, sanReq("pvc-refused", nil)); code(err) != codes.FailedPrecondition {
		t.Errorf("refused LUN: %v", err)
	}
	if _, err := e.primary.Volume("svm1", "trident_pvc_refused"); err == nil {
		t.Error("a refused LUN left its FlexVol")
	}
}

// TestSANCloneExpandDelete: a clone carries its source's LUN under a serial of its own; an
// expansion grows the FlexVol and the LUN and asks the node to grow the filesystem; a delete
// unmaps what is left and removes the node's igroup.
func TestSANCloneExpandDelete(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driverWith(t, configNodes(), e.kind(e.svm1, ontap.DriverSAN))
	ctx := context.Background()
	src, err := d.CreateVolume(ctx, sanReq(pv, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateSnapshot(ctx, &csispec.CreateSnapshotRequest{Name: "snap1", SourceVolumeId: pv}); err != nil {
		t.Fatal(err)
	}
	clone := sanReq("pvc-clone", nil)
	clone.VolumeContentSource = &csispec.VolumeContentSource{Type: &csispec.VolumeContentSource_Snapshot{Snapshot: &csispec.VolumeContentSource_SnapshotSource{SnapshotId: pv + "/snap1"}}}
	c, err := d.CreateVolume(ctx, clone)
	if err != nil {
		t.Fatal(err)
	}
	cloneLUN, err := e.primary.LUN("svm1", "trident_pvc_clone", "lun0")
	serial := c.GetVolume().GetVolumeContext()["lunSerial"]
	if err != nil || serial != cloneLUN.Serial || serial == src.GetVolume().GetVolumeContext()["lunSerial"] {
		t.Errorf("clone's serial %q, its LUN %+v (%v), source's %q", serial, cloneLUN, err, src.GetVolume().GetVolumeContext()["lunSerial"])
	}

	r, err := d.ControllerExpandVolume(ctx, &csispec.ControllerExpandVolumeRequest{VolumeId: pv, CapacityRange: &csispec.CapacityRange{RequiredBytes: 3 << 30}})
	if err != nil || r.GetCapacityBytes() != 3<<30 || !r.GetNodeExpansionRequired() {
		t.Errorf("expand: %v, %v", r, err)
	}
	lun, _ := e.primary.LUN("svm1", flexvol, "lun0")
	vol, _ := e.primary.Volume("svm1", flexvol)
	if lun.Size < 3<<30 || vol.Size < 3<<30*110/95 {
		t.Errorf("after expansion: LUN %d bytes, FlexVol %d bytes", lun.Size, vol.Size)
	}

	if _, err := d.ControllerPublishVolume(ctx, publishReq(pv, node1, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: "pvc-clone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DeleteSnapshot(ctx, &csispec.DeleteSnapshotRequest{SnapshotId: pv + "/snap1"}); err != nil {
		t.Fatal(err)
	}
	e.primary.ResetRequests()
	if _, err := d.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: pv}); err != nil {
		t.Fatal(err)
	}
	t.Logf("REST calls: DeleteVolume of a SAN volume still published %d", e.primary.Requests()["total"])
	if len(e.primary.VolumeNames()) != 0 {
		t.Errorf("left: volumes %v", e.primary.VolumeNames())
	}
	if _, err := client(t, e, e.primary).GetIgroup(ctx, "svm1", "node1-snapmirror-csi"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("the node's igroup survived its last LUN: %v", err)
	}
}

// configNodes is a driver configuration whose nodes are node1 and node2.
func configNodes() csi.Config { return csi.Config{Nodes: knownNodes{node1, node2}} }

// TestSANPublish: publishing maps the LUN to the node's igroup, made on demand, and tells the
// node its LUN number; it is idempotent, refuses a single-node volume to a second node and a
// node without an IQN; unpublishing unmaps and removes the igroup, and is idempotent too.
func TestSANPublish(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driverWith(t, configNodes(), e.kind(e.svm1, ontap.DriverSAN))
	ctx := context.Background()
	api := client(t, e, e.primary)
	if _, err := d.CreateVolume(ctx, sanReq(pv, nil)); err != nil {
		t.Fatal(err)
	}
	e.primary.ResetRequests()
	r, err := d.ControllerPublishVolume(ctx, publishReq(pv, node1, false))
	if err != nil {
		t.Fatal(err)
	}
	publishes := e.primary.Requests()["total"]
	lun, _ := e.primary.LUN("svm1", flexvol, "lun0")
	pc := r.GetPublishContext()
	if pc["lunNumber"] != "0" || pc["lunSerial"] != lun.Serial || pc["protocol"] != "iscsi" || pc["targetIQN"] == "" || pc["portals"] == "" || !lun.Mapped {
		t.Errorf("publish context %v, LUN %+v", pc, lun)
	}
	ig, err := api.GetIgroup(ctx, "svm1", "node1-snapmirror-csi")
	if err != nil || len(ig.Initiators) != 1 || ig.Initiators[0] != "iqn.1994-05.com.redhat:node1" || ig.Protocol != "iscsi" || ig.OSType != "linux" {
		t.Errorf("node1's igroup: %+v, %v", ig, err)
	}
	e.primary.ResetRequests()
	again, err := d.ControllerPublishVolume(ctx, publishReq(pv, node1, false))
	if err != nil || again.GetPublishContext()["lunNumber"] != "0" {
		t.Errorf("repeated publish: %v, %v", again, err)
	}
	republishes := e.primary.Requests()["total"]

	for _, tc := range []struct {
		name string
		req  *csispec.ControllerPublishVolumeRequest
		want codes.Code
		msg  string
	}{
		{"another node, single-node access", publishReq(pv, node2, false), codes.FailedPrecondition, "mapped to igroup node1-snapmirror-csi"},
		{"the same node, read-only now", publishReq(pv, node1, true), codes.AlreadyExists, "readonly=false"},
		{"a node without an IQN", publishReq(pv, "node3", false), codes.NotFound, "node3 is unknown"},
		{"a malformed node ID", publishReq(pv, "Node 1;iqn=x", false), codes.InvalidArgument, "no Kubernetes node name"},
		{"a missing volume", publishReq("pvc-missing", node1, false), codes.NotFound, "pvc-missing"},
	} {
		if _, err := d.ControllerPublishVolume(ctx, tc.req); code(err) != tc.want || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %s with %q", tc.name, err, tc.want, tc.msg)
		}
	}
	noIQN := e.driverWith(t, csi.Config{Nodes: knownNodes{"node3"}}, e.kind(e.svm1, ontap.DriverSAN))
	if _, err := noIQN.ControllerPublishVolume(ctx, publishReq(pv, "node3", false)); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "has no iqn") {
		t.Errorf("a node without an IQN: %v", err)
	}

	e.primary.ResetRequests()
	unpublish := &csispec.ControllerUnpublishVolumeRequest{VolumeId: pv, NodeId: node1}
	if _, err := d.ControllerUnpublishVolume(ctx, unpublish); err != nil {
		t.Fatal(err)
	}
	unpublishes := e.primary.Requests()["total"]
	if lun, _ := e.primary.LUN("svm1", flexvol, "lun0"); lun.Mapped {
		t.Error("the LUN is still mapped")
	}
	if _, err := api.GetIgroup(ctx, "svm1", "node1-snapmirror-csi"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("the igroup of a node with no LUN left survived: %v", err)
	}
	for _, req := range []*csispec.ControllerUnpublishVolumeRequest{unpublish, {VolumeId: "pvc-missing", NodeId: node1}} {
		if _, err := d.ControllerUnpublishVolume(ctx, req); err != nil {
			t.Errorf("unpublish %s again: %v", req.GetVolumeId(), err)
		}
	}
	// Now the second node may have it; its igroup is made with its IQN.
	if _, err := d.ControllerPublishVolume(ctx, publishReq(pv, node2, false)); err != nil {
		t.Errorf("publish to node2 once node1 let go: %v", err)
	}
	t.Logf("REST calls: ControllerPublishVolume %d (repeated %d), ControllerUnpublishVolume %d", publishes, republishes, unpublishes)
	if publishes > 5 || republishes > 2 || unpublishes > 4 {
		t.Errorf("REST calls: publish %d (budget 5), repeated publish %d (budget 2), unpublish %d (budget 4)", publishes, republishes, unpublishes)
	}
}

// TestPublishNAS: an NFS volume needs nothing of the controller to be published: the answer
// is empty, so that NAS and SAN backends serve side by side.
func TestPublishNAS(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driverWith(t, configNodes(), e.svm1, e.kind(e.svm3, ontap.DriverSAN))
	ctx := context.Background()
	if _, err := d.CreateVolume(ctx, createReq(pv, nil)); err != nil {
		t.Fatal(err)
	}
	r, err := d.ControllerPublishVolume(ctx, publishReq(pv, node1, false))
	if err != nil || len(r.GetPublishContext()) != 0 {
		t.Errorf("publish of an NFS volume: %v, %v", r, err)
	}
	if _, err := d.ControllerUnpublishVolume(ctx, &csispec.ControllerUnpublishVolumeRequest{VolumeId: pv, NodeId: node1}); err != nil {
		t.Errorf("unpublish of an NFS volume: %v", err)
	}
	// The SAN backend serves what asks for a LUN.
	s, err := d.CreateVolume(ctx, sanReq("pvc-block", map[string]string{"fsType": "ext4"}))
	if err != nil || s.GetVolume().GetVolumeContext()["svm"] != "svm3" {
		t.Errorf("SAN volume beside NAS: %v, %v", s, err)
	}
}

// TestSANMirrorPublish: a SAN mirror destination is a DP FlexVol whose LUN arrives with the
// baseline; it is published read-only, refused for writing until the mirror is broken
// (promoted), and then published for writing under its own serial.
func TestSANMirrorPublish(t *testing.T) {
	e := newEnv(t, sim.Options{})
	ctx := context.Background()
	_, dst, api := mirroredPVs(t, e, ontap.DriverSAN)
	dp, err := e.secondary.Volume("svm2", "trident_pvc_dst")
	if err != nil || dp.Type != "dp" {
		t.Fatalf("destination %+v, %v", dp, err)
	}
	srcLUN, _ := e.primary.LUN("svm1", "trident_pvc_src", "lun0")
	dstLUN, err := e.secondary.LUN("svm2", "trident_pvc_dst", "lun0")
	if err != nil || !dstLUN.ReadOnly {
		t.Fatalf("the baseline brought no read-only LUN: %+v, %v", dstLUN, err)
	}
	if _, err := dst.ControllerPublishVolume(ctx, publishReq("pvc-dst", node1, false)); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "promote it") {
		t.Errorf("publish a DP volume for writing: %v", err)
	}
	ro, err := dst.ControllerPublishVolume(ctx, publishReq("pvc-dst", node2, true))
	if err != nil || ro.GetPublishContext()["lunSerial"] != dstLUN.Serial || dstLUN.Serial == srcLUN.Serial {
		t.Errorf("read-only publish of a DP volume: %v, %v (source serial %s)", ro, err, srcLUN.Serial)
	}
	rel, _ := api.GetRelationship(ctx, "svm2:trident_pvc_dst")
	if job, err := api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff}); err != nil || api.WaitJob(ctx, job) != nil {
		t.Fatalf("break: %v", err)
	}
	if _, err := dst.ControllerUnpublishVolume(ctx, &csispec.ControllerUnpublishVolumeRequest{VolumeId: "pvc-dst", NodeId: node2}); err != nil {
		t.Fatal(err)
	}
	rw, err := dst.ControllerPublishVolume(ctx, publishReq("pvc-dst", node1, false))
	if err != nil || rw.GetPublishContext()["lunSerial"] != dstLUN.Serial {
		t.Errorf("publish the promoted volume for writing: %v, %v", rw, err)
	}
}
