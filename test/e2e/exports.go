package e2e

import (
	"context"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

// The exported names below let the tests of other packages (cmd/kubectl-snapmirror drives its
// commands against both sites) set up a mirror as the scenario's first steps do. They wrap the
// scenario's own helpers and change nothing of what those do.

// ExampleHandle is the volume handle the examples name; replace it with a real one.
const ExampleHandle = exampleHandle

// Example returns the replacements that turn an example written for csi-nas into this
// volume's, plus replace.
func (v *Volume) Example(rel string, replace map[string]string) map[string]string {
	return v.example(rel, replace)
}

// ApplyExample applies the example file examples/<rel> with kubectl in namespace default,
// after the replacements.
func (s *Site) ApplyExample(e *Env, rel string, replace map[string]string) error {
	return s.applyExample(e, rel, replace)
}

// BoundVolume waits for the PVC of namespace default to bind and returns its FlexVol's name.
func (s *Site) BoundVolume(ctx context.Context, pvc string) (string, error) {
	return s.boundVolume(ctx, pvc)
}

// WaitTMR waits until the TMR of namespace default reports state for its current spec.
func (s *Site) WaitTMR(ctx context.Context, name, state string) (tridentv1.TridentMirrorRelationshipCondition, error) {
	return s.waitTMR(ctx, name, state)
}

// Checksum sums the volume's data on a site: its files, or its LUN's bytes.
func (v *Volume) Checksum(s *Site, volume string) (string, error) { return v.checksum(s, volume) }

// SameData checks, through the simulator, that two volumes hold the same data.
func (v *Volume) SameData(a *Site, av string, b *Site, bv string) error {
	return v.sameData(a, av, b, bv)
}
