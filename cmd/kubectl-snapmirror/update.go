package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

func newUpdateCommand(o *options) *cobra.Command {
	var waitFlag bool
	var snapshotHandle string
	cmd := &cobra.Command{
		Use:   "update TMR",
		Short: "Run a SnapMirror update now (a TridentActionMirrorUpdate) on this, the destination, site",
		Long: `update creates a TridentActionMirrorUpdate for the TMR, as examples/7-update does; the
relationship must be established or reestablished on this site. With --wait it follows the
update to its end and exits 1 if it failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			local, err := o.local()
			if err != nil {
				return err
			}
			ctx, cancel := o.withTimeout(cmd.Context())
			defer cancel()
			_, err = update(ctx, o, local, args[0], snapshotHandle, waitFlag)
			return err
		},
	}
	cmd.Flags().BoolVar(&waitFlag, "wait", false, "follow the update until it succeeds or fails")
	cmd.Flags().StringVar(&snapshotHandle, "snapshot-handle", "", "source snapshot to transfer, <volume>/<snapshot> (default: the newest)")
	return cmd
}

// update creates a TAMU for the TMR and, with follow, waits for its end.
func update(ctx context.Context, o *options, s *site, name, snapshotHandle string, follow bool) (*tridentv1.TridentActionMirrorUpdate, error) {
	t, err := getTMR(ctx, s, name)
	if err != nil {
		return nil, err
	}
	if t.Spec.State == tridentv1.MirrorStatePromoted {
		return nil, unsafe("%s: TMR %s is promoted here, so this site is not a destination: run update on the site where it is established or reestablished", s.name, name)
	}
	u := &tridentv1.TridentActionMirrorUpdate{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, GenerateName: name + "-update-"},
		Spec:       tridentv1.TridentActionMirrorUpdateSpec{TridentMirrorRelationshipName: name, SnapshotHandle: snapshotHandle},
	}
	if err := s.c.Create(ctx, u); err != nil {
		return nil, fmt.Errorf("%s: create TridentActionMirrorUpdate for %s: %w", s.name, name, err)
	}
	o.out.printf("%s: created TridentActionMirrorUpdate %s/%s for TMR %s\n", s.name, u.Namespace, u.Name, name)
	if !follow {
		return u, nil
	}
	start := time.Now()
	err = wait(ctx, o.out, "update "+u.Name, func(ctx context.Context) (bool, string, error) {
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return false, "", err
		}
		said := string(u.Status.State)
		if said == "" {
			said = "not started"
		}
		if u.Status.Message != "" {
			said += ": " + u.Status.Message
		}
		switch u.Status.State {
		case tridentv1.ActionStateSucceeded:
			return true, said, nil
		case tridentv1.ActionStateFailed:
			return false, said, errStop{fmt.Errorf("%s: update %s failed: %s", s.name, u.Name, u.Status.Message)}
		}
		return false, said, nil
	})
	if err != nil {
		return u, err
	}
	o.out.printf("%s: update %s succeeded in %s\n", s.name, u.Name, time.Since(start).Round(100*time.Millisecond))
	return u, nil
}
