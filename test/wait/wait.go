// Package wait is the tests' one way to wait for something to happen: poll a condition until
// it holds or a deadline passes. A test that asserts something did not happen waits instead
// for an observable sign that it had its chance (a re-check that ran), never for a time.
package wait

import (
	"testing"
	"time"
)

// Interval is how often a condition is polled.
const Interval = 20 * time.Millisecond

// Until polls cond until it holds, and reports whether it did within timeout.
func Until(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(Interval) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// For polls cond until it holds, and fails the test, saying what never happened, when it
// does not within timeout.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("not within %s: %s", timeout, what)
	}
}
