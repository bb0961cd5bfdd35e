package csi

import (
	"strings"
	"testing"
)

// TestNodeID: node IDs read as the node plugin writes them; what it does not write is refused
// by field.
func TestNodeID(t *testing.T) {
	for _, tc := range []struct {
		// id is the node ID; want what it reads as; err a fragment of the refusal, "" for none.
		id   string
		want NodeID
		err  string
	}{
		{"node1", NodeID{Name: "node1"}, ""},
		{"node1;iqn=iqn.1994-05.com.redhat:node1", NodeID{Name: "node1", IQN: "iqn.1994-05.com.redhat:node1"}, ""},
		{"worker-2.example.com;iqn=iqn.2004-10.com.ubuntu:01:abc;nfs=10.0.0.5,fd00::5", NodeID{Name: "worker-2.example.com", IQN: "iqn.2004-10.com.ubuntu:01:abc", NFS: []string{"10.0.0.5", "fd00::5"}}, ""},
		{"node1;nfs=10.0.0.5", NodeID{Name: "node1", NFS: []string{"10.0.0.5"}}, ""},
		{"node1;iqn=iqn.2020-01.com.example:a%3Bb", NodeID{Name: "node1", IQN: "iqn.2020-01.com.example:a;b"}, ""},
		{"", NodeID{}, "no Kubernetes node name"},
		{"Node1", NodeID{}, "no Kubernetes node name"},
		{"node1;nfs=10.0.0.5;iqn=iqn.1994-05.com.redhat:n", NodeID{}, `field "iqn=iqn.1994-05.com.redhat:n" is unknown`},
		{"node1;iqn=iqn.1994-05.com.redhat:a;iqn=iqn.1994-05.com.redhat:b", NodeID{}, "is unknown"},
		{"node1;fc=50:0a", NodeID{}, `field "fc=50:0a" is unknown`},
		{"node1;iqn=nonsense", NodeID{}, `iqn "nonsense" is no iSCSI initiator name`},
		{"node1;nfs=host.example.com", NodeID{}, "is no IP address"},
		{"node1;iqn=iqn.1994-05.com.redhat:" + strings.Repeat("x", 250), NodeID{}, "more than CSI's 256"},
	} {
		got, err := ParseNodeID(tc.id)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: got %v, want an error with %q", tc.id, err, tc.err)
		case tc.err == "" && (err != nil || got.String() != tc.want.String()):
			t.Errorf("%q: got %+v, %v, want %+v", tc.id, got, err, tc.want)
		}
	}
}

// TestIgroupName: a node's igroup is <node>-<installation> within ONTAP's 96 characters; long
// node names that share a start still get igroups of their own.
func TestIgroupName(t *testing.T) {
	if got := igroupName("node1", "snapmirror-csi"); got != "node1-snapmirror-csi" {
		t.Errorf("igroupName = %q", got)
	}
	inst := "9f0c1a52-4e0a-4bde-9a8e-1c0f3b4c5d6e"
	a, b := igroupName(strings.Repeat("n", 90)+"a", inst), igroupName(strings.Repeat("n", 90)+"b", inst)
	if len(a) != 96 || a == b || !ownIgroup(a, inst) || ownIgroup(a, "other") {
		t.Errorf("long names: %q and %q", a, b)
	}
}
