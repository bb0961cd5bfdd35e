package csi

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

var ontapVolumeName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,202}$`)

// FuzzNames: a volume name the driver accepts always maps to a FlexVol name ONTAP accepts,
// and a snapshot ID it accepts is exactly <volume>/<snapshot>.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"pvc-3bedd23c-46a8-4384-b12b-3c38b313c1e1", "a", "9", "pvc/x", "x.y-z_Q", "", strings.Repeat("a", 300)} {
		f.Add(s, "snapshot-1")
	}
	f.Fuzz(func(t *testing.T, name, snap string) {
		if v, err := flexvolName(ontap.DefaultStoragePrefix, name); err == nil && !ontapVolumeName.MatchString(v) {
			t.Errorf("flexvolName(%q) = %q, which ONTAP refuses", name, v)
		}
		id := name + "/" + snap
		if pv, s, ok := ParseSnapshotID(id); ok && snapshotID(pv, s) != id {
			t.Errorf("ParseSnapshotID(%q) = %q, %q", id, pv, s)
		}
	})
}

// FuzzParameters: parameters never panic the parser; an unknown key is refused by name.
func FuzzParameters(f *testing.F) {
	f.Add("trident.netapp.io/replication", "TRUE")
	f.Add("backendType", "ontap-san")
	f.Add("trident.netapp.io/unknown", "x")
	f.Fuzz(func(t *testing.T, key, value string) {
		_, err := parseParams(map[string]string{key: value})
		if !slices.Contains(known, key) && (err == nil || !strings.Contains(err.Error(), key)) {
			t.Errorf("unknown key %q: %v", key, err)
		}
	})
}

// FuzzNodeID: a node ID the driver accepts writes back as itself or an equivalent one, and
// the node's igroup name fits ONTAP's 96 characters and ends with the installation ID.
func FuzzNodeID(f *testing.F) {
	for _, s := range []string{"node1", "node1;iqn=iqn.1994-05.com.redhat:node1", "n;iqn=iqn.2020-01.x:a%3Bb;nfs=10.0.0.1,::1", "n;nfs=1.2.3.4", "a;b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		n, err := ParseNodeID(id)
		if err != nil {
			return
		}
		again, err := ParseNodeID(n.String())
		if err != nil || again.String() != n.String() {
			t.Errorf("ParseNodeID(%q) = %+v, which writes as %q and reads back as %+v, %v", id, n, n.String(), again, err)
		}
		if g := igroupName(n.Name, DefaultInstallationID); len(g) > maxIgroupName || !ownIgroup(g, DefaultInstallationID) {
			t.Errorf("igroup of %q: %q", n.Name, g)
		}
	})
}
