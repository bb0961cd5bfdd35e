package csi

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

const (
	// defaultSize is a volume's size when the request gives none.
	defaultSize = 1 << 30
	// sizeGranularity rounds sizes up; minSize is ONTAP's smallest FlexVol.
	sizeGranularity = 1 << 20
	minSize         = 20 << 20
	// dpAutosizeFactor bounds how far a DP destination grows by itself to hold its source.
	dpAutosizeFactor = 16
)

var controllerCapabilities = []csi.ControllerServiceCapability_RPC_Type{
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
	csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
	csi.ControllerServiceCapability_RPC_GET_CAPACITY,
	csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
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
	v, err := b.GetVolume(ctx, b.SVM, name)
	if errors.Is(err, ontap.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, answered(ctx, b, err)
	}
	d.placed.Store(pv, b)
	return &found{backend: b, volume: v}, nil
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

// createVolume makes a FlexVol: read-write and exported over NFS, or, for a PVC annotated
// with trident.netapp.io/mirrorRelationship, a DP destination on an SVM peered with the
// relationship's source. It is idempotent by name.
func (d *Driver) createVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, refuse(errInvalid, "name is required")
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	p, err := parseParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	size, err := volumeSize(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	end, err := d.lock("volume " + req.GetName())
	if err != nil {
		return nil, err
	}
	defer end()

	var mirror *MirrorTarget
	if d.mirrors != nil && p.pvcName != "" {
		if mirror, err = d.mirrors.DestinationOf(ctx, p.pvcNamespace, p.pvcName); err != nil {
			return nil, err
		}
	}
	var source *found
	var sourceSnap string
	if snap := req.GetVolumeContentSource().GetSnapshot(); snap != nil {
		if source, sourceSnap, err = d.findSnapshotSource(ctx, snap.GetSnapshotId()); err != nil {
			return nil, err
		}
	} else if req.GetVolumeContentSource() != nil {
		return nil, refuse(errInvalid, "volume_content_source: only snapshots can be cloned")
	}

	candidates := d.backends
	if source != nil {
		candidates = []*ontap.Backend{source.backend}
	}
	// Idempotency: a volume of that name on a candidate backend is the answer, if it fits. A
	// candidate that is unavailable is passed over, unless the volume was last seen, or begun,
	// there: the backends that answer serve.
	for _, b := range candidates {
		resp, err := d.existing(ctx, req, b, size, mirror != nil)
		if last, _ := d.placed.Load(req.GetName()); unavailable(err) && last != b {
			continue
		}
		if resp != nil || err != nil {
			return resp, err
		}
	}

	b, err := d.choose(ctx, candidates, p, mirror)
	if err != nil {
		return nil, err
	}
	name, _ := flexvolName(b.Prefix(), req.GetName())
	spec := ontap.VolumeSpec{
		Name: name, SVM: b.SVM, Aggregate: b.Aggregates[0], Size: size, SnapshotPolicy: "none",
		Comment: volumeComment(req.GetName(), p.pvcNamespace, p.pvcName),
	}
	if mirror != nil {
		spec.Type, spec.AutosizeMode, spec.AutosizeMax = ontap.VolumeDP, "grow", dpAutosizeFactor*size
		spec.SnapshotPolicy = ""
	} else {
		spec.Type, spec.JunctionPath, spec.ExportPolicy = ontap.VolumeRW, "/"+name, b.ExportPolicy
	}
	if source != nil {
		spec.CloneOf, spec.CloneSnapshot = source.volume.Name, sourceSnap
	}
	// Where the volume is begun: if the answer is lost, a repeated call looks there first.
	d.placed.Store(req.GetName(), b)
	job, err := b.CreateVolume(ctx, spec)
	if err == nil {
		err = b.WaitJob(ctx, job)
	}
	if ontap.IsRefusal(err) && !ontap.IsAlreadyExists(err) {
		d.placed.Delete(req.GetName())
	}
	if ontap.IsAlreadyExists(err) {
		// Another replica created it since the look: answer as to a repeated call.
		if resp, err := d.existing(ctx, req, b, size, mirror != nil); resp != nil || err != nil {
			return resp, err
		}
	}
	if err != nil {
		return nil, answered(ctx, b, err)
	}
	return d.createResponse(req, b, &ontap.Volume{Name: name, Size: size, Type: spec.Type}), nil
}

// existing answers a CreateVolume from the volume of that name on backend b, if there is one
// and it fits the request; nil, nil when there is none.
func (d *Driver) existing(ctx context.Context, req *csi.CreateVolumeRequest, b *ontap.Backend, size int64, dp bool) (*csi.CreateVolumeResponse, error) {
	f, err := d.volumeOn(ctx, b, req.GetName())
	if f == nil || err != nil {
		return nil, err
	}
	v := f.volume
	if id, ok := idOf(*v); ok && id != req.GetName() {
		return nil, refuse(errExists, "volume name %s maps to FlexVol %s, which belongs to volume %s: rename the volume", req.GetName(), v.Name, id)
	}
	if err := fits(v, size, req.GetCapacityRange().GetLimitBytes(), dp); err != nil {
		return nil, err
	}
	return d.createResponse(req, b, v), nil
}

// choose picks the first candidate backend that can hold the volume, or explains why none
// can: Unavailable when one that is unavailable might.
func (d *Driver) choose(ctx context.Context, candidates []*ontap.Backend, p params, mirror *MirrorTarget) (*ontap.Backend, error) {
	remoteSVM := ""
	if mirror != nil {
		svm, _, ok := ontap.SplitPath(mirror.RemoteVolumeHandle)
		if !ok {
			return nil, refuse(errPrecondition, "TridentMirrorRelationship %s: remoteVolumeHandle %q is not <svm>:<volume>", mirror.Relationship, mirror.RemoteVolumeHandle)
		}
		remoteSVM = svm
	}
	var why []string
	var down []error
	for _, b := range candidates {
		if p.backendType != "" && b.Driver != p.backendType {
			why = append(why, fmt.Sprintf("%s is %s, not %s", b.Name, b.Driver, p.backendType))
			continue
		}
		if err := b.Available(); err != nil {
			down = append(down, err)
			continue
		}
		if !p.replication && mirror == nil {
			return b, nil
		}
		peered, err := d.peeredWith(ctx, b, remoteSVM)
		if unavailable(err) {
			down = append(down, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		if peered {
			return b, nil
		}
		if mirror != nil {
			why = append(why, fmt.Sprintf("SVM %s of backend %s is not peered with SVM %s, the source of TridentMirrorRelationship %s", b.SVM, b.Name, remoteSVM, mirror.Relationship))
		} else {
			why = append(why, fmt.Sprintf("SVM %s of backend %s has no SVM peer, which %s=true needs", b.SVM, b.Name, ParamReplication))
		}
	}
	if len(down) > 0 {
		return nil, refuse(errUnavailable, "no backend that answers can hold the volume: %s", strings.Join(append(why, joinErrors(down)), "; "))
	}
	return nil, refuse(errPrecondition, "no backend can hold the volume: %s", strings.Join(why, "; "))
}

func (d *Driver) createResponse(req *csi.CreateVolumeRequest, b *ontap.Backend, v *ontap.Volume) *csi.CreateVolumeResponse {
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:      req.GetName(),
		CapacityBytes: v.Size,
		ContentSource: req.GetVolumeContentSource(),
		VolumeContext: map[string]string{
			"backend": b.Name, "backendType": b.Driver, "svm": b.SVM, "internalName": v.Name,
			"server": b.DataAddress(), "path": "/" + v.Name, "type": v.Type,
		},
	}}
}

// fits checks that an existing volume answers a repeated CreateVolume.
func fits(v *ontap.Volume, size, limit int64, dp bool) error {
	if v.Size < size || (limit > 0 && v.Size > limit) {
		return refuse(errExists, "volume %s exists with %d bytes, not the %d requested", v.Name, v.Size, size)
	}
	if dp && v.Type != ontap.VolumeDP {
		return refuse(errExists, "volume %s exists as a %s volume, not as a mirror destination", v.Name, v.Type)
	}
	return nil
}

func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return refuse(errInvalid, "volume_capabilities are required")
	}
	for _, c := range caps {
		if c.GetBlock() != nil {
			return refuse(errInvalid, "volume_capabilities: block access needs ontap-san, which is not supported yet; use a filesystem (NFS) volume")
		}
		if c.GetMount() == nil {
			return refuse(errInvalid, "volume_capabilities: give a mount access type")
		}
		if fs := c.GetMount().GetFsType(); fs != "" && fs != "nfs" {
			return refuse(errInvalid, "volume_capabilities: fs_type %q is not served by ontap-nas: use nfs", fs)
		}
	}
	return nil
}

// volumeSize rounds the requested size up to whole MiB, at least ONTAP's minimum, within the
// limit.
func volumeSize(r *csi.CapacityRange) (int64, error) {
	size := r.GetRequiredBytes()
	if size < 0 || r.GetLimitBytes() < 0 {
		return 0, refuse(errInvalid, "capacity_range: sizes cannot be negative")
	}
	if size == 0 {
		size = min(defaultSize, max(r.GetLimitBytes(), minSize))
		if r.GetLimitBytes() == 0 {
			size = defaultSize
		}
	}
	size = max((size+sizeGranularity-1)/sizeGranularity*sizeGranularity, minSize)
	if limit := r.GetLimitBytes(); limit > 0 && size > limit {
		return 0, refuse(errOutOfRange, "capacity_range: %d bytes, rounded up to ONTAP's granularity and minimum (%d bytes), exceed the limit of %d bytes", r.GetRequiredBytes(), size, limit)
	}
	return size, nil
}

// deleteVolume releases every SnapMirror relationship the volume is in (deleting it on the
// destination side, releasing it on the source side), then deletes the volume. A volume that
// is gone already counts as deleted.
func (d *Driver) deleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, refuse(errInvalid, "volume_id is required")
	}
	if !volumeID.MatchString(id) {
		return &csi.DeleteVolumeResponse{}, nil // no volume can have that ID
	}
	err := d.withVolume(ctx, "volume "+id, id, nil, func(f *found) error {
		if err := release(ctx, f); err != nil {
			return err
		}
		err := run(ctx, f.backend, func() (*ontap.Job, error) { return f.backend.DeleteVolume(ctx, f.volume.UUID) })
		if err != nil && !errors.Is(err, ontap.ErrNotFound) {
			return err
		}
		d.placed.Delete(id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &csi.DeleteVolumeResponse{}, nil
}

// release removes the volume from SnapMirror: as a destination, the relationship is deleted
// (both sides, or the destination's record when the source cannot be reached); as a source,
// each destination's relationship is released.
func release(ctx context.Context, f *found) error {
	b, path := f.backend, f.backend.SVM+":"+f.volume.Name
	rel, err := b.GetRelationship(ctx, path)
	switch {
	case errors.Is(err, ontap.ErrNotFound):
	case err != nil:
		return err
	default:
		if err := run(ctx, b, func() (*ontap.Job, error) { return b.DeleteRelationship(ctx, rel.UUID, ontap.DeleteBoth) }); err != nil {
			if err := run(ctx, b, func() (*ontap.Job, error) { return b.DeleteRelationship(ctx, rel.UUID, ontap.DeleteDestinationOnly) }); err != nil && !errors.Is(err, ontap.ErrNotFound) {
				return err
			}
		}
	}
	if !f.volume.Protected {
		return nil
	}
	dests, err := b.ListRelationships(ctx, ontap.RelationshipFilter{Source: path, SourceSide: true})
	if err != nil {
		return err
	}
	for _, r := range dests {
		if err := run(ctx, b, func() (*ontap.Job, error) { return b.DeleteRelationship(ctx, r.UUID, ontap.ReleaseSource) }); err != nil && !errors.Is(err, ontap.ErrNotFound) {
			return err
		}
	}
	return nil
}

// run starts an asynchronous operation and waits for its job.
func run(ctx context.Context, b *ontap.Backend, op func() (*ontap.Job, error)) error {
	job, err := op()
	if err != nil {
		return err
	}
	return b.WaitJob(ctx, job)
}

// validateVolumeCapabilities confirms the capabilities of an existing volume: NFS volumes
// serve every mount access mode.
func (d *Driver) validateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, refuse(errInvalid, "volume_id is required")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, refuse(errInvalid, "volume_capabilities are required")
	}
	missing := refuse(ontap.ErrNotFound, "volume %s does not exist", id)
	if !volumeID.MatchString(id) {
		return nil, missing
	}
	if err := d.withVolume(ctx, "", id, missing, func(*found) error { return nil }); err != nil {
		return nil, err
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext: req.GetVolumeContext(), VolumeCapabilities: req.GetVolumeCapabilities(), Parameters: req.GetParameters(),
	}}, nil
}

// expandVolume grows the FlexVol. A DP destination grows by ONTAP autosize as its source
// does; an explicit resize sets its size as well.
func (d *Driver) expandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, refuse(errInvalid, "volume_id is required")
	}
	if req.GetCapacityRange() == nil {
		return nil, refuse(errInvalid, "capacity_range is required")
	}
	size, err := volumeSize(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	capacity := size
	err = d.withVolume(ctx, "volume "+id, id, refuse(ontap.ErrNotFound, "volume %s does not exist", id), func(f *found) error {
		if f.volume.Size >= size {
			capacity = f.volume.Size
			return nil
		}
		return run(ctx, f.backend, func() (*ontap.Job, error) { return f.backend.ResizeVolume(ctx, f.volume.UUID, size) })
	})
	if err != nil {
		return nil, err
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: capacity}, nil
}

// getCapacity sums the available space of the configured aggregates of the backends that
// the parameters select and that answer: the space a new volume can have now. It is
// Unavailable when none of them answers.
func (d *Driver) getCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	p, err := parseParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	var total int64
	var down []error
	serving := 0
backends:
	for _, b := range d.backends {
		if p.backendType != "" && b.Driver != p.backendType {
			continue
		}
		if err := b.Available(); err != nil {
			down = append(down, err)
			continue
		}
		var sum int64
		for _, name := range b.Aggregates {
			a, err := b.GetAggregate(ctx, name)
			if err = answered(ctx, b, err); unavailable(err) {
				down = append(down, err)
				continue backends
			}
			if err != nil {
				return nil, err
			}
			sum += a.Available
		}
		total, serving = total+sum, serving+1
	}
	if serving == 0 && len(down) > 0 {
		return nil, refuse(errUnavailable, "%s", joinErrors(down))
	}
	return &csi.GetCapacityResponse{AvailableCapacity: total}, nil
}

// listVolumes lists the volumes this driver made on every backend, in ID order.
func (d *Driver) listVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	var entries []*csi.ListVolumesResponse_Entry
	for _, b := range d.backends {
		vols, err := volumesOf(ctx, b)
		if err != nil {
			return nil, err
		}
		for _, v := range vols {
			if id, ok := idOf(v); ok {
				entries = append(entries, &csi.ListVolumesResponse_Entry{Volume: &csi.Volume{VolumeId: id, CapacityBytes: v.Size}})
			}
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Volume.VolumeId < entries[j].Volume.VolumeId })
	page, next, err := paginate(entries, req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	return &csi.ListVolumesResponse{Entries: page, NextToken: next}, nil
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

// createSnapshot takes a snapshot of a read-write volume; ONTAP refuses snapshots of DP
// destinations, and so does the driver. It is idempotent by name.
func (d *Driver) createSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	name, source := req.GetName(), req.GetSourceVolumeId()
	switch {
	case name == "":
		return nil, refuse(errInvalid, "name is required")
	case source == "":
		return nil, refuse(errInvalid, "source_volume_id is required")
	case !snapshotName.MatchString(name):
		return nil, refuse(errInvalid, "name %q: ONTAP snapshot names take letters, digits, '_', '-' and '.', up to 255", name)
	}
	if len(req.GetParameters()) > 0 {
		return nil, refuse(errInvalid, "parameters: the VolumeSnapshotClass takes none")
	}
	missing := refuse(ontap.ErrNotFound, "source volume %s does not exist", source)
	if !volumeID.MatchString(source) {
		return nil, missing
	}
	var resp *csi.CreateSnapshotResponse
	err := d.withVolume(ctx, "snapshot "+name, source, missing, func(f *found) error {
		b := f.backend
		// Snapshot names are unique per driver: look for the name on every volume at once.
		same, err := b.FindSnapshots(ctx, b.SVM, b.Prefix()+"*", name)
		if err != nil {
			return err
		}
		for _, s := range same {
			if s.VolumeUUID != f.volume.UUID {
				return refuse(errExists, "snapshot %s exists on another volume, %s", name, s.Volume)
			}
			resp = snapshotResponse(source, s)
			return nil
		}
		if f.volume.Type == ontap.VolumeDP {
			return refuse(errPrecondition, "volume %s is a SnapMirror destination (DP), on which ONTAP refuses snapshots: take the snapshot of the source volume, and it will be mirrored", source)
		}
		// A duplicate is another replica's work since the look: the snapshot is the answer.
		if err := run(ctx, b, func() (*ontap.Job, error) { return b.CreateSnapshot(ctx, f.volume.UUID, name) }); err != nil && !ontap.HasCode(err, ontap.CodeSnapshotDuplicate) {
			return err
		}
		s, err := b.GetSnapshot(ctx, f.volume.UUID, name)
		if err != nil {
			return err
		}
		resp = snapshotResponse(source, *s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func snapshotResponse(pv string, s ontap.Snapshot) *csi.CreateSnapshotResponse {
	return &csi.CreateSnapshotResponse{Snapshot: csiSnapshot(pv, s)}
}

func csiSnapshot(pv string, s ontap.Snapshot) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId: snapshotID(pv, s.Name), SourceVolumeId: pv, SizeBytes: s.Size,
		CreationTime: timestamppb.New(s.Created), ReadyToUse: true,
	}
}

// snapshotOn gets snapshot name of volume f; nil, nil when the volume has none of that name.
func snapshotOn(ctx context.Context, f *found, name string) (*ontap.Snapshot, error) {
	s, err := f.backend.GetSnapshot(ctx, f.volume.UUID, name)
	if errors.Is(err, ontap.ErrNotFound) {
		return nil, nil
	}
	return s, err
}

// findSnapshotSource resolves a snapshot ID for a clone: the volume and the snapshot name.
func (d *Driver) findSnapshotSource(ctx context.Context, id string) (*found, string, error) {
	missing := refuse(ontap.ErrNotFound, "source snapshot %s does not exist", id)
	pv, snap, ok := parseSnapshotID(id)
	if !ok {
		return nil, "", missing
	}
	var source *found
	err := d.withVolume(ctx, "", pv, refuse(ontap.ErrNotFound, "source snapshot %s does not exist: no volume %s", id, pv), func(f *found) error {
		s, err := snapshotOn(ctx, f, snap)
		if err != nil {
			return err
		}
		if s == nil {
			return missing
		}
		source = f
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return source, snap, nil
}

// deleteSnapshot deletes a snapshot; one that is gone, or an ID this driver never gave,
// counts as deleted.
func (d *Driver) deleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, refuse(errInvalid, "snapshot_id is required")
	}
	pv, snap, ok := parseSnapshotID(req.GetSnapshotId())
	if !ok {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	err := d.withVolume(ctx, "snapshot "+snap, pv, nil, func(f *found) error {
		s, err := snapshotOn(ctx, f, snap)
		if s == nil || err != nil {
			return err
		}
		if err := run(ctx, f.backend, func() (*ontap.Job, error) { return f.backend.DeleteSnapshot(ctx, f.volume.UUID, s.UUID) }); err != nil && !errors.Is(err, ontap.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

// listSnapshots lists snapshots by ID, by source volume, or all of this driver's volumes'
// (SnapMirror's own base snapshots left out), in ID order and in pages.
func (d *Driver) listSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	var entries []*csi.ListSnapshotsResponse_Entry
	add := func(id string, s ontap.Snapshot) {
		if !strings.HasPrefix(s.Name, "snapmirror.") {
			entries = append(entries, &csi.ListSnapshotsResponse_Entry{Snapshot: csiSnapshot(id, s)})
		}
	}
	switch {
	case req.GetSnapshotId() != "":
		pv, snap, ok := parseSnapshotID(req.GetSnapshotId())
		if !ok {
			break
		}
		err := d.withVolume(ctx, "", pv, nil, func(f *found) error {
			s, err := snapshotOn(ctx, f, snap)
			if s != nil {
				add(pv, *s)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	case req.GetSourceVolumeId() != "":
		pv := req.GetSourceVolumeId()
		if !volumeID.MatchString(pv) {
			break
		}
		err := d.withVolume(ctx, "", pv, nil, func(f *found) error {
			snaps, err := f.backend.ListSnapshots(ctx, f.volume.UUID)
			for _, s := range snaps {
				add(pv, s)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	default:
		for _, b := range d.backends {
			vols, err := volumesOf(ctx, b)
			if err != nil {
				return nil, err
			}
			ids := map[string]string{}
			for _, v := range vols {
				if id, ok := idOf(v); ok {
					ids[v.UUID] = id
				}
			}
			snaps, err := b.FindSnapshots(ctx, b.SVM, b.Prefix()+"*", "")
			if err != nil {
				return nil, answered(ctx, b, err)
			}
			for _, s := range snaps {
				if id, ok := ids[s.VolumeUUID]; ok {
					add(id, s)
				}
			}
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Snapshot.SnapshotId < entries[j].Snapshot.SnapshotId })
	page, next, err := paginate(entries, req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	return &csi.ListSnapshotsResponse{Entries: page, NextToken: next}, nil
}
