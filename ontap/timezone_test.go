package ontap_test

import (
	"context"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestNonUTCCluster: ONTAP writes date-times with the cluster's UTC offset
// ("2026-12-02T10:15:00+01:00"); the client reads the same instants from a cluster in Berlin
// and from one in UTC ("+00:00").
func TestNonUTCCluster(t *testing.T) {
	start := time.Date(2026, 12, 2, 9, 15, 0, 0, time.UTC)
	f := sim.NewFabric(sim.Options{Start: start, Manual: true})
	t.Cleanup(f.Close)
	for _, tz := range []string{"Europe/Berlin", "-05:30", ""} {
		t.Run("timezone "+tz, func(t *testing.T) {
			c, err := f.AddCluster(sim.ClusterSpec{Name: "c" + tz, SVMs: []string{"svm" + tz}, Aggregates: []string{"aggr1"}, Timezone: tz})
			if err != nil {
				t.Fatal(err)
			}
			u, p := f.Credentials()
			api, err := ontap.New(ontap.Config{
				Name: c.Name(), Address: c.Address(), CA: c.CA(), RetryBaseDelay: time.Millisecond, JobPollInterval: time.Millisecond,
				Credentials: ontap.CredentialsFunc(func(context.Context) (ontap.Credentials, error) {
					return ontap.Credentials{Username: u, Password: p}, nil
				}),
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			wait := func(job *ontap.Job, err error) {
				t.Helper()
				if err == nil {
					err = api.WaitJob(ctx, job)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			wait(api.CreateVolume(ctx, ontap.VolumeSpec{Name: "v", SVM: "svm" + tz, Aggregate: "aggr1", Size: 1 << 30}))
			v, err := api.GetVolume(ctx, "svm"+tz, "v")
			if err != nil {
				t.Fatal(err)
			}
			wait(api.CreateSnapshot(ctx, v.UUID, "s"))
			snaps, err := api.ListSnapshots(ctx, v.UUID)
			if err != nil || len(snaps) != 1 || !snaps[0].Created.Equal(start) {
				t.Errorf("snapshots %+v, %v: want one created at %s", snaps, err, start)
			}
		})
	}
}
