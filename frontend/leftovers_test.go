package frontend_test

import (
	"context"
	"strings"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// leftovers lists, on the side's cluster, every relationship record (destination or source
// side) and every snapmirror.* snapshot of its volumes.
func (s *side) leftovers(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, sourceSide := range []bool{false, true} {
		rels, err := s.backend.ListRelationships(ctx, ontap.RelationshipFilter{SourceSide: sourceSide})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rels {
			out = append(out, "relationship "+r.Source+" -> "+r.Destination+" ("+string(r.State)+")")
		}
	}
	snaps, err := s.backend.FindSnapshots(ctx, s.svm, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range snaps {
		if strings.HasPrefix(sn.Name, "snapmirror.") {
			out = append(out, "snapshot "+sn.Volume+"@"+sn.Name)
		}
	}
	return out
}

// deleteTMR deletes the side's TMR and waits until it is gone.
func (s *side) deleteTMR(t *testing.T) {
	t.Helper()
	if err := cp.Client.Delete(context.Background(), &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Name: "csi-nas", Namespace: s.ns}}); err != nil {
		t.Fatal(err)
	}
	s.waitReleased(t, "csi-nas")
}

// TestNewSecondaryInBothOrders: the documented "mirror a primary to a new secondary" begins
// by deleting the old secondary's PVC and TMR, and the primary's TMR. Whichever of the
// secondary's two goes first, nothing is left on either cluster that nothing can use: no
// relationship record, no snapmirror.* snapshot (which the next mirror of the primary would
// otherwise copy to the new secondary).
func TestNewSecondaryInBothOrders(t *testing.T) { forKinds(t, newSecondaryInBothOrders) }

func newSecondaryInBothOrders(t *testing.T, kind string) {
	for _, tmrFirst := range []bool{true, false} {
		name := map[bool]string{true: "TMR first", false: "PVC first"}[tmrFirst]
		t.Run(name, func(t *testing.T) {
			primary, secondary := mirrored(t, kind)
			deletePVC := func() {
				// What external-provisioner does once the PVC is deleted.
				if _, err := secondary.driver.DeleteVolume(context.Background(), &csispec.DeleteVolumeRequest{VolumeId: dstPV}); err != nil {
					t.Fatal(err)
				}
			}
			if tmrFirst {
				secondary.deleteTMR(t)
				deletePVC()
			} else {
				deletePVC()
				secondary.deleteTMR(t)
			}
			primary.deleteTMR(t)
			for _, s := range []*side{primary, secondary} {
				if got := s.leftovers(t); len(got) > 0 {
					t.Errorf("%s holds what nothing can use: %v", s.svm, got)
				}
			}
			if got := primary.files(t, srcVol); got["app.db"] != "v1" {
				t.Errorf("the primary's data: %v", got)
			}
		})
	}
}

// TestNothingLeftOver walks the whole workflow (mirror, unplanned failover, reestablish,
// planned failover, reverse, failback), then deletes the secondary (its TMR, then its PVC)
// and the primary's TMR. With each site able to read the other (peers), neither cluster then
// holds a relationship record or a snapmirror.* snapshot that nothing can use: the primary's
// broken-off relationship from the deleted secondary goes with its snapshots.
func TestNothingLeftOver(t *testing.T) { forKinds(t, nothingLeftOver) }

func nothingLeftOver(t *testing.T, kind string) {
	primary, secondary := mirrored(t, kind)
	peerSites(t, primary, secondary)
	ctx := context.Background()
	set := func(s *side, state tridentv1.MirrorState, remote, snapshot string) {
		t.Helper()
		s.tmr(t, "csi-nas", func(o *tridentv1.TridentMirrorRelationship) {
			o.Spec.State = state
			o.Spec.VolumeMappings[0].RemoteVolumeHandle = remote
			o.Spec.VolumeMappings[0].PromotedSnapshotHandle = snapshot
		})
		s.carriedOut(t, "csi-nas", state)
	}
	src, dst := "datavserver:"+srcVol, "drvserver:"+dstVol
	set(secondary, "promoted", src, "")      // unplanned failover
	set(secondary, "reestablished", src, "") // restore the mirror
	snap, err := primary.driver.CreateSnapshot(ctx, &csispec.CreateSnapshotRequest{Name: "snapshot-migrate", SourceVolumeId: srcPV})
	if err != nil {
		t.Fatal(err)
	}
	set(secondary, "promoted", src, snap.GetSnapshot().GetSnapshotId()) // planned failover
	set(primary, "reestablished", dst, "")                              // reverse
	set(primary, "promoted", dst, "")                                   // failback
	set(secondary, "reestablished", src, "")

	secondary.deleteTMR(t)
	if _, err := secondary.driver.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: dstPV}); err != nil {
		t.Fatal(err)
	}
	primary.deleteTMR(t)
	for _, s := range []*side{primary, secondary} {
		if got := s.leftovers(t); len(got) > 0 {
			t.Errorf("%s holds what nothing can use: %v", s.svm, got)
		}
	}
	if got := primary.files(t, srcVol); len(got) == 0 {
		t.Errorf("the primary lost its data: %v", got)
	}
}
