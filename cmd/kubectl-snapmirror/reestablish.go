package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

func newReestablishCommand(o *options) *cobra.Command {
	var yes, waitFlag bool
	var remote string
	cmd := &cobra.Command{
		Use:   "reestablish TMR",
		Short: "Make this site the destination again (reverse resync); discards this site's writes since the break",
		Long: `reestablish sets the TMR's spec.state to reestablished on this site (workflow section 6): the
relationship is resynced from the other side and what was written here since the last common
snapshot is discarded. It first says what will be discarded, as far as the status tells (a
split brain gives the bytes written here since the common snapshot), and refuses without
--yes when anything would be discarded or when it cannot tell.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			local, err := o.local()
			if err != nil {
				return err
			}
			peer, perr := o.peer(local.namespace)
			ctx, cancel := o.withTimeout(cmd.Context())
			defer cancel()
			return reestablish(ctx, o.out, local, peer, perr, args[0], remote, yes, waitFlag)
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "discard this site's writes since the common snapshot")
	cmd.Flags().BoolVar(&waitFlag, "wait", false, "wait until the TMR is reestablished")
	cmd.Flags().StringVar(&remote, "remote-handle", "", "the source volume, <svm>:<volume> (default: the TMR's, else the peer TMR's local handle)")
	return cmd
}

// discard is what a resync of this site's volume throws away, as far as the status tells.
type discard struct {
	// known: bytes is the amount written here since snapshot.
	known    bool
	bytes    int64
	snapshot string
	// why says where the figure comes from, or why it is unknown.
	why string
}

// discardOf reads what a reestablish of this end would discard.
func discardOf(e End) discard {
	switch {
	case e.Discarding != nil:
		return discard{known: true, bytes: e.Discarding.Bytes, snapshot: e.Discarding.CommonSnapshot, why: "status.discarding of the resync in progress"}
	case e.SplitBrain != nil:
		return discard{known: true, bytes: e.SplitBrain.LocalBytes, snapshot: e.SplitBrain.CommonSnapshot, why: "status.splitBrain: both copies were written since the common snapshot"}
	}
	why := "no status reports how much was written here since the break (split brain is reported only once both copies were written)"
	if e.SplitBrainCheck != "" {
		why += "; split brain is not checked: " + e.SplitBrainCheck
	}
	return discard{why: why}
}

// text says what will be discarded, for the user, before it is.
func (d discard) text(where, pvc string) string {
	if d.known {
		return fmt.Sprintf("%s: resyncing PVC %s discards %s written there since snapshot %s (from %s)", where, pvc, bytesText(d.bytes), d.snapshot, d.why)
	}
	return fmt.Sprintf("%s: resyncing PVC %s discards whatever was written there since the last common snapshot; how much is unknown: %s", where, pvc, d.why)
}

// guardDiscard refuses, without --yes, a resync that discards something or may.
func guardDiscard(d discard, yes bool, retry string) error {
	if d.known && d.bytes == 0 {
		return nil
	}
	if yes {
		return nil
	}
	what := "data"
	if !d.known {
		what = "an unknown amount of data"
	}
	return unsafe("refused: this would discard %s; run `%s --yes` to discard it; nothing was changed", what, retry)
}

// reestablish runs workflow section 6 on this site.
func reestablish(ctx context.Context, w *printer, local, peer *site, peerErr error, name, remote string, yes, follow bool) error {
	t, err := getTMR(ctx, local, name)
	if err != nil {
		return err
	}
	e := end(local, t, nil)
	if remote == "" {
		remote, err = remoteHandle(ctx, t, peer, peerErr)
		if err != nil {
			return err
		}
	}
	if reached(t, tridentv1.MirrorStateReestablished) || (reached(t, tridentv1.MirrorStateEstablished) && e.RemoteVolumeHandle == remote) {
		w.printf("%s: TMR %s is already %s from %s: nothing to do\n", local.name, name, e.ActualState, remote)
		return nil
	}
	d := discardOf(e)
	w.println(d.text(local.name, e.LocalPVC))
	if err := guardDiscard(d, yes, "kubectl snapmirror reestablish "+name); err != nil {
		return err
	}
	w.printf("%s: setting TMR %s spec.state to reestablished from %s (workflow section 6)\n", local.name, name, remote)
	if err := setState(ctx, local, t, tridentv1.MirrorStateReestablished, remote, ""); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	start := time.Now()
	if err := waitState(ctx, w, local, name, tridentv1.MirrorStateReestablished); err != nil {
		return err
	}
	w.printf("%s: TMR %s reestablished in %s: this site mirrors %s again\n", local.name, name, time.Since(start).Round(100*time.Millisecond), remote)
	return nil
}

// reached says whether the TMR is in state for its current spec.
func reached(t *tridentv1.TridentMirrorRelationship, state tridentv1.MirrorState) bool {
	return t.Spec.State == state && len(t.Status.Conditions) > 0 && t.Status.Conditions[0].State == state &&
		t.Status.Conditions[0].ObservedGeneration == t.Generation
}

// remoteHandle is the volume a reestablish resyncs from: the TMR's own remote handle, else the
// local handle of the peer TMR that names this TMR's volume.
func remoteHandle(ctx context.Context, t *tridentv1.TridentMirrorRelationship, peer *site, peerErr error) (string, error) {
	if _, r := handles(t); r != "" {
		return r, nil
	}
	if peerErr != nil {
		return "", fmt.Errorf("TMR %s names no remote volume and the peer site cannot tell it (%w): give --remote-handle", t.Name, peerErr)
	}
	var tmrs tridentv1.TridentMirrorRelationshipList
	if err := peer.c.List(ctx, &tmrs, client.InNamespace(peer.namespace)); err != nil {
		return "", fmt.Errorf("TMR %s names no remote volume and the peer site does not answer (%w): give --remote-handle", t.Name, err)
	}
	if pt := matchPeer(t, tmrs.Items); pt != nil {
		if l, _ := handles(pt); l != "" {
			return l, nil
		}
	}
	return "", fmt.Errorf("TMR %s names no remote volume and no TMR of the peer site names its volume: give --remote-handle", t.Name)
}

// setState patches a TMR's desired state and its mapping's handles, as kubectl edit would.
func setState(ctx context.Context, s *site, t *tridentv1.TridentMirrorRelationship, state tridentv1.MirrorState, remote, promotedSnapshot string) error {
	base := t.DeepCopy()
	t.Spec.State = state
	if len(t.Spec.VolumeMappings) == 0 {
		return fmt.Errorf("%s: TMR %s has no volume mapping", s.name, t.Name)
	}
	t.Spec.VolumeMappings[0].RemoteVolumeHandle = remote
	t.Spec.VolumeMappings[0].PromotedSnapshotHandle = promotedSnapshot
	if err := s.c.Patch(ctx, t, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("%s: set TMR %s to %s: %w", s.name, t.Name, state, err)
	}
	return nil
}

func newFailbackCommand(o *options) *cobra.Command {
	var yes bool
	var snapshotClass string
	cmd := &cobra.Command{
		Use:   "failback TMR",
		Short: "Return the application to this, its home, site after a failover to the peer",
		Long: `failback is run on the home site, whose TMR the failover left behind, while the peer site's
TMR is promoted and serves the application. It follows workflow section 6, then 5, then 6:
  A. this site: TMR reestablished from the peer's volume (discards this site's writes since
     the break), wait until reestablished;
  B. planned failover to this site (VolumeSnapshot and SnapshotInfo on the peer, this TMR
     promoted to that snapshot), with its pre-flight checks: stop the application on the
     peer site first;
  C. peer site: TMR reestablished from this site's volume (discards the peer's writes after
     that snapshot: none while its PVC stays unused), wait until reestablished.
It prints what each step discards and refuses without --yes. --wait is implied.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			local, err := o.local()
			if err != nil {
				return err
			}
			peer, err := o.peer(local.namespace)
			if err != nil {
				return err
			}
			ctx, cancel := o.withTimeout(cmd.Context())
			defer cancel()
			return failback(ctx, o.out, local, peer, args[0], yes, snapshotClass)
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "discard what the resyncs of steps A and C discard")
	cmd.Flags().Bool("wait", true, "failback always waits for each step; accepted for symmetry")
	cmd.Flags().StringVar(&snapshotClass, "snapshot-class", "", "the peer site's VolumeSnapshotClass for step B")
	return cmd
}

// failback returns the application home: see newFailbackCommand.
func failback(ctx context.Context, w *printer, local, peer *site, name string, yes bool, snapshotClass string) error {
	t, err := getTMR(ctx, local, name)
	if err != nil {
		return err
	}
	var peers tridentv1.TridentMirrorRelationshipList
	if err := peer.c.List(ctx, &peers, client.InNamespace(peer.namespace)); err != nil {
		return fmt.Errorf("%s: the peer site must answer for a failback: %w", peer.name, err)
	}
	pt := matchPeer(t, peers.Items)
	if pt == nil {
		return fmt.Errorf("no TMR of %s maps the other end of %s", peer.name, name)
	}
	if !reached(pt, tridentv1.MirrorStatePromoted) {
		return unsafe("%s: TMR %s is not promoted (spec %s): failback returns from a failover to the peer site, whose TMR is then promoted", peer.name, pt.Name, pt.Spec.State)
	}
	peerHandle, _ := handles(pt)
	homeHandle, _ := handles(t)
	if peerHandle == "" || homeHandle == "" {
		return fmt.Errorf("the status does not give both volume handles yet (%q, %q): wait for the controllers", homeHandle, peerHandle)
	}
	e := end(local, t, nil)
	stepA := !(reached(t, tridentv1.MirrorStateReestablished) || reached(t, tridentv1.MirrorStateEstablished))
	w.printf("Failback of %s to %s (workflow sections 6, 5, 6):\n", name, local.name)
	if stepA {
		w.printf("  A. %s: TMR %s reestablished from %s\n", local.name, name, peerHandle)
		w.printf("     %s\n", discardOf(e).text(local.name, e.LocalPVC))
	} else {
		w.printf("  A. %s: TMR %s is already %s: nothing to do, nothing discarded\n", local.name, name, t.Spec.State)
	}
	w.printf("  B. planned failover of %s to %s: VolumeSnapshot and SnapshotInfo on %s, %s promoted to it; nothing lost\n", name, local.name, peer.name, name)
	w.printf("  C. %s: TMR %s reestablished from %s\n", peer.name, pt.Name, homeHandle)
	w.printf("     %s: resyncing PVC %s discards what was written there after step B's snapshot: nothing while the PVC stays unused (checked in B and again before C); the controller reports the exact amount in status.discarding\n", peer.name, pt.Spec.VolumeMappings[0].LocalPVCName)
	if !yes {
		return unsafe("refused: failback resyncs both sites in turn and discards what is listed above; run `kubectl snapmirror failback %s --yes`; nothing was changed", name)
	}
	total := time.Now()
	if stepA {
		w.printf("Step A: %s: TMR %s reestablished from %s\n", local.name, name, peerHandle)
		start := time.Now()
		if err := setState(ctx, local, t, tridentv1.MirrorStateReestablished, peerHandle, ""); err != nil {
			return err
		}
		if err := waitState(ctx, w, local, name, tridentv1.MirrorStateReestablished); err != nil {
			return fmt.Errorf("step A: %w", err)
		}
		w.printf("Step A done in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	w.printf("Step B: planned failover of %s to %s\n", name, local.name)
	res, err := failoverPlanned(ctx, w, local, peer, name, plannedOptions{wait: true, snapshotClass: snapshotClass})
	if err != nil {
		var ce *codeError
		if errors.As(err, &ce) && stepA {
			return &codeError{code: ce.code, err: fmt.Errorf("step B: %w (step A was done: %s now mirrors %s)", err, local.name, peer.name)}
		}
		return fmt.Errorf("step B: %w", err)
	}
	w.printf("Step C: %s: TMR %s reestablished from %s\n", peer.name, pt.Name, homeHandle)
	start := time.Now()
	users, err := pvcUsers(ctx, peer, pt.Spec.VolumeMappings[0].LocalPVCName, false)
	if err != nil {
		return fmt.Errorf("step C: %w", err)
	}
	if len(users) > 0 {
		return unsafe("step C refused: PVC %s on %s is in use again by %v since step B; stop it, then run `kubectl snapmirror reestablish %s` on %s (the application runs on %s now)",
			pt.Spec.VolumeMappings[0].LocalPVCName, peer.name, users, pt.Name, peer.name, local.name)
	}
	pt, err = getTMR(ctx, peer, pt.Name)
	if err != nil {
		return err
	}
	if err := setState(ctx, peer, pt, tridentv1.MirrorStateReestablished, homeHandle, ""); err != nil {
		return err
	}
	if err := waitState(ctx, w, peer, pt.Name, tridentv1.MirrorStateReestablished); err != nil {
		return fmt.Errorf("step C: %w", err)
	}
	w.printf("Step C done in %s\n", time.Since(start).Round(100*time.Millisecond))
	w.printf("Failback of %s done in %s: %s serves it (restored to %s), %s mirrors it again.\n",
		name, time.Since(total).Round(100*time.Millisecond), local.name, res.SnapshotHandle, peer.name)
	return nil
}
