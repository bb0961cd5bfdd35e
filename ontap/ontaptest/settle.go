// Package ontaptest holds what tests of several packages need to run the ONTAP client against
// the simulator (mocks/ontap), which itself imports nothing of ontap.
package ontaptest

import (
	"context"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// Settle waits for a job on the fabric's manual clock, moving it a second at a time (a call
// cannot outwait a job there), and fails the test on an error, a failed job, or a job still
// running after 10 simulated minutes. Use it as Settle(t, f, api)(api.CreateVolume(...)).
func Settle(t testing.TB, f *sim.Fabric, api *ontap.Client) func(*ontap.Job, error) {
	return func(job *ontap.Job, err error) {
		t.Helper()
		if err == nil && job != nil && !f.AdvanceUntil(func() bool {
			job, err = api.GetJob(context.Background(), job.UUID)
			return err != nil || job.Done()
		}, time.Second, 10*time.Minute) {
			t.Fatalf("job %s still %s after 10 simulated minutes", job.UUID, job.State)
		}
		if err == nil && job != nil && job.State == ontap.JobFailure {
			err = job.Err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
