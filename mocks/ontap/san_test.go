package ontap_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
)

// The SAN tests speak ONTAP's REST API as its documentation writes it (docs/ontap-rest.md §11),
// with the published-model client of published_model_test.go.

type obj = map[string]any

// sanFabric starts "primary" (SVMs svm1, and svm3 without iSCSI; aggregate aggr1) and
// "secondary" (svm2), svm1 and svm2 peered, on a manual clock with jobs of jobDuration.
func sanFabric(t *testing.T, jobDuration time.Duration) (*sim.Fabric, *rest, *rest) {
	t.Helper()
	f, apis := restFabric(t, jobDuration, [2]string{"svm1", "svm2"},
		sim.ClusterSpec{Name: "primary", SVMs: []string{"svm1", "svm3"}, Aggregates: []string{"aggr1"}, ISCSIDisabled: []string{"svm3"}},
		sim.ClusterSpec{Name: "secondary", SVMs: []string{"svm2"}, Aggregates: []string{"aggr2"}},
	)
	return f, apis[0], apis[1]
}

func newSANVolume(t *testing.T, o *rest, svmName, aggr, name, typ string, size int64) string {
	t.Helper()
	o.async(t, "POST", "/api/storage/volumes", obj{
		"name": name, "svm": obj{"name": svmName}, "aggregates": []any{obj{"name": aggr}}, "size": size, "type": typ,
	})
	return o.uuidOf(t, "/api/storage/volumes?svm.name="+svmName+"&name="+name)
}

func newLUN(t *testing.T, o *rest, svmName, path string, size int64) string {
	t.Helper()
	o.async(t, "POST", "/api/storage/luns", obj{
		"svm": obj{"name": svmName}, "name": path, "os_type": "linux",
		"space": obj{"size": size, "guarantee": obj{"requested": false}},
	})
	return o.uuidOf(t, "/api/storage/luns?svm.name="+svmName+"&name="+url.QueryEscape(path))
}

func newIgroup(t *testing.T, o *rest, svmName, name, osType, protocol string, initiators ...string) string {
	t.Helper()
	body := obj{"name": name, "svm": obj{"name": svmName}, "os_type": osType, "protocol": protocol}
	var list []any
	for _, i := range initiators {
		list = append(list, obj{"name": i})
	}
	if list != nil {
		body["initiators"] = list
	}
	if status, e := o.call(t, "POST", "/api/protocols/san/igroups", body, nil); status != http.StatusCreated {
		t.Fatalf("igroup %s: %d %+v", name, status, e)
	}
	return o.uuidOf(t, "/api/protocols/san/igroups?svm.name="+svmName+"&name="+name)
}

func mapLUN(t *testing.T, o *rest, svmName, lunPath, igroup string) {
	t.Helper()
	body := obj{"svm": obj{"name": svmName}, "lun": obj{"name": lunPath}, "igroup": obj{"name": igroup}}
	if status, e := o.call(t, "POST", "/api/protocols/san/lun-maps", body, nil); status != http.StatusCreated {
		t.Fatalf("map %s to %s: %d %+v", lunPath, igroup, status, e)
	}
}

// TestPublishedModelSAN provisions, publishes, unpublishes, resizes and deletes a LUN as
// Trident's ontap-san driver does (§11.7), with the calls and fields a client written to
// ONTAP's published model sends.
func TestPublishedModelSAN(t *testing.T) {
	f, src, _ := sanFabric(t, 2*time.Second)
	svmUUID := startUp(t, src, "svm1")

	// The SVM's iSCSI target.
	var svc struct {
		Enabled bool
		Target  struct{ Name, Alias string }
	}
	src.get(t, "/api/protocols/san/iscsi/services/"+svmUUID+"?fields=target.name,enabled", &svc)
	if !svc.Enabled || !strings.HasPrefix(svc.Target.Name, "iqn.1992-08.com.netapp:sn.") || !strings.HasSuffix(svc.Target.Name, ":vs.2") {
		t.Errorf("iSCSI service %+v, want it enabled with an iqn.1992-08.com.netapp:sn.<hex>:vs.2 target", svc)
	}

	// Provision: a FlexVol without a junction, one thin LUN lun0, then its attributes.
	const size = 1 << 30
	newSANVolume(t, src, "svm1", "aggr1", "trident_pvc_1", "rw", size*11/10)
	src.async(t, "POST", "/api/storage/luns", obj{
		"svm": obj{"name": "svm1"}, "name": "/vol/trident_pvc_1/lun0", "os_type": "linux",
		"space": obj{"size": size, "guarantee": obj{"requested": false}, "scsi_thin_provisioning_support_enabled": false},
	})
	lunUUID := src.uuidOf(t, "/api/storage/luns?svm.uuid="+svmUUID+"&name=/vol/trident_pvc_1/lun0&fields=")
	for _, a := range [][2]string{{"com.netapp.ndvp.fstype", "ext4"}, {"context", "csi"}, {"LUKS", "false"}} {
		if status, e := src.call(t, "POST", "/api/storage/luns/"+lunUUID+"/attributes", obj{"name": a[0], "value": a[1]}, nil); status != http.StatusCreated {
			t.Fatalf("attribute %s: %d %+v", a[0], status, e)
		}
	}
	var fstype struct{ Value string }
	src.get(t, "/api/storage/luns/"+lunUUID+"/attributes/com.netapp.ndvp.fstype", &fstype)
	if fstype.Value != "ext4" {
		t.Errorf("fstype attribute %q, want ext4", fstype.Value)
	}

	// Trident's LunList field set.
	tridentFields := "lun_maps.igroup.name,lun_maps.logical_unit_number,space.size,comment,qos_policy.name,status.mapped," +
		"location.volume.name,create_time,enabled,serial_number,status.state,os_type"
	endpointCase{name: "LUN list", api: src, path: "/api/storage/luns?svm.uuid=" + svmUUID + "&name=/vol/trident_pvc_1/*&fields=" + tridentFields, status: 200,
		want: map[string]string{
			"num_records": "1", "records.0.uuid": lunUUID, "records.0.name": "/vol/trident_pvc_1/lun0",
			// ONTAP rounds the size up (UNCONFIRMED rule): 1 GiB reads back 132 KiB larger.
			"records.0.space.size": "1073876992", "records.0.status.mapped": "false", "records.0.status.state": "online",
			"records.0.location.volume.name": "trident_pvc_1", "records.0.enabled": "true", "records.0.os_type": "linux",
		},
		absent: []string{"records.0.lun_maps", "records.0.attributes", "records.0.comment", "records.0.status.read_only"},
	}.run(t)
	if created := lookup(t, src, "/api/storage/luns?uuid="+lunUUID+"&fields=create_time", "create_time"); !strings.HasPrefix(created, "2026-01-01T12:00:") || !strings.HasSuffix(created, "+00:00") {
		t.Errorf("create_time %s, want the simulated time in the cluster's offset", created)
	}
	serial := lookup(t, src, "/api/storage/luns?uuid="+lunUUID+"&fields=serial_number", "serial_number")
	if len(serial) != 12 {
		t.Errorf("serial number %q, want 12 characters", serial)
	}

	// Publish: the volume is read-write; an igroup per node, created on demand; the host's
	// IQN added; the LUN mapped without a LUN number.
	if got := src.volumeType(t, "svm1", "trident_pvc_1"); got != "rw" {
		t.Fatalf("volume type %s", got)
	}
	const igroupName, iqn = "k8s-node-1-5a1d0c7e", "iqn.1994-05.com.redhat:k8s-node-1"
	var groups collection[named]
	src.get(t, "/api/protocols/san/igroups?svm.uuid="+svmUUID+"&name="+igroupName+"&fields=", &groups)
	if groups.NumRecords != 0 {
		t.Fatalf("igroup before its create: %+v", groups)
	}
	status, e := src.call(t, "POST", "/api/protocols/san/igroups", obj{"name": igroupName, "svm": obj{"uuid": svmUUID}, "os_type": "linux", "protocol": "iscsi"}, nil)
	if status != http.StatusCreated {
		t.Fatalf("igroup create: %d %+v", status, e)
	}
	igroupUUID := src.uuidOf(t, "/api/protocols/san/igroups?svm.uuid="+svmUUID+"&name="+igroupName+"&fields=initiators.name")
	if status, e := src.call(t, "POST", "/api/protocols/san/igroups/"+igroupUUID+"/initiators", obj{"name": iqn}, nil); status != http.StatusCreated {
		t.Fatalf("add initiator: %d %+v", status, e)
	}
	mapQuery := "/api/protocols/san/lun-maps?lun.name=" + url.QueryEscape("/vol/trident_pvc_1/lun0") + "&igroup.name=" + igroupName + "&svm.uuid=" + svmUUID
	var maps collection[obj]
	src.get(t, mapQuery+"&fields=svm,lun,igroup,logical-unit-number", &maps)
	if maps.NumRecords != 0 {
		t.Fatalf("map before the map: %+v", maps)
	}
	var mapped collection[struct {
		LogicalUnitNumber *int `json:"logical_unit_number"`
	}]
	status, e = src.call(t, "POST", "/api/protocols/san/lun-maps?return_records=true",
		obj{"svm": obj{"uuid": svmUUID}, "igroup": obj{"name": igroupName}, "lun": obj{"name": "/vol/trident_pvc_1/lun0"}}, &mapped)
	if status != http.StatusCreated || len(mapped.Records) != 1 || mapped.Records[0].LogicalUnitNumber == nil || *mapped.Records[0].LogicalUnitNumber != 0 {
		t.Fatalf("map: %d %+v %+v, want 201 with LUN number 0", status, e, mapped)
	}
	endpointCase{name: "map, hyphenated fields", api: src, path: mapQuery + "&fields=svm,lun,igroup,logical-unit-number", status: 200,
		want: map[string]string{"num_records": "1", "records.0.logical_unit_number": "0", "records.0.igroup.uuid": igroupUUID, "records.0.lun.uuid": lunUUID, "records.0.svm.name": "svm1"},
	}.run(t)
	endpointCase{name: "map, default fields", api: src, path: mapQuery, status: 200,
		keys: map[string][]string{"records.0": {"igroup", "lun", "svm"}, "records.0.igroup": {"name", "uuid"}, "records.0.lun": {"name", "uuid"}},
	}.run(t)
	endpointCase{name: "LUN mapped", api: src, path: "/api/storage/luns/" + lunUUID + "?fields=serial_number,status.mapped,lun_maps", status: 200,
		want: map[string]string{"serial_number": serial, "status.mapped": "true", "lun_maps.0.igroup.name": igroupName, "lun_maps.0.logical_unit_number": "0"},
	}.run(t)
	endpointCase{name: "reporting nodes", api: src, path: "/api/protocols/san/lun-maps/" + lunUUID + "/" + igroupUUID + "/reporting-nodes", status: 200,
		want: map[string]string{"num_records": "2", "records.0.name": "primary-01", "records.1.name": "primary-02"},
	}.run(t)
	endpointCase{name: "iSCSI LIFs", api: src, path: "/api/network/ip/interfaces?services=data_iscsi&svm.uuid=" + svmUUID + "&fields=ip.address,state", status: 200,
		want: map[string]string{"num_records": "2", "records.0.state": "up", "records.1.state": "up"},
	}.run(t)

	// Unpublish: unmap, then delete the igroup once it has no map left.
	if status, e := src.call(t, "DELETE", "/api/protocols/san/lun-maps/"+lunUUID+"/"+igroupUUID, nil, nil); status != http.StatusOK {
		t.Fatalf("unmap: %d %+v", status, e)
	}
	endpointCase{name: "igroup without maps", api: src, path: "/api/protocols/san/igroups/" + igroupUUID + "?fields=lun_maps,initiators.name", status: 200,
		want: map[string]string{"initiators.0.name": iqn}, absent: []string{"lun_maps"},
	}.run(t)
	if status, e := src.call(t, "DELETE", "/api/protocols/san/igroups/"+igroupUUID, nil, nil); status != http.StatusOK {
		t.Fatalf("igroup delete: %d %+v", status, e)
	}

	// Resize: the FlexVol, then the LUN (grow only).
	volUUID := src.uuidOf(t, "/api/storage/volumes?svm.name=svm1&name=trident_pvc_1")
	src.async(t, "PATCH", "/api/storage/volumes/"+volUUID, obj{"size": 2 * size * 11 / 10})
	src.async(t, "PATCH", "/api/storage/luns/"+lunUUID, obj{"space": obj{"size": 2 * size}})
	if got := lookup(t, src, "/api/storage/luns?uuid="+lunUUID+"&fields=space.size", "space.size"); got != "2147753984" {
		t.Errorf("LUN size after the resize: %s, want 2 GiB rounded up, 2147753984", got)
	}

	// Delete: the FlexVol, whose LUN goes with it.
	src.async(t, "DELETE", "/api/storage/volumes/"+volUUID, nil)
	endpointCase{name: "no LUN left", api: src, path: "/api/storage/luns?svm.uuid=" + svmUUID, status: 200, want: map[string]string{"num_records": "0"}}.run(t)
	if n := f.Cluster("primary").Requests()["POST /storage/luns"]; n != 1 {
		t.Errorf("LUN creates counted: %d", n)
	}
}

// TestSANRules has a case per rule and error code of LUNs, attributes, igroups, initiators,
// LUN maps and the iSCSI service, in order on one fabric.
func TestSANRules(t *testing.T) {
	_, p, _ := sanFabric(t, 0)
	newSANVolume(t, p, "svm1", "aggr1", "v", "rw", 1<<30)
	dpUUID := newSANVolume(t, p, "svm1", "aggr1", "dp", "dp", 1<<30)
	newSANVolume(t, p, "svm3", "aggr1", "v3", "rw", 1<<30)
	lun0 := newLUN(t, p, "svm1", "/vol/v/lun0", 64<<20)
	lun1 := newLUN(t, p, "svm1", "/vol/v/lun1", 64<<20)
	newLUN(t, p, "svm3", "/vol/v3/lun0", 64<<20)
	g1 := newIgroup(t, p, "svm1", "g1", "linux", "iscsi", "iqn.1994-05.com.redhat:h1")
	newIgroup(t, p, "svm1", "gw", "windows", "iscsi")
	newIgroup(t, p, "svm1", "gf", "linux", "fcp")
	newIgroup(t, p, "svm3", "g3", "linux", "iscsi")
	gd := newIgroup(t, p, "svm1", "gd", "linux", "mixed")
	mapLUN(t, p, "svm1", "/vol/v/lun0", "g1")
	svm3 := p.uuidOf(t, "/api/svm/svms?name=svm3")

	lunBody := func(path string, size int64, extra obj) obj {
		b := obj{"svm": obj{"name": "svm1"}, "name": path, "os_type": "linux", "space": obj{"size": size}}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	svm1 := obj{"name": "svm1"}
	for _, tc := range []endpointCase{
		// LUN creates.
		{name: "LUN without os_type", method: "POST", path: "/api/storage/luns", body: obj{"svm": svm1, "name": "/vol/v/x", "space": obj{"size": 1 << 20}}, status: 400, code: "5374884", target: "os_type"},
		{name: "LUN without size", method: "POST", path: "/api/storage/luns", body: obj{"svm": svm1, "name": "/vol/v/x", "os_type": "linux"}, status: 400, code: "5374884", target: "space.size"},
		{name: "LUN without name", method: "POST", path: "/api/storage/luns", body: obj{"svm": svm1, "os_type": "linux", "space": obj{"size": 1 << 20}}, status: 400, code: "5374884", target: "name"},
		{name: "LUN without SVM", method: "POST", path: "/api/storage/luns", body: obj{"name": "/vol/v/x", "os_type": "linux", "space": obj{"size": 1 << 20}}, status: 400, code: "2621707", target: "svm"},
		{name: "LUN in no SVM", method: "POST", path: "/api/storage/luns", body: obj{"svm": obj{"name": "nope"}, "name": "/vol/v/x", "os_type": "linux", "space": obj{"size": 1 << 20}}, status: 404, code: "2621462", target: "svm.name"},
		{name: "LUN with a bad character", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/a*b", 1<<20, nil), status: 400, code: "5374121", target: "name"},
		{name: "LUN name too long", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/"+strings.Repeat("a", 256), 1<<20, nil), status: 400, code: "5376462", target: "name"},
		{name: "LUN in a qtree", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/q/l", 1<<20, nil), status: 400, code: "5374127", target: "name"},
		{name: "LUN in a snapshot", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/.snapshot/s/l", 1<<20, nil), status: 400, code: "5374238", target: "name"},
		{name: "LUN too small", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/x", 4095, nil), status: 400, code: "5374124", target: "space.size"},
		{name: "LUN too large", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/x", 128<<40+1, nil), status: 400, code: "5374125", target: "space.size"},
		{name: "LUN of a negative size", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/x", -1, nil), status: 400, code: "5374123", target: "space.size"},
		{name: "LUN with a bad os_type", method: "POST", path: "/api/storage/luns", body: obj{"svm": svm1, "name": "/vol/v/x", "os_type": "beos", "space": obj{"size": 1 << 20}}, status: 400, code: "262185", target: "os_type"},
		{name: "LUN in no volume", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/nope/x", 1<<20, nil), status: 404, code: "917927", target: "name"},
		{name: "LUN in no volume, by uuid", method: "POST", path: "/api/storage/luns", body: obj{"svm": svm1, "os_type": "linux", "space": obj{"size": 1 << 20}, "location": obj{"volume": obj{"uuid": "00000000-0000-4000-a000-000000000000"}, "logical_unit": "x"}}, status: 404, code: "918235", target: "location.volume.uuid"},
		{name: "duplicate LUN", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/lun0", 1<<20, nil), status: 409, code: "5374242", target: "name"},
		{name: "LUN in a DP volume", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/dp/x", 1<<20, nil), status: 400, code: "5374129"},
		{name: "LUN in a DP volume, by uuid", method: "POST", path: "/api/storage/luns", body: obj{"svm": svm1, "os_type": "linux", "space": obj{"size": 1 << 20}, "location": obj{"volume": obj{"uuid": dpUUID}, "logical_unit": "x"}}, status: 400, code: "5374129"},
		{name: "guaranteed LUN that does not fit", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/x", 2<<30, nil), status: 400, code: "5374125", target: "space.size"},
		{name: "thin LUN larger than its volume", method: "POST", path: "/api/storage/luns?return_records=true", body: lunBody("/vol/v/thin", 2<<30, obj{"space": obj{"size": 2 << 30, "guarantee": obj{"requested": false}}}), status: 202,
			want: map[string]string{"num_records": "1", "records.0.name": "/vol/v/thin"}},
		{name: "LUN by location", method: "POST", path: "/api/storage/luns", body: obj{"svm": svm1, "os_type": "linux", "space": obj{"size": 1 << 20}, "location": obj{"volume": obj{"name": "v"}, "logical_unit": "byloc"}}, status: 202},
		{name: "LUN with an unknown field", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/x", 1<<20, obj{"colour": "red"}), status: 400, code: "262179", target: "colour"},
		{name: "LUN with its serial number", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/x", 1<<20, obj{"serial_number": "abcdefghijkl"}), status: 400, code: "262196", target: "serial_number"},
		{name: "LUN with its status", method: "POST", path: "/api/storage/luns", body: lunBody("/vol/v/x", 1<<20, obj{"status": obj{"read_only": true}}), status: 400, code: "262196", target: "status.read_only"},
		// LUN reads.
		{name: "LUN by uuid", path: "/api/storage/luns/" + lun0, status: 200,
			want:   map[string]string{"name": "/vol/v/lun0", "status.read_only": "false", "class": "regular", "location.logical_unit": "lun0", "space.guarantee.requested": "false"},
			absent: []string{"status.mapped", "lun_maps", "attributes"}},
		{name: "LUN by uuid, every field", path: "/api/storage/luns/" + lun0 + "?fields=**", status: 200,
			want: map[string]string{"status.mapped": "true", "lun_maps.0.igroup.name": "g1", "lun_maps.0.logical_unit_number": "0"}},
		{name: "LUNs filtered on mapped", path: "/api/storage/luns?status.mapped=true", status: 200,
			want: map[string]string{"num_records": "1", "records.0.uuid": lun0, "records.0.status.mapped": "true"}},
		{name: "no such LUN", path: "/api/storage/luns/00000000-0000-4000-a000-000000000000", status: 404, code: "5374875", target: "uuid"},
		{name: "unknown field in fields=", path: "/api/storage/luns?fields=colour", status: 400, code: "262197", target: "fields"},
		{name: "filter on an unknown field", path: "/api/storage/luns?colour=red", status: 400, code: "262179", target: "colour"},
		// LUN changes.
		{name: "shrink a LUN", method: "PATCH", path: "/api/storage/luns/" + lun1, body: obj{"space": obj{"size": 32 << 20}}, status: 400, code: "5374892", target: "space.size"},
		{name: "resize a LUN to its size", method: "PATCH", path: "/api/storage/luns/" + lun1, body: obj{"space": obj{"size": 64 << 20}}, status: 400, code: "1254226", target: "space.size"},
		{name: "change a LUN's os_type", method: "PATCH", path: "/api/storage/luns/" + lun1, body: obj{"os_type": "windows"}, status: 400, code: "262196", target: "os_type"},
		{name: "rename a LUN", method: "PATCH", path: "/api/storage/luns/" + lun1, body: obj{"name": "/vol/v/renamed", "comment": "c"}, status: 202},
		{name: "renamed LUN", path: "/api/storage/luns/" + lun1 + "?fields=name,comment", status: 200, want: map[string]string{"name": "/vol/v/renamed", "comment": "c"}},
		{name: "rename a LUN onto another", method: "PATCH", path: "/api/storage/luns/" + lun1, body: obj{"name": "/vol/v/lun0"}, status: 409, code: "5374242", target: "name"},
		{name: "take a LUN offline", method: "PATCH", path: "/api/storage/luns/" + lun1, body: obj{"enabled": false}, status: 202},
		{name: "offline LUN", path: "/api/storage/luns/" + lun1 + "?fields=status.state,enabled", status: 200, want: map[string]string{"status.state": "offline", "enabled": "false"}},
		{name: "PATCH no LUN", method: "PATCH", path: "/api/storage/luns/00000000-0000-4000-a000-000000000000", body: obj{"comment": "x"}, status: 404, code: "5374875", target: "uuid"},
		{name: "delete a mapped LUN", method: "DELETE", path: "/api/storage/luns/" + lun0, status: 409, code: "1254197", target: "allow_delete_while_mapped"},
		// Attributes.
		{name: "add an attribute", method: "POST", path: "/api/storage/luns/" + lun0 + "/attributes", body: obj{"name": "a", "value": "1"}, status: 201},
		{name: "add it again", method: "POST", path: "/api/storage/luns/" + lun0 + "/attributes", body: obj{"name": "a", "value": "2"}, status: 409, code: "5374930", target: "name"},
		{name: "change an attribute", method: "PATCH", path: "/api/storage/luns/" + lun0 + "/attributes/a", body: obj{"value": "2"}, status: 200},
		{name: "change no attribute", method: "PATCH", path: "/api/storage/luns/" + lun0 + "/attributes/nope", body: obj{"value": "2"}, status: 404, code: "5374931", target: "name"},
		{name: "attributes of a LUN", path: "/api/storage/luns/" + lun0 + "?fields=attributes", status: 200, want: map[string]string{"attributes.0.name": "a", "attributes.0.value": "2"}},
		{name: "attribute of no LUN", method: "POST", path: "/api/storage/luns/00000000-0000-4000-a000-000000000000/attributes", body: obj{"name": "a", "value": "1"}, status: 404, code: "5374875", target: "lun.uuid"},
		// igroups and initiators.
		{name: "duplicate igroup", method: "POST", path: "/api/protocols/san/igroups", body: obj{"name": "g1", "svm": svm1, "os_type": "linux"}, status: 409, code: "5374023", target: "name"},
		{name: "igroup without os_type", method: "POST", path: "/api/protocols/san/igroups", body: obj{"name": "gx", "svm": svm1}, status: 400, code: "2", target: "os_type"},
		{name: "igroup with a bad protocol", method: "POST", path: "/api/protocols/san/igroups", body: obj{"name": "gx", "svm": svm1, "os_type": "linux", "protocol": "nvme"}, status: 400, code: "262185", target: "protocol"},
		{name: "igroup name too long", method: "POST", path: "/api/protocols/san/igroups", body: obj{"name": strings.Repeat("g", 97), "svm": svm1, "os_type": "linux"}, status: 400, code: "5373958", target: "name"},
		{name: "igroup with a bad IQN", method: "POST", path: "/api/protocols/san/igroups", body: obj{"name": "gx", "svm": svm1, "os_type": "linux", "initiators": []any{obj{"name": "iqn.foo"}}}, status: 400, code: "5373969", target: "initiators.name"},
		{name: "iSCSI igroup with a WWPN", method: "POST", path: "/api/protocols/san/igroups", body: obj{"name": "gx", "svm": svm1, "os_type": "linux", "protocol": "iscsi", "initiators": []any{obj{"name": "20:00:00:25:b5:00:00:01"}}}, status: 400, code: "5374038", target: "initiators.name"},
		{name: "igroup with an initiator of another os_type's igroup", method: "POST", path: "/api/protocols/san/igroups", body: obj{"name": "gx", "svm": svm1, "os_type": "windows", "initiators": []any{obj{"name": "iqn.1994-05.com.redhat:h1"}}}, status: 409, code: "5374732", target: "initiators.name"},
		{name: "mixed igroup with an EUI and a WWPN", method: "POST", path: "/api/protocols/san/igroups?return_records=true", body: obj{"name": "gm", "svm": svm1, "os_type": "linux", "initiators": []any{obj{"name": "eui.0123456789abcdef"}, obj{"name": "20:00:00:25:b5:00:00:01"}}}, status: 201,
			want: map[string]string{"records.0.protocol": "mixed", "records.0.initiators.1.name": "20:00:00:25:b5:00:00:01"}},
		{name: "change an igroup's protocol", method: "PATCH", path: "/api/protocols/san/igroups/" + g1, body: obj{"protocol": "fcp"}, status: 400, code: "262196", target: "protocol"},
		{name: "add an initiator already in", method: "POST", path: "/api/protocols/san/igroups/" + g1 + "/initiators", body: obj{"name": "iqn.1994-05.com.redhat:h1"}, status: 409, code: "5374035", target: "name"},
		{name: "add initiators", method: "POST", path: "/api/protocols/san/igroups/" + g1 + "/initiators", body: obj{"records": []any{obj{"name": "iqn.1994-05.com.redhat:h2"}, obj{"name": "iqn.1994-05.com.redhat:h3"}}}, status: 201},
		{name: "initiators of an igroup", path: "/api/protocols/san/igroups/" + g1 + "?fields=initiators.name", status: 200, want: map[string]string{"initiators.2.name": "iqn.1994-05.com.redhat:h3"}},
		{name: "add an initiator of another os_type's igroup", method: "POST", path: "/api/protocols/san/igroups/" + gd + "/initiators", body: obj{"name": "iqn.1994-05.com.redhat:h1"}, status: 201},
		{name: "add it to a windows igroup", method: "POST", path: "/api/protocols/san/igroups/" + p.uuidOf(t, "/api/protocols/san/igroups?name=gw") + "/initiators", body: obj{"name": "iqn.1994-05.com.redhat:h1"}, status: 409, code: "5374734", target: "name"},
		{name: "remove an initiator not in", method: "DELETE", path: "/api/protocols/san/igroups/" + g1 + "/initiators/iqn.1994-05.com.redhat:h9", status: 404, code: "5374034", target: "name"},
		{name: "remove an initiator of a mapped igroup", method: "DELETE", path: "/api/protocols/san/igroups/" + g1 + "/initiators/iqn.1994-05.com.redhat:h3", status: 409, code: "1254213", target: "allow_delete_while_mapped"},
		{name: "remove it anyway", method: "DELETE", path: "/api/protocols/san/igroups/" + g1 + "/initiators/iqn.1994-05.com.redhat:h3?allow_delete_while_mapped=true", status: 200},
		{name: "delete a mapped igroup", method: "DELETE", path: "/api/protocols/san/igroups/" + g1, status: 409, code: "1254213", target: "allow_delete_while_mapped"},
		{name: "no such igroup", path: "/api/protocols/san/igroups/00000000-0000-4000-a000-000000000000", status: 404, code: "5374852", target: "uuid"},
		{name: "delete no igroup", method: "DELETE", path: "/api/protocols/san/igroups/00000000-0000-4000-a000-000000000000", status: 404, code: "5374852", target: "uuid"},
		{name: "igroup maps", path: "/api/protocols/san/igroups/" + g1 + "?fields=lun_maps", status: 200, want: map[string]string{"lun_maps.0.lun.name": "/vol/v/lun0", "lun_maps.0.logical_unit_number": "0"}},
		// LUN maps.
		{name: "map again", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": svm1, "lun": obj{"name": "/vol/v/lun0"}, "igroup": obj{"name": "g1"}}, status: 409, code: "1254207", target: "igroup"},
		{name: "map no LUN", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": svm1, "lun": obj{"name": "/vol/v/nope"}, "igroup": obj{"name": "g1"}}, status: 404, code: "1254201", target: "lun"},
		{name: "map without a LUN", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": svm1, "igroup": obj{"name": "g1"}}, status: 400, code: "5374901", target: "lun"},
		{name: "map without an igroup", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": svm1, "lun": obj{"name": "/vol/v/renamed"}}, status: 400, code: "5374902", target: "igroup"},
		{name: "map to no igroup", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": svm1, "lun": obj{"name": "/vol/v/renamed"}, "igroup": obj{"name": "nope"}}, status: 404, code: "5374852", target: "igroup"},
		{name: "map with a LUN number out of range", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": svm1, "lun": obj{"name": "/vol/v/renamed"}, "igroup": obj{"name": "g1"}, "logical_unit_number": 4096}, status: 400, code: "262185", target: "logical_unit_number"},
		{name: "map with a LUN number in use", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": svm1, "lun": obj{"name": "/vol/v/renamed"}, "igroup": obj{"name": "g1"}, "logical_unit_number": 0}, status: 409, code: "1", target: "logical_unit_number"},
		{name: "map a LUN in a snapshot", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": svm1, "lun": obj{"name": "/vol/v/.snapshot/s/lun0"}, "igroup": obj{"name": "g1"}}, status: 400, code: "5374238", target: "lun.name"},
		{name: "map to an FC igroup", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": svm1, "lun": obj{"name": "/vol/v/renamed"}, "igroup": obj{"name": "gf"}}, status: 400, code: "5374574", target: "igroup"},
		{name: "map without an iSCSI LIF", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": obj{"name": "svm3"}, "lun": obj{"name": "/vol/v3/lun0"}, "igroup": obj{"name": "g3"}}, status: 400, code: "5374573", target: "igroup"},
		{name: "map the next LUN number", method: "POST", path: "/api/protocols/san/lun-maps?return_records=true", body: obj{"svm": svm1, "lun": obj{"uuid": lun1}, "igroup": obj{"uuid": g1}}, status: 201,
			want: map[string]string{"records.0.logical_unit_number": "1", "records.0.lun.name": "/vol/v/renamed"}},
		{name: "map with a chosen LUN number", method: "POST", path: "/api/protocols/san/lun-maps?return_records=true", body: obj{"svm": svm1, "lun": obj{"uuid": lun1}, "igroup": obj{"name": "gd"}, "logical_unit_number": 7}, status: 201,
			want: map[string]string{"records.0.logical_unit_number": "7"}},
		{name: "maps by igroup", path: "/api/protocols/san/lun-maps?igroup.name=g1&fields=logical_unit_number&order_by=logical_unit_number%20desc", status: 200,
			want: map[string]string{"num_records": "2", "records.0.logical_unit_number": "1", "records.0.lun.uuid": lun1}},
		{name: "a map", path: "/api/protocols/san/lun-maps/" + lun0 + "/" + g1 + "?fields=**", status: 200, want: map[string]string{"logical_unit_number": "0", "igroup.name": "g1", "reporting_nodes.1.name": "primary-02"}},
		{name: "no such map", path: "/api/protocols/san/lun-maps/" + lun0 + "/" + gd, status: 404, code: "5374922", target: "lun.uuid"},
		{name: "a map of no LUN", path: "/api/protocols/san/lun-maps/00000000-0000-4000-a000-000000000000/" + g1, status: 404, code: "5374875", target: "lun.uuid"},
		{name: "a map of no igroup", path: "/api/protocols/san/lun-maps/" + lun0 + "/00000000-0000-4000-a000-000000000000", status: 404, code: "5374852", target: "igroup.uuid"},
		{name: "unmap no igroup", method: "DELETE", path: "/api/protocols/san/lun-maps/" + lun0 + "/00000000-0000-4000-a000-000000000000", status: 404, code: "5374878", target: "igroup.uuid"},
		{name: "reporting nodes of no map", path: "/api/protocols/san/lun-maps/" + lun0 + "/" + gd + "/reporting-nodes", status: 404, code: "5374922", target: "lun.uuid"},
		{name: "map with a body field the kind lacks", method: "POST", path: "/api/protocols/san/lun-maps", body: obj{"svm": svm1, "lun": obj{"uuid": lun1}, "igroup": obj{"name": "g1"}, "read_only": true}, status: 400, code: "262179", target: "read_only"},
		// delete_on_unmap: the igroup goes with its last map.
		{name: "igroup deleted on unmap", method: "PATCH", path: "/api/protocols/san/igroups/" + gd, body: obj{"delete_on_unmap": true}, status: 200},
		{name: "unmap its last LUN", method: "DELETE", path: "/api/protocols/san/lun-maps/" + lun1 + "/" + gd, status: 200},
		{name: "the igroup is gone", path: "/api/protocols/san/igroups/" + gd, status: 404, code: "5374852", target: "uuid"},
		// Delete a mapped LUN with the flag: its maps go.
		{name: "delete a mapped LUN anyway", method: "DELETE", path: "/api/storage/luns/" + lun0 + "?allow_delete_while_mapped=true", status: 202},
		{name: "its maps are gone", path: "/api/protocols/san/lun-maps?lun.uuid=" + lun0, status: 200, want: map[string]string{"num_records": "0"}},
		// The iSCSI service.
		{name: "iSCSI services", path: "/api/protocols/san/iscsi/services", status: 200, want: map[string]string{"num_records": "1", "records.0.svm.name": "svm1"}, keys: map[string][]string{"records.0": {"svm"}}},
		{name: "no iSCSI service", path: "/api/protocols/san/iscsi/services/" + svm3, status: 404, code: "5374078", target: "svm.uuid"},
		{name: "iSCSI service of no SVM", path: "/api/protocols/san/iscsi/services/00000000-0000-4000-a000-000000000000", status: 404, code: "2621462", target: "svm.uuid"},
		{name: "svm3 has no iSCSI", path: "/api/svm/svms/" + svm3 + "?fields=iscsi.enabled", status: 200, want: map[string]string{"iscsi.enabled": "false"}},
		{name: "nor iSCSI LIFs", path: "/api/network/ip/interfaces?services=data_iscsi&svm.name=svm3", status: 200, want: map[string]string{"num_records": "0"}},
	} {
		tc.api = p
		t.Run(tc.name, tc.run)
	}
}

// lunOf reads a LUN of a cluster by SVM and path with the given fields.
func lunOf(t *testing.T, o *rest, svmName, path, fields string) map[string]any {
	t.Helper()
	var c collection[map[string]any]
	o.get(t, "/api/storage/luns?svm.name="+svmName+"&name="+url.QueryEscape(path)+"&fields="+fields, &c)
	if c.NumRecords != 1 {
		t.Fatalf("LUN %s:%s: %d records", svmName, path, c.NumRecords)
	}
	return c.Records[0]
}

func str(rec map[string]any, path string) string {
	v, _ := dig(rec, path)
	return fmt.Sprint(v)
}

// TestSANMirrorLifecycle follows a LUN through its volume's SnapMirror life: the baseline
// brings a read-only copy with an identity of its own, transfers bring its bytes, a break makes
// it writable, a resync read-only again; a restore brings back its bytes, a FlexClone holds a
// new LUN.
func TestSANMirrorLifecycle(t *testing.T) {
	f, src, dst := sanFabric(t, 0)
	primary, secondary := f.Cluster("primary"), f.Cluster("secondary")
	newSANVolume(t, src, "svm1", "aggr1", "srcv", "rw", 1<<30)
	newLUN(t, src, "svm1", "/vol/srcv/lun0", 64<<20)
	if err := primary.WriteLUN("svm1", "srcv", "lun0", 4096, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	newIgroup(t, src, "svm1", "host", "linux", "iscsi", "iqn.1994-05.com.redhat:host")
	mapLUN(t, src, "svm1", "/vol/srcv/lun0", "host")
	const fields = "serial_number,status.read_only,status.state,status.mapped,space.size"
	srcLUN := lunOf(t, src, "svm1", "/vol/srcv/lun0", fields)

	newSANVolume(t, dst, "svm2", "aggr2", "dstv", "dp", 1<<30)
	dst.async(t, "POST", "/api/snapmirror/relationships", obj{
		"source": obj{"path": "svm1:srcv"}, "destination": obj{"path": "svm2:dstv"}, "policy": obj{"name": "MirrorAllSnapshots"},
	})
	rel := dst.uuidOf(t, "/api/snapmirror/relationships?destination.path="+url.QueryEscape("svm2:dstv"))
	var none collection[named]
	dst.get(t, "/api/storage/luns?svm.name=svm2", &none)
	if none.NumRecords != 0 {
		t.Fatalf("LUNs in an uninitialized destination: %+v", none)
	}
	state := func(s string) {
		t.Helper()
		dst.async(t, "PATCH", "/api/snapmirror/relationships/"+rel, obj{"state": s})
		dst.waitState(t, rel, s)
	}
	same := func(what string) {
		t.Helper()
		a, err1 := primary.LUNChecksum("svm1", "srcv", "lun0")
		b, err2 := secondary.LUNChecksum("svm2", "dstv", "lun0")
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("%s: checksums %s, %s (%v, %v), want equal", what, a, b, err1, err2)
		}
	}

	// Baseline: the LUN arrives read-only, online, unmapped, with its own uuid and serial.
	state("snapmirrored")
	dstLUN := lunOf(t, dst, "svm2", "/vol/dstv/lun0", fields)
	if str(dstLUN, "status.read_only") != "true" || str(dstLUN, "status.state") != "online" || str(dstLUN, "status.mapped") != "false" {
		t.Errorf("destination LUN %v, want read-only, online, unmapped", dstLUN)
	}
	if dstLUN["uuid"] == srcLUN["uuid"] || dstLUN["serial_number"] == srcLUN["serial_number"] || str(dstLUN, "space.size") != str(srcLUN, "space.size") {
		t.Errorf("destination LUN %v of source %v: want its own uuid and serial, the same size", dstLUN, srcLUN)
	}
	if got, err := secondary.ReadLUN("svm2", "dstv", "lun0", 4096, 5); err != nil || string(got) != "hello" {
		t.Errorf("destination bytes %q, %v; want hello", got, err)
	}
	same("baseline")
	if err := secondary.WriteLUN("svm2", "dstv", "lun0", 0, []byte("x")); err == nil {
		t.Error("a write to the destination's LUN succeeded")
	}
	dstUUID := str(dstLUN, "uuid")
	for _, tc := range []endpointCase{
		{name: "create a LUN in the destination", method: "POST", path: "/api/storage/luns", body: obj{"svm": obj{"name": "svm2"}, "name": "/vol/dstv/x", "os_type": "linux", "space": obj{"size": 1 << 20}}, status: 400, code: "5374129"},
		{name: "resize the destination's LUN", method: "PATCH", path: "/api/storage/luns/" + dstUUID, body: obj{"space": obj{"size": 128 << 20}}, status: 400, code: "5374129"},
		{name: "delete the destination's LUN", method: "DELETE", path: "/api/storage/luns/" + dstUUID, status: 400, code: "5374129"},
		{name: "add an attribute to the destination's LUN", method: "POST", path: "/api/storage/luns/" + dstUUID + "/attributes", body: obj{"name": "a", "value": "1"}, status: 400, code: "5374129"},
	} {
		tc.api = dst
		t.Run(tc.name, tc.run)
	}
	// An administrator may map the read-only copy.
	newIgroup(t, dst, "svm2", "drhost", "linux", "iscsi", "iqn.1994-05.com.redhat:drhost")
	mapLUN(t, dst, "svm2", "/vol/dstv/lun0", "drhost")

	// An update brings new bytes; the destination's LUN keeps its identity and its map.
	if err := primary.WriteLUN("svm1", "srcv", "lun0", 1<<20, []byte("world")); err != nil {
		t.Fatal(err)
	}
	if status, e := dst.call(t, "POST", "/api/snapmirror/relationships/"+rel+"/transfers", obj{}, nil); status != http.StatusCreated {
		t.Fatalf("update: %d %+v", status, e)
	}
	f.Advance(time.Second)
	same("update")
	after := lunOf(t, dst, "svm2", "/vol/dstv/lun0", fields)
	if after["uuid"] != dstLUN["uuid"] || after["serial_number"] != dstLUN["serial_number"] || str(after, "status.mapped") != "true" {
		t.Errorf("destination LUN after the update %v, was %v: want the same identity, mapped", after, dstLUN)
	}

	// Break: writable; resync: read-only again with the same identity and map, and what was
	// written after the break is gone.
	state("paused")
	state("broken_off")
	if got := str(lunOf(t, dst, "svm2", "/vol/dstv/lun0", fields), "status.read_only"); got != "false" {
		t.Errorf("after the break, read_only %s", got)
	}
	if err := secondary.WriteLUN("svm2", "dstv", "lun0", 0, []byte("dr-write")); err != nil {
		t.Errorf("write after the break: %v", err)
	}
	state("snapmirrored")
	resynced := lunOf(t, dst, "svm2", "/vol/dstv/lun0", fields)
	if str(resynced, "status.read_only") != "true" || resynced["uuid"] != dstLUN["uuid"] || resynced["serial_number"] != dstLUN["serial_number"] || str(resynced, "status.mapped") != "true" {
		t.Errorf("after the resync %v, was %v: want read-only, the same identity, mapped", resynced, dstLUN)
	}
	same("resync")

	// Restore on the source: the LUN's bytes go back to the snapshot; identity and maps stay.
	src.async(t, "POST", "/api/storage/volumes/"+src.uuidOf(t, "/api/storage/volumes?svm.name=svm1&name=srcv")+"/snapshots", obj{"name": "s1"})
	before, _ := primary.LUNChecksum("svm1", "srcv", "lun0")
	if err := primary.WriteLUN("svm1", "srcv", "lun0", 0, []byte("later")); err != nil {
		t.Fatal(err)
	}
	srcVol := src.uuidOf(t, "/api/storage/volumes?svm.name=svm1&name=srcv")
	src.async(t, "PATCH", "/api/storage/volumes/"+srcVol+"?restore_to.snapshot.name=s1", nil)
	restored := lunOf(t, src, "svm1", "/vol/srcv/lun0", fields)
	if sum, _ := primary.LUNChecksum("svm1", "srcv", "lun0"); sum != before {
		t.Error("the restore did not bring the LUN's bytes back")
	}
	if restored["uuid"] != srcLUN["uuid"] || restored["serial_number"] != srcLUN["serial_number"] || str(restored, "status.mapped") != "true" {
		t.Errorf("after the restore %v, was %v: want the same identity, mapped", restored, srcLUN)
	}

	// A FlexClone holds a new LUN: the snapshot's bytes, its own uuid and serial, no map.
	src.async(t, "POST", "/api/storage/volumes", obj{
		"name": "clonev", "svm": obj{"name": "svm1"}, "aggregates": []any{obj{"name": "aggr1"}},
		"clone": obj{"is_flexclone": true, "parent_volume": obj{"name": "srcv"}, "parent_snapshot": obj{"name": "s1"}},
	})
	clone := lunOf(t, src, "svm1", "/vol/clonev/lun0", fields)
	if clone["uuid"] == srcLUN["uuid"] || clone["serial_number"] == srcLUN["serial_number"] || str(clone, "status.mapped") != "false" || str(clone, "status.read_only") != "false" {
		t.Errorf("clone's LUN %v of %v: want its own identity, unmapped, writable", clone, srcLUN)
	}
	if sum, _ := primary.LUNChecksum("svm1", "clonev", "lun0"); sum != before {
		t.Error("the clone's LUN does not hold the snapshot's bytes")
	}
}
