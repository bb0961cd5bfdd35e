package frontend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TMRReconciler drives each TridentMirrorRelationship's local volume toward its desired
// state through the replication engine, and reports the truth in its status.
type TMRReconciler struct {
	Client client.Client
	Events events.EventRecorder
	// Volumes resolves PVCs to ONTAP volumes.
	Volumes Volumes
	// Recheck is how often a settled relationship is looked at again, from one list per
	// cluster (Cache), to report lag, health and out-of-band changes.
	Recheck time.Duration
	// Cache serves settled re-checks; nil means a GET per relationship.
	Cache *mirror.Cache
	// JobPoll is how soon a pass that left an ONTAP job running looks again when the job
	// watcher has not woken it first (ontap.Client.NotifyJob, which follows every job of a
	// cluster with one list call per interval); 0 means 30 seconds.
	JobPoll time.Duration
	// MaxConcurrentReconciles is how many TMRs are worked on at once; default 16.
	MaxConcurrentReconciles int
	Metrics                 *Metrics

	// mounted remembers the volumes known to have their junction path.
	mounted sync.Map
	// fitPolicies remembers the spec policies found fit, by backend and name.
	fitPolicies sync.Map
	// schedules remembers the schedules' intervals, from which objectives are derived.
	schedules schedules
	// indexer indexes the cached TMRs by PVC (pvcIndex) once the first PVC event comes, on
	// the leader: an index made at setup would have every replica cache the TMRs, and serve
	// CSI only once they are listed.
	indexer   client.FieldIndexer
	indexOnce sync.Once
	// jobEnded wakes the TMR whose job the job watcher saw end.
	jobEnded chan event.GenericEvent
}

// RBAC: reads go through the manager's cache (list and watch; no get), finalizers and status
// are patched. Events are created, and patched when one repeats.
// +kubebuilder:rbac:groups=trident.netapp.io,resources=tridentmirrorrelationships,verbs=list;watch;patch
// +kubebuilder:rbac:groups=trident.netapp.io,resources=tridentmirrorrelationships/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims;persistentvolumes,verbs=list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller: TMRs, and the PVCs they name.
func (r *TMRReconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.MaxConcurrentReconciles
	if workers == 0 {
		workers = 16
	}
	r.indexer = mgr.GetFieldIndexer()
	r.jobEnded = make(chan event.GenericEvent, 1024)
	return ctrl.NewControllerManagedBy(mgr).
		// Status writes do not wake the controller (they would make it look again at once,
		// often through a stale cache); spec changes and deletion do, and so does the re-check
		// interval.
		// So does a re-request, made with an annotation.
		For(&tridentv1.TridentMirrorRelationship{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, deleting, rerequested))).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.tmrsOfPVC)).
		WatchesRawSource(source.Channel(r.jobEnded, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// wakeAtEnd has the TMR looked at again once the job watcher saw its job end. The wake-up
// waits for room in the queue, and gives up only when the pass's RequeueAfter (the fallback)
// would have looked again anyway.
func (r *TMRReconciler) wakeAtEnd(b *ontap.Backend, job string, tmr *tridentv1.TridentMirrorRelationship) {
	key := &tridentv1.TridentMirrorRelationship{ObjectMeta: metav1.ObjectMeta{Namespace: tmr.Namespace, Name: tmr.Name}}
	b.NotifyJob(job, func() {
		go func() {
			select {
			case r.jobEnded <- event.GenericEvent{Object: key}:
			case <-time.After(r.jobFallback()):
			}
		}()
	})
}

// jobFallback is how soon a pass that left a job running looks again without a wake-up.
func (r *TMRReconciler) jobFallback() time.Duration { return cmp.Or(r.JobPoll, 30*time.Second) }

// deleting passes the update that marks an object for deletion.
var deleting = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return !e.ObjectNew.GetDeletionTimestamp().IsZero()
}}

// rerequested passes the update that adds the request annotation.
var rerequested = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	_, ok := e.ObjectNew.GetAnnotations()[tridentv1.RequestAnnotation]
	return ok
}}

// pvcIndex indexes the cached TMRs by the PVCs they name, so that a PVC's event finds its TMRs
// without listing (and copying) every TMR of the namespace.
const pvcIndex = "spec.volumeMappings.localPVCName"

func localPVCs(obj client.Object) []string {
	t, ok := obj.(*tridentv1.TridentMirrorRelationship)
	if !ok {
		return nil
	}
	var out []string
	for _, m := range t.Spec.VolumeMappings {
		out = append(out, m.LocalPVCName)
	}
	return out
}

// tmrsOfPVC maps a PVC to the TMRs of its namespace that name it: from the index, or, without
// one, from every TMR of the namespace.
func (r *TMRReconciler) tmrsOfPVC(ctx context.Context, obj client.Object) []reconcile.Request {
	r.indexOnce.Do(func() {
		if r.indexer == nil {
			return
		}
		if err := r.indexer.IndexField(ctx, &tridentv1.TridentMirrorRelationship{}, pvcIndex, localPVCs); err != nil {
			log.FromContext(ctx).Error(err, "index TMRs by PVC; PVC events list every TMR of their namespace")
		}
	})
	var list tridentv1.TridentMirrorRelationshipList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{pvcIndex: obj.GetName()}); err != nil {
		if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
			return nil
		}
	}
	var out []reconcile.Request
	for _, t := range list.Items {
		if slices.Contains(localPVCs(&t), obj.GetName()) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&t)})
		}
	}
	return out
}

// Reconcile implements reconcile.Reconciler.
func (r *TMRReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, reterr error) {
	tmr := &tridentv1.TridentMirrorRelationship{}
	if err := r.Client.Get(ctx, req.NamespacedName, tmr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !tmr.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, tmr)
	}
	if err := setFinalizer(ctx, r.Client, tmr, tridentv1.MirrorRelationshipFinalizer, true); err != nil {
		return ctrl.Result{}, err
	}
	base := tmr.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(base.Status, tmr.Status) {
			// A re-check that found nothing new writes nothing.
			return
		}
		if err := r.Client.Status().Patch(ctx, tmr, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			reterr = errors.Join(reterr, err)
		}
	}()
	stored, err := r.takeRequest(ctx, tmr)
	if err != nil {
		return ctrl.Result{}, err
	}
	return r.reconcileNormal(ctx, tmr, stored)
}

// reconcileNormal serves the TMR's request; stored is the request as the API server holds it.
func (r *TMRReconciler) reconcileNormal(ctx context.Context, tmr *tridentv1.TridentMirrorRelationship, stored *tridentv1.MirrorRequest) (ctrl.Result, error) {
	m := tmr.Spec.VolumeMappings[0]
	cond := tridentv1.TridentMirrorRelationshipCondition{LocalPVCName: m.LocalPVCName, RemoteVolumeHandle: m.RemoteVolumeHandle}
	loc, err := r.Volumes.resolve(ctx, tmr.Namespace, m.LocalPVCName)
	var waiting errWaiting
	var invalid errInvalid
	var unavailable errUnavailable
	switch {
	case errors.As(err, &waiting):
		cond.State, cond.Message = tridentv1.MirrorStateEstablishing, err.Error()
		if tmr.Spec.State == tridentv1.MirrorStatePromoted {
			cond.State = tridentv1.MirrorStatePromoting
		}
		reason := tridentv1.ReasonTransition
		if waiting.unbound {
			// Only a PVC that waits for its volume can be waiting for a placement.
			if why := r.unplaceable(ctx, m.RemoteVolumeHandle); why != "" {
				cond.Message, reason = err.Error()+": "+why, tridentv1.ReasonFailed
			}
		}
		r.setCondition(tmr, cond, reason)
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	case errors.As(err, &unavailable):
		cond.State, cond.Message = tridentv1.MirrorStateFailed, err.Error()
		r.setCondition(tmr, cond, tridentv1.ReasonFailed)
		return ctrl.Result{RequeueAfter: mirror.Soon}, nil
	case errors.As(err, &invalid):
		cond.State, cond.Message = tridentv1.MirrorStateInvalid, err.Error()
		r.setCondition(tmr, cond, tridentv1.ReasonInvalid)
		return ctrl.Result{RequeueAfter: r.Recheck}, nil
	case err != nil:
		return ctrl.Result{}, err
	}
	cond.LocalVolumeHandle = loc.path.String()

	mreq := mirror.Request{
		Local: loc.path, Remote: m.RemoteVolumeHandle, Desired: desiredStates[tmr.Spec.State],
		Policy:   orDefault(tmr.Spec.ReplicationPolicy, orDefault(loc.backend.ReplicationPolicy, ontap.DefaultReplicationPolicy)),
		Schedule: orDefault(tmr.Spec.ReplicationSchedule, loc.backend.ReplicationSchedule),
	}
	if err := r.cycle(ctx, tmr, loc); err != nil {
		cond.State, cond.Message = tridentv1.MirrorStateFailed, err.Error()
		r.setCondition(tmr, cond, tridentv1.ReasonFailed)
		return ctrl.Result{RequeueAfter: r.Recheck}, nil
	}
	if err := r.checkPolicy(ctx, tmr, loc); err != nil {
		cond.State, cond.Message = tridentv1.MirrorStateInvalid, err.Error()
		r.setCondition(tmr, cond, tridentv1.ReasonInvalid)
		return ctrl.Result{RequeueAfter: r.Recheck}, nil
	}
	if h := m.PromotedSnapshotHandle; h != "" {
		_, snap, ok := csi.ParseSnapshotID(h)
		if !ok {
			cond.State, cond.Message = tridentv1.MirrorStateInvalid, fmt.Sprintf("spec.volumeMappings[0].promotedSnapshotHandle %q names no snapshot this driver makes: copy it from a SnapshotInfo's status.snapshotHandle", truncate(h, 300))
			r.setCondition(tmr, cond, tridentv1.ReasonInvalid)
			return ctrl.Result{RequeueAfter: r.Recheck}, nil
		}
		mreq.PromotedSnapshot = snap
	}
	if len(tmr.Status.Conditions) > 0 {
		cond.Discarding = tmr.Status.Conditions[0].Discarding
	}
	mreq.Settled, mreq.Started, mreq.Job, mreq.Record = r.engineRequest(tmr, stored, loc, &cond)
	if _, known := r.mounted.Load(loc.path); !known && loc.kind.nfs() {
		// A DP destination is created unmounted; NFS clients need the path once it holds
		// data. An ontap-san FlexVol has no junction: nodes reach its LUN over iSCSI.
		mreq.Mount = &mirror.Junction{Path: "/" + loc.path.Volume, ExportPolicy: loc.backend.ExportPolicyOf(loc.path.Volume)}
	}
	// Jobs are followed across passes, never waited for within a request: ONTAP answers at
	// once with the job (the client's default), and the job watcher wakes the TMR at its end.
	var api mirror.ONTAP = loc.backend.Client
	if r.Cache != nil && settled(tmr) {
		api = r.Cache.Reads(loc.backend.Name, loc.backend.SVM, api)
	}
	res := mirror.Run(ctx, api, mreq)
	if res.Mounted {
		r.mounted.Store(loc.path, true)
	}
	finishRequest(tmr, res)
	r.Metrics.observe(tmr, res)
	cond.State, cond.Message, cond.Drift = tmrState(res.State), res.Message, res.Drift
	if field := inputFields[res.Wrong]; field != "" {
		cond.Message += ": correct " + field
	}
	if res.Rerequest {
		cond.Drift += fmt.Sprintf("; to have the controller carry out state %s again, annotate the TMR: kubectl annotate tmr %s -n %s %s=<reason>", tmr.Spec.State, tmr.Name, tmr.Namespace, tridentv1.RequestAnnotation)
		cond.Message = cond.Drift
	}
	if res.State != mirror.Reestablishing {
		cond.Discarding = nil
	}
	fillFromRelationship(&cond, res.Relationship, tmr.Status.Conditions)
	r.recoveryPoint(ctx, tmr, &cond, loc.backend)
	if cond.State == tridentv1.MirrorStatePromoted && slices.Contains(tmr.Status.Request.Started, mirror.Abort.String()) && cond.Drift == "" {
		// The promotion cut a transfer short: the volume holds the last completed transfer.
		cond.Healthy = ptr.To(false)
		cond.UnhealthyReason = "the transfer that was running at the promotion was aborted"
		if t := cond.LastTransferTime; t != nil {
			cond.UnhealthyReason += "; the volume holds the data of the last completed transfer, which ended at " + t.UTC().Format(time.RFC3339)
		}
		cond.Message = cond.UnhealthyReason
	}
	r.reportDrift(tmr, cond.Drift)
	switch {
	case res.Err != nil && ontap.IsRefusal(res.Err):
		// ONTAP refused: asking again at once gets the same answer and, for a relationship
		// made for the request, churns create and delete. Look again at the re-check
		// interval, or at once when the spec changes.
		r.setCondition(tmr, cond, tridentv1.ReasonFailed)
		log.FromContext(ctx).Info("ONTAP refused the request; retrying at the re-check interval", "error", res.Err.Error())
		return ctrl.Result{RequeueAfter: r.Recheck}, nil
	case res.Err != nil:
		r.setCondition(tmr, cond, tridentv1.ReasonFailed)
		return ctrl.Result{}, res.Err
	case res.RequeueAfter > 0:
		r.setCondition(tmr, cond, tridentv1.ReasonTransition)
		if res.Job != "" {
			r.wakeAtEnd(loc.backend, res.Job, tmr)
			return ctrl.Result{RequeueAfter: r.jobFallback()}, nil
		}
		return ctrl.Result{RequeueAfter: res.RequeueAfter}, nil
	}
	r.splitBrain(ctx, tmr, &cond, loc, res.Relationship)
	r.Metrics.observeSplitBrain(tmr, cond.SplitBrain != nil)
	r.setCondition(tmr, cond, tridentv1.ReasonTransition)
	return ctrl.Result{RequeueAfter: r.Recheck}, nil
}

// cycle refuses an open reestablish whose source is itself mirrored from this volume: both
// volumes would be destinations, read-only, and the application down on both sites. It reads
// the source's relationship on its cluster (a backend or a peer), once per pass of an open
// reestablish; where that cluster cannot be read, the check is skipped.
func (r *TMRReconciler) cycle(ctx context.Context, tmr *tridentv1.TridentMirrorRelationship, loc *local) error {
	remote := tmr.Spec.VolumeMappings[0].RemoteVolumeHandle
	if tmr.Spec.State != tridentv1.MirrorStateReestablished || tmr.Status.Request.CompletedTime != nil {
		return nil
	}
	svm, _, ok := ontap.SplitPath(remote)
	reader := r.Volumes.readerOfSVM(svm)
	if !ok || reader == nil {
		return nil
	}
	rel, err := reader.GetRelationship(ctx, remote)
	if err != nil || rel.Source != loc.path.String() {
		return nil
	}
	if rel.State == ontap.BrokenOff && (rel.Transfer == nil || !rel.Transfer.State.Active()) {
		return nil
	}
	return fmt.Errorf("refused: %s is itself the destination of a relationship from this volume (%s, %s), reestablished from the other site; resyncing this volume from it would make both read-only. Promote %s on its site first, or reestablish only one side", remote, rel.UUID, rel.State, remote)
}

// unplaceable says why the PVC of a TMR with a remote volume cannot get its DP volume: no
// backend's SVM is peered (for SnapMirror) with the remote volume's SVM. The CSI driver
// refuses the volume for that reason, which otherwise only the PVC's events show. It is ""
// when some backend is peered, or when that cannot be told now.
func (r *TMRReconciler) unplaceable(ctx context.Context, remote string) string {
	remoteSVM, _, ok := ontap.SplitPath(remote)
	if !ok {
		return ""
	}
	var svms []string
	for _, b := range r.Volumes.Backends {
		peers, err := b.SVMPeers(ctx, b.SVM)
		if err != nil {
			return ""
		}
		for _, p := range peers {
			if p.Peered() && strings.EqualFold(p.PeerSVM, remoteSVM) {
				return ""
			}
		}
		svms = append(svms, b.SVM)
	}
	slices.Sort(svms)
	return fmt.Sprintf("no DP volume can be placed, as no SVM of this site (%s) is peered for SnapMirror with SVM %s of spec.volumeMappings[0].remoteVolumeHandle: peer the SVMs (vserver peer create -applications snapmirror), or correct remoteVolumeHandle", strings.Join(svms, ", "), remoteSVM)
}

// checkPolicy refuses a spec.replicationPolicy that cannot mirror the volume as the workflow
// needs (the backend's default is checked at start-up): it must be async and carry all
// snapshots, or sync. A policy found fit is remembered per backend; a lookup that fails for
// want of an answer is no verdict.
func (r *TMRReconciler) checkPolicy(ctx context.Context, tmr *tridentv1.TridentMirrorRelationship, loc *local) error {
	name := tmr.Spec.ReplicationPolicy
	if name == "" || tmr.Spec.State == tridentv1.MirrorStatePromoted {
		return nil
	}
	key := loc.backend.Name + "/" + name
	if _, ok := r.fitPolicies.Load(key); ok {
		return nil
	}
	problem, err := loc.backend.CheckReplicationPolicy(ctx, loc.backend.SVM, name)
	switch {
	case problem != "":
		return fmt.Errorf("spec.replicationPolicy %s", problem)
	case err == nil:
		r.fitPolicies.Store(key, true)
	}
	return nil
}

// splitBrain reports, in the condition and with a Warning Event, a broken-off relationship
// whose two ends have both been written since the newest snapshot they share. On a destination,
// rel is its relationship and the source's side is read through a backend or a peer of the
// source's SVM. On a source (a promoted TMR that is no destination), the relationship is
// looked up on the peers, from one cached list per peer and interval. With the cache, a
// re-check costs one list of write counters per cluster and interval (Cache.SplitBrain).
// Without a way to read the other side it does nothing; while that side cannot be read, the
// last finding stands. Nothing is ever resynced for it.
func (r *TMRReconciler) splitBrain(ctx context.Context, tmr *tridentv1.TridentMirrorRelationship, cond *tridentv1.TridentMirrorRelationshipCondition, loc *local, rel *ontap.Relationship) {
	var dst, src mirror.Writes
	if rel != nil {
		svm, _, _ := ontap.SplitPath(rel.Source)
		if reader := r.Volumes.readerOfSVM(svm); reader != nil {
			dst, src = loc.backend.Client, reader
		} else if rel.State == ontap.BrokenOff {
			cond.SplitBrainCheck = fmt.Sprintf("not made: nothing in the backend file reads SVM %s, the source; list it under peers (read-only credentials do) to have split brain detected", svm)
		}
	} else if tmr.Spec.State == tridentv1.MirrorStatePromoted {
		if len(r.Volumes.Peers) == 0 {
			cond.SplitBrainCheck = "not made from this side: the backend file lists no peers; list the other site's SVM under peers (read-only credentials do) to have split brain detected"
		}
		rel, dst = r.mirrorOnPeer(ctx, loc.path.String())
		src = loc.backend.Client
	}
	if rel == nil || rel.State != ontap.BrokenOff || dst == nil {
		return
	}
	var old *tridentv1.SplitBrain
	if len(tmr.Status.Conditions) > 0 {
		old = tmr.Status.Conditions[0].SplitBrain
	}
	check := mirror.SplitBrain
	if r.Cache != nil {
		check = r.Cache.SplitBrain
	}
	d, err := check(ctx, dst, src, rel)
	if err != nil {
		log.FromContext(ctx).V(1).Info("split-brain check", "error", err.Error())
		cond.SplitBrain = old
		return
	}
	if d == nil {
		return
	}
	detected := metav1.Now()
	if old != nil && old.DetectedTime != nil {
		detected = *old.DetectedTime
	}
	_, here, there := d.Seen(loc.path.String())
	cond.SplitBrain = &tridentv1.SplitBrain{CommonSnapshot: d.Snapshot, LocalBytes: here, RemoteBytes: there, DetectedTime: &detected}
	cond.Message = d.Message(loc.path.String())
	if old == nil {
		r.Events.Eventf(tmr, nil, corev1.EventTypeWarning, tridentv1.ReasonSplitBrain, "Check", "%s", cond.Message)
	}
}

// mirrorOnPeer finds the relationship, on a peer's cluster, whose source is the local volume,
// and that peer's client; nil when there is none or no cache to look through.
func (r *TMRReconciler) mirrorOnPeer(ctx context.Context, source string) (*ontap.Relationship, mirror.Writes) {
	if r.Cache == nil {
		return nil, nil
	}
	for _, p := range r.Volumes.Peers {
		if rel, err := r.Cache.RelationshipFrom(ctx, "peer/"+p.Name, p.SVM, p, source); err == nil {
			return rel, p
		}
	}
	return nil, nil
}

// settled reports whether the TMR's status already shows its desired state for its current
// spec: then a re-check may read from the cache.
func settled(tmr *tridentv1.TridentMirrorRelationship) bool {
	c := tmr.Status.Conditions
	return len(c) == 1 && c[0].ObservedGeneration == tmr.Generation && c[0].State == tmr.Spec.State
}

func (r *TMRReconciler) reconcileDelete(ctx context.Context, tmr *tridentv1.TridentMirrorRelationship) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(tmr, tridentv1.MirrorRelationshipFinalizer) {
		return ctrl.Result{}, nil
	}
	loc, err := r.Volumes.resolve(ctx, tmr.Namespace, tmr.Spec.VolumeMappings[0].LocalPVCName)
	var waiting errWaiting
	var invalid errInvalid
	switch {
	case errors.As(err, &waiting), errors.As(err, &invalid):
		// No volume of ours behind it: nothing to release on ONTAP.
	case err != nil:
		return ctrl.Result{}, err
	default:
		res := mirror.Release(ctx, loc.backend.Client, loc.path, r.Volumes.gone)
		if res.Err != nil || res.RequeueAfter > 0 {
			// The status says how the deletion stands, and how to force it if ONTAP is gone.
			base := tmr.DeepCopy()
			var cond tridentv1.TridentMirrorRelationshipCondition
			if len(tmr.Status.Conditions) > 0 {
				cond = tmr.Status.Conditions[0]
			}
			cond.State, cond.Message = tmrState(res.State), "deleting: "+res.Message
			reason := tridentv1.ReasonTransition
			if res.Err != nil {
				reason = tridentv1.ReasonFailed
				cond.Message = fmt.Sprintf("deleting: release %s: %s. The TMR stays until ONTAP answers; if that cluster is gone for good, delete it without releasing: kubectl patch tmr %s -n %s --type=merge -p '{\"metadata\":{\"finalizers\":null}}'",
					loc.path.String(), res.Err, tmr.Name, tmr.Namespace)
			}
			r.setCondition(tmr, cond, reason)
			if err := r.Client.Status().Patch(ctx, tmr, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, errors.Join(res.Err, err)
			}
			return ctrl.Result{RequeueAfter: res.RequeueAfter}, res.Err
		}
		note := "promoted and its SnapMirror metadata released"
		if res.Message != "released" {
			note = res.Message
		}
		r.Events.Eventf(tmr, nil, corev1.EventTypeNormal, tridentv1.ReasonReleased, "Release", "volume %s %s", loc.path.String(), note)
		// What was learned of the volume goes with its TMR; a later one looks again.
		r.mounted.Delete(loc.path)
	}
	r.Metrics.forget(tmr)
	return ctrl.Result{}, setFinalizer(ctx, r.Client, tmr, tridentv1.MirrorRelationshipFinalizer, false)
}

// setCondition writes the one condition, keeping lastTransitionTime when the state stays, and
// records an Event when it changes.
func (r *TMRReconciler) setCondition(tmr *tridentv1.TridentMirrorRelationship, cond tridentv1.TridentMirrorRelationshipCondition, reason string) {
	cond.ObservedGeneration = tmr.Generation
	var old tridentv1.TridentMirrorRelationshipCondition
	if len(tmr.Status.Conditions) > 0 {
		old = tmr.Status.Conditions[0]
	}
	now := metav1.Now()
	cond.LastTransitionTime = &now
	if old.State == cond.State && old.LastTransitionTime != nil {
		cond.LastTransitionTime = old.LastTransitionTime
	}
	tmr.Status.Conditions = []tridentv1.TridentMirrorRelationshipCondition{cond}
	r.Metrics.observeCondition(tmr, cond)
	if old.State == cond.State && old.Message == cond.Message {
		return
	}
	eventType := corev1.EventTypeNormal
	if cond.State == tridentv1.MirrorStateFailed || cond.State == tridentv1.MirrorStateInvalid || reason == tridentv1.ReasonFailed {
		eventType = corev1.EventTypeWarning
	}
	if old.State != cond.State || eventType == corev1.EventTypeWarning {
		note := string(cond.State)
		if cond.Message != "" {
			note += ": " + cond.Message
		}
		r.Events.Eventf(tmr, nil, eventType, reason, "Reconcile", "%s", note)
	}
}

// inputFields names the TMR field each input of a mirror.Request comes from.
var inputFields = map[mirror.Input]string{
	mirror.RemoteInput:           "spec.volumeMappings[0].remoteVolumeHandle",
	mirror.PolicyInput:           "spec.replicationPolicy",
	mirror.ScheduleInput:         "spec.replicationSchedule",
	mirror.PromotedSnapshotInput: "spec.volumeMappings[0].promotedSnapshotHandle",
}

// reportDrift sends a Warning Event when drift appears or changes, and sets its gauge.
func (r *TMRReconciler) reportDrift(tmr *tridentv1.TridentMirrorRelationship, drift string) {
	r.Metrics.observeDrift(tmr, drift != "")
	if drift == "" || (len(tmr.Status.Conditions) > 0 && tmr.Status.Conditions[0].Drift == drift) {
		return
	}
	r.Events.Eventf(tmr, nil, corev1.EventTypeWarning, tridentv1.ReasonDrift, "Check", "%s", drift)
}

// fillFromRelationship copies ONTAP's figures into the condition. A transfer that has not
// ended (running, or aborted by a promotion) leaves the last completed transfer's figures of
// the previous condition in place.
func fillFromRelationship(c *tridentv1.TridentMirrorRelationshipCondition, rel *ontap.Relationship, previous []tridentv1.TridentMirrorRelationshipCondition) {
	if len(previous) > 0 {
		p := previous[0]
		c.LastTransferTime, c.LastTransferBytes, c.LastTransferDuration = p.LastTransferTime, p.LastTransferBytes, p.LastTransferDuration
	}
	if rel == nil {
		return
	}
	if c.RemoteVolumeHandle == "" {
		c.RemoteVolumeHandle = rel.Source
	}
	c.ReplicationPolicy, c.ReplicationSchedule = rel.Policy, rel.Schedule
	c.Healthy = rel.Healthy
	c.UnhealthyReason = strings.Join(rel.UnhealthyReasons, "; ")
	if rel.Lag != nil {
		c.Lag = &metav1.Duration{Duration: *rel.Lag}
	}
	// The last transfer is the last that completed: an aborted or failed one carried nothing
	// the volume holds.
	if t := rel.Transfer; t != nil && t.State == ontap.TransferSuccess && !t.End.IsZero() {
		end := metav1.NewTime(t.End)
		bytes := t.BytesTransferred
		c.LastTransferTime, c.LastTransferBytes = &end, &bytes
		c.LastTransferDuration = &metav1.Duration{Duration: t.Duration}
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// setFinalizer adds or removes a finalizer with a patch: unlike an update, it cannot conflict
// with the status writes of another pass, so a pass never fails (and backs off) for a stale
// read.
func setFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string, present bool) error {
	orig := obj.DeepCopyObject().(client.Object)
	changed := controllerutil.AddFinalizer(obj, finalizer)
	if !present {
		changed = controllerutil.RemoveFinalizer(obj, finalizer)
	}
	if !changed {
		return nil
	}
	return c.Patch(ctx, obj, client.MergeFrom(orig))
}
