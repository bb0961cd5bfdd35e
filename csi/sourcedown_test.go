package csi_test

import (
	"context"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestDeleteDestinationWhileSourceDown: ONTAP cannot delete a relationship on both sides
// while the source's cluster is down (the release fails); DeleteVolume of the destination
// still converges, deleting the destination's record, and the source's record is released
// when the source's PV is deleted.
func TestDeleteDestinationWhileSourceDown(t *testing.T) {
	e := newEnv(t, sim.Options{})
	ctx := context.Background()
	src, dst, api := mirroredPVs(t, e, ontap.DriverNAS)
	if err := e.primary.SetDown(true); err != nil {
		t.Fatal(err)
	}
	deleteDestination(t, e, dst, api)
	if err := e.primary.SetDown(false); err != nil {
		t.Fatal(err)
	}
	left, err := client(t, e, e.primary).ListRelationships(ctx, ontap.RelationshipFilter{SourceSide: true})
	if err != nil || len(left) != 1 {
		t.Fatalf("the source keeps its record while it was down: %+v, %v", left, err)
	}
	if _, err := src.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: "pvc-src"}); err != nil {
		t.Fatalf("delete the source: %v", err)
	}
	if names := e.primary.VolumeNames(); len(names) != 0 {
		t.Errorf("left on the primary: %v", names)
	}
}
