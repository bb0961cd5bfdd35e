package csi

import (
	"context"
	"errors"
	"slices"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// NFS access with autoExportPolicy: each ontap-nas volume has an export policy of its own,
// named as its FlexVol (ontap.BackendConfig.ExportPolicyOf), made before the volume and empty
// (no client may mount) until the volume is published: then one rule per address of each
// node it is published to, read-write or read-only as published. The rules go with the
// publication, the policy with the volume. A volume whose policy is not its own (made with
// a fixed exportPolicy, or changed by an administrator) is left alone: its access is theirs.

// ownsPolicy reports whether the driver manages the volume's export rules.
func ownsPolicy(f *found) bool {
	return f.backend.AutoExportPolicy && f.volume.ExportPolicy == f.volume.Name && f.volume.ExportPolicyID != 0
}

// admitNode adds a rule for each of the node's addresses (those autoExportCIDRs admit) that
// no rule of the volume's policy names yet.
func admitNode(ctx context.Context, f *found, node NodeID, readonly bool) error {
	if !ownsPolicy(f) {
		return nil
	}
	b := f.backend
	if len(node.NFS) == 0 {
		return refuse(errInvalid, "node_id %q has no nfs addresses: the node plugin reports the addresses the node mounts NFS from as <node>;nfs=<ip>,..., and the export policy of volume %s admits only those", node.String(), f.volume.Name)
	}
	addrs := b.ExportAddresses(node.NFS)
	if len(addrs) == 0 {
		return refuse(errPrecondition, "none of node %s's NFS addresses %v is in the backend's autoExportCIDRs %v: add the node's subnet to autoExportCIDRs of backend %s", node.Name, node.NFS, b.AutoExportCIDRs, b.Name)
	}
	id := f.volume.ExportPolicyID
	rules, err := b.ExportRules(ctx, id)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if slices.ContainsFunc(rules, func(r ontap.ExportRule) bool { return slices.Equal(r.Clients, []string{a}) }) {
			continue
		}
		if err := b.AddExportRule(ctx, id, ontap.ExportRule{Clients: []string{a}, ReadOnly: readonly}); err != nil {
			return err
		}
	}
	return nil
}

// dismissNode removes the rules that name only addresses of the node; with no node, every
// rule. A policy that is gone has nothing to remove.
func dismissNode(ctx context.Context, f *found, node *NodeID) error {
	if !ownsPolicy(f) {
		return nil
	}
	b, id := f.backend, f.volume.ExportPolicyID
	rules, err := b.ExportRules(ctx, id)
	if errors.Is(err, ontap.ErrNotFound) {
		return nil // the policy went since the volume was read
	}
	if err != nil {
		return err
	}
	var addrs []string
	if node != nil {
		addrs = b.ExportAddresses(node.NFS)
	}
	// From the highest index down (ontap.Client.DeleteExportRule).
	for _, r := range slices.Backward(rules) {
		if node != nil && !allIn(r.Clients, addrs) {
			continue
		}
		if err := b.DeleteExportRule(ctx, id, r.Index); err != nil {
			return err
		}
	}
	return nil
}

func allIn(items, set []string) bool {
	return len(items) > 0 && !slices.ContainsFunc(items, func(s string) bool { return !slices.Contains(set, s) })
}

// dropVolumePolicy parts the volume from its own export policy, which it deletes, before the
// volume is deleted: ONTAP refuses to delete a policy in use, and a policy left after its
// volume would be an orphan no later call finds. The volume gets the SVM's default policy
// meanwhile (it is being deleted: no client uses it). A crash between the steps leaves the
// volume, which a repeated DeleteVolume finds again: the policy is found by its name.
func dropVolumePolicy(ctx context.Context, f *found) error {
	b := f.backend
	if !b.AutoExportPolicy || b.Driver != ontap.DriverNAS {
		return nil
	}
	if v := f.volume; v.ExportPolicy == v.Name && v.ExportPolicyID != 0 {
		if err := run(ctx, b, func() (*ontap.Job, error) { return b.SetExportPolicy(ctx, v.UUID, "default") }); err != nil {
			return err
		}
		return b.DeleteExportPolicy(ctx, v.ExportPolicyID)
	}
	return deletePolicy(ctx, b, f.volume.Name)
}

// deletePolicy deletes the SVM's export policy of that name, if there is one.
func deletePolicy(ctx context.Context, b *ontap.Backend, name string) error {
	p, err := b.GetExportPolicy(ctx, b.SVM, name)
	if errors.Is(err, ontap.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return b.DeleteExportPolicy(ctx, p.ID)
}
