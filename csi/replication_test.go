package csi_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

func createReq(name string, params map[string]string) *csispec.CreateVolumeRequest {
	return &csispec.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csispec.CapacityRange{RequiredBytes: 1 << 30},
		VolumeCapabilities: []*csispec.VolumeCapability{{AccessType: &csispec.VolumeCapability_Mount{Mount: &csispec.VolumeCapability_MountVolume{}}, AccessMode: &csispec.VolumeCapability_AccessMode{Mode: csispec.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER}}},
		Parameters:         params,
	}
}

func code(err error) codes.Code { return status.Code(err) }

const pv = "pvc-3bedd23c-46a8-4384-b12b-3c38b313c1e1"

func TestParameters(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driver(t, nil, e.svm1)
	ctx := context.Background()
	for _, tc := range []struct {
		// params are the StorageClass's; want is the code, and msg a fragment of the message.
		params map[string]string
		want   codes.Code
		msg    string
	}{
		{map[string]string{"backendType": "ontap-nas", "fsType": "nfs", "trident.netapp.io/replication": "true"}, codes.OK, ""},
		{map[string]string{"trident.netapp.io/replication": "True"}, codes.OK, ""},
		{map[string]string{"trident.netapp.io/replication": "TRUE"}, codes.OK, ""},
		{map[string]string{"trident.netapp.io/replication": "yes"}, codes.InvalidArgument, "trident.netapp.io/replication"},
		{map[string]string{"trident.netapp.io/replicaton": "true"}, codes.InvalidArgument, "trident.netapp.io/replicaton is unknown"},
		{map[string]string{"backendType": "ontap-san"}, codes.InvalidArgument, "but a filesystem written from several nodes (MULTI_NODE_MULTI_WRITER) needs ontap-nas"},
		{map[string]string{"fsType": "ext4"}, codes.InvalidArgument, "fsType"},
		{map[string]string{"fsType": "btrfs"}, codes.InvalidArgument, "parameter fsType: \"btrfs\" is not served: use ext4 or xfs (ontap-san), or nfs (ontap-nas)"},
		{map[string]string{"backendType": "ontap-nas", "fsType": "xfs"}, codes.InvalidArgument, "parameter backendType=ontap-nas needs ontap-nas, but parameter fsType=xfs needs ontap-san"},
		{map[string]string{"csi.storage.k8s.io/pvc/name": "p", "csi.storage.k8s.io/pvc/namespace": "n", "csi.storage.k8s.io/pv/name": pv}, codes.OK, ""},
	} {
		before := e.primary.VolumeNames()
		_, err := d.CreateVolume(ctx, createReq(pv, tc.params))
		if code(err) != tc.want || (tc.msg != "" && !strings.Contains(err.Error(), tc.msg)) {
			t.Errorf("%v: got %v, want %s with %q", tc.params, err, tc.want, tc.msg)
		}
		if tc.want != codes.OK && len(e.primary.VolumeNames()) != len(before) {
			t.Errorf("%v: a refused call left a volume", tc.params)
		}
	}
}

func TestCreateVolume(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driver(t, nil, e.svm1)
	ctx := context.Background()
	e.primary.ResetRequests()
	resp, err := d.CreateVolume(ctx, createReq(pv, nil))
	if err != nil {
		t.Fatal(err)
	}
	creates := e.primary.Requests()["total"]
	v := resp.GetVolume()
	want := map[string]string{
		"backend": "svm1", "svm": "svm1", "internalName": "trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1",
		"path": "/trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1", "server": "127.0.0.1", "type": "rw",
	}
	for k, w := range want {
		if v.GetVolumeContext()[k] != w {
			t.Errorf("volume context %s = %q, want %q", k, v.GetVolumeContext()[k], w)
		}
	}
	if v.GetVolumeId() != pv || v.GetCapacityBytes() != 1<<30 {
		t.Errorf("volume %+v", v)
	}
	info, err := e.primary.Volume("svm1", want["internalName"])
	if err != nil || info.Type != "rw" || info.Size != 1<<30 {
		t.Errorf("on ONTAP: %+v, %v", info, err)
	}
	// The same again answers the same; another size is AlreadyExists.
	if again, err := d.CreateVolume(ctx, createReq(pv, nil)); err != nil || again.GetVolume().GetVolumeId() != pv {
		t.Errorf("repeat: %v", err)
	}
	bigger := createReq(pv, nil)
	bigger.CapacityRange.RequiredBytes = 2 << 30
	if _, err := d.CreateVolume(ctx, bigger); code(err) != codes.AlreadyExists {
		t.Errorf("another size: %v", err)
	}
	// Sizes round up to whole MiB and at least ONTAP's 20 MiB.
	small := createReq("pvc-small", nil)
	small.CapacityRange.RequiredBytes = 1
	if r, err := d.CreateVolume(ctx, small); err != nil || r.GetVolume().GetCapacityBytes() != 20<<20 {
		t.Errorf("tiny volume: %v, %v", r, err)
	}
	small.Name, small.CapacityRange.LimitBytes = "pvc-limited", 1<<20
	if _, err := d.CreateVolume(ctx, small); code(err) != codes.OutOfRange {
		t.Errorf("limit below ONTAP's minimum: %v", err)
	}

	e.primary.ResetRequests()
	if _, err := d.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: pv}); err != nil {
		t.Fatal(err)
	}
	deletes := e.primary.Requests()["total"]
	t.Logf("REST calls: CreateVolume %d, DeleteVolume %d", creates, deletes)
	// With autoExportPolicy: the volume's own export policy is made first (1 call), and
	// parted from the volume and deleted before it (3: the PATCH, its job, the DELETE).
	if creates > 4 || deletes > 7 {
		t.Errorf("REST calls: CreateVolume %d (budget 4), DeleteVolume %d (budget 7)", creates, deletes)
	}
	if _, err := e.primary.Volume("svm1", want["internalName"]); err == nil {
		t.Error("the volume survived DeleteVolume")
	}
	if _, err := d.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: pv}); err != nil {
		t.Errorf("deleting a deleted volume: %v", err)
	}
}

func TestReplicationEligibility(t *testing.T) {
	e := newEnv(t, sim.Options{})
	ctx := context.Background()
	repl := map[string]string{"trident.netapp.io/replication": "true"}

	// svm3 has no SVM peer: it cannot serve replication.
	only3 := e.driver(t, nil, e.svm3)
	_, err := only3.CreateVolume(ctx, createReq(pv, repl))
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "SVM svm3 of backend svm3 has no SVM peer") {
		t.Errorf("replication on an unpeered SVM: %v", err)
	}
	if len(e.secondary.VolumeNames()) != 0 {
		t.Errorf("a refused call left %v", e.secondary.VolumeNames())
	}
	// Without replication it may.
	if _, err := only3.CreateVolume(ctx, createReq(pv, nil)); err != nil {
		t.Errorf("no replication on svm3: %v", err)
	}
	// With both, the peered one is chosen.
	both := e.driver(t, nil, e.svm3, e.svm2)
	r, err := both.CreateVolume(ctx, createReq("pvc-replicated", repl))
	if err != nil || r.GetVolume().GetVolumeContext()["svm"] != "svm2" {
		t.Errorf("replicated volume placed on %v, %v; want svm2", r.GetVolume().GetVolumeContext(), err)
	}
}

func TestDestinationPlacement(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { destinationPlacement(t, kind) })
	}
}

func destinationPlacement(t *testing.T, kind string) {
	e := newEnv(t, sim.Options{})
	ctx := context.Background()
	mirrors := fakeMirrors{
		"dst":     {Relationship: "csi-nas", RemoteVolumeHandle: "svm1:trident_pvc_src"},
		"missing": {Relationship: "nope"},
	}
	d := e.driver(t, mirrors, e.kind(e.svm3, kind), e.kind(e.svm2, kind))
	params := func(pvc string) map[string]string {
		return map[string]string{"csi.storage.k8s.io/pvc/name": pvc, "csi.storage.k8s.io/pvc/namespace": "default"}
	}
	// A PVC whose TMR is missing: refused, nothing made.
	_, err := d.CreateVolume(ctx, volumeReq(kind, "pvc-missing", params("missing")))
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "TridentMirrorRelationship nope does not exist") {
		t.Errorf("missing TMR: %v", err)
	}
	if n := len(e.secondary.VolumeNames()); n != 0 {
		t.Errorf("the refusal left %d volumes", n)
	}
	// The destination is DP, on svm2, the SVM peered with the source's svm1.
	r, err := d.CreateVolume(ctx, volumeReq(kind, "pvc-dst", params("dst")))
	if err != nil {
		t.Fatal(err)
	}
	vc := r.GetVolume().GetVolumeContext()
	if vc["svm"] != "svm2" || vc["type"] != "dp" {
		t.Errorf("destination context %v, want svm2 and dp", vc)
	}
	if _, err := e.secondary.LUN("svm2", "trident_pvc_dst", "lun0"); kind == ontap.DriverSAN && err == nil {
		t.Error("a mirror destination got a LUN of its own: the baseline brings the source's")
	}
	// No SVM is peered with the source: refused with the reason.
	unpeered := e.driver(t, fakeMirrors{"dst": {Relationship: "csi-nas", RemoteVolumeHandle: "svmX:v"}}, e.kind(e.svm2, kind))
	if _, err := unpeered.CreateVolume(ctx, volumeReq(kind, "pvc-x", params("dst"))); code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "not peered with SVM svmX") {
		t.Errorf("no peered SVM: %v", err)
	}
	// Snapshots of a DP volume are refused, as ONTAP refuses them.
	if _, err := d.CreateSnapshot(ctx, &csispec.CreateSnapshotRequest{Name: "snap", SourceVolumeId: "pvc-dst"}); code(err) != codes.FailedPrecondition {
		t.Errorf("snapshot of a DP volume: %v", err)
	}
}

// kinds are the kinds of backend, for the tests that hold for both.
var kinds = []string{ontap.DriverNAS, ontap.DriverSAN}

// volumeReq is a CreateVolume of a volume that backends of kind serve: an NFS one that many
// nodes write, or a SAN one that one node writes.
func volumeReq(kind, name string, params map[string]string) *csispec.CreateVolumeRequest {
	if kind == ontap.DriverSAN {
		return sanReq(name, params)
	}
	return createReq(name, params)
}

// mirroredPVs makes a source PV on svm1 and its destination on svm2 with an initialized
// relationship, both on backends of kind, and returns the drivers of both sides and a client
// of the secondary.
func mirroredPVs(t *testing.T, e *env, kind string) (src, dst *csi.Driver, api *ontap.Client) {
	t.Helper()
	ctx := context.Background()
	src = e.driverWith(t, configNodes(), e.kind(e.svm1, kind))
	dst = e.driverWith(t, csi.Config{Nodes: knownNodes{node1, node2}, Mirrors: fakeMirrors{"dst": {Relationship: "m", RemoteVolumeHandle: "svm1:trident_pvc_src"}}}, e.kind(e.svm2, kind))
	if _, err := src.CreateVolume(ctx, volumeReq(kind, "pvc-src", map[string]string{"trident.netapp.io/replication": "true"})); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.CreateVolume(ctx, volumeReq(kind, "pvc-dst", map[string]string{"csi.storage.k8s.io/pvc/name": "dst"})); err != nil {
		t.Fatal(err)
	}
	api = client(t, e, e.secondary)
	if _, job, err := api.CreateRelationship(ctx, ontap.RelationshipSpec{Source: "svm1:trident_pvc_src", Destination: "svm2:trident_pvc_dst"}); err != nil || api.WaitJob(ctx, job) != nil {
		t.Fatal(err)
	}
	rel, _ := api.GetRelationship(ctx, "svm2:trident_pvc_dst")
	if job, err := api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}); err != nil || api.WaitJob(ctx, job) != nil {
		t.Fatal(err)
	}
	return src, dst, api
}

// TestDeleteReleases: deleting either end of a mirror releases the relationship first, on
// either kind of backend.
func TestDeleteReleases(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, sim.Options{})
			ctx := context.Background()
			src, dst, api := mirroredPVs(t, e, kind)
			e.primary.WriteFile("svm1", "trident_pvc_src", "f", "data")

			// The source first: it is released, then deleted.
			if _, err := src.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: "pvc-src"}); err != nil {
				t.Fatalf("delete the source: %v", err)
			}
			if _, err := e.primary.Volume("svm1", "trident_pvc_src"); err == nil {
				t.Error("the source survived")
			}
			// Then the destination: its relationship record is deleted, then the volume.
			deleteDestination(t, e, dst, api)
		})
	}
}

// deleteDestination deletes the destination PV and checks that its relationship and volume
// are gone.
func deleteDestination(t *testing.T, e *env, dst *csi.Driver, api *ontap.Client) {
	t.Helper()
	ctx := context.Background()
	if _, err := dst.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: "pvc-dst"}); err != nil {
		t.Fatalf("delete the destination: %v", err)
	}
	if _, err := api.GetRelationship(ctx, "svm2:trident_pvc_dst"); err == nil {
		t.Error("the relationship survived")
	}
	if len(e.secondary.VolumeNames()) != 0 {
		t.Errorf("left on the secondary: %v", e.secondary.VolumeNames())
	}
}

func TestInFlight(t *testing.T) {
	e := newEnv(t, sim.Options{Latency: 50 * time.Millisecond})
	d := e.driver(t, nil, e.svm1)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 20 * time.Millisecond)
			_, errs[i] = d.CreateVolume(context.Background(), createReq(pv, nil))
		})
	}
	wg.Wait()
	if errs[0] != nil || code(errs[1]) != codes.Aborted {
		t.Errorf("first %v, second %v; want success and Aborted", errs[0], errs[1])
	}
}

func TestExpandAndSnapshots(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driver(t, nil, e.svm1)
	ctx := context.Background()
	if _, err := d.CreateVolume(ctx, createReq(pv, nil)); err != nil {
		t.Fatal(err)
	}
	r, err := d.ControllerExpandVolume(ctx, &csispec.ControllerExpandVolumeRequest{VolumeId: pv, CapacityRange: &csispec.CapacityRange{RequiredBytes: 3 << 30}})
	if err != nil || r.GetCapacityBytes() != 3<<30 {
		t.Errorf("expand: %v, %v", r, err)
	}
	if info, _ := e.primary.Volume("svm1", "trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1"); info.Size != 3<<30 {
		t.Errorf("ONTAP size %d", info.Size)
	}
	snap, err := d.CreateSnapshot(ctx, &csispec.CreateSnapshotRequest{Name: "snapshot-1", SourceVolumeId: pv})
	if err != nil || snap.GetSnapshot().GetSnapshotId() != pv+"/snapshot-1" || !snap.GetSnapshot().GetReadyToUse() {
		t.Fatalf("snapshot: %v, %v", snap, err)
	}
	list, err := d.ListSnapshots(ctx, &csispec.ListSnapshotsRequest{SourceVolumeId: pv})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetSnapshot().GetSnapshotId() != pv+"/snapshot-1" {
		t.Errorf("list: %v, %v", list, err)
	}
}

// client is an ONTAP client of a simulated cluster, for checks and set-up.
func client(t *testing.T, e *env, c *sim.Cluster) *ontap.Client {
	t.Helper()
	u, p := e.fabric.Credentials()
	api, err := ontap.New(ontap.Config{Address: c.Address(), CA: c.CA(), Credentials: ontap.CredentialsFunc(func(context.Context) (ontap.Credentials, error) {
		return ontap.Credentials{Username: u, Password: p}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

var _ csi.Mirrors = fakeMirrors{}
