package ontap_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestRequests pins what each domain operation sends: one request, with ONTAP's method, path,
// query and body, and no read-only field in the body.
func TestRequests(t *testing.T) {
	reserve := int64(0)
	cases := []struct {
		name string
		// call makes the domain call.
		call func(*ontap.Client) error
		// method, path, query and body are the request the server must see; body is JSON.
		method, path string
		query        map[string]string
		body         string
	}{{
		name: "create a DP volume",
		call: func(c *ontap.Client) error {
			_, err := c.CreateVolume(context.Background(), ontap.VolumeSpec{
				Name: "trident_pvc_1", SVM: "svm2", Aggregate: "aggr1", Size: 1 << 30, Type: ontap.VolumeDP,
				SnapshotReserve: &reserve, AutosizeMode: "grow", AutosizeMax: 10 << 30,
			})
			return err
		},
		method: "POST", path: "/api/storage/volumes", query: map[string]string{"return_timeout": "0"},
		body: `{"name":"trident_pvc_1","svm":{"name":"svm2"},"aggregates":[{"name":"aggr1"}],"size":1073741824,"type":"dp",
			"space":{"snapshot":{"reserve_percent":0}},"autosize":{"mode":"grow","maximum":10737418240}}`,
	}, {
		name: "create an NFS volume",
		call: func(c *ontap.Client) error {
			_, err := c.CreateVolume(context.Background(), ontap.VolumeSpec{
				Name: "v", SVM: "svm1", Aggregate: "aggr1", Size: 20 << 20, JunctionPath: "/v", ExportPolicy: "default", SnapshotPolicy: "none",
			})
			return err
		},
		method: "POST", path: "/api/storage/volumes", query: map[string]string{"return_timeout": "0"},
		body: `{"name":"v","svm":{"name":"svm1"},"aggregates":[{"name":"aggr1"}],"size":20971520,
			"nas":{"path":"/v","export_policy":{"name":"default"}},"snapshot_policy":{"name":"none"}}`,
	}, {
		name: "restore a volume to a snapshot",
		call: func(c *ontap.Client) error {
			_, err := c.RestoreVolume(context.Background(), "vol-uuid", "snap1")
			return err
		},
		method: "PATCH", path: "/api/storage/volumes/vol-uuid",
		query: map[string]string{"restore_to.snapshot.name": "snap1", "return_timeout": "0"}, body: `{}`,
	}, {
		name: "resize",
		call: func(c *ontap.Client) error {
			_, err := c.ResizeVolume(context.Background(), "vol-uuid", 2<<30)
			return err
		},
		method: "PATCH", path: "/api/storage/volumes/vol-uuid", query: map[string]string{"return_timeout": "0"}, body: `{"size":2147483648}`,
	}, {
		name: "create a relationship",
		call: func(c *ontap.Client) error {
			_, _, err := c.CreateRelationship(context.Background(), ontap.RelationshipSpec{
				Source: "svm1:v1", Destination: "svm2:v1", Policy: "MirrorAllSnapshots", Schedule: "5min",
			})
			return err
		},
		method: "POST", path: "/api/snapmirror/relationships", query: map[string]string{"return_timeout": "0", "return_records": "true"},
		body: `{"source":{"path":"svm1:v1"},"destination":{"path":"svm2:v1"},"policy":{"name":"MirrorAllSnapshots"},"transfer_schedule":{"name":"5min"}}`,
	}, {
		name: "break to a snapshot",
		call: func(c *ontap.Client) error {
			_, err := c.ModifyRelationship(context.Background(), "rel", ontap.RelationshipChange{State: ontap.BrokenOff, RestoreToSnapshot: "snap1"})
			return err
		},
		method: "PATCH", path: "/api/snapmirror/relationships/rel", query: map[string]string{"return_timeout": "0"},
		body: `{"state":"broken_off","restore_to_snapshot":"snap1"}`,
	}, {
		name: "release on the source",
		call: func(c *ontap.Client) error {
			_, err := c.DeleteRelationship(context.Background(), "rel", ontap.ReleaseSource)
			return err
		},
		method: "DELETE", path: "/api/snapmirror/relationships/rel", query: map[string]string{"source_only": "true", "return_timeout": "0"},
	}, {
		name: "delete the destination's record only",
		call: func(c *ontap.Client) error {
			_, err := c.DeleteRelationship(context.Background(), "rel", ontap.DeleteDestinationOnly)
			return err
		},
		method: "DELETE", path: "/api/snapmirror/relationships/rel", query: map[string]string{"destination_only": "true", "return_timeout": "0"},
	}, {
		name: "transfer a chosen snapshot",
		call: func(c *ontap.Client) error {
			_, err := c.StartTransfer(context.Background(), "rel", "snap1")
			return err
		},
		method: "POST", path: "/api/snapmirror/relationships/rel/transfers", query: map[string]string{"return_records": "true"},
		body: `{"source_snapshot":"snap1"}`,
	}, {
		name:   "abort a transfer",
		call:   func(c *ontap.Client) error { return c.AbortTransfer(context.Background(), "rel", "xfer") },
		method: "PATCH", path: "/api/snapmirror/relationships/rel/transfers/xfer", body: `{"state":"aborted"}`,
	}, {
		name:   "look a relationship up by destination",
		call:   func(c *ontap.Client) error { _, err := c.GetRelationship(context.Background(), "svm2:v1"); return err },
		method: "GET", path: "/api/snapmirror/relationships", query: map[string]string{"destination.path": "svm2:v1"},
	}, {
		name: "list source-side records",
		call: func(c *ontap.Client) error {
			_, err := c.ListRelationships(context.Background(), ontap.RelationshipFilter{Source: "svm1:*", SourceSide: true})
			return err
		},
		method: "GET", path: "/api/snapmirror/relationships", query: map[string]string{"source.path": "svm1:*", "list_destinations_only": "true"},
	}, {
		name: "create a LUN with its filesystem attribute",
		call: func(c *ontap.Client) error {
			_, err := c.CreateLUN(context.Background(), ontap.LUNSpec{
				SVM: "svm1", Path: "/vol/v/lun0", Size: 1 << 30, Attributes: map[string]string{"com.netapp.ndvp.fstype": "ext4"},
			})
			return err
		},
		method: "POST", path: "/api/storage/luns", query: map[string]string{"return_timeout": "0"},
		body: `{"name":"/vol/v/lun0","svm":{"name":"svm1"},"os_type":"linux","space":{"size":1073741824,"guarantee":{"requested":false}},
			"attributes":[{"name":"com.netapp.ndvp.fstype","value":"ext4"}]}`,
	}, {
		name: "look a LUN up by path, with its maps",
		call: func(c *ontap.Client) error {
			_, err := c.GetLUN(context.Background(), "svm1", "/vol/v/lun0")
			return err
		},
		method: "GET", path: "/api/storage/luns",
		query: map[string]string{"name": "/vol/v/lun0", "svm.name": "svm1", "fields": "uuid,name,svm.name,location.volume.name,space.size,serial_number," +
			"status.state,status.read_only,lun_maps.igroup.name,lun_maps.igroup.uuid,lun_maps.logical_unit_number,attributes.name,attributes.value"},
	}, {
		name: "grow a LUN",
		call: func(c *ontap.Client) error {
			_, err := c.ResizeLUN(context.Background(), "lun-uuid", 2<<30)
			return err
		},
		method: "PATCH", path: "/api/storage/luns/lun-uuid", query: map[string]string{"return_timeout": "0"}, body: `{"space":{"size":2147483648}}`,
	}, {
		name:   "delete a LUN",
		call:   func(c *ontap.Client) error { _, err := c.DeleteLUN(context.Background(), "lun-uuid"); return err },
		method: "DELETE", path: "/api/storage/luns/lun-uuid", query: map[string]string{"return_timeout": "0"},
	}, {
		name: "set a LUN attribute",
		call: func(c *ontap.Client) error {
			_, err := c.SetLUNAttribute(context.Background(), "lun-uuid", "com.netapp.ndvp.fstype", "xfs")
			return err
		},
		method: "POST", path: "/api/storage/luns/lun-uuid/attributes", query: map[string]string{"return_timeout": "0"},
		body: `{"name":"com.netapp.ndvp.fstype","value":"xfs"}`,
	}, {
		name: "create an igroup for a node",
		call: func(c *ontap.Client) error {
			_, err := c.CreateIgroup(context.Background(), ontap.IgroupSpec{Name: "node1-x", SVM: "svm1", Initiators: []string{"iqn.1994-05.com.redhat:node1"}})
			return err
		},
		method: "POST", path: "/api/protocols/san/igroups", query: map[string]string{"return_records": "true"},
		body: `{"name":"node1-x","svm":{"name":"svm1"},"protocol":"iscsi","os_type":"linux","initiators":[{"name":"iqn.1994-05.com.redhat:node1"}]}`,
	}, {
		name: "look an igroup up",
		call: func(c *ontap.Client) error {
			_, err := c.GetIgroup(context.Background(), "svm1", "node1-x")
			return err
		},
		method: "GET", path: "/api/protocols/san/igroups",
		query: map[string]string{"name": "node1-x", "svm.name": "svm1", "fields": "uuid,name,svm.name,protocol,os_type,initiators.name"},
	}, {
		name: "add an initiator",
		call: func(c *ontap.Client) error {
			return c.AddInitiator(context.Background(), "ig-uuid", "iqn.1994-05.com.redhat:node1")
		},
		method: "POST", path: "/api/protocols/san/igroups/ig-uuid/initiators", body: `{"name":"iqn.1994-05.com.redhat:node1"}`,
	}, {
		name:   "delete an igroup",
		call:   func(c *ontap.Client) error { return c.DeleteIgroup(context.Background(), "ig-uuid") },
		method: "DELETE", path: "/api/protocols/san/igroups/ig-uuid",
	}, {
		name: "map a LUN, the number chosen by ONTAP",
		call: func(c *ontap.Client) error {
			_, err := c.MapLUN(context.Background(), "svm1", "/vol/v/lun0", "node1-x")
			return err
		},
		method: "POST", path: "/api/protocols/san/lun-maps", query: map[string]string{"return_records": "true"},
		body: `{"svm":{"name":"svm1"},"lun":{"name":"/vol/v/lun0"},"igroup":{"name":"node1-x"}}`,
	}, {
		name: "look a LUN map up",
		call: func(c *ontap.Client) error {
			_, err := c.GetLUNMap(context.Background(), "svm1", "/vol/v/lun0", "node1-x")
			return err
		},
		method: "GET", path: "/api/protocols/san/lun-maps",
		query: map[string]string{"lun.name": "/vol/v/lun0", "igroup.name": "node1-x", "svm.name": "svm1",
			"fields": "svm.name,lun.name,lun.uuid,igroup.name,igroup.uuid,logical_unit_number"},
	}, {
		name:   "unmap a LUN",
		call:   func(c *ontap.Client) error { return c.UnmapLUN(context.Background(), "lun-uuid", "ig-uuid") },
		method: "DELETE", path: "/api/protocols/san/lun-maps/lun-uuid/ig-uuid",
	}, {
		name:   "the iSCSI target",
		call:   func(c *ontap.Client) error { _, err := c.GetISCSIService(context.Background(), "svm1"); return err },
		method: "GET", path: "/api/protocols/san/iscsi/services", query: map[string]string{"svm.name": "svm1", "fields": "svm.name,enabled,target.name"},
	}, {
		name: "the iSCSI data LIFs that are up",
		call: func(c *ontap.Client) error {
			_, err := c.DataLIFs(context.Background(), "svm1", "data_iscsi")
			return err
		},
		method: "GET", path: "/api/network/ip/interfaces",
		query: map[string]string{"svm.name": "svm1", "services": "data_iscsi", "state": "up", "fields": "ip.address,state"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var seen []*http.Request
			var body []byte
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				seen = append(seen, r)
				body, _ = io.ReadAll(r.Body)
				switch r.Method {
				case "GET":
					writeJSON(w, 200, `{"records":[{"uuid":"rel","source":{"path":"svm1:v1"},"destination":{"path":"svm2:v1"},"state":"snapmirrored"}],"num_records":1}`)
				case "POST":
					writeJSON(w, 201, `{"job":{"uuid":"j"},"num_records":1,"records":[{"uuid":"u","logical_unit_number":0}]}`)
				default:
					writeJSON(w, 200, `{"job":{"uuid":"j"}}`)
				}
			})
			if err := tc.call(newClient(t, srv)); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 1 {
				t.Fatalf("%d requests, want 1", len(seen))
			}
			r := seen[0]
			if r.Method != tc.method || r.URL.Path != tc.path {
				t.Errorf("request %s %s, want %s %s", r.Method, r.URL.Path, tc.method, tc.path)
			}
			for k, v := range tc.query {
				if got := r.URL.Query().Get(k); got != v {
					t.Errorf("query %s = %q, want %q (%s)", k, got, v, r.URL.RawQuery)
				}
			}
			if tc.body == "" {
				if len(body) > 0 {
					t.Errorf("body %s, want none", body)
				}
				return
			}
			var got, want any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if err := json.Unmarshal([]byte(tc.body), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body\n got %s\nwant %s", body, tc.body)
			}
		})
	}
}
