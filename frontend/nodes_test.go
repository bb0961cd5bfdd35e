package frontend_test

import (
	"context"
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/snapmirror-csi/snapmirror-csi/frontend"
)

// TestNodes: a node ID is known when the node's CSINode holds it, whole, under this driver's
// name; a cache that has not seen the CSINode yet is not the last word.
func TestNodes(t *testing.T) {
	ctx := context.Background()
	// A cache that has not seen any CSINode yet.
	stale := fake.NewClientBuilder().Build()
	const driver, id = "csi.trident.netapp.io", "nodes-test-a;iqn=iqn.2005-03.org.open-iscsi:a1"
	node := &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{Name: "nodes-test-a"},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{
			{Name: "other.csi.example.com", NodeID: "nodes-test-a;iqn=iqn.2005-03.org.open-iscsi:other"},
			{Name: driver, NodeID: id},
		}},
	}
	if err := cp.Client.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Client.Delete(context.Background(), node) })
	for _, c := range []struct {
		name  string
		nodes frontend.Nodes
		id    string
		want  bool
	}{
		{"reported", frontend.Nodes{Cache: cp.Client, DriverName: driver}, id, true},
		{"not yet in the cache", frontend.Nodes{Cache: stale, Live: cp.Client, DriverName: driver}, id, true},
		{"another IQN", frontend.Nodes{Cache: cp.Client, Live: cp.Client, DriverName: driver}, "nodes-test-a;iqn=iqn.2005-03.org.open-iscsi:b2", false},
		{"another driver's ID", frontend.Nodes{Cache: cp.Client, DriverName: driver}, "nodes-test-a;iqn=iqn.2005-03.org.open-iscsi:other", false},
		{"no CSINode", frontend.Nodes{Cache: cp.Client, Live: cp.Client, DriverName: driver}, "nodes-test-gone;iqn=iqn.2005-03.org.open-iscsi:a1", false},
		{"another driver name", frontend.Nodes{Cache: cp.Client, DriverName: "other.example.com"}, id, false},
	} {
		got, err := c.nodes.Known(ctx, c.id)
		if err != nil || got != c.want {
			t.Errorf("%s: Known(%q) = %v, %v; want %v", c.name, c.id, got, err, c.want)
		}
	}
}
