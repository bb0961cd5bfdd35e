package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/test/e2e"
)

// TestWorkflow walks shared/docs/workflow.md sections 1 to 7 on two sites with the real CSI
// sidecars, kube-controller-manager binding PVCs, and the snapmirror-csi binary; data is checked
// through the simulator at every step.
func TestWorkflow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := e2e.Start(ctx, e2e.Options{Log: t.Logf})
	defer func() {
		if t.Failed() && env != nil {
			for _, s := range []*e2e.Site{env.Primary, env.Secondary} {
				if s != nil {
					t.Log(s.Logs())
				}
			}
		}
		if err := env.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	st := &e2e.State{}
	for _, step := range e2e.Steps {
		start := time.Now()
		detail, err := step.Run(ctx, env, st)
		if err != nil {
			t.Fatalf("%s: %v", step.Title, err)
		}
		t.Logf("%s (%s): %s", step.Title, time.Since(start).Round(time.Millisecond), detail)
	}
}
