package ontap_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// nodeSide is what the tests of the node seam use: ONTAP calls on a cluster and its side API.
type nodeSide struct {
	ontap rawCall
	side  func(t *testing.T, method, path, body string, auth bool) (int, string, http.Header)
}

func newNodeSide(t *testing.T, f *sim.Fabric, s site) nodeSide {
	return nodeSide{ontap: raw(t, f, s), side: sideClient(t, f, s)}
}

// call sends an ONTAP request that must succeed.
func (n nodeSide) call(t *testing.T, method, path, body string) map[string]any {
	t.Helper()
	status, out := n.ontap(t, method, path, body)
	if status >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

// get sends a side-API GET and decodes its JSON answer.
func (n nodeSide) get(t *testing.T, path string, out any) int {
	t.Helper()
	status, text, _ := n.side(t, "GET", path, "", true)
	if err := json.Unmarshal([]byte(text), out); err != nil {
		t.Fatalf("GET %s: %d %q is not JSON: %v", path, status, text, err)
	}
	return status
}

type mountAnswer struct {
	SVM, Volume, Dir, Error string
	ReadOnly                bool
}

func mountQuery(server, path, client string, write bool) string {
	w := "false"
	if write {
		w = "true"
	}
	return "/sim/nfs/mount?" + url.Values{"server": {server}, "path": {path}, "client": {client}, "write": {w}}.Encode()
}

// TestNFSMountRules checks how GET /sim/nfs/mount applies a volume's export policy: each case
// gives the volume a policy of its own and mounts it from a client.
func TestNFSMountRules(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	v := volume(t, primary, "svm1", "v", ontap.VolumeRW)
	n := newNodeSide(t, f, primary)
	n.call(t, "PATCH", "/api/storage/volumes/"+v.UUID+"?return_timeout=10", `{"nas":{"path":"/v"}}`)
	dir := filepath.Join(f.DataDir(), "primary", v.UUID, "active", "fs")

	// rule writes one export rule: clients, protocols, ro_rule, rw_rule.
	rule := func(clients, protocols, ro, rw string) string {
		return `{"clients":[` + clients + `],"protocols":[` + protocols + `],"ro_rule":[` + ro + `],"rw_rule":[` + rw + `]}`
	}
	all := `{"match":"0.0.0.0/0"}`
	for i, tc := range []struct {
		name string
		// rules are the policy's rules, in index order (none: the policy has no rule).
		rules []string
		// client mounts; status and readOnly are the answer.
		client   string
		status   int
		readOnly bool
	}{
		{"every IPv4 client", []string{rule(all, `"nfs"`, `"sys"`, `"sys"`)}, "10.0.0.5", 200, false},
		{"the client's address", []string{rule(`{"match":"10.0.0.5"}`, `"any"`, `"sys"`, `"sys"`)}, "10.0.0.5", 200, false},
		{"another address", []string{rule(`{"match":"10.0.0.6"}`, `"any"`, `"sys"`, `"sys"`)}, "10.0.0.5", 403, false},
		{"a subnet holding it", []string{rule(`{"match":"10.0.0.0/24"}`, `"any"`, `"sys"`, `"sys"`)}, "10.0.0.5", 200, false},
		{"a subnet by mask", []string{rule(`{"match":"10.0.0.0/255.255.255.0"}`, `"any"`, `"sys"`, `"sys"`)}, "10.0.0.5", 200, false},
		{"a subnet without it", []string{rule(`{"match":"10.0.1.0/24"}`, `"any"`, `"sys"`, `"sys"`)}, "10.0.0.5", 403, false},
		{"an IPv6 client in its subnet", []string{rule(`{"match":"fd20::/64"}`, `"any"`, `"sys"`, `"sys"`)}, "fd20::7", 200, false},
		{"an IPv6 client and every IPv4 one", []string{rule(all, `"any"`, `"sys"`, `"sys"`)}, "fd20::7", 403, false},
		{"a host name", []string{rule(`{"match":"node-1"}`, `"any"`, `"sys"`, `"sys"`)}, "node-1", 200, false},
		{"another host name", []string{rule(`{"match":"node-2"}`, `"any"`, `"sys"`, `"sys"`)}, "node-1", 403, false},
		{"one of a rule's clients", []string{rule(`{"match":"node-2"},{"match":"10.0.0.5"}`, `"any"`, `"sys"`, `"sys"`)}, "10.0.0.5", 200, false},
		{"NFSv3 only", []string{rule(all, `"nfs3"`, `"sys"`, `"sys"`)}, "10.0.0.5", 200, false},
		{"NFSv4 only", []string{rule(all, `"nfs4"`, `"sys"`, `"sys"`)}, "10.0.0.5", 200, false},
		{"CIFS only", []string{rule(all, `"cifs"`, `"sys"`, `"sys"`)}, "10.0.0.5", 403, false},
		{"read any, write never", []string{rule(all, `"any"`, `"any"`, `"never"`)}, "10.0.0.5", 200, true},
		{"read sys, write none", []string{rule(all, `"any"`, `"sys"`, `"none"`)}, "10.0.0.5", 200, true},
		{"read as anonymous", []string{rule(all, `"any"`, `"none"`, `"never"`)}, "10.0.0.5", 200, true},
		{"read never", []string{rule(all, `"any"`, `"never"`, `"sys"`)}, "10.0.0.5", 403, false},
		{"Kerberos only", []string{rule(all, `"any"`, `"krb5"`, `"krb5"`)}, "10.0.0.5", 403, false},
		{"the first matching rule decides", []string{rule(`{"match":"10.0.0.0/8"}`, `"any"`, `"never"`, `"never"`), rule(all, `"any"`, `"sys"`, `"sys"`)}, "10.0.0.5", 403, false},
		{"a rule for another protocol is skipped", []string{rule(all, `"cifs"`, `"never"`, `"never"`), rule(all, `"nfs"`, `"sys"`, `"never"`)}, "10.0.0.5", 200, true},
		{"a rule for other clients is skipped", []string{rule(`{"match":"10.9.0.0/16"}`, `"any"`, `"sys"`, `"sys"`), rule(all, `"any"`, `"sys"`, `"never"`)}, "10.0.0.5", 200, true},
		{"no rule", nil, "10.0.0.5", 403, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "p" + string(rune('a'+i))
			body := `{"svm":{"name":"svm1"},"name":"` + name + `"`
			if tc.rules != nil {
				body += `,"rules":[`
				for j, r := range tc.rules {
					if j > 0 {
						body += ","
					}
					body += r
				}
				body += "]"
			}
			n.call(t, "POST", "/api/protocols/nfs/export-policies", body+"}")
			n.call(t, "PATCH", "/api/storage/volumes/"+v.UUID+"?return_timeout=10", `{"nas":{"export_policy":{"name":"`+name+`"}}}`)
			var got mountAnswer
			status := n.get(t, mountQuery("127.0.0.1", "/v", tc.client, true), &got)
			want := mountAnswer{SVM: "svm1", Volume: "v", Dir: dir, ReadOnly: tc.readOnly}
			if tc.status == 403 {
				want = mountAnswer{Error: "access denied: export policy " + name + " of SVM svm1 has no rule that admits client " + tc.client + " for NFS"}
			}
			if status != tc.status || got != want {
				t.Errorf("mount from %s: %d %+v, want %d %+v", tc.client, status, got, tc.status, want)
			}
		})
	}
}

// TestNFSMount checks what is mounted where: a volume at its junction or below it, nothing
// where no volume is mounted or no NFS LIF listens, a DP volume read-only, and that the
// directory is the volume's content.
func TestNFSMount(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	n, dr := newNodeSide(t, f, primary), newNodeSide(t, f, secondary)
	policy := `{"svm":{"name":"%s"},"name":"all","rules":[{"clients":[{"match":"0.0.0.0/0"}],"protocols":["nfs"],"ro_rule":["sys"],"rw_rule":["sys"]}]}`
	n.call(t, "POST", "/api/protocols/nfs/export-policies", fmt.Sprintf(policy, "svm1"))
	dr.call(t, "POST", "/api/protocols/nfs/export-policies", fmt.Sprintf(policy, "svm2"))
	rel := mirror(t, primary, secondary, "m", ontap.RelationshipSpec{Policy: "MirrorAllSnapshots"})
	src, _ := primary.api.GetVolume(t.Context(), "svm1", "m")
	dst, _ := secondary.api.GetVolume(t.Context(), "svm2", "m")
	n.call(t, "PATCH", "/api/storage/volumes/"+src.UUID+"?return_timeout=10", `{"nas":{"path":"/apps/m","export_policy":{"name":"all"}}}`)
	dr.call(t, "PATCH", "/api/storage/volumes/"+dst.UUID+"?return_timeout=10", `{"nas":{"path":"/apps/m","export_policy":{"name":"all"}}}`)
	write(t, primary, "svm1", "m", map[string]string{"data/orders.db": "v1"})

	var got mountAnswer
	if status := n.get(t, mountQuery("127.0.0.1", "/apps/m", "10.0.0.5", true), &got); status != 200 || got.ReadOnly || got.Volume != "m" {
		t.Fatalf("mount of the source: %d %+v", status, got)
	}
	if b, err := os.ReadFile(filepath.Join(got.Dir, "data", "orders.db")); err != nil || string(b) != "v1" {
		t.Errorf("the mounted directory holds %q, %v; want the volume's file", b, err)
	}
	// A mounted client's write counts in statistics.iops_raw.write, as ONTAP counts it: the
	// split-brain check reads that counter. Looking again without a write counts nothing.
	counts := func() int64 {
		t.Helper()
		c, err := primary.api.WriteCounts(t.Context(), "svm1")
		if err != nil {
			t.Fatal(err)
		}
		return c["m"]
	}
	before := counts()
	if again := counts(); again != before {
		t.Errorf("write count moved from %d to %d with no write", before, again)
	}
	if err := os.WriteFile(filepath.Join(got.Dir, "data", "orders.db"), []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if after := counts(); after <= before {
		t.Errorf("write count %d after a mounted client's write, %d before: want more", after, before)
	}
	if status := n.get(t, mountQuery("127.0.0.1", "/apps/m/data", "10.0.0.5", false), &got); status != 200 || filepath.Base(got.Dir) != "data" {
		t.Errorf("mount below the junction: %d %+v, want the volume's data directory", status, got)
	}
	for _, tc := range []struct {
		name, query, want string
	}{
		{"no volume at the path", mountQuery("127.0.0.1", "/apps", "10.0.0.5", true), "no volume of SVM svm1 is mounted at /apps"},
		{"no directory below the junction", mountQuery("127.0.0.1", "/apps/m/nope", "10.0.0.5", true), "no directory /apps/m/nope in volume m of SVM svm1"},
		{"an address no NFS LIF has", mountQuery("10.1.2.3", "/apps/m", "10.0.0.5", true), "no NFS data interface of cluster primary has address 10.1.2.3"},
		{"an iSCSI LIF", mountQuery("127.1.1.2", "/apps/m", "10.0.0.5", true), "no NFS data interface of cluster primary has address 127.1.1.2"},
	} {
		var e mountAnswer
		if status := n.get(t, tc.query, &e); status != 404 || e.Error != tc.want {
			t.Errorf("%s: %d %+v, want 404 %q", tc.name, status, e, tc.want)
		}
	}

	// The DP destination is mounted read-only whatever the rule grants; once broken off, it is
	// writable, in the same directory.
	if status := dr.get(t, mountQuery("127.0.0.1", "/apps/m", "10.0.0.5", true), &got); status != 200 || !got.ReadOnly {
		t.Errorf("mount of the DP destination: %d %+v, want read-only", status, got)
	}
	dpDir := got.Dir
	must(t, secondary.api)(secondary.api.ModifyRelationship(t.Context(), rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff}))
	if status := dr.get(t, mountQuery("127.0.0.1", "/apps/m", "10.0.0.5", true), &got); status != 200 || got.ReadOnly || got.Dir != dpDir {
		t.Errorf("mount of the broken-off destination: %d %+v, want read-write in %s", status, got, dpDir)
	}
}

// TestISCSISession checks what an iSCSI login sees: the LUNs mapped to the initiator's
// igroups, by number, with the image a loop device attaches to; nothing before a map and
// after the unmap; 404 for a portal or target of no SVM of the cluster.
func TestISCSISession(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	v := volume(t, primary, "svm1", "v", ontap.VolumeRW)
	n := newNodeSide(t, f, primary)
	n.call(t, "POST", "/api/storage/luns?return_timeout=10", `{"svm":{"name":"svm1"},"name":"/vol/v/lun0","os_type":"linux","space":{"size":67108864,"guarantee":{"requested":false}}}`)
	n.call(t, "POST", "/api/protocols/san/igroups", `{"svm":{"name":"svm1"},"name":"node1","os_type":"linux","protocol":"iscsi","initiators":[{"name":"iqn.1994-05.com.redhat:node1"}]}`)
	svc := n.call(t, "GET", "/api/protocols/san/iscsi/services?svm.name=svm1&fields=target.name", "")
	target := svc["records"].([]any)[0].(map[string]any)["target"].(map[string]any)["name"].(string)
	const initiator = "iqn.1994-05.com.redhat:node1"
	session := func(portal, target, initiator string) string {
		return "/sim/iscsi/session?" + url.Values{"portal": {portal}, "target": {target}, "initiator": {initiator}}.Encode()
	}
	type lun struct {
		Number        int64
		Serial, Image string
		ReadOnly      bool
		Size          int64
		SVM, Path     string
	}
	var got struct {
		LUNs  []lun
		Error string
	}
	if status := n.get(t, session("127.1.1.2:3260", target, initiator), &got); status != 200 || got.LUNs == nil || len(got.LUNs) != 0 {
		t.Errorf("login before a map: %d %+v, want no LUN", status, got)
	}

	n.call(t, "POST", "/api/protocols/san/lun-maps", `{"svm":{"name":"svm1"},"lun":{"name":"/vol/v/lun0"},"igroup":{"name":"node1"}}`)
	info, err := primary.LUN("svm1", "v", "lun0")
	if err != nil {
		t.Fatal(err)
	}
	want := lun{Number: 0, Serial: info.Serial, Image: filepath.Join(f.DataDir(), "primary", v.UUID, "active", "luns", "lun0"),
		Size: info.Size, SVM: "svm1", Path: "/vol/v/lun0"}
	// Through either node's portal (an HA pair), with or without the port.
	for _, portal := range []string{"127.1.1.2:3260", "127.1.1.4"} {
		if status := n.get(t, session(portal, target, initiator), &got); status != 200 || len(got.LUNs) != 1 || got.LUNs[0] != want {
			t.Errorf("login at %s after the map: %d %+v, want %+v", portal, status, got, want)
		}
	}
	if err := primary.WriteLUN("svm1", "v", "lun0", 1<<20, []byte("boot sector")); err != nil {
		t.Fatal(err)
	}
	img, err := os.Open(want.Image)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if st, err := img.Stat(); err != nil || st.Size() != info.Size || readAt(t, img, 1<<20, 11) != "boot sector" {
		t.Errorf("the image (%v, %v) is not the LUN's %d bytes with its write", st, err, info.Size)
	}
	if status := n.get(t, session("127.1.1.2", target, "iqn.1994-05.com.redhat:other"), &got); status != 200 || len(got.LUNs) != 0 {
		t.Errorf("login of an initiator in no igroup: %d %+v, want no LUN", status, got)
	}
	for _, tc := range []struct{ name, query string }{
		{"another port", session("127.1.1.2:3261", target, initiator)},
		{"an NFS LIF", session("127.0.0.1", target, initiator)},
		{"another target", session("127.1.1.2", target+"x", initiator)},
	} {
		if status := n.get(t, tc.query, &got); status != 404 || got.Error == "" {
			t.Errorf("%s: %d %+v, want 404", tc.name, status, got)
		}
	}

	lunUUID := n.call(t, "GET", "/api/storage/luns?name=/vol/v/lun0", "")["records"].([]any)[0].(map[string]any)["uuid"].(string)
	igroupUUID := n.call(t, "GET", "/api/protocols/san/igroups?name=node1", "")["records"].([]any)[0].(map[string]any)["uuid"].(string)
	n.call(t, "DELETE", "/api/protocols/san/lun-maps/"+lunUUID+"/"+igroupUUID, "")
	if status := n.get(t, session("127.1.1.2", target, initiator), &got); status != 200 || len(got.LUNs) != 0 {
		t.Errorf("login after the unmap: %d %+v, want no LUN", status, got)
	}
}
