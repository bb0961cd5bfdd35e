package mirror_test

import (
	"testing"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestReleaseDuringBaseline releases (deletes the TMR of) a destination whose baseline runs,
// with the realistic timings: the abort takes seconds and the delete is a job. The passes end
// with the relationship gone and the destination an empty DP volume; no pass fails.
func TestReleaseDuringBaseline(t *testing.T) {
	f, _, secondary := sitesTimed(t, sim.RealisticTimings(), 10*time.Second)
	secondary.SetTransferDelay(10 * time.Minute)
	w := &world{f: f, secondary: secondary}
	local := ontap.Path{SVM: "svm2", Volume: "v"}
	req := mirror.Request{Local: local, Remote: "svm1:v", Desired: mirror.Established}
	for range 10 { // establish until the baseline runs
		res := mirror.Run(ctx, secondary.api, req)
		req.Job, req.Started = res.Job, res.Started
		if rel := res.Relationship; rel != nil && rel.Transfer != nil && rel.Transfer.State.Active() {
			break
		}
		f.Advance(5 * time.Second)
	}
	if relState(w) != string(ontap.Uninitialized) {
		t.Fatalf("setup: relationship %s, want uninitialized with its baseline running", relState(w))
	}
	var res mirror.Result
	for i := 0; ; i++ {
		if i == 20 {
			t.Fatalf("release did not end: %+v", res)
		}
		res = mirror.Release(ctx, secondary.api, local, nil)
		if res.Err != nil {
			t.Errorf("pass %d failed: %v", i, res.Err)
		}
		if res.RequeueAfter == 0 && res.Err == nil {
			break
		}
		f.Advance(2 * time.Second)
	}
	if got := relState(w); got != "none" {
		t.Errorf("after the release the relationship is %s", got)
	}
	if v, _ := secondary.Volume("svm2", "v"); v.Type != ontap.VolumeDP {
		t.Errorf("the destination is %s", v.Type)
	}
}
