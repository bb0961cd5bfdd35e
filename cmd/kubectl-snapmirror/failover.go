package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

func newFailoverCommand(o *options) *cobra.Command {
	var planned, unplanned, waitFlag, dryRun bool
	var snapshotClass string
	cmd := &cobra.Command{
		Use:   "failover TMR (--planned | --unplanned)",
		Short: "Promote this, the destination, site: planned (no loss, the application stopped) or unplanned",
		Long: `failover promotes the TMR on this site, the destination.

--unplanned (workflow section 4): sets spec.state to promoted whether or not the source
answers, after reporting the expected data loss (the lag, and the source's writes since the
last transfer, when known).

--planned (workflow section 5): checks first (both sites answer, the TMR is established and
healthy, no failing transfer, the source PVC is not in use on the peer site, the destination
PVC has no writer), then on the peer site takes a VolumeSnapshot of the source PVC and a
SnapshotInfo to learn its handle, and promotes this site to that snapshot: nothing is lost.
--dry-run runs the checks and prints the plan; it exits 0 when all pass, 2 when one fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if planned == unplanned {
				return errors.New("give exactly one of --planned or --unplanned")
			}
			if dryRun && !planned {
				return errors.New("--dry-run goes with --planned")
			}
			local, err := o.local()
			if err != nil {
				return err
			}
			ctx, cancel := o.withTimeout(cmd.Context())
			defer cancel()
			if unplanned {
				peer, perr := o.peer(local.namespace)
				return failoverUnplanned(ctx, o.out, local, peer, perr, args[0], waitFlag)
			}
			peer, err := o.peer(local.namespace)
			if err != nil {
				return err
			}
			_, err = failoverPlanned(ctx, o.out, local, peer, args[0], plannedOptions{wait: waitFlag, dryRun: dryRun, snapshotClass: snapshotClass})
			return err
		},
	}
	cmd.Flags().BoolVar(&planned, "planned", false, "planned failover: the application is stopped on the source; nothing is lost")
	cmd.Flags().BoolVar(&unplanned, "unplanned", false, "unplanned failover: the source may be down; writes since the last transfer are lost")
	cmd.Flags().BoolVar(&waitFlag, "wait", false, "wait until the TMR is promoted")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "with --planned: run the checks and print the plan, change nothing")
	cmd.Flags().StringVar(&snapshotClass, "snapshot-class", "", "with --planned: the peer site's VolumeSnapshotClass (default: its default class for the volume's driver, or its only one)")
	return cmd
}

// failoverUnplanned promotes the TMR on this site whether or not the peer answers, after
// saying what is expected to be lost.
func failoverUnplanned(ctx context.Context, w *printer, local, peer *site, peerErr error, name string, follow bool) error {
	t, err := getTMR(ctx, local, name)
	if err != nil {
		return err
	}
	e := end(local, t, nil)
	if e.DesiredState == tridentv1.MirrorStatePromoted {
		w.printf("%s: TMR %s is already asked to be promoted (actual state %s)\n", local.name, name, orUnknown(string(e.ActualState)))
	} else {
		if peerErr == nil {
			// Only whether it answers matters here: the loss is reported either way.
			var tmrs tridentv1.TridentMirrorRelationshipList
			peerErr = peer.c.List(ctx, &tmrs, client.InNamespace(peer.namespace))
		}
		for _, line := range expectedLoss(e, peerErr) {
			w.println(line)
		}
		w.printf("%s: setting TMR %s spec.state to promoted (workflow section 4)\n", local.name, name)
		base := t.DeepCopy()
		t.Spec.State = tridentv1.MirrorStatePromoted
		for i := range t.Spec.VolumeMappings {
			t.Spec.VolumeMappings[i].PromotedSnapshotHandle = ""
		}
		if err := local.c.Patch(ctx, t, client.MergeFrom(base)); err != nil {
			return fmt.Errorf("%s: promote TMR %s: %w", local.name, name, err)
		}
	}
	if !follow {
		return nil
	}
	start := time.Now()
	if err := waitState(ctx, w, local, name, tridentv1.MirrorStatePromoted); err != nil {
		return err
	}
	w.printf("%s: TMR %s promoted in %s; its PVC is read-write\n", local.name, name, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// expectedLoss says what an unplanned failover loses: what the source wrote after the last
// transfer. The status gives the lag and the transfer's time; how much the source wrote since
// is not reported by any status, so it is unknown even when the peer answers.
func expectedLoss(e End, peerErr error) []string {
	lines := []string{"Expected data loss (unplanned failover): the writes made on the source after the last transfer."}
	if c := e.condition; c != nil && c.LastTransferTime != nil {
		line := "  last transfer: " + e.LastTransfer.Time
		// ONTAP's clock, not ours: a skewed one would give a time in the future.
		if ago := time.Since(c.LastTransferTime.Time); ago >= 0 {
			line += fmt.Sprintf(" (%s ago)", ago.Round(time.Second))
		}
		lines = append(lines, line)
	} else {
		lines = append(lines, "  last transfer: unknown (the status does not report one)")
	}
	if e.Lag != "" {
		lines = append(lines, "  lag: "+e.Lag+" (the destination's data is this old, as of the last status)")
	} else {
		lines = append(lines, "  lag: unknown (the status does not report it)")
	}
	switch {
	case peerErr == nil:
		lines = append(lines, "  written on the source since: unknown (the peer site answers, but no status reports writes since the last transfer)")
	case errors.Is(peerErr, errNoPeer):
		lines = append(lines, "  written on the source since: unknown (no peer site given)")
	default:
		lines = append(lines, "  written on the source since: unknown (the peer site does not answer: "+peerErr.Error()+")")
	}
	return lines
}

// plannedOptions are the flags of a planned failover.
type plannedOptions struct {
	wait, dryRun  bool
	snapshotClass string
}

// check is one pre-flight check and its outcome.
type check struct {
	Name   string
	OK     bool
	Detail string
}

// plannedFacts is what the pre-flight checks of a planned failover look at.
type plannedFacts struct {
	// local is this site's TMR; peerErr is set when the peer site did not answer.
	local   End
	peerErr error
	// sourcePVC is the source PVC on the peer site; sourceErr says why it was not found.
	sourcePVC string
	sourceErr error
	// sourceUsers are the pods and nodes using the source PVC on the peer site.
	sourceUsers []string
	// destWriters are the pods that may write the destination PVC on this site.
	destWriters []string
	// snapshotClass is the peer's VolumeSnapshotClass to use; classErr why there is none.
	snapshotClass string
	classErr      error
}

// plannedChecks decides whether a planned failover may go ahead.
func plannedChecks(f plannedFacts) []check {
	var out []check
	if f.peerErr != nil {
		out = append(out, check{"both sites answer", false, "the peer site does not answer: " + f.peerErr.Error() + "; a planned failover needs the source; use --unplanned if it is down"})
	} else {
		out = append(out, check{"both sites answer", true, ""})
	}
	e := f.local
	switch {
	case e.DesiredState != tridentv1.MirrorStateEstablished && e.DesiredState != tridentv1.MirrorStateReestablished:
		out = append(out, check{"this site's TMR is established", false, fmt.Sprintf("spec.state is %s: this site is not the destination of a mirror", e.DesiredState)})
	case e.ActualState != e.DesiredState || !e.Current:
		out = append(out, check{"this site's TMR is established", false, fmt.Sprintf("actual state %s (%s): wait until it is %s", orUnknown(string(e.ActualState)), orUnknown(e.Message), e.DesiredState)})
	default:
		out = append(out, check{"this site's TMR is established", true, string(e.ActualState)})
	}
	var unhealthy []string
	unhealthy = append(unhealthy, endProblems(e.Site, &e)...)
	if len(unhealthy) > 0 {
		out = append(out, check{"the relationship is healthy", false, strings.Join(unhealthy, "; ")})
	} else {
		out = append(out, check{"the relationship is healthy", true, ""})
	}
	switch {
	case e.LastUpdate != nil && e.LastUpdate.State == tridentv1.ActionStateFailed:
		out = append(out, check{"no failing transfer", false, fmt.Sprintf("the last update %s failed: %s; run `kubectl snapmirror update %s --wait` until one succeeds", e.LastUpdate.Name, e.LastUpdate.Message, e.TMR)})
	case len(e.PendingUpdates) > 0:
		out = append(out, check{"no failing transfer", false, "updates still running: " + strings.Join(e.PendingUpdates, ", ") + "; wait for them"})
	default:
		out = append(out, check{"no failing transfer", true, ""})
	}
	switch {
	case f.peerErr != nil:
	case f.sourceErr != nil:
		out = append(out, check{"the source PVC is not in use", false, f.sourceErr.Error()})
	case len(f.sourceUsers) > 0:
		out = append(out, check{"the source PVC is not in use", false, fmt.Sprintf("PVC %s on the peer site is in use by %s: stop the application on the source first (workflow section 5), then run this again", f.sourcePVC, strings.Join(f.sourceUsers, ", "))})
	default:
		out = append(out, check{"the source PVC is not in use", true, "PVC " + f.sourcePVC + " on the peer site"})
	}
	if len(f.destWriters) > 0 {
		out = append(out, check{"the destination PVC has no writer", false, fmt.Sprintf("PVC %s on this site is used read-write by %s: stop it, or mount it read-only", e.LocalPVC, strings.Join(f.destWriters, ", "))})
	} else {
		out = append(out, check{"the destination PVC has no writer", true, "PVC " + e.LocalPVC})
	}
	if f.peerErr == nil {
		if f.classErr != nil {
			out = append(out, check{"a VolumeSnapshotClass on the peer site", false, f.classErr.Error()})
		} else {
			out = append(out, check{"a VolumeSnapshotClass on the peer site", true, f.snapshotClass})
		}
	}
	return out
}

// allPass says whether every check passed.
func allPass(checks []check) bool {
	for _, c := range checks {
		if !c.OK {
			return false
		}
	}
	return true
}

func printChecks(w *printer, checks []check) {
	w.println("Pre-flight checks:")
	for _, c := range checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		line := fmt.Sprintf("  [%s] %s", mark, c.Name)
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		w.println(line)
	}
}

// plannedFactsOf reads both sites for the pre-flight checks. The local TMR must exist; what
// cannot be read on the peer is recorded in the facts.
func plannedFactsOf(ctx context.Context, local, peer *site, name, snapshotClass string) (plannedFacts, *tridentv1.TridentMirrorRelationship, error) {
	here, err := list(ctx, local)
	if err != nil {
		return plannedFacts{}, nil, err
	}
	var t *tridentv1.TridentMirrorRelationship
	for i := range here.tmrs {
		if here.tmrs[i].Name == name {
			t = &here.tmrs[i]
		}
	}
	if t == nil {
		return plannedFacts{}, nil, fmt.Errorf("%s: TridentMirrorRelationship %s/%s not found", local.name, local.namespace, name)
	}
	f := plannedFacts{local: end(local, t, here.tamus)}
	if f.destWriters, err = pvcUsers(ctx, local, f.local.LocalPVC, true); err != nil {
		return f, t, err
	}
	there, err := list(ctx, peer)
	if err != nil {
		f.peerErr = err
		return f, t, nil
	}
	f.sourcePVC, f.sourceErr = sourcePVC(ctx, peer, t, there.tmrs)
	if f.sourceErr == nil {
		if f.sourceUsers, err = pvcUsers(ctx, peer, f.sourcePVC, false); err != nil {
			f.sourceErr = err
		}
	}
	f.snapshotClass, f.classErr = pickSnapshotClass(ctx, peer, snapshotClass)
	return f, t, nil
}

// sourcePVC finds the PVC of the relationship's source on the peer site: the PVC of the peer
// TMR that maps it, else the PVC bound to a PV of that FlexVol.
func sourcePVC(ctx context.Context, peer *site, t *tridentv1.TridentMirrorRelationship, peers []tridentv1.TridentMirrorRelationship) (string, error) {
	if pt := matchPeer(t, peers); pt != nil && len(pt.Spec.VolumeMappings) > 0 {
		return pt.Spec.VolumeMappings[0].LocalPVCName, nil
	}
	_, remote := handles(t)
	_, flexvol, ok := strings.Cut(remote, ":")
	if !ok {
		return "", fmt.Errorf("TMR %s names no source volume (remoteVolumeHandle %q)", t.Name, remote)
	}
	var pvs corev1.PersistentVolumeList
	if err := peer.c.List(ctx, &pvs); err != nil {
		return "", fmt.Errorf("%s: list PersistentVolumes: %w", peer.name, err)
	}
	for _, pv := range pvs.Items {
		if pv.Spec.CSI != nil && pv.Spec.CSI.VolumeAttributes["internalName"] == flexvol && pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.Namespace == peer.namespace {
			return pv.Spec.ClaimRef.Name, nil
		}
	}
	return "", fmt.Errorf("no PVC in namespace %s of the peer site holds the source volume %s: give --peer-namespace, or check --peer-context", peer.namespace, remote)
}

// pvcUsers lists who uses a PVC on a site: pods that are not finished (only the writers among
// them when writersOnly), and, for the whole use, nodes it is still attached to.
func pvcUsers(ctx context.Context, s *site, pvc string, writersOnly bool) ([]string, error) {
	var pods corev1.PodList
	if err := s.c.List(ctx, &pods, client.InNamespace(s.namespace)); err != nil {
		return nil, fmt.Errorf("%s: list pods: %w", s.name, err)
	}
	var users []string
	for _, pod := range pods.Items {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc {
				continue
			}
			if writersOnly && (v.PersistentVolumeClaim.ReadOnly || mountsReadOnly(&pod, v.Name)) {
				continue
			}
			users = append(users, "pod "+pod.Name)
		}
	}
	if writersOnly {
		return users, nil
	}
	claim := &corev1.PersistentVolumeClaim{}
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: pvc}, claim); err != nil {
		return nil, fmt.Errorf("%s: get PVC %s: %w", s.name, pvc, err)
	}
	if claim.Spec.VolumeName == "" {
		return users, nil
	}
	var vas storagev1.VolumeAttachmentList
	if err := s.c.List(ctx, &vas); err != nil {
		return nil, fmt.Errorf("%s: list VolumeAttachments: %w", s.name, err)
	}
	for _, va := range vas.Items {
		if pv := va.Spec.Source.PersistentVolumeName; pv != nil && *pv == claim.Spec.VolumeName {
			users = append(users, "node "+va.Spec.NodeName+" (VolumeAttachment "+va.Name+")")
		}
	}
	return users, nil
}

// mountsReadOnly says whether every container of the pod mounts the volume read-only.
func mountsReadOnly(pod *corev1.Pod, volume string) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, m := range c.VolumeMounts {
				if m.Name == volume && !m.ReadOnly {
					return false
				}
			}
		}
	}
	return true
}

// snapshotDriver is the CSI driver of snapmirror-csi, Trident's name.
const snapshotDriver = "csi.trident.netapp.io"

// pickSnapshotClass chooses the peer's VolumeSnapshotClass: the one named, else the default
// class of the driver, else the driver's only class.
func pickSnapshotClass(ctx context.Context, s *site, named string) (string, error) {
	if named != "" {
		c := &snapshotv1.VolumeSnapshotClass{}
		if err := s.c.Get(ctx, client.ObjectKey{Name: named}, c); err != nil {
			return "", fmt.Errorf("%s: VolumeSnapshotClass %s: %w", s.name, named, err)
		}
		return named, nil
	}
	var classes snapshotv1.VolumeSnapshotClassList
	if err := s.c.List(ctx, &classes); err != nil {
		return "", fmt.Errorf("%s: list VolumeSnapshotClasses: %w", s.name, err)
	}
	var ours []string
	for _, c := range classes.Items {
		if c.Driver != snapshotDriver {
			continue
		}
		if c.Annotations["snapshot.storage.kubernetes.io/is-default-class"] == "true" {
			return c.Name, nil
		}
		ours = append(ours, c.Name)
	}
	switch len(ours) {
	case 0:
		return "", fmt.Errorf("%s has no VolumeSnapshotClass for driver %s: create one", s.name, snapshotDriver)
	case 1:
		return ours[0], nil
	}
	return "", fmt.Errorf("%s has several VolumeSnapshotClasses for %s (%s) and none is the default: choose one with --snapshot-class", s.name, snapshotDriver, strings.Join(ours, ", "))
}

// plannedResult is what a planned failover did.
type plannedResult struct {
	SnapshotHandle string
}

// failoverPlanned runs workflow section 5 across both sites.
func failoverPlanned(ctx context.Context, w *printer, local, peer *site, name string, opts plannedOptions) (*plannedResult, error) {
	facts, t, err := plannedFactsOf(ctx, local, peer, name, opts.snapshotClass)
	if err != nil {
		return nil, err
	}
	checks := plannedChecks(facts)
	printChecks(w, checks)
	snapName := fmt.Sprintf("%s-failover-%s", facts.sourcePVC, time.Now().UTC().Format("20060102-150405"))
	w.printf("Plan (workflow section 5, planned failover):\n")
	w.printf("  1. %s: VolumeSnapshot %s of PVC %s (class %s); wait until ready\n", peer.name, snapName, orUnknown(facts.sourcePVC), orUnknown(facts.snapshotClass))
	w.printf("  2. %s: SnapshotInfo %s; wait for status.snapshotHandle\n", peer.name, snapName)
	w.printf("  3. %s: TMR %s spec.state promoted with promotedSnapshotHandle = that handle\n", local.name, name)
	w.printf("  4. %s: wait until TMR %s is promoted (the volume restored to the snapshot)\n", local.name, name)
	if !allPass(checks) {
		return nil, unsafe("planned failover of %s refused: a pre-flight check failed; nothing was changed", name)
	}
	if opts.dryRun {
		w.println("Dry run: all checks pass; nothing was changed.")
		return nil, nil
	}
	total := time.Now()
	step := func(n int, what string, do func() error) error {
		w.printf("Step %d: %s\n", n, what)
		start := time.Now()
		if err := do(); err != nil {
			return fmt.Errorf("step %d (%s): %w", n, what, err)
		}
		w.printf("Step %d done in %s\n", n, time.Since(start).Round(100*time.Millisecond))
		return nil
	}
	if err := step(1, peer.name+": VolumeSnapshot "+snapName+" of PVC "+facts.sourcePVC, func() error {
		return snapshotReady(ctx, w, peer, snapName, facts.sourcePVC, facts.snapshotClass)
	}); err != nil {
		return nil, err
	}
	var handle string
	if err := step(2, peer.name+": SnapshotInfo "+snapName, func() error {
		var err error
		handle, err = snapshotHandle(ctx, w, peer, snapName)
		return err
	}); err != nil {
		return nil, err
	}
	w.printf("  snapshot handle: %s\n", handle)
	if err := step(3, local.name+": TMR "+name+" promoted to "+handle, func() error {
		// The spec's remote handle is kept as the user set it.
		remote := ""
		if len(t.Spec.VolumeMappings) > 0 {
			remote = t.Spec.VolumeMappings[0].RemoteVolumeHandle
		}
		return setState(ctx, local, t, tridentv1.MirrorStatePromoted, remote, handle)
	}); err != nil {
		return nil, err
	}
	res := &plannedResult{SnapshotHandle: handle}
	if !opts.wait {
		w.printf("Not waiting (--wait not given): follow it with `kubectl snapmirror status %s`.\n", name)
		return res, nil
	}
	if err := step(4, local.name+": wait until "+name+" is promoted", func() error {
		return waitState(ctx, w, local, name, tridentv1.MirrorStatePromoted)
	}); err != nil {
		return nil, err
	}
	w.printf("Planned failover of %s done in %s; bytes lost: 0 (the source was not in use, and this site was restored to snapshot %s taken after it stopped).\n",
		name, time.Since(total).Round(100*time.Millisecond), handle)
	w.printf("The VolumeSnapshot and SnapshotInfo %s stay on %s; delete them when no longer needed.\n", snapName, peer.name)
	return res, nil
}

// snapshotReady creates the VolumeSnapshot and waits until it is ready to use.
func snapshotReady(ctx context.Context, w *printer, s *site, name, pvc, class string) error {
	vs := &snapshotv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.namespace},
		Spec: snapshotv1.VolumeSnapshotSpec{
			VolumeSnapshotClassName: ptr.To(class),
			Source:                  snapshotv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To(pvc)},
		},
	}
	if err := s.c.Create(ctx, vs); err != nil {
		return fmt.Errorf("%s: create VolumeSnapshot %s: %w", s.name, name, err)
	}
	return wait(ctx, w, "VolumeSnapshot "+name, func(ctx context.Context) (bool, string, error) {
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(vs), vs); err != nil {
			return false, "", err
		}
		st := vs.Status
		switch {
		case st == nil:
			return false, "no status yet", nil
		case st.ReadyToUse != nil && *st.ReadyToUse:
			return true, "ready", nil
		case st.Error != nil && st.Error.Message != nil:
			return false, "not ready: " + *st.Error.Message, nil
		}
		return false, "not ready", nil
	})
}

// snapshotHandle creates a SnapshotInfo for the VolumeSnapshot and waits for its handle.
func snapshotHandle(ctx context.Context, w *printer, s *site, name string) (string, error) {
	si := &tridentv1.SnapshotInfo{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.namespace},
		Spec:       tridentv1.SnapshotInfoSpec{SnapshotName: name},
	}
	if err := s.c.Create(ctx, si); err != nil {
		return "", fmt.Errorf("%s: create SnapshotInfo %s: %w", s.name, name, err)
	}
	err := wait(ctx, w, "SnapshotInfo "+name, func(ctx context.Context) (bool, string, error) {
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(si), si); err != nil {
			return false, "", err
		}
		if si.Status.SnapshotHandle != "" {
			return true, "snapshotHandle " + si.Status.SnapshotHandle, nil
		}
		if si.Status.Message == "" {
			return false, "no handle yet", nil
		}
		return false, "waiting: " + si.Status.Message, nil
	})
	return si.Status.SnapshotHandle, err
}
