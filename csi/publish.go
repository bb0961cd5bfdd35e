package csi

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// publication is a volume published to a node.
type publication struct{ volume, node string }

// publishVolume makes a volume reachable from a node. For an ontap-san volume: the node's
// igroup (igroupName), made on demand with the node's IQN (added when missing), and the LUN
// mapped to it under the lowest free logical unit number; the publish context gives what the
// node logs in to and looks for: protocol, lunNumber, lunSerial, targetIQN, portals, readOnly.
// It refuses a single-node volume whose LUN is mapped to another igroup. For an ontap-nas
// volume: the node's addresses admitted by the volume's own export policy (exports.go), and
// a context of protocol, nfsServer, nfsPath, readOnly. A mirror destination (DP) is published
// read-only (readOnlyContext). It is idempotent; a repeated publish to the same node with the
// other readonly flag is AlreadyExists, as far as this process saw the first (see
// Driver.published: ONTAP records no read-only flag per map).
func (d *Driver) publishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	id, nodeID, vc := req.GetVolumeId(), req.GetNodeId(), req.GetVolumeCapability()
	switch {
	case id == "":
		return nil, refuse(errInvalid, "volume_id is required")
	case nodeID == "":
		return nil, refuse(errInvalid, "node_id is required")
	case vc == nil:
		return nil, refuse(errInvalid, "volume_capability is required")
	}
	node, err := ParseNodeID(nodeID)
	if err != nil {
		return nil, err
	}
	a, err := accessOf(params{}, []*csi.VolumeCapability{vc})
	if err != nil {
		return nil, err
	}
	missing := refuse(ontap.ErrNotFound, "volume %s does not exist", id)
	if !volumeID.MatchString(id) {
		return nil, missing
	}
	if d.nodes != nil {
		known, err := d.nodes.Known(ctx, nodeID)
		if err != nil {
			return nil, err
		}
		if !known {
			return nil, refuse(ontap.ErrNotFound, "node %s is unknown: no node plugin of this driver reported node ID %q", node.Name, nodeID)
		}
	}
	key := publication{id, node.Name}
	if ro, ok := d.published.Load(key); ok && ro.(bool) != req.GetReadonly() {
		return nil, refuse(errExists, "volume %s is published to node %s with readonly=%t: unpublish it before publishing it with readonly=%t", id, node.Name, ro, req.GetReadonly())
	}
	var pc map[string]string
	err = d.withVolume(ctx, "volume "+id, id, missing, func(f *found) error {
		if !a.serves(f.backend.Driver) {
			return refuse(errInvalid, "volume_capability needs %s, and volume %s is on an %s backend", a.driver, id, f.backend.Driver)
		}
		readonly := req.GetReadonly() || readOnlyMode(vc.GetAccessMode().GetMode())
		var perr error
		if f.backend.Driver == ontap.DriverSAN {
			pc, perr = d.publishSAN(ctx, f, node, vc.GetAccessMode().GetMode(), readonly)
		} else {
			pc, perr = publishNAS(ctx, f, node, readonly)
		}
		return perr
	})
	if err != nil {
		return nil, err
	}
	d.published.Store(key, req.GetReadonly())
	return &csi.ControllerPublishVolumeResponse{PublishContext: pc}, nil
}

// publishNAS admits the node to an ontap-nas volume (its export rules, with autoExportPolicy)
// and returns where the node mounts it: protocol, nfsServer, nfsPath, readOnly.
func publishNAS(ctx context.Context, f *found, node NodeID, readonly bool) (map[string]string, error) {
	v := f.volume
	switch {
	case v.JunctionPath == "" && v.Type == ontap.VolumeDP:
		return nil, refuse(errPrecondition, "volume %s is a SnapMirror destination that is not mounted in its SVM's namespace yet: it is mounted once its baseline transfer is done (TridentMirrorRelationship established); publish it then", v.Name)
	case v.JunctionPath == "":
		return nil, refuse(errPrecondition, "volume %s has no junction path, so NFS clients cannot reach it: mount it on ONTAP (volume mount) at /%s", v.Name, v.Name)
	}
	if err := admitNode(ctx, f, node, readonly); err != nil {
		return nil, err
	}
	return map[string]string{"protocol": "nfs", "nfsServer": f.backend.DataAddress(), "nfsPath": v.JunctionPath, "readOnly": readOnlyContext(v, readonly)}, nil
}

// readOnlyContext is the publish context's readOnly: true when the publication only reads,
// or when the volume is a SnapMirror destination (DP), which ONTAP keeps read-only until it
// is promoted. A DP volume is published, read-only, whatever was asked: a pod on the
// destination site may read the mirror; its writes fail (EROFS), and the node plugin logs why.
func readOnlyContext(v *ontap.Volume, readonly bool) string {
	return strconv.FormatBool(readonly || v.Type == ontap.VolumeDP)
}

// readOnlyMode reports whether an access mode only reads.
func readOnlyMode(m csi.VolumeCapability_AccessMode_Mode) bool {
	return m == csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY || m == csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY
}

// singleNode reports whether an access mode lets one node at a time use the volume.
func singleNode(m csi.VolumeCapability_AccessMode_Mode) bool {
	switch m {
	case csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY, csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		return false
	}
	return true
}

// publishSAN maps an ontap-san volume's LUN to the node's igroup and returns the publish context.
func (d *Driver) publishSAN(ctx context.Context, f *found, node NodeID, mode csi.VolumeCapability_AccessMode_Mode, readonly bool) (map[string]string, error) {
	b, v := f.backend, f.volume
	if node.IQN == "" {
		return nil, refuse(errInvalid, "node_id %q has no iqn: ontap-san volumes need the node's iSCSI initiator name, which the node plugin reports as <node>;iqn=<IQN>", node.String())
	}
	path := lunPath(v.Name)
	lun, err := b.GetLUN(ctx, b.SVM, path)
	switch {
	case errors.Is(err, ontap.ErrNotFound) && v.Type == ontap.VolumeDP:
		return nil, refuse(errPrecondition, "volume %s is a mirror destination that has no LUN yet: its baseline transfer brings it", v.Name)
	case errors.Is(err, ontap.ErrNotFound):
		return nil, refuse(errPrecondition, "volume %s has no LUN %s: repeat the CreateVolume to complete it", v.Name, path)
	case err != nil:
		return nil, err
	}
	igroup := igroupName(node.Name, d.installation)
	var mapped *ontap.LUNMap
	for i, m := range lun.Maps {
		switch {
		case m.Igroup == igroup:
			mapped = &lun.Maps[i]
		case singleNode(mode):
			return nil, refuse(errPrecondition, "volume %s is published elsewhere (its LUN is mapped to igroup %s), and its access mode %s allows one node: unpublish it there first", v.Name, m.Igroup, mode)
		}
	}
	if mapped == nil {
		igroupUUID, err := d.ensureIgroup(ctx, b, igroup, node)
		if err != nil {
			return nil, err
		}
		mapped, err = b.MapLUN(ctx, b.SVM, path, igroup)
		if ontap.IsAlreadyMapped(err) {
			mapped, err = b.GetLUNMap(ctx, b.SVM, path, igroup)
		}
		if err != nil {
			// An igroup this publish may have made, and that maps nothing, is not left behind.
			return nil, errors.Join(err, dropIgroup(ctx, b, igroupUUID))
		}
	}
	pc := map[string]string{"protocol": ontap.SANiSCSI, "lunNumber": lunNumber(mapped.Number), "lunSerial": lun.Serial, "readOnly": readOnlyContext(v, readonly)}
	if t := b.ISCSI(); t != nil {
		pc["targetIQN"], pc["portals"] = t.IQN, strings.Join(t.Portals, ",")
	}
	return pc, nil
}

// forgetPublished forgets the volume's publications to every node.
func (d *Driver) forgetPublished(volume string) {
	d.published.Range(func(k, _ any) bool {
		if k.(publication).volume == volume {
			d.published.Delete(k)
		}
		return true
	})
}

// ensureIgroup makes the node's igroup, with its IQN, or adds the IQN to the igroup that
// exists, and returns the igroup's UUID.
func (d *Driver) ensureIgroup(ctx context.Context, b *ontap.Backend, name string, node NodeID) (string, error) {
	ig, err := b.GetIgroup(ctx, b.SVM, name)
	if errors.Is(err, ontap.ErrNotFound) {
		ig, err = b.CreateIgroup(ctx, ontap.IgroupSpec{
			Name: name, SVM: b.SVM, Protocol: ontap.SANiSCSI, OSType: "linux", Initiators: []string{node.IQN},
			Comment: "node " + node.Name + " of snapmirror-csi installation " + d.installation,
		})
		if !ontap.IsAlreadyExists(err) {
			if err != nil {
				return "", err
			}
			return ig.UUID, nil
		}
		// Another publish to the node made it since the look.
		ig, err = b.GetIgroup(ctx, b.SVM, name)
	}
	if err != nil {
		return "", err
	}
	if slices.Contains(ig.Initiators, node.IQN) {
		return ig.UUID, nil
	}
	return ig.UUID, b.AddInitiator(ctx, ig.UUID, node.IQN)
}

// dropIgroup deletes an igroup of this installation unless it still maps a LUN (ONTAP
// refuses then: the node has other volumes); one that is gone is dropped already.
func dropIgroup(ctx context.Context, b *ontap.Backend, uuid string) error {
	if err := b.DeleteIgroup(ctx, uuid); err != nil && !errors.Is(err, ontap.ErrNotFound) && !ontap.IsMapped(err) {
		return err
	}
	return nil
}

// unpublishVolume undoes publishVolume: for an ontap-san volume, the LUN is unmapped from the
// node's igroup (from every igroup of this installation when no node is given), and an igroup
// left without maps is deleted. A volume, LUN, map or igroup that is gone counts as
// unpublished.
func (d *Driver) unpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	id, nodeID := req.GetVolumeId(), req.GetNodeId()
	if id == "" {
		return nil, refuse(errInvalid, "volume_id is required")
	}
	match := func(igroup string) bool { return ownIgroup(igroup, d.installation) }
	var node *NodeID
	if nodeID != "" {
		n, err := ParseNodeID(nodeID)
		if err != nil {
			return nil, err
		}
		node = &n
		igroup := igroupName(node.Name, d.installation)
		match = func(ig string) bool { return ig == igroup }
		defer d.published.Delete(publication{id, node.Name})
	} else {
		// From every node.
		defer d.forgetPublished(id)
	}
	if !volumeID.MatchString(id) {
		return &csi.ControllerUnpublishVolumeResponse{}, nil
	}
	err := d.withVolume(ctx, "volume "+id, id, nil, func(f *found) error {
		if f.backend.Driver != ontap.DriverSAN {
			return dismissNode(ctx, f, node)
		}
		return d.unmapWhere(ctx, f, match)
	})
	if err != nil {
		return nil, err
	}
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}
