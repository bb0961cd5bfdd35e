package frontend_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestRecoveryPointObjective: an established destination on the 5min schedule shows an
// objective of 10m derived from it, met; a declared objective replaces it; once promoted,
// the volume has no lag and no objective.
func TestRecoveryPointObjective(t *testing.T) {
	ctx := context.Background()
	_, secondary := mirrored(t, ontap.DriverNAS)
	derived := secondary.waitFor(t, "csi-nas", "an objective derived from the schedule", func(o *tridentv1.TridentMirrorRelationship) bool {
		c := o.Status.Conditions[0]
		return c.RecoveryPointObjective != nil && c.RPOStatus != ""
	}).Status.Conditions[0]
	if derived.RecoveryPointObjective.Duration != 10*time.Minute || derived.RPOStatus != tridentv1.RPOMet ||
		!strings.HasPrefix(derived.RecoveryPointObjectiveSource, "derived from schedule 5min: twice its longest interval, 5m0s") {
		t.Errorf("derived: %v, %q, %q; want 10m0s from schedule 5min, Met", derived.RecoveryPointObjective, derived.RecoveryPointObjectiveSource, derived.RPOStatus)
	}

	obj := secondary.get(t, "csi-nas")
	obj.Spec.RecoveryPointObjective = &metav1.Duration{Duration: 45 * time.Minute}
	if err := cp.Client.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	secondary.waitFor(t, "csi-nas", "the declared objective", func(o *tridentv1.TridentMirrorRelationship) bool {
		c := o.Status.Conditions[0]
		return c.RecoveryPointObjective != nil && c.RecoveryPointObjective.Duration == 45*time.Minute &&
			c.RecoveryPointObjectiveSource == "declared in spec.recoveryPointObjective" && c.RPOStatus == tridentv1.RPOMet
	})

	obj = secondary.get(t, "csi-nas")
	obj.Spec.State = tridentv1.MirrorStatePromoted
	if err := cp.Client.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	c := secondary.wait(t, "csi-nas", "promoted")
	if c.RecoveryPointObjective != nil || c.RPOStatus != "" || c.RecoveryPointObjectiveSource != "" {
		t.Errorf("promoted: %v, %q, %q; want no objective", c.RecoveryPointObjective, c.RecoveryPointObjectiveSource, c.RPOStatus)
	}
}
