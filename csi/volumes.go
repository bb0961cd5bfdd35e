package csi

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

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

// createVolume makes a FlexVol: read-write and exported over NFS (ontap-nas) or holding one
// LUN (ontap-san, see san.go), or, for a PVC annotated with
// trident.netapp.io/mirrorRelationship, a DP destination on an SVM peered with the
// relationship's source (its LUN comes with the mirror's baseline). It is idempotent by name.
func (d *Driver) createVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, refuse(errInvalid, "name is required")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, refuse(errInvalid, "volume_capabilities are required")
	}
	p, err := parseParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	a, err := accessOf(p, req.GetVolumeCapabilities())
	if err == nil {
		err = a.configured(d.backends)
	}
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
	if candidates, err = withinMaximum(candidates, size); err != nil {
		return nil, err
	}
	// Idempotency: a volume of that name on a candidate backend is the answer, if it fits. A
	// candidate that is unavailable is passed over, unless the volume was last seen, or begun,
	// there: the backends that answer serve.
	for _, b := range candidates {
		resp, err := d.existing(ctx, req, b, size, mirror != nil, a)
		if last, _ := d.placed.Load(req.GetName()); unavailable(err) && last != b {
			continue
		}
		if resp != nil || err != nil {
			return resp, err
		}
	}

	b, err := d.choose(ctx, candidates, p, a, mirror)
	if err != nil {
		return nil, err
	}
	name, _ := flexvolName(b.Prefix(), req.GetName())
	spec := ontap.VolumeSpec{
		Name: name, SVM: b.SVM, Aggregate: b.Aggregates[0], Size: size, SnapshotPolicy: "none",
		Comment: volumeComment(req.GetName(), p.pvcNamespace, p.pvcName),
	}
	san := b.Driver == ontap.DriverSAN
	if san {
		reserve := int64(sanSnapshotReserve)
		spec.Size, spec.SnapshotReserve = flexvolFor(size), &reserve
	}
	switch {
	case mirror != nil:
		spec.Type, spec.AutosizeMode, spec.AutosizeMax = ontap.VolumeDP, "grow", dpAutosizeFactor*spec.Size
		spec.SnapshotPolicy = ""
	case san:
		spec.Type = ontap.VolumeRW // no junction path: hosts reach its LUN over iSCSI
	default:
		spec.Type, spec.JunctionPath, spec.ExportPolicy = ontap.VolumeRW, "/"+name, b.ExportPolicyOf(name)
	}
	// A volume's own export policy comes first, since the volume names it; a DP destination
	// gets it when the TMR controller mounts it.
	ownPolicy := !san && b.AutoExportPolicy
	if ownPolicy {
		if _, err := b.EnsureExportPolicy(ctx, b.SVM, name); err != nil {
			return nil, answered(ctx, b, err)
		}
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
		if ownPolicy {
			// No volume will use it: nothing else would delete it.
			err = errors.Join(err, deletePolicy(ctx, b, name))
		}
	}
	if ontap.IsAlreadyExists(err) {
		// Another replica created it since the look: answer as to a repeated call.
		if resp, err := d.existing(ctx, req, b, size, mirror != nil, a); resp != nil || err != nil {
			return resp, err
		}
	}
	if err != nil {
		return nil, answered(ctx, b, err)
	}
	v := &ontap.Volume{Name: name, Size: size, Type: spec.Type}
	if san {
		v.Size = spec.Size
		resp, err := d.finishSAN(ctx, req, b, v, size, a, newVolume{cloned: source != nil})
		return resp, answered(ctx, b, err)
	}
	return d.createResponse(req, b, v), nil
}

// existing answers a CreateVolume from the volume of that name on backend b, if there is one
// and it fits the request; nil, nil when there is none.
func (d *Driver) existing(ctx context.Context, req *csi.CreateVolumeRequest, b *ontap.Backend, size int64, dp bool, a access) (*csi.CreateVolumeResponse, error) {
	f, err := d.volumeOn(ctx, b, req.GetName())
	if f == nil || err != nil {
		return nil, err
	}
	v := f.volume
	if id, ok := idOf(*v); ok && id != req.GetName() {
		return nil, refuse(errExists, "volume name %s maps to FlexVol %s, which belongs to volume %s: rename the volume", req.GetName(), v.Name, id)
	}
	if !a.serves(b.Driver) {
		return nil, refuse(errExists, "volume %s exists on backend %s, which is %s, not %s", req.GetName(), b.Name, b.Driver, a.driver)
	}
	if b.Driver == ontap.DriverSAN {
		// The LUN's size answers, once there is one; until then the FlexVol's.
		if err := fits(v, flexvolFor(size), 0, dp); err != nil {
			return nil, err
		}
		resp, err := d.finishSAN(ctx, req, b, v, size, a, newVolume{existing: true})
		return resp, answered(ctx, b, err)
	}
	if err := fits(v, size, req.GetCapacityRange().GetLimitBytes(), dp); err != nil {
		return nil, err
	}
	return d.createResponse(req, b, v), nil
}

// choose picks the first candidate backend that can hold the volume, or explains why none
// can: Unavailable when one that is unavailable might.
func (d *Driver) choose(ctx context.Context, candidates []*ontap.Backend, p params, a access, mirror *MirrorTarget) (*ontap.Backend, error) {
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
		if !a.serves(b.Driver) {
			why = append(why, fmt.Sprintf("%s is %s, not %s", b.Name, b.Driver, a.driver))
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

// checkCapabilities checks that a volume on a backend of driver serves the capabilities.
func checkCapabilities(caps []*csi.VolumeCapability, driver string) error {
	if len(caps) == 0 {
		return refuse(errInvalid, "volume_capabilities are required")
	}
	a, err := accessOf(params{}, caps)
	if err != nil {
		return err
	}
	if !a.serves(driver) {
		return refuse(errInvalid, "volume_capabilities need %s, and the volume is on an %s backend", a.driver, driver)
	}
	return nil
}

// withinMaximum keeps the backends whose largest volume (maxVolumeSize) holds a volume of size
// bytes (with an ontap-san backend's LUN reserves); none is OutOfRange, answered without asking
// ONTAP.
func withinMaximum(backends []*ontap.Backend, size int64) ([]*ontap.Backend, error) {
	var fit []*ontap.Backend
	largest := int64(0)
	for _, b := range backends {
		largest = max(largest, b.MaxVolume())
		if flexvolOn(b, size) <= b.MaxVolume() {
			fit = append(fit, b)
		}
	}
	if len(fit) == 0 && len(backends) > 0 {
		return nil, refuse(errOutOfRange, "capacity_range: %d bytes exceed the largest volume the backends make (maxVolumeSize, %d bytes)", size, largest)
	}
	return fit, nil
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
// destination side, releasing it on the source side), unmaps an ontap-san volume's LUN from
// every igroup still mapped, then deletes the volume. A volume that
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
		if f.backend.Driver == ontap.DriverSAN {
			if err := d.unmapAll(ctx, f); err != nil {
				return err
			}
		}
		if err := dropVolumePolicy(ctx, f); err != nil {
			return err
		}
		err := run(ctx, f.backend, func() (*ontap.Job, error) { return f.backend.DeleteVolume(ctx, f.volume.UUID) })
		if err != nil && !errors.Is(err, ontap.ErrNotFound) {
			return err
		}
		d.placed.Delete(id)
		d.forgetPublished(id)
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

// validateVolumeCapabilities confirms the capabilities of an existing volume: NFS volumes
// serve every mount access mode; SAN volumes block access, and a filesystem (ext4, xfs)
// mounted by one node at a time or read by several.
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
	driver := ""
	if err := d.withVolume(ctx, "", id, missing, func(f *found) error { driver = f.backend.Driver; return nil }); err != nil {
		return nil, err
	}
	if err := checkCapabilities(req.GetVolumeCapabilities(), driver); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext: req.GetVolumeContext(), VolumeCapabilities: req.GetVolumeCapabilities(), Parameters: req.GetParameters(),
	}}, nil
}

// expandVolume grows the FlexVol, and on ontap-san then its LUN, whose filesystem the node
// grows after (node_expansion_required). A DP destination grows by ONTAP autosize as its
// source does; an explicit resize sets its size as well (and, on ontap-san, leaves its
// read-only LUN to the mirror, which brings the source LUN's size).
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
	capacity, node := size, false
	err = d.withVolume(ctx, "volume "+id, id, refuse(ontap.ErrNotFound, "volume %s does not exist", id), func(f *found) error {
		b := f.backend
		if b.Driver == ontap.DriverSAN {
			node = true
			var err error
			capacity, err = expandSAN(ctx, f, size)
			return err
		}
		if f.volume.Size >= size {
			capacity = f.volume.Size
			return nil
		}
		if _, err := withinMaximum([]*ontap.Backend{b}, size); err != nil {
			return err
		}
		return run(ctx, b, func() (*ontap.Job, error) { return b.ResizeVolume(ctx, f.volume.UUID, size) })
	})
	if err != nil {
		return nil, err
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: capacity, NodeExpansionRequired: node}, nil
}

// getCapacity sums the available space of the configured aggregates of the backends that
// the parameters select and that answer: the space a new volume can have now. It is
// Unavailable when none of them answers.
func (d *Driver) getCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	p, err := parseParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	a, err := accessOf(p, req.GetVolumeCapabilities())
	if err != nil {
		return nil, err
	}
	var total int64
	var down []error
	serving := 0
backends:
	for _, b := range d.backends {
		if !a.serves(b.Driver) {
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
		luns, err := lunSizes(ctx, b)
		if err != nil {
			return nil, err
		}
		for _, v := range vols {
			if id, ok := idOf(v); ok {
				size := v.Size
				if b.Driver == ontap.DriverSAN {
					size = luns[v.Name] // 0 for a mirror destination before its baseline
				}
				entries = append(entries, &csi.ListVolumesResponse_Entry{Volume: &csi.Volume{VolumeId: id, CapacityBytes: size}})
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
