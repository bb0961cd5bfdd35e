package csi_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

const (
	node1 = "node1;iqn=iqn.1994-05.com.redhat:node1;nfs=10.0.0.1"
	node2 = "node2;iqn=iqn.1994-05.com.redhat:node2;nfs=10.0.0.2,fd00::2"
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

// TestPublishNAS: with autoExportPolicy an NFS volume has an export policy of its own that
// admits no one until the volume is published; each publication adds a rule per node address
// (read-only when published read-only), its unpublish removes them, and the volume's delete
// removes the policy. The publish context says where the node mounts. NAS and SAN backends
// serve side by side.
func TestPublishNAS(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driverWith(t, configNodes(), e.svm1, e.kind(e.svm3, ontap.DriverSAN))
	api := client(t, e, e.primary)
	ctx := context.Background()
	if _, err := d.CreateVolume(ctx, createReq(pv, nil)); err != nil {
		t.Fatal(err)
	}
	// rules lists the volume's export rules as "<client>:rw|ro".
	rules := func() []string {
		t.Helper()
		p, err := api.GetExportPolicy(ctx, "svm1", flexvol)
		if err != nil {
			t.Fatalf("the volume's export policy: %v", err)
		}
		rs, err := api.ExportRules(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			mode := ":rw"
			if r.ReadOnly {
				mode = ":ro"
			}
			out = append(out, strings.Join(r.Clients, ",")+mode)
		}
		return out
	}
	if got := rules(); len(got) != 0 {
		t.Errorf("rules of an unpublished volume: %v, want none", got)
	}
	e.primary.ResetRequests()
	r, err := d.ControllerPublishVolume(ctx, publishReq(pv, node1, false))
	publishes := e.primary.Requests()["total"]
	want := map[string]string{"protocol": "nfs", "nfsServer": "127.0.0.1", "nfsPath": "/" + flexvol, "readOnly": "false"}
	if err != nil || !maps.Equal(r.GetPublishContext(), want) {
		t.Errorf("publish of an NFS volume: %v, %v; want context %v", r, err, want)
	}
	if _, err := d.ControllerPublishVolume(ctx, publishReq(pv, node1, false)); err != nil {
		t.Errorf("repeated publish: %v", err)
	}
	ro := publishReq(pv, node2, true)
	ro.VolumeCapability.AccessMode.Mode = csispec.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
	if r, err := d.ControllerPublishVolume(ctx, ro); err != nil || r.GetPublishContext()["readOnly"] != "true" {
		t.Errorf("read-only publish: %v, %v", r, err)
	}
	if got, want := rules(), []string{"10.0.0.1:rw", "10.0.0.2:ro", "fd00::2:ro"}; !slices.Equal(got, want) {
		t.Errorf("rules after publishing to node1 and node2 (read-only): %v, want %v", got, want)
	}
	e.primary.ResetRequests()
	if _, err := d.ControllerUnpublishVolume(ctx, &csispec.ControllerUnpublishVolumeRequest{VolumeId: pv, NodeId: node1}); err != nil {
		t.Errorf("unpublish: %v", err)
	}
	unpublishes := e.primary.Requests()["total"]
	if _, err := d.ControllerUnpublishVolume(ctx, &csispec.ControllerUnpublishVolumeRequest{VolumeId: pv, NodeId: node1}); err != nil {
		t.Errorf("repeated unpublish: %v", err)
	}
	if got, want := rules(), []string{"10.0.0.2:ro", "fd00::2:ro"}; !slices.Equal(got, want) {
		t.Errorf("rules after unpublishing node1: %v, want %v", got, want)
	}
	t.Logf("REST calls: ControllerPublishVolume %d, ControllerUnpublishVolume %d", publishes, unpublishes)
	if publishes > 3 || unpublishes > 3 {
		t.Errorf("REST calls: publish %d (budget 3), unpublish %d (budget 3)", publishes, unpublishes)
	}
	// A node that reports no NFS address cannot be admitted.
	noNFS := "node3;iqn=iqn.1994-05.com.redhat:node3"
	if _, err := e.driverWith(t, csi.Config{Nodes: knownNodes{noNFS}}, e.svm1).ControllerPublishVolume(ctx, publishReq(pv, noNFS, false)); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "nfs") {
		t.Errorf("publish to a node without NFS addresses: %v", err)
	}
	if _, err := d.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: pv}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.GetExportPolicy(ctx, "svm1", flexvol); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("the export policy of a deleted volume: %v, want not found", err)
	}
	// The SAN backend serves what asks for a LUN.
	s, err := d.CreateVolume(ctx, sanReq("pvc-block", map[string]string{"fsType": "ext4"}))
	if err != nil || s.GetVolume().GetVolumeContext()["svm"] != "svm3" {
		t.Errorf("SAN volume beside NAS: %v, %v", s, err)
	}
}

// TestExportCIDRs: autoExportCIDRs limit the node addresses a volume's policy admits; a node
// with none inside them is refused, saying which setting to change.
func TestExportCIDRs(t *testing.T) {
	e := newEnv(t, sim.Options{})
	b := e.svm1
	b.AutoExportCIDRs = []string{"10.0.0.0/30"}
	d := e.driverWith(t, csi.Config{Nodes: knownNodes{node1, node2}}, b)
	ctx := context.Background()
	if _, err := d.CreateVolume(ctx, createReq(pv, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ControllerPublishVolume(ctx, publishReq(pv, node1, false)); err != nil {
		t.Errorf("publish to a node inside autoExportCIDRs: %v", err)
	}
	// node2's addresses are 10.0.0.2 (inside) and fd00::2 (outside): only the first is admitted.
	if _, err := d.ControllerPublishVolume(ctx, publishReq(pv, node2, false)); err != nil {
		t.Errorf("publish to node2: %v", err)
	}
	api := client(t, e, e.primary)
	p, _ := api.GetExportPolicy(ctx, "svm1", flexvol)
	rs, err := api.ExportRules(ctx, p.ID)
	if err != nil || len(rs) != 2 || rs[1].Clients[0] != "10.0.0.2" {
		t.Errorf("rules: %+v, %v; want 10.0.0.1 and 10.0.0.2", rs, err)
	}
	outside := "node9;nfs=192.168.7.9"
	d = e.driverWith(t, csi.Config{Nodes: knownNodes{outside}}, b)
	if _, err := d.ControllerPublishVolume(ctx, publishReq(pv, outside, false)); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "autoExportCIDRs") {
		t.Errorf("publish to a node outside autoExportCIDRs: %v", err)
	}
}

// TestSANMirrorPublish: a SAN mirror destination is a DP FlexVol whose LUN arrives with the
// baseline; it is published read-only, whatever was asked, until the mirror is broken
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
	// Asked for writing or not, a DP volume is published read-only: the node mounts it so.
	for _, readonly := range []bool{false, true} {
		ro, err := dst.ControllerPublishVolume(ctx, publishReq("pvc-dst", node2, readonly))
		if err != nil || ro.GetPublishContext()["lunSerial"] != dstLUN.Serial || dstLUN.Serial == srcLUN.Serial || ro.GetPublishContext()["readOnly"] != "true" {
			t.Errorf("publish of a DP volume (readonly %t): %v, %v (source serial %s)", readonly, ro, err, srcLUN.Serial)
		}
		if _, err := dst.ControllerUnpublishVolume(ctx, &csispec.ControllerUnpublishVolumeRequest{VolumeId: "pvc-dst", NodeId: node2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dst.ControllerPublishVolume(ctx, publishReq("pvc-dst", node2, true)); err != nil {
		t.Fatal(err)
	}
	rel, _ := api.GetRelationship(ctx, "svm2:trident_pvc_dst")
	if job, err := api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff}); err != nil || api.WaitJob(ctx, job) != nil {
		t.Fatalf("break: %v", err)
	}
	if _, err := dst.ControllerUnpublishVolume(ctx, &csispec.ControllerUnpublishVolumeRequest{VolumeId: "pvc-dst", NodeId: node2}); err != nil {
		t.Fatal(err)
	}
	rw, err := dst.ControllerPublishVolume(ctx, publishReq("pvc-dst", node1, false))
	if err != nil || rw.GetPublishContext()["lunSerial"] != dstLUN.Serial || rw.GetPublishContext()["readOnly"] != "false" {
		t.Errorf("publish the promoted volume for writing: %v, %v", rw, err)
	}
}
