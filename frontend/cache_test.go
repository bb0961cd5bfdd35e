package frontend

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

// TestCacheTransforms checks what the cache keeps: a TMR's annotations but kubectl's copy of
// the applied object, and of a PV the attributes that name its volume.
func TestCacheTransforms(t *testing.T) {
	tmr := &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Name: "m", Annotations: map[string]string{
		corev1.LastAppliedConfigAnnotation: `{"spec":{}}`, tridentv1.RequestAnnotation: "again",
	}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	obj, err := stripUnread(tmr)
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*tridentv1.TridentMirrorRelationship)
	if want := map[string]string{tridentv1.RequestAnnotation: "again"}; !reflect.DeepEqual(got.Annotations, want) || got.ManagedFields != nil {
		t.Errorf("TMR annotations %v, managed fields %v; want %v and none", got.Annotations, got.ManagedFields, want)
	}
	applied := &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Name: "m", Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: "{}"}}}
	if obj, _ := stripUnread(applied); obj.(*tridentv1.TridentMirrorRelationship).Annotations != nil {
		t.Errorf("annotations %v, want none", obj.(*tridentv1.TridentMirrorRelationship).Annotations)
	}

	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv", Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "x"}},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
			Driver: "d", VolumeHandle: "h", VolumeAttributes: map[string]string{"backend": "b", "svm": "s", "internalName": "v", "server": "1.2.3.4", "path": "/v"},
		}}}}
	obj, err = trimPV(pv)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
		CSI: &corev1.CSIPersistentVolumeSource{Driver: "d", VolumeHandle: "h", VolumeAttributes: map[string]string{"backend": "b", "svm": "s", "internalName": "v"}},
	}}}
	if !reflect.DeepEqual(obj, want) {
		t.Errorf("PV %+v, want %+v", obj, want)
	}
}
