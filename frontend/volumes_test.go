package frontend

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

// TestResolveUnavailable: a PVC whose backend's cluster has not answered since the start
// resolves to an errUnavailable that names the backend, and to its volume once it answers.
func TestResolveUnavailable(t *testing.T) {
	f := sim.NewFabric(sim.Options{})
	defer f.Close()
	c, err := f.AddCluster(sim.ClusterSpec{Name: "c1", SVMs: []string{"svm1"}, Aggregates: []string{"aggr1"}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDown(true)
	dir := t.TempDir()
	if err := f.WriteCredentials(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ca.pem"), c.CA(), 0o600)
	backends, err := ontap.OpenBackends(t.Context(), &ontap.DriverConfig{Backends: []ontap.BackendConfig{{
		Name: "east", Driver: ontap.DriverNAS, ManagementLIF: c.Address(), SVM: "svm1", Aggregates: []string{"aggr1"},
		CAFile: filepath.Join(dir, "ca.pem"), Credentials: ontap.CredentialsRef{File: dir},
	}}}, ontap.OpenOptions{RetryMin: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data"},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pvc-1"},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1"},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
			Driver: "csi.trident.netapp.io", VolumeHandle: "pvc-1",
			VolumeAttributes: map[string]string{"backend": "east", "svm": "svm1", "internalName": "trident_pvc_1"},
		}}},
	}
	v := Volumes{
		Client:     fake.NewClientBuilder().WithObjects(pvc, pv).WithStatusSubresource(pvc).Build(),
		Backends:   map[string]*ontap.Backend{"east": backends[0]},
		DriverName: "csi.trident.netapp.io",
	}
	ctx := context.Background()
	_, err = v.resolve(ctx, "ns", "data")
	var unavailable errUnavailable
	if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), "backend east") || !strings.Contains(err.Error(), "tried again when backend east answers") {
		t.Fatalf("resolve with the backend down: %v, want an errUnavailable naming backend east", err)
	}
	c.SetDown(false)
	var loc *local
	wait.For(t, 20*time.Second, "resolve once the backend answers", func() bool {
		loc, err = v.resolve(ctx, "ns", "data")
		if err != nil && !errors.As(err, &unavailable) {
			t.Fatalf("resolve once the backend answers: %v, want it resolved or still unavailable", err)
		}
		return err == nil
	})
	if loc.backend != backends[0] || loc.path.String() != "svm1:trident_pvc_1" || !loc.kind.nfs() {
		t.Errorf("resolved to %s (%s) on %s", loc.path, loc.kind, loc.backend.Name)
	}
}

// TestKindOf: a volume's kind is the backendType its PV records, else its backend's driver.
func TestKindOf(t *testing.T) {
	nas, san := &ontap.Backend{}, &ontap.Backend{}
	nas.Driver, san.Driver = ontap.DriverNAS, ontap.DriverSAN
	for _, tc := range []struct {
		attrs map[string]string
		b     *ontap.Backend
		nfs   bool
	}{
		{map[string]string{"backendType": "ontap-san"}, san, false},
		{map[string]string{"backendType": "ontap-nas"}, nas, true},
		{map[string]string{"backendType": "ontap-san"}, nas, false},
		{map[string]string{}, san, false},
		{map[string]string{}, nas, true},
	} {
		if k := kindOf(tc.attrs, tc.b); k.nfs() != tc.nfs {
			t.Errorf("kindOf(%v, backend %s) = %s, want nfs %t", tc.attrs, tc.b.Driver, k, tc.nfs)
		}
	}
}
