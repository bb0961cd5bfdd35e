// Command kubectl-snapmirror is the kubectl plugin of snapmirror-csi: `kubectl snapmirror
// status|update|failover|reestablish|failback`. Each command does, on both sites, the steps of
// the documented workflow (shared/docs/workflow.md) that a user would otherwise do by hand
// with TridentMirrorRelationships, TridentActionMirrorUpdates, VolumeSnapshots and
// SnapshotInfos, and says what it does before and while it does it. It never discards data
// without --yes. main only wires the command to the process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	// The client's few log lines (API server warnings) go to stderr through klog.
	ctrllog.SetLogger(klog.NewKlogr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
