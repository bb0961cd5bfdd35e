package frontend

import (
	"context"
	"errors"
	"fmt"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

// view gives what SnapshotInfo and TridentSnapshotInfo have in common: the VolumeSnapshot's
// name and the status.
func view(o client.Object) (string, *tridentv1.SnapshotInfoStatus) {
	switch o := o.(type) {
	case *tridentv1.SnapshotInfo:
		return o.Spec.SnapshotName, &o.Status
	case *tridentv1.TridentSnapshotInfo:
		return o.Spec.SnapshotName, &o.Status
	}
	panic(fmt.Sprintf("not a snapshot info: %T", o))
}

// SnapshotInfoReconciler reports the internal handle of a VolumeSnapshot, for both spellings
// of the kind: SnapshotInfo (spec.snapshot-name) and TridentSnapshotInfo (spec.snapshotName).
type SnapshotInfoReconciler struct {
	Client client.Client
	// DriverName is the CSI driver whose snapshots are this controller's.
	DriverName string
	// Trident selects the kind: TridentSnapshotInfo when true, else SnapshotInfo.
	Trident bool
}

// RBAC: everything is read through the cache (list and watch); status is patched.
// +kubebuilder:rbac:groups=trident.netapp.io,resources=snapshotinfos;tridentsnapshotinfos,verbs=list;watch
// +kubebuilder:rbac:groups=trident.netapp.io,resources=snapshotinfos/status;tridentsnapshotinfos/status,verbs=patch
// +kubebuilder:rbac:groups=snapshot.storage.k8s.io,resources=volumesnapshots;volumesnapshotcontents,verbs=list;watch

func (r *SnapshotInfoReconciler) newObject() client.Object {
	if r.Trident {
		return &tridentv1.TridentSnapshotInfo{}
	}
	return &tridentv1.SnapshotInfo{}
}

// SetupWithManager registers the controller for its kind, and re-reads infos when their
// VolumeSnapshot changes.
func (r *SnapshotInfoReconciler) SetupWithManager(mgr ctrl.Manager) error {
	name := "snapshotinfo"
	if r.Trident {
		name = "tridentsnapshotinfo"
	}
	return ctrl.NewControllerManagedBy(mgr).Named(name).
		For(r.newObject()).
		Watches(&snapshotv1.VolumeSnapshot{}, handler.EnqueueRequestsFromMapFunc(r.infosOfSnapshot)).
		Complete(r)
}

func (r *SnapshotInfoReconciler) infosOfSnapshot(ctx context.Context, obj client.Object) []reconcile.Request {
	var items []client.Object
	if r.Trident {
		var list tridentv1.TridentSnapshotInfoList
		if r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())) == nil {
			for i := range list.Items {
				items = append(items, &list.Items[i])
			}
		}
	} else {
		var list tridentv1.SnapshotInfoList
		if r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())) == nil {
			for i := range list.Items {
				items = append(items, &list.Items[i])
			}
		}
	}
	var out []reconcile.Request
	for _, o := range items {
		if name, _ := view(o); name == obj.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
		}
	}
	return out
}

// Reconcile implements reconcile.Reconciler.
func (r *SnapshotInfoReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, reterr error) {
	obj := r.newObject()
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := obj.DeepCopyObject().(client.Object)
	defer func() {
		if err := r.Client.Status().Patch(ctx, obj, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			reterr = errors.Join(reterr, err)
		}
	}()
	snapshot, st := view(obj)
	handle, msg, err := r.handle(ctx, obj.GetNamespace(), snapshot)
	if err != nil {
		return ctrl.Result{}, err
	}
	st.ObservedGeneration, st.Message = obj.GetGeneration(), msg
	if handle != st.SnapshotHandle {
		now := metav1.Now()
		st.SnapshotHandle, st.LastTransitionTime = handle, &now
	}
	if handle == "" {
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}
	return ctrl.Result{}, nil
}

// handle follows VolumeSnapshot -> bound VolumeSnapshotContent -> snapshot handle; when it
// cannot be known yet, it says why.
func (r *SnapshotInfoReconciler) handle(ctx context.Context, namespace, name string) (string, string, error) {
	vs := &snapshotv1.VolumeSnapshot{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, vs)
	if apierrors.IsNotFound(err) {
		return "", fmt.Sprintf("VolumeSnapshot %s does not exist in namespace %s", name, namespace), nil
	}
	if err != nil {
		return "", "", err
	}
	if vs.Status == nil || vs.Status.BoundVolumeSnapshotContentName == nil || *vs.Status.BoundVolumeSnapshotContentName == "" {
		return "", fmt.Sprintf("VolumeSnapshot %s is not bound to a VolumeSnapshotContent yet", name), nil
	}
	if vs.Status.ReadyToUse == nil || !*vs.Status.ReadyToUse {
		return "", fmt.Sprintf("VolumeSnapshot %s is not ready to use yet", name), nil
	}
	vsc := &snapshotv1.VolumeSnapshotContent{}
	contentName := *vs.Status.BoundVolumeSnapshotContentName
	if err := r.Client.Get(ctx, client.ObjectKey{Name: contentName}, vsc); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Sprintf("VolumeSnapshotContent %s of VolumeSnapshot %s does not exist", contentName, name), nil
		}
		return "", "", err
	}
	if vsc.Spec.Driver != r.DriverName {
		return "", fmt.Sprintf("VolumeSnapshot %s was taken by driver %s, not %s", name, vsc.Spec.Driver, r.DriverName), nil
	}
	if vsc.Status == nil || vsc.Status.SnapshotHandle == nil || *vsc.Status.SnapshotHandle == "" {
		return "", fmt.Sprintf("VolumeSnapshotContent %s has no snapshot handle yet", contentName), nil
	}
	return *vsc.Status.SnapshotHandle, "", nil
}
