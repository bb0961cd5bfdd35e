package csi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

// TestBackendDown: a driver whose backend svm2 does not answer at start serves with svm1,
// answers Unavailable, naming svm2, the calls that need svm2 or might, and uses svm2 once its
// cluster answers, without a restart. A backend that stops answering later is passed over
// the same way. Down is either way a cluster can be: refusing connections, or black-holed
// (accepting them and never answering, so that only the client's timeouts end a call).
func TestBackendDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		down func(c *sim.Cluster, down bool) error
	}{
		{"refusing connections", (*sim.Cluster).SetDown},
		{"black-holed", (*sim.Cluster).SetBlackHoled},
	} {
		t.Run(tc.name, func(t *testing.T) { backendDown(t, tc.down) })
	}
}

func backendDown(t *testing.T, setDown func(c *sim.Cluster, down bool) error) {
	e := newEnv(t, sim.Options{})
	ctx := context.Background()
	setDown(e.secondary, true)
	// svm2 comes first: CreateVolume must pass over it.
	d := e.driver(t, destination, e.svm2, e.svm1)
	unavailable := func(what string, err error) {
		t.Helper()
		if code(err) != codes.Unavailable || !strings.Contains(err.Error(), "backend svm2") {
			t.Errorf("%s: %v (code %s), want Unavailable naming backend svm2", what, err, code(err))
		}
	}

	resp, err := d.CreateVolume(ctx, createReq("pvc-a", nil))
	if err != nil || resp.GetVolume().GetVolumeContext()["backend"] != "svm1" {
		t.Fatalf("CreateVolume with svm2 down: %v, %v; want it on svm1", resp, err)
	}
	if _, err := d.CreateSnapshot(ctx, &csispec.CreateSnapshotRequest{Name: "snap-a", SourceVolumeId: "pvc-a"}); err != nil {
		t.Errorf("CreateSnapshot on svm1: %v", err)
	}
	if c, err := d.GetCapacity(ctx, &csispec.GetCapacityRequest{}); err != nil || c.GetAvailableCapacity() == 0 {
		t.Errorf("GetCapacity: %v, %v; want svm1's", c, err)
	}
	probe, err := d.Probe(ctx, &csispec.ProbeRequest{})
	if err != nil || !probe.GetReady().GetValue() {
		t.Errorf("Probe: %v, %v; want ready, as svm1 answers", probe, err)
	}
	// A destination of svm1's volume can only be on svm2, which is down.
	_, err = d.CreateVolume(ctx, createReq("pvc-dst", map[string]string{"csi.storage.k8s.io/pvc/name": "dst"}))
	unavailable("CreateVolume of a destination only svm2 can hold", err)
	_, err = e.driver(t, nil, e.svm2).CreateVolume(ctx, createReq("pvc-b", nil))
	unavailable("CreateVolume with svm2 the only backend", err)
	// A volume that is not on svm1 may be on svm2: not found is not an answer.
	_, err = d.DeleteVolume(ctx, &csispec.DeleteVolumeRequest{VolumeId: "pvc-elsewhere"})
	unavailable("DeleteVolume of a volume svm1 does not have", err)
	_, err = d.ListVolumes(ctx, &csispec.ListVolumesRequest{})
	unavailable("ListVolumes", err)
	// A new driver, with no memory of where pvc-a is, finds it on svm1.
	if _, err := e.driver(t, nil, e.svm2, e.svm1).ControllerExpandVolume(ctx, &csispec.ControllerExpandVolumeRequest{
		VolumeId: "pvc-a", CapacityRange: &csispec.CapacityRange{RequiredBytes: 2 << 30},
	}); err != nil {
		t.Errorf("ControllerExpandVolume on svm1: %v", err)
	}

	setDown(e.secondary, false)
	var dst *csispec.CreateVolumeResponse
	if !wait.Until(20*time.Second, func() bool {
		dst, err = d.CreateVolume(ctx, createReq("pvc-dst", map[string]string{"csi.storage.k8s.io/pvc/name": "dst"}))
		return err == nil
	}) {
		t.Fatalf("svm2 never used once its cluster answered: %v", err)
	}
	if dst.GetVolume().GetVolumeContext()["backend"] != "svm2" {
		t.Errorf("destination on %v", dst.GetVolume().GetVolumeContext())
	}

	// svm2 stops answering while in use: a new volume goes to svm1, and svm2's volume is
	// Unavailable, not NotFound.
	setDown(e.secondary, true)
	// The provisioner's calls, each with its deadline (10 s by default; 1 s here), shorter
	// than the client's request timeout: a black-holed cluster must not hold every one of
	// them until its end.
	for range 3 {
		deadline, cancel := context.WithTimeout(ctx, time.Second)
		resp, err = d.CreateVolume(deadline, createReq("pvc-c", nil))
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil || resp.GetVolume().GetVolumeContext()["backend"] != "svm1" {
		t.Errorf("CreateVolume with svm2 down again: %v, %v; want it on svm1", resp, err)
	}
	_, err = d.ControllerExpandVolume(ctx, &csispec.ControllerExpandVolumeRequest{VolumeId: "pvc-dst", CapacityRange: &csispec.CapacityRange{RequiredBytes: 2 << 30}})
	unavailable("ControllerExpandVolume of svm2's volume", err)
	setDown(e.secondary, false)
}
