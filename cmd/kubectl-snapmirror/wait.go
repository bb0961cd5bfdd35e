package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

// pollInterval is how often a waiting command looks; progressEvery is how often it repeats an
// unchanged progress line, so that a long wait still shows it is alive.
const (
	pollInterval  = 500 * time.Millisecond
	progressEvery = 5 * time.Second
)

// errStop ends a wait at once: the thing waited for cannot happen any more.
type errStop struct{ error }

// wait calls check until it reports done, prints a progress line (the step, the seconds so
// far, check's words) when they change or every progressEvery, and gives up when ctx ends
// (--timeout). check returning an errStop ends the wait with that error; other errors are
// shown and retried, as an API server may blink.
func wait(ctx context.Context, w *printer, step string, check func(context.Context) (bool, string, error)) error {
	start := time.Now()
	var last string
	var lastPrinted time.Time
	for {
		done, said, err := check(ctx)
		var stop errStop
		if errors.As(err, &stop) {
			w.printf("  [%s %4.0fs] %s\n", step, time.Since(start).Seconds(), said)
			return stop.error
		}
		if err != nil {
			said = "error: " + err.Error()
		}
		if done || said != last || time.Since(lastPrinted) >= progressEvery {
			w.printf("  [%s %4.0fs] %s\n", step, time.Since(start).Seconds(), said)
			last, lastPrinted = said, time.Now()
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: gave up after %.0fs (--timeout): %s", step, time.Since(start).Seconds(), last)
		case <-time.After(pollInterval):
		}
	}
}

// waitState waits until the TMR's status reports state for its current spec. An invalid state
// ends the wait (the spec must change); failed is shown and waited through, as the controller
// retries it.
func waitState(ctx context.Context, w *printer, s *site, name string, state tridentv1.MirrorState) error {
	step := s.name + ": " + name + " " + string(state)
	return wait(ctx, w, step, func(ctx context.Context) (bool, string, error) {
		t := &tridentv1.TridentMirrorRelationship{}
		if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, t); err != nil {
			return false, "", err
		}
		if len(t.Status.Conditions) == 0 {
			return false, "no status yet", nil
		}
		c := t.Status.Conditions[0]
		said := string(c.State)
		if c.Message != "" {
			said += ": " + c.Message
		}
		current := c.ObservedGeneration == t.Generation
		if !current {
			return false, said + " (the controller has not seen the change yet)", nil
		}
		if c.State == tridentv1.MirrorStateInvalid {
			return false, said, errStop{fmt.Errorf("%s: TMR %s is invalid: %s", s.name, name, c.Message)}
		}
		return c.State == state, said, nil
	})
}
