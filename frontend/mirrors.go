package frontend

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
)

// Mirrors answers the CSI driver's question, whether a PVC's new volume must be a mirror
// destination, from the PVC's trident.netapp.io/mirrorRelationship annotation and the
// TridentMirrorRelationship it names.
type Mirrors struct {
	Reader client.Reader
}

var _ csi.Mirrors = Mirrors{}

// RBAC: the PVC and its TMR are read live (the manager's APIReader), as CreateVolume must not
// act on a stale cache.
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get
// +kubebuilder:rbac:groups=trident.netapp.io,resources=tridentmirrorrelationships,verbs=get

// DestinationOf implements csi.Mirrors.
func (m Mirrors) DestinationOf(ctx context.Context, namespace, pvcName string) (*csi.MirrorTarget, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := m.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pvcName}, pvc); err != nil {
		return nil, fmt.Errorf("read PVC %s/%s: %w", namespace, pvcName, err)
	}
	name := pvc.Annotations[csi.MirrorAnnotation]
	if name == "" {
		return nil, nil
	}
	fail := func(format string, args ...any) (*csi.MirrorTarget, error) {
		return nil, &csi.MirrorError{Message: fmt.Sprintf("PVC %s/%s has annotation %s: %s; nothing was created on ONTAP",
			namespace, pvcName, csi.MirrorAnnotation+"="+truncate(name, 80), fmt.Sprintf(format, args...))}
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fail("the value cannot be the name of a TridentMirrorRelationship (%s): correct the annotation to name the TMR of this PVC", errs[0])
	}
	tmr := &tridentv1.TridentMirrorRelationship{}
	err := m.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, tmr)
	if apierrors.IsNotFound(err) {
		return fail("TridentMirrorRelationship %s does not exist in namespace %s: create it, with state established, localPVCName %s and the source's remoteVolumeHandle", name, namespace, pvcName)
	}
	if err != nil {
		return nil, fmt.Errorf("read TridentMirrorRelationship %s/%s: %w", namespace, name, err)
	}
	for _, vm := range tmr.Spec.VolumeMappings {
		if vm.LocalPVCName != pvcName {
			continue
		}
		if tmr.Spec.State != tridentv1.MirrorStateEstablished && tmr.Spec.State != tridentv1.MirrorStateReestablished {
			return fail("TridentMirrorRelationship %s is in state %s: a new destination volume needs state established", name, tmr.Spec.State)
		}
		return &csi.MirrorTarget{Relationship: name, RemoteVolumeHandle: vm.RemoteVolumeHandle}, nil
	}
	return fail("TridentMirrorRelationship %s maps PVC %s, not %s: set its volumeMappings[0].localPVCName to %s, or annotate the right PVC",
		name, tmr.Spec.VolumeMappings[0].LocalPVCName, pvcName, pvcName)
}
