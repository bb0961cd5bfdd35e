package mirror_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// unnamed is a cluster whose answer to a transfer start does not name the transfer.
type unnamed struct{ *ontap.Client }

func (u unnamed) StartTransfer(ctx context.Context, rel, snap string) (*ontap.Transfer, error) {
	t, err := u.Client.StartTransfer(ctx, rel, snap)
	if t != nil {
		t.UUID = ""
	}
	return t, err
}

// TestUpdateFollowsItsTransfer: an on-demand update reports Succeeded only once the transfer
// it started has ended, whether ONTAP names that transfer or not, and the new content is then
// on the destination.
func TestUpdateFollowsItsTransfer(t *testing.T) {
	for name, wrap := range map[string]func(*ontap.Client) mirror.ONTAP{
		"named":   func(c *ontap.Client) mirror.ONTAP { return c },
		"unnamed": func(c *ontap.Client) mirror.ONTAP { return unnamed{c} },
	} {
		t.Run(name, func(t *testing.T) {
			f, primary, secondary := sites(t)
			establish(t, secondary)
			f.Advance(time.Minute)
			primary.WriteFile("svm1", "v", "b.txt", "beta")
			secondary.SetTransferDelay(30 * time.Second)
			api := wrap(secondary.api)
			var started *mirror.Started
			for pass := range 4 {
				res := mirror.UpdateOnDemand(context.Background(), api, ontap.Path{SVM: "svm2", Volume: "v"}, "", started)
				if res.Err != nil || res.Outcome == mirror.UpdateFailed {
					t.Fatalf("pass %d: %+v", pass, res)
				}
				if res.Outcome == mirror.UpdateSucceeded {
					if pass < 2 {
						t.Errorf("succeeded at pass %d, before the 30 s transfer ended", pass)
					}
					if got := files(t, secondary, "svm2"); !maps.Equal(got, map[string]string{"a.txt": "alpha", "b.txt": "beta"}) {
						t.Errorf("destination after the update: %v", got)
					}
					return
				}
				started = res.Started
				f.Advance(20 * time.Second)
			}
			t.Fatal("the update never succeeded")
		})
	}
}
