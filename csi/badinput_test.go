package csi_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
)

// TestHostileInput: malformed and oversized names and handles get a clear InvalidArgument,
// or the answer the CSI spec asks for (NotFound, or success for deleting what is not there),
// and nothing is created on ONTAP.
func TestHostileInput(t *testing.T) {
	e := newEnv(t, sim.Options{})
	d := e.driver(t, nil, e.svm1)
	ctx := context.Background()
	if _, err := d.CreateVolume(ctx, createReq(pv, nil)); err != nil {
		t.Fatal(err)
	}
	block := createReq("pvc-block", nil)
	block.VolumeCapabilities[0].AccessType = &csispec.VolumeCapability_Block{Block: &csispec.VolumeCapability_BlockVolume{}}
	fromMissing := createReq("pvc-clone", nil)
	fromMissing.VolumeContentSource = &csispec.VolumeContentSource{Type: &csispec.VolumeContentSource_Snapshot{Snapshot: &csispec.VolumeContentSource_SnapshotSource{SnapshotId: pv + "/no-such-snapshot"}}}
	fromMalformed := createReq("pvc-clone2", nil)
	fromMalformed.VolumeContentSource = &csispec.VolumeContentSource{Type: &csispec.VolumeContentSource_Snapshot{Snapshot: &csispec.VolumeContentSource_SnapshotSource{SnapshotId: "no-slash"}}}
	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
		msg  string
	}{
		{"oversized volume name", func() error {
			_, err := d.CreateVolume(ctx, createReq("pvc-"+strings.Repeat("a", 250), nil))
			return err
		}, codes.InvalidArgument, "longer than ONTAP's 203 characters"},
		{"path in the volume name", func() error { _, err := d.CreateVolume(ctx, createReq("../../etc", nil)); return err }, codes.InvalidArgument, "want a PV name"},
		{"empty volume name", func() error { _, err := d.CreateVolume(ctx, createReq("", nil)); return err }, codes.InvalidArgument, "name"},
		{"block access", func() error { _, err := d.CreateVolume(ctx, block); return err }, codes.InvalidArgument, "block"},
		{"clone of a missing snapshot", func() error { _, err := d.CreateVolume(ctx, fromMissing); return err }, codes.NotFound, "no-such-snapshot"},
		{"clone of a malformed snapshot ID", func() error { _, err := d.CreateVolume(ctx, fromMalformed); return err }, codes.NotFound, "no-slash"},
		{"snapshot name with a space", func() error {
			_, err := d.CreateSnapshot(ctx, &csispec.CreateSnapshotRequest{Name: "snap shot", SourceVolumeId: pv})
			return err
		}, codes.InvalidArgument, "snap shot"},
		{"oversized snapshot name", func() error {
			_, err := d.CreateSnapshot(ctx, &csispec.CreateSnapshotRequest{Name: strings.Repeat("s", 300), SourceVolumeId: pv})
			return err
		}, codes.InvalidArgument, "snapshot"},
		{"snapshot of a missing volume", func() error {
			_, err := d.CreateSnapshot(ctx, &csispec.CreateSnapshotRequest{Name: "s1", SourceVolumeId: "pvc-missing"})
			return err
		}, codes.NotFound, "pvc-missing"},
		{"delete a malformed volume ID", func() error {
			_, err := d.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: "../x"})
			return err
		}, codes.OK, ""},
		{"delete a malformed snapshot ID", func() error {
			_, err := d.DeleteSnapshot(ctx, &csispec.DeleteSnapshotRequest{SnapshotId: "no-slash"})
			return err
		}, codes.OK, ""},
		{"expand a missing volume", func() error {
			_, err := d.ControllerExpandVolume(ctx, &csispec.ControllerExpandVolumeRequest{VolumeId: "pvc-missing", CapacityRange: &csispec.CapacityRange{RequiredBytes: 2 << 30}})
			return err
		}, codes.NotFound, "pvc-missing"},
	} {
		before := e.primary.VolumeNames()
		snaps, _ := e.primary.Volume("svm1", "trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1")
		err := tc.call()
		if code(err) != tc.want || (tc.msg != "" && !strings.Contains(err.Error(), tc.msg)) {
			t.Errorf("%s: got %v, want %s with %q", tc.name, err, tc.want, tc.msg)
		}
		after, _ := e.primary.Volume("svm1", "trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1")
		if !slices.Equal(e.primary.VolumeNames(), before) || !slices.Equal(after.Snapshots, snaps.Snapshots) {
			t.Errorf("%s: something was created: %v, %v", tc.name, e.primary.VolumeNames(), after.Snapshots)
		}
	}
}
