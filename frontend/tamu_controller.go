package frontend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
)

// TAMUReconciler runs each TridentActionMirrorUpdate once: it starts a transfer on the named
// relationship and waits, without blocking a worker, until ONTAP reports a successful
// transfer newer than the one before it.
type TAMUReconciler struct {
	Client client.Client
	// Reader reads TAMUs uncached (the manager's APIReader): a pass must see the status the
	// previous pass wrote, or it would start a second transfer. Nil means Client.
	Reader  client.Reader
	Events  events.EventRecorder
	Volumes Volumes
	// Poll is how often an update in progress is looked at; default 2 seconds.
	Poll time.Duration
	// MaxConcurrentReconciles is how many updates are worked on at once; default 16.
	MaxConcurrentReconciles int
	// Metrics counts the updates that end; nil records nothing.
	Metrics *Metrics
}

// RBAC: TAMUs are read live (get) and through the cache, their finalizer and status patched.
// +kubebuilder:rbac:groups=trident.netapp.io,resources=tridentactionmirrorupdates,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=trident.netapp.io,resources=tridentactionmirrorupdates/status,verbs=patch

// SetupWithManager registers the controller.
func (r *TAMUReconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.MaxConcurrentReconciles
	if workers == 0 {
		workers = 16
	}
	return ctrl.NewControllerManagedBy(mgr).For(&tridentv1.TridentActionMirrorUpdate{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *TAMUReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, reterr error) {
	tamu := &tridentv1.TridentActionMirrorUpdate{}
	reader := r.Reader
	if reader == nil {
		reader = r.Client
	}
	if err := reader.Get(ctx, req.NamespacedName, tamu); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !tamu.DeletionTimestamp.IsZero() || ended(tamu) {
		// Nothing to undo on ONTAP: a transfer that was started runs to its end.
		return ctrl.Result{}, setFinalizer(ctx, r.Client, tamu, tridentv1.ActionMirrorUpdateFinalizer, false)
	}
	if err := setFinalizer(ctx, r.Client, tamu, tridentv1.ActionMirrorUpdateFinalizer, true); err != nil {
		return ctrl.Result{}, err
	}
	base := tamu.DeepCopy()
	defer func() {
		if tamu.Status.State != base.Status.State {
			r.event(tamu)
			if ended(tamu) {
				r.Metrics.observeUpdate(tamu)
			}
		}
		err := r.Client.Status().Patch(ctx, tamu, client.MergeFrom(base))
		if err != nil && !apierrors.IsNotFound(err) {
			reterr = errors.Join(reterr, err)
			return
		}
		if err == nil && ended(tamu) {
			// Ended: the finalizer goes in the same pass.
			reterr = errors.Join(reterr, client.IgnoreNotFound(setFinalizer(ctx, r.Client, tamu, tridentv1.ActionMirrorUpdateFinalizer, false)))
		}
	}()
	return r.reconcileNormal(ctx, tamu)
}

// ended reports whether the action has its final state.
func ended(tamu *tridentv1.TridentActionMirrorUpdate) bool {
	return tamu.Status.State == tridentv1.ActionStateSucceeded || tamu.Status.State == tridentv1.ActionStateFailed
}

func (r *TAMUReconciler) reconcileNormal(ctx context.Context, tamu *tridentv1.TridentActionMirrorUpdate) (ctrl.Result, error) {
	st := &tamu.Status
	st.ObservedGeneration, st.SnapshotHandle = tamu.Generation, tamu.Spec.SnapshotHandle
	finish := func(state tridentv1.ActionState, msg string) (ctrl.Result, error) {
		now := metav1.Now()
		st.State, st.Message, st.CompletionTime = state, msg, &now
		return ctrl.Result{}, nil
	}
	tmr := &tridentv1.TridentMirrorRelationship{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: tamu.Namespace, Name: tamu.Spec.TridentMirrorRelationshipName}, tmr)
	if apierrors.IsNotFound(err) {
		return finish(tridentv1.ActionStateFailed, fmt.Sprintf("TridentMirrorRelationship %s does not exist in namespace %s", tamu.Spec.TridentMirrorRelationshipName, tamu.Namespace))
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	var actual tridentv1.MirrorState
	if len(tmr.Status.Conditions) > 0 {
		actual = tmr.Status.Conditions[0].State
	}
	if actual != tridentv1.MirrorStateEstablished && actual != tridentv1.MirrorStateReestablished {
		return finish(tridentv1.ActionStateFailed, fmt.Sprintf("TridentMirrorRelationship %s is %q: an update needs it established or reestablished", tmr.Name, actual))
	}
	loc, err := r.Volumes.resolve(ctx, tamu.Namespace, tmr.Spec.VolumeMappings[0].LocalPVCName)
	if err != nil {
		var waiting errWaiting
		var invalid errInvalid
		if errors.As(err, &waiting) || errors.As(err, &invalid) {
			return finish(tridentv1.ActionStateFailed, err.Error())
		}
		return ctrl.Result{}, err
	}
	st.LocalVolumeHandle, st.RemoteVolumeHandle = loc.path.String(), tmr.Spec.VolumeMappings[0].RemoteVolumeHandle
	poll := r.Poll
	if poll == 0 {
		poll = 2 * time.Second
	}
	var started *mirror.Started
	if st.PreviousTransferTime != nil {
		started = &mirror.Started{Transfer: st.TransferUUID, PreviousEnd: st.PreviousTransferTime.Time}
	}
	_, snap, _ := csi.ParseSnapshotID(tamu.Spec.SnapshotHandle)
	res := mirror.UpdateOnDemand(ctx, loc.backend, loc.path, snap, started)
	if s := res.Started; s != nil {
		st.PreviousTransferTime, st.TransferUUID = &metav1.Time{Time: s.PreviousEnd}, s.Transfer
	}
	switch {
	case res.Err != nil:
		// ONTAP could not be asked: the status says so, and the pass is retried with backoff.
		st.State, st.Message = tridentv1.ActionStateInProgress, "retrying: "+res.Message
		return ctrl.Result{}, res.Err
	case res.Outcome == mirror.UpdateSucceeded:
		return finish(tridentv1.ActionStateSucceeded, res.Message)
	case res.Outcome == mirror.UpdateFailed:
		return finish(tridentv1.ActionStateFailed, res.Message)
	}
	st.State, st.Message = tridentv1.ActionStateInProgress, res.Message
	return ctrl.Result{RequeueAfter: poll}, nil
}

func (r *TAMUReconciler) event(tamu *tridentv1.TridentActionMirrorUpdate) {
	eventType := corev1.EventTypeNormal
	if tamu.Status.State == tridentv1.ActionStateFailed {
		eventType = corev1.EventTypeWarning
	}
	r.Events.Eventf(tamu, nil, eventType, strings.ReplaceAll(string(tamu.Status.State), " ", ""), "MirrorUpdate", "%s", tamu.Status.Message)
}
