package frontend

import (
	"context"
	"fmt"
	"strings"

	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
)

// Nodes answers the CSI driver's question, whether a node ID is one a node plugin of this
// driver reported, from the node's CSINode: kubelet copies there the node ID that the node
// plugin's NodeGetInfo gave, under the driver's name, and the external-attacher reads it there
// to name the node in ControllerPublishVolume. A publish to a node ID that no CSINode holds
// (a node that is gone, or an ID that was changed since) is refused before ONTAP is asked.
type Nodes struct {
	// Cache is read first: the manager's client, whose informer keeps every CSINode.
	Cache client.Reader
	// Live is read when the cache does not hold the ID: a node plugin that registered a moment
	// ago may not have reached the cache yet. The manager's APIReader.
	Live client.Reader
	// DriverName is the CSI driver whose entry is looked for.
	DriverName string
}

var _ csi.Nodes = Nodes{}

// RBAC: CSINodes are only read.
// +kubebuilder:rbac:groups=storage.k8s.io,resources=csinodes,verbs=get;list;watch

// Known implements csi.Nodes.
func (n Nodes) Known(ctx context.Context, id string) (bool, error) {
	name, _, _ := strings.Cut(id, ";")
	for _, r := range []client.Reader{n.Cache, n.Live} {
		if r == nil {
			continue
		}
		node := &storagev1.CSINode{}
		err := r.Get(ctx, client.ObjectKey{Name: name}, node)
		if err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("read CSINode %s: %w", name, err)
		}
		if err == nil && reports(node, n.DriverName, id) {
			return true, nil
		}
	}
	return false, nil
}

// reports says whether a CSINode holds id as the node ID of driver.
func reports(node *storagev1.CSINode, driver, id string) bool {
	for _, d := range node.Spec.Drivers {
		if d.Name == driver && d.NodeID == id {
			return true
		}
	}
	return false
}
