package frontend

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions are the manager's cache options for these controllers. The caches hold every
// TMR and, cluster-wide, PVCs and PVs; the controllers read only a few fields of the latter
// two, so only those are kept, and managed fields are dropped from everything, as is kubectl's
// copy of the applied object (the last-applied-configuration annotation): nothing reads them,
// and the controllers' patches are merge patches of the fields they change, which leave what
// the cache lacks as it is on the API server.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: stripUnread,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.PersistentVolumeClaim{}: {Transform: trimPVC},
			&corev1.PersistentVolume{}:      {Transform: trimPV},
		},
	}
}

var stripManagedFields = cache.TransformStripManagedFields()

// stripUnread drops managed fields and the last-applied-configuration annotation.
func stripUnread(obj any) (any, error) {
	obj, err := stripManagedFields(obj)
	if err != nil {
		return obj, err
	}
	if o, ok := obj.(metav1.Object); ok {
		if a := o.GetAnnotations(); a != nil {
			if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
				delete(a, corev1.LastAppliedConfigAnnotation)
				if len(a) == 0 {
					o.SetAnnotations(nil)
				}
			}
		}
	}
	return obj, nil
}

// keepMeta keeps the identity of a PVC or PV and what the cache needs; no controller reads
// their labels or annotations from the cache (csi.Mirrors reads a PVC's annotation live).
func keepMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, DeletionTimestamp: m.DeletionTimestamp,
	}
}

// trimPVC keeps what resolving a TMR's PVC reads: its volume name and phase. It trims the
// decoded object in place: a trimmed copy would leave a freed object of the same size between
// every two kept ones, and the heap fragmented by as much.
func trimPVC(obj any) (any, error) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return obj, nil
	}
	*pvc = corev1.PersistentVolumeClaim{
		TypeMeta: pvc.TypeMeta, ObjectMeta: keepMeta(pvc.ObjectMeta),
		Spec:   corev1.PersistentVolumeClaimSpec{VolumeName: pvc.Spec.VolumeName},
		Status: corev1.PersistentVolumeClaimStatus{Phase: pvc.Status.Phase},
	}
	return pvc, nil
}

// pvAttributes are the PV volume attributes that resolving a PV reads.
var pvAttributes = []string{"backend", "svm", "internalName"}

// trimPV keeps what resolving a PV reads: its CSI driver and the volume attributes naming the
// backend and the FlexVol. Like trimPVC, in place.
func trimPV(obj any) (any, error) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return obj, nil
	}
	src := pv.Spec.CSI
	*pv = corev1.PersistentVolume{TypeMeta: pv.TypeMeta, ObjectMeta: keepMeta(pv.ObjectMeta)}
	if src != nil {
		for k := range src.VolumeAttributes {
			if !slices.Contains(pvAttributes, k) {
				delete(src.VolumeAttributes, k)
			}
		}
		*src = corev1.CSIPersistentVolumeSource{Driver: src.Driver, VolumeHandle: src.VolumeHandle, VolumeAttributes: src.VolumeAttributes}
		pv.Spec.CSI = src
	}
	return pv, nil
}
