package e2e

import (
	"context"
	"os"
	"testing"
	"time"
)

// StartT starts the two sites for a test that runs within timeout: it skips the test without
// root (fails it with RequireRootEnv=1), stops the sites when the test ends, and logs their
// components' logs when it failed.
func StartT(t *testing.T, timeout time.Duration) (context.Context, *Env) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv(RequireRootEnv) == "1" {
			t.Fatalf("the sites' node plugins mount filesystems and attach loop devices, so this test needs root, and %s=1 requires it to run", RequireRootEnv)
		}
		t.Skipf("the sites' node plugins mount filesystems and attach loop devices: run this test as root (%s=1 makes this skip a failure)", RequireRootEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	env, err := Start(ctx, Options{Log: t.Logf})
	t.Cleanup(func() {
		if t.Failed() && env != nil {
			for _, s := range []*Site{env.Primary, env.Secondary} {
				if s != nil {
					t.Log(s.Logs())
				}
			}
		}
		if env != nil {
			if err := env.Stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
		cancel()
	})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, env
}
