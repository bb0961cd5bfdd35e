package ontap_test

import (
	"context"
	"errors"
	"testing"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestPeerRestsAfterNoAnswer: a peer whose cluster does not answer is not called again for a
// while: the reads in between fail at once, naming the peer, without reaching the cluster,
// so that a site outage does not hold the surviving site's workers; once the rest is over,
// a read reaches the cluster again.
func TestPeerRestsAfterNoAnswer(t *testing.T) {
	_, west, cfg := twoSites(t)
	ctx := context.Background()
	w := cfg.Backends[1]
	peers, err := ontap.OpenPeers(&ontap.DriverConfig{Peers: []ontap.PeerConfig{{
		Name: "west-site", ManagementLIF: w.ManagementLIF, SVM: "svm2", CAFile: w.CAFile, Credentials: w.Credentials,
	}}}, ontap.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peer := peers[0]
	if _, err := peer.WriteCounts(ctx, "svm2"); err != nil {
		t.Fatalf("peer that answers: %v", err)
	}

	west.SetDown(true)
	var unavailable *ontap.UnavailableError
	if _, err := peer.WriteCounts(ctx, "svm2"); !errors.As(err, &unavailable) || unavailable.Backend != "peer west-site" {
		t.Fatalf("read of a peer that is down: %v, want an UnavailableError naming the peer", err)
	}
	// Back up, but the peer rests: the next reads fail at once and never reach the cluster.
	west.SetDown(false)
	west.ResetRequests()
	for _, read := range []func() error{
		func() error { _, err := peer.WriteCounts(ctx, "svm2"); return err },
		func() error { _, err := peer.FindSnapshots(ctx, "svm2", "v", ""); return err },
		func() error { _, err := peer.GetRelationship(ctx, "svm2:v"); return err },
	} {
		if err := read(); !errors.As(err, &unavailable) {
			t.Errorf("read while the peer rests: %v, want an UnavailableError", err)
		}
	}
	if n := west.Requests()["total"]; n != 0 {
		t.Errorf("%d requests reached the cluster while its peer rested", n)
	}
	eventually(t, "the peer is read again after its rest", func() bool {
		_, err := peer.WriteCounts(ctx, "svm2")
		return err == nil
	})
}
