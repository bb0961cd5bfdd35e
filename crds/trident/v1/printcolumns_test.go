package v1_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

// TestKubectlGetShowsPrinterColumns runs the built kubectl as a user would.
func TestKubectlGetShowsPrinterColumns(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	obj := tmr()
	obj.Namespace = ns
	if err := cp.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	obj.Status.Conditions = []v1.TridentMirrorRelationshipCondition{{
		State: v1.MirrorStateEstablishing, Message: "baseline transfer running", LocalPVCName: "csi-nas",
		Lag: &metav1.Duration{Duration: 90 * time.Second}, Healthy: ptr.To(true),
		RecoveryPointObjective: &metav1.Duration{Duration: 10 * time.Minute}, RPOStatus: v1.RPOMet,
	}}
	if err := cp.Client.Status().Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	tam := tamu(v1.TridentActionMirrorUpdateSpec{TridentMirrorRelationshipName: "csi-nas"})
	tsi := &v1.TridentSnapshotInfo{ObjectMeta: metav1.ObjectMeta{Name: "info"}, Spec: v1.TridentSnapshotInfoSpec{SnapshotName: "csi-nas-snapshot"}}
	si := &v1.SnapshotInfo{ObjectMeta: metav1.ObjectMeta{Name: "info"}, Spec: v1.SnapshotInfoSpec{SnapshotName: "csi-nas-snapshot"}}
	tam.Namespace, tsi.Namespace, si.Namespace = ns, ns, ns
	for _, o := range []client.Object{tam, tsi, si} {
		if err := cp.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	cases := []struct {
		// args are kubectl's arguments after "get".
		args []string
		// header and row are the columns expected, in order.
		header, row []string
	}{{
		args:   []string{"tmr"},
		header: []string{"NAME", "DESIRED STATE", "LOCAL PVC", "ACTUAL STATE", "MESSAGE", "AGE"},
		row:    []string{"csi-nas", "established", "csi-nas", "establishing", "baseline transfer running"},
	}, {
		args:   []string{"tmr", "-o", "wide"},
		header: []string{"NAME", "DESIRED STATE", "LOCAL PVC", "ACTUAL STATE", "MESSAGE", "LAG", "HEALTHY", "RPO", "RPO STATUS", "REMOTE HANDLE", "AGE"},
		row:    []string{"csi-nas", "established", "csi-nas", "establishing", "baseline transfer running", "1m30s", "true", "10m0s", "Met", remoteHandle},
	}, {
		args:   []string{"tamu"},
		header: []string{"NAME", "MIRROR", "STATE", "COMPLETED", "MESSAGE", "AGE"},
		row:    []string{"update", "csi-nas"},
	}, {
		args:   []string{"tsi"},
		header: []string{"NAME", "SNAPSHOT", "HANDLE", "AGE"},
		row:    []string{"info", "csi-nas-snapshot"},
	}, {
		args:   []string{"snapshotinfo"},
		header: []string{"NAME", "SNAPSHOT", "HANDLE", "AGE"},
		row:    []string{"info", "csi-nas-snapshot"},
	}}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := cp.Kubectl(append(append([]string{"get"}, tc.args...), "-n", ns)...)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Fatalf("want a header and one row, got:\n%s", out)
			}
			header, row := columns(lines[0]), columns(lines[1])
			if !slices.Equal(header, tc.header) || len(row) < len(tc.row) || !slices.Equal(row[:len(tc.row)], tc.row) {
				t.Errorf("want columns %q and values %q, got:\n%s", tc.header, tc.row, out)
			}
		})
	}

	// The trident category lists every kind at once.
	out, err := cp.Kubectl("get", "trident", "-n", ns, "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"tridentmirrorrelationship.trident.netapp.io/csi-nas", "tridentactionmirrorupdate.trident.netapp.io/update",
		"tridentsnapshotinfo.trident.netapp.io/info", "snapshotinfo.trident.netapp.io/info",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get trident lacks %s:\n%s", want, out)
		}
	}
}

// columns splits a line of kubectl's table output into its cells, which kubectl separates by
// at least two spaces.
func columns(line string) []string {
	return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
}

// equalJSON compares two values by their JSON form.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}
