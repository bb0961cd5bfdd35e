package csi_test

import (
	"context"
	"fmt"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
)

// TestMaxVolumeSize: a volume beyond the backend's maxVolumeSize (default 100 TiB, ONTAP's
// common FlexVol maximum) is OutOfRange, answered before ONTAP is asked to make or grow it.
func TestMaxVolumeSize(t *testing.T) {
	e := newEnv(t, sim.Options{})
	small := e.svm1
	small.Name, small.MaxVolumeSize = "small", 4<<30
	ctx := context.Background()
	for i, tc := range []struct {
		name string
		max  int64 // the backend's maxVolumeSize; 0: the default
		size int64
		want codes.Code
	}{
		{"a pebibyte, default maximum", 0, 1 << 50, codes.OutOfRange},
		{"the default maximum", 0, 100 << 40, codes.OK},
		{"above a configured maximum", 4 << 30, 5 << 30, codes.OutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := e.svm1
			backend.MaxVolumeSize = tc.max
			d := e.driver(t, nil, backend)
			before := len(e.primary.VolumeNames())
			e.primary.ResetRequests()
			req := createReq(fmt.Sprintf("pvc-max-%d", i), nil)
			req.CapacityRange.RequiredBytes = tc.size
			if _, err := d.CreateVolume(ctx, req); code(err) != tc.want {
				t.Fatalf("CreateVolume of %d bytes: %v, want %s", tc.size, err, tc.want)
			}
			if posts, after := e.primary.Requests()["POST /storage/volumes"], len(e.primary.VolumeNames()); tc.want != codes.OK && (posts != 0 || after != before) {
				t.Errorf("%d volume creates sent to ONTAP; %d volumes before, %d after", posts, before, after)
			}
		})
	}
	d := e.driver(t, nil, small)
	resp, err := d.CreateVolume(ctx, createReq("pvc-expand", nil))
	if err != nil {
		t.Fatal(err)
	}
	e.primary.ResetRequests()
	_, err = d.ControllerExpandVolume(ctx, &csispec.ControllerExpandVolumeRequest{VolumeId: resp.GetVolume().GetVolumeId(), CapacityRange: &csispec.CapacityRange{RequiredBytes: 5 << 30}})
	if code(err) != codes.OutOfRange || e.primary.Requests()["PATCH /storage/volumes/{id}"] != 0 {
		t.Errorf("expand beyond the maximum: %v, %d resizes sent", err, e.primary.Requests()["PATCH /storage/volumes/{id}"])
	}
}
