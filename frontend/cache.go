package frontend

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions are the manager's cache options for these controllers. The caches hold every
// TMR and, cluster-wide, PVCs and PVs; the controllers read only a few fields of the latter
// two, so only those are kept, and managed fields are dropped from everything.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.PersistentVolumeClaim{}: {Transform: trimPVC},
			&corev1.PersistentVolume{}:      {Transform: trimPV},
		},
	}
}

// keepMeta keeps the identity of an object and what controllers and the cache need.
func keepMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, DeletionTimestamp: m.DeletionTimestamp, Annotations: m.Annotations, Labels: m.Labels,
	}
}

// trimPVC keeps what resolving a TMR's PVC reads: its volume name and phase.
func trimPVC(obj any) (any, error) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return obj, nil
	}
	return &corev1.PersistentVolumeClaim{
		TypeMeta: pvc.TypeMeta, ObjectMeta: keepMeta(pvc.ObjectMeta),
		Spec:   corev1.PersistentVolumeClaimSpec{VolumeName: pvc.Spec.VolumeName},
		Status: corev1.PersistentVolumeClaimStatus{Phase: pvc.Status.Phase},
	}, nil
}

// trimPV keeps what resolving a PV reads: its CSI source.
func trimPV(obj any) (any, error) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return obj, nil
	}
	out := &corev1.PersistentVolume{TypeMeta: pv.TypeMeta, ObjectMeta: keepMeta(pv.ObjectMeta)}
	if src := pv.Spec.CSI; src != nil {
		out.Spec.CSI = &corev1.CSIPersistentVolumeSource{Driver: src.Driver, VolumeHandle: src.VolumeHandle, VolumeAttributes: src.VolumeAttributes}
	}
	return out, nil
}
