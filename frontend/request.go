package frontend

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// maxReason bounds the re-request reason kept in the status and events.
const maxReason = 256

// takeRequest works out the user's request that this pass serves, in status.request. A new
// request starts when spec.state, remoteVolumeHandle or promotedSnapshotHandle changed, or
// when the user re-requests with tridentv1.RequestAnnotation; other spec edits (policy,
// schedule) keep the request as it stands. A re-request is recorded in the status before its
// annotation is removed, so that a crash between the two takes it again, never loses it.
// It returns the request as the API server holds it now.
func (r *TMRReconciler) takeRequest(ctx context.Context, tmr *tridentv1.TridentMirrorRelationship) (*tridentv1.MirrorRequest, error) {
	m := tmr.Spec.VolumeMappings[0]
	want := tridentv1.MirrorRequest{
		Generation: tmr.Generation, State: tmr.Spec.State,
		RemoteVolumeHandle: m.RemoteVolumeHandle, PromotedSnapshotHandle: m.PromotedSnapshotHandle,
		RequestedTime: metav1.Now(),
	}
	reason, reasked := tmr.Annotations[tridentv1.RequestAnnotation]
	old := tmr.Status.Request
	stored := old.DeepCopy()
	switch {
	case reasked:
		if reason = truncate(reason, maxReason); reason == "" {
			reason = "(no reason given)"
		}
		want.Reason = reason
	case old != nil && old.State == want.State && old.RemoteVolumeHandle == want.RemoteVolumeHandle && old.PromotedSnapshotHandle == want.PromotedSnapshotHandle:
		old.Generation = tmr.Generation
		return stored, nil
	case old == nil && settled(tmr):
		// Settled by a version that kept no requests: carried out then.
		want.RequestedTime = *tmr.Status.Conditions[0].LastTransitionTime
		want.CompletedTime = tmr.Status.Conditions[0].LastTransitionTime
	}
	tmr.Status.Request = &want
	if !reasked {
		return stored, nil
	}
	// Copies are patched: an answer may hold a newer spec, which this pass must not take.
	obj := tmr.DeepCopy()
	base := obj.DeepCopy()
	base.Status.Request = old
	if err := r.Client.Status().Patch(ctx, obj, client.MergeFrom(base)); err != nil {
		return nil, fmt.Errorf("record the re-request: %w", err)
	}
	stored = tmr.Status.Request.DeepCopy()
	r.Events.Eventf(tmr, nil, corev1.EventTypeNormal, tridentv1.ReasonRequested, "Request", "state %s requested again: %s", tmr.Spec.State, reason)
	obj = tmr.DeepCopy()
	orig := obj.DeepCopy()
	delete(obj.Annotations, tridentv1.RequestAnnotation)
	return stored, r.Client.Patch(ctx, obj, client.MergeFrom(orig))
}

// engineRequest is what the engine needs of the request: whether it was carried out, what
// was started for it, the job left running, and a way to record a step before it is sent.
// stored is the request as the API server holds it, the base of the record's patches.
func (r *TMRReconciler) engineRequest(tmr *tridentv1.TridentMirrorRelationship, stored *tridentv1.MirrorRequest, loc *local, cond *tridentv1.TridentMirrorRelationshipCondition) (settledReq bool, started []mirror.Action, job string, record func(context.Context, mirror.Action, *ontap.Relationship) error) {
	req := tmr.Status.Request
	for _, name := range req.Started {
		if a, ok := mirror.ParseAction(name); ok {
			started = append(started, a)
		}
	}
	record = func(ctx context.Context, step mirror.Action, rel *ontap.Relationship) error {
		if step == mirror.Resync && rel != nil {
			r.discarding(ctx, tmr, loc, rel, cond)
		}
		// Against the stored request, so that what a new request drops (completedTime) goes.
		// A copy is patched: the answer may hold a newer spec, which this pass must not take.
		tmr.Status.Request.Started = append(tmr.Status.Request.Started, step.String())
		obj := tmr.DeepCopy()
		base := obj.DeepCopy()
		base.Status.Request = stored
		if err := r.Client.Status().Patch(ctx, obj, client.MergeFrom(base)); err != nil {
			return err
		}
		stored = tmr.Status.Request.DeepCopy()
		return nil
	}
	return req.CompletedTime != nil, started, req.Job, record
}

// finishRequest keeps what the pass did in the request, and marks it carried out once the
// desired state holds.
func finishRequest(tmr *tridentv1.TridentMirrorRelationship, res mirror.Result) {
	req := tmr.Status.Request
	req.Started = req.Started[:0]
	for _, a := range res.Started {
		req.Started = append(req.Started, a.String())
	}
	if len(req.Started) == 0 {
		req.Started = nil
	}
	req.Job = res.Job
	if req.CompletedTime == nil && res.Err == nil && res.RequeueAfter == 0 && res.Drift == "" && tmrState(res.State) == tmr.Spec.State {
		now := metav1.Now()
		req.CompletedTime = &now
	}
}

// discarding says, in the condition and with a Warning Event, what the resync about to be sent
// throws away: the bytes written on the local volume since the newest snapshot it shares with
// the source. Where that cannot be read, the event says so; the resync goes ahead, as asked.
func (r *TMRReconciler) discarding(ctx context.Context, tmr *tridentv1.TridentMirrorRelationship, loc *local, rel *ontap.Relationship, cond *tridentv1.TridentMirrorRelationshipCondition) {
	var src mirror.Writes
	if svm, _, ok := ontap.SplitPath(rel.Source); ok {
		if c := r.Volumes.readerOfSVM(svm); c != nil {
			src = c
		}
	}
	snap, bytes, err := mirror.Discarded(ctx, loc.backend.Client, src, rel)
	if err != nil || snap == "" {
		r.Events.Eventf(tmr, nil, corev1.EventTypeWarning, tridentv1.ReasonDiscarding, "Resync", "resyncing %s from %s discards what was written here since the break; how much could not be measured: %v", loc.path, rel.Source, errOrNone(err))
		return
	}
	cond.Discarding = &tridentv1.Discarding{CommonSnapshot: snap, Bytes: bytes}
	r.Events.Eventf(tmr, nil, corev1.EventTypeWarning, tridentv1.ReasonDiscarding, "Resync", "resyncing %s from %s discards %d bytes written here since snapshot %s", loc.path, rel.Source, bytes, snap)
}

func errOrNone(err error) error {
	if err == nil {
		return fmt.Errorf("no snapshot in common with the source")
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
