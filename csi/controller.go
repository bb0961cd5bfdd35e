package csi

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

var controllerCapabilities = []csi.ControllerServiceCapability_RPC_Type{
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
	csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
	csi.ControllerServiceCapability_RPC_GET_CAPACITY,
	csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
	csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
	csi.ControllerServiceCapability_RPC_PUBLISH_READONLY,
}

// ControllerGetCapabilities implements csi.ControllerServer.
func (d *Driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	caps := make([]*csi.ControllerServiceCapability, len(controllerCapabilities))
	for i, c := range controllerCapabilities {
		caps[i] = &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: c}}}
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

// The methods of csi.ControllerServer that can fail run their handlers, below, through rpc.

// CreateVolume implements csi.ControllerServer: see createVolume.
func (d *Driver) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	return rpc(ctx, req, d.createVolume)
}

// DeleteVolume implements csi.ControllerServer: see deleteVolume.
func (d *Driver) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	return rpc(ctx, req, d.deleteVolume)
}

// ValidateVolumeCapabilities implements csi.ControllerServer: see validateVolumeCapabilities.
func (d *Driver) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	return rpc(ctx, req, d.validateVolumeCapabilities)
}

// ControllerPublishVolume implements csi.ControllerServer: see publishVolume.
func (d *Driver) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	return rpc(ctx, req, d.publishVolume)
}

// ControllerUnpublishVolume implements csi.ControllerServer: see unpublishVolume.
func (d *Driver) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	return rpc(ctx, req, d.unpublishVolume)
}

// ControllerExpandVolume implements csi.ControllerServer: see expandVolume.
func (d *Driver) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	return rpc(ctx, req, d.expandVolume)
}

// GetCapacity implements csi.ControllerServer: see getCapacity.
func (d *Driver) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	return rpc(ctx, req, d.getCapacity)
}

// ListVolumes implements csi.ControllerServer: see listVolumes.
func (d *Driver) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	return rpc(ctx, req, d.listVolumes)
}

// CreateSnapshot implements csi.ControllerServer: see createSnapshot.
func (d *Driver) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	return rpc(ctx, req, d.createSnapshot)
}

// DeleteSnapshot implements csi.ControllerServer: see deleteSnapshot.
func (d *Driver) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	return rpc(ctx, req, d.deleteSnapshot)
}

// ListSnapshots implements csi.ControllerServer: see listSnapshots.
func (d *Driver) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	return rpc(ctx, req, d.listSnapshots)
}

// found is a volume with the backend that holds it.
type found struct {
	backend *ontap.Backend
	volume  *ontap.Volume
}

// volumeOn finds a PV's FlexVol on backend b; nil, nil when it is not there. When b is
// unavailable, or its cluster does not answer, the error is an *ontap.UnavailableError.
func (d *Driver) volumeOn(ctx context.Context, b *ontap.Backend, pv string) (*found, error) {
	name, err := flexvolName(b.Prefix(), pv)
	if err != nil {
		return nil, err
	}
	if err := b.Available(); err != nil {
		return nil, err
	}
	look, cancel := context.WithTimeout(ctx, lookLimit(ctx))
	defer cancel()
	v, err := b.GetVolume(look, b.SVM, name)
	if errors.Is(err, ontap.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, answered(ctx, b, err)
	}
	d.placed.Store(pv, b)
	return &found{backend: b, volume: v}, nil
}

// lookLimit bounds a look for a volume on one backend: ONTAP answers a collection page within
// 15 s. A cluster that has not answered within half of the call's time left is taken for one
// that does not answer (a black-holed one accepts connections and never answers): the call's
// other half is for the backends that do, and the next call passes it over. Without that
// bound, a call whose deadline is shorter than the client's request timeout (the
// provisioner's 10 s against 30 s) would end on the silent cluster every time, which its own
// deadline says nothing of, so that the backends that answer would never serve.
func lookLimit(ctx context.Context) time.Duration {
	limit := 15 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(deadline)/2)
	}
	return limit
}

// findVolume finds a PV's FlexVol: first on the backend it was last seen on, then on every
// backend. It returns nil, nil when no backend has it, and refuses with errUnavailable when the
// backend it was last seen on, or any that does not have it, is unavailable: it may be there.
func (d *Driver) findVolume(ctx context.Context, pv string) (*found, error) {
	try := func(b *ontap.Backend) (*found, error) { return d.volumeOn(ctx, b, pv) }
	if b, ok := d.placed.Load(pv); ok {
		f, err := try(b.(*ontap.Backend))
		if f != nil || err != nil {
			return f, err
		}
		d.placed.Delete(pv)
	}
	var down []error
	for _, b := range d.backends {
		f, err := try(b)
		if unavailable(err) {
			down = append(down, err)
			continue
		}
		if f != nil || err != nil {
			return f, err
		}
	}
	if len(down) > 0 {
		return nil, refuse(errUnavailable, "volume %s is on none of the backends that answer, and may be on one that does not: %s", pv, joinErrors(down))
	}
	return nil, nil
}

// withVolume runs fn on the volume of PV pv, for the RPCs that act on one volume. With a key,
// it holds the in-flight guard on key meanwhile (see lock). When no backend has the volume, fn
// does not run and the answer is missing: nil where a missing volume counts as success. fn's
// error is noted as the volume's backend's answer (see answered).
func (d *Driver) withVolume(ctx context.Context, key, pv string, missing error, fn func(*found) error) error {
	if key != "" {
		end, err := d.lock(key)
		if err != nil {
			return err
		}
		defer end()
	}
	f, err := d.findVolume(ctx, pv)
	if err != nil {
		return err
	}
	if f == nil {
		return missing
	}
	return answered(ctx, f.backend, fn(f))
}

// unavailable reports whether err says that a backend cannot be used now.
func unavailable(err error) bool {
	var u *ontap.UnavailableError
	return errors.As(err, &u)
}

// joinErrors joins errors on one line.
func joinErrors(errs []error) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// answered notes whether backend b's cluster answered the call that returned err: one that got
// no answer makes b unavailable until its cluster answers again (ontap.Backend.Answered),
// unless the call's own deadline ended it first, which says nothing of the cluster.
func answered(ctx context.Context, b *ontap.Backend, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return b.Answered(err)
}

// run starts an asynchronous operation and waits for its job.
func run(ctx context.Context, b *ontap.Backend, op func() (*ontap.Job, error)) error {
	job, err := op()
	if err != nil {
		return err
	}
	return b.WaitJob(ctx, job)
}

// volumesOf lists the volumes this driver may have made on backend b: those with its prefix.
func volumesOf(ctx context.Context, b *ontap.Backend) ([]ontap.Volume, error) {
	if err := b.Available(); err != nil {
		return nil, err
	}
	vols, err := b.ListVolumes(ctx, b.SVM, b.Prefix()+"*")
	return vols, answered(ctx, b, err)
}

// paginate cuts a page from a sorted list; the token is the offset of the page.
func paginate[T any](all []T, token string, maxEntries int32) ([]T, string, error) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(all) {
			return nil, "", refuse(errPending, "starting_token %q is not one this driver gave", token)
		}
		start = n
	}
	if maxEntries < 0 {
		return nil, "", refuse(errInvalid, "max_entries cannot be negative")
	}
	end := len(all)
	next := ""
	if maxEntries > 0 && start+int(maxEntries) < len(all) {
		end = start + int(maxEntries)
		next = strconv.Itoa(end)
	}
	return all[start:end], next, nil
}
