package ontap_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestSANAgainstSimulator drives each SAN domain method against the simulator, and the typed
// errors their contracts promise: a LUN in a volume, grown, with its attributes; a node's
// igroup and its initiators; the map between them, under the number ONTAP picks; the refusals
// to delete what is mapped; the iSCSI target and its portals.
func TestSANAgainstSimulator(t *testing.T) {
	_, _, cfg := twoSites(t)
	ctx := context.Background()
	cfg.Backends = cfg.Backends[:1]
	cfg.Backends[0].Driver = ontap.DriverSAN
	backends, err := ontap.OpenBackends(ctx, cfg, ontap.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := backends[0]
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wait := func(what string) func(*ontap.Job, error) {
		return func(job *ontap.Job, err error) {
			t.Helper()
			if err == nil {
				err = b.WaitJob(ctx, job)
			}
			must(what, err)
		}
	}
	if tgt := b.ISCSI(); tgt == nil || !strings.HasPrefix(tgt.IQN, "iqn.") || len(tgt.Portals) != 2 || !strings.HasSuffix(tgt.Portals[0], ":3260") {
		t.Errorf("iSCSI target found at validation: %+v", tgt)
	}
	wait("volume")(b.CreateVolume(ctx, ontap.VolumeSpec{Name: "v", SVM: "svm1", Aggregate: "aggr1", Size: 2 << 30}))
	path := ontap.LUNPath("v", "lun0")
	spec := ontap.LUNSpec{SVM: "svm1", Path: path, Size: 1 << 30, Attributes: map[string]string{"com.netapp.ndvp.fstype": "ext4"}}
	wait("create LUN")(b.CreateLUN(ctx, spec))
	if _, err := b.CreateLUN(ctx, spec); !ontap.IsAlreadyExists(err) {
		t.Errorf("duplicate LUN: %v", err)
	}
	lun, err := b.GetLUN(ctx, "svm1", path)
	must("get LUN", err)
	if lun.Size < 1<<30 || len(lun.Serial) != 12 || lun.Volume != "v" || lun.ReadOnly || lun.Attributes["com.netapp.ndvp.fstype"] != "ext4" || len(lun.Maps) != 0 {
		t.Errorf("LUN %+v", lun)
	}
	if _, err := b.GetLUN(ctx, "svm1", "/vol/v/none"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("missing LUN: %v", err)
	}
	wait("grow LUN")(b.ResizeLUN(ctx, lun.UUID, 2<<30))
	wait("grow LUN to its size again")(b.ResizeLUN(ctx, lun.UUID, 2<<30))
	if _, err := b.SetLUNAttribute(ctx, lun.UUID, "com.netapp.ndvp.fstype", "xfs"); !ontap.IsAlreadyExists(err) {
		t.Errorf("duplicate attribute: %v", err)
	}
	wait("attribute")(b.SetLUNAttribute(ctx, lun.UUID, "context", "csi"))

	ig, err := b.CreateIgroup(ctx, ontap.IgroupSpec{Name: "node1-x", SVM: "svm1", Initiators: []string{"iqn.1994-05.com.redhat:node1"}})
	must("create igroup", err)
	if _, err := b.CreateIgroup(ctx, ontap.IgroupSpec{Name: "node1-x", SVM: "svm1"}); !ontap.IsAlreadyExists(err) {
		t.Errorf("duplicate igroup: %v", err)
	}
	must("add initiator", b.AddInitiator(ctx, ig.UUID, "iqn.1994-05.com.redhat:node1b"))
	must("add it again", b.AddInitiator(ctx, ig.UUID, "iqn.1994-05.com.redhat:node1b"))
	got, err := b.GetIgroup(ctx, "svm1", "node1-x")
	if err != nil || got.UUID != ig.UUID || len(got.Initiators) != 2 || got.Protocol != "iscsi" || got.OSType != "linux" {
		t.Errorf("igroup %+v, %v", got, err)
	}
	m, err := b.MapLUN(ctx, "svm1", path, "node1-x")
	if err != nil || m.Number != 0 {
		t.Errorf("map: %+v, %v", m, err)
	}
	if _, err := b.MapLUN(ctx, "svm1", path, "node1-x"); !ontap.IsAlreadyMapped(err) {
		t.Errorf("map again: %v", err)
	}
	if m, err := b.GetLUNMap(ctx, "svm1", path, "node1-x"); err != nil || m.Number != 0 || m.IgroupUUID != ig.UUID || m.LUNUUID != lun.UUID {
		t.Errorf("get map: %+v, %v", m, err)
	}
	if lun, _ := b.GetLUN(ctx, "svm1", path); len(lun.Maps) != 1 || lun.Maps[0].Igroup != "node1-x" {
		t.Errorf("LUN's maps %+v", lun.Maps)
	}
	if err := b.DeleteIgroup(ctx, ig.UUID); !ontap.IsMapped(err) {
		t.Errorf("delete a mapped igroup: %v", err)
	}
	if _, err := b.DeleteLUN(ctx, lun.UUID); !ontap.IsMapped(err) {
		t.Errorf("delete a mapped LUN: %v", err)
	}
	must("unmap", b.UnmapLUN(ctx, lun.UUID, ig.UUID))
	if err := b.UnmapLUN(ctx, lun.UUID, ig.UUID); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("unmap again: %v", err)
	}
	must("delete igroup", b.DeleteIgroup(ctx, ig.UUID))
	if _, err := b.GetIgroup(ctx, "svm1", "node1-x"); !errors.Is(err, ontap.ErrNotFound) {
		t.Errorf("deleted igroup: %v", err)
	}
	wait("delete LUN")(b.DeleteLUN(ctx, lun.UUID))
	if luns, err := b.ListLUNs(ctx, "svm1", "/vol/v/*"); err != nil || len(luns) != 0 {
		t.Errorf("LUNs left: %+v, %v", luns, err)
	}
	if lifs, err := b.DataLIFs(ctx, "svm1", "data_iscsi"); err != nil || len(lifs) != 2 {
		t.Errorf("iSCSI LIFs %v, %v", lifs, err)
	}
}
