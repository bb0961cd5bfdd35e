// Command demo is `make demo`: it tells the disaster-recovery story of the documented
// workflow, for an ontap-nas and an ontap-san PVC side by side, on two sites, each with its
// own Kubernetes control plane and node, simulated ONTAP cluster, snapmirror-csi process and
// real CSI sidecars, and checks the data at every step. It exits non-zero on failure and
// leaves nothing running.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/test/e2e"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	begin := time.Now()
	fmt.Println("==> Starting two sites: control planes, a node each, simulated ONTAP clusters (peered), snapmirror-csi, CSI sidecars")
	env, err := e2e.Start(ctx, e2e.Options{Log: func(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }})
	defer func() {
		if err != nil && env != nil {
			for _, s := range []*e2e.Site{env.Primary, env.Secondary} {
				if s != nil {
					fmt.Fprint(os.Stderr, s.Logs())
				}
			}
		}
		if env != nil {
			err = errors.Join(err, env.Stop())
		}
		if err == nil {
			fmt.Printf("\nEverything stopped; nothing left running. Total %s.\n", time.Since(begin).Round(time.Second))
		}
	}()
	if err != nil {
		return err
	}
	fmt.Printf("    ready in %s\n", time.Since(begin).Round(time.Millisecond))
	// The administrator's view, where one would look: kubectl snapmirror status on the DR site,
	// which shows both ends side by side.
	plugin := filepath.Join(os.TempDir(), fmt.Sprintf("kubectl-snapmirror-demo-%d", os.Getpid()))
	defer os.Remove(plugin)
	build := exec.CommandContext(ctx, "go", "build", "-o", plugin, "./cmd/kubectl-snapmirror")
	build.Dir = env.Root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build kubectl-snapmirror: %w: %s", err, out)
	}
	status := func() {
		cmd := exec.CommandContext(ctx, plugin, "status", "-n", "default", "--kubeconfig", env.Secondary.CP.Kubeconfig, "--peer-kubeconfig", env.Primary.CP.Kubeconfig)
		out, err := cmd.CombinedOutput()
		verdict := "exit 0: healthy"
		if err != nil {
			verdict = err.Error() + " (non-zero: something needs attention)"
		}
		fmt.Printf("    $ kubectl snapmirror status   # on the DR site; %s\n      %s\n", verdict, strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "\n      "))
	}
	st := e2e.NewState()
	for _, step := range e2e.Steps {
		fmt.Printf("\n==> %s\n", step.Title)
		start := time.Now()
		detail, err := step.Run(ctx, env, st)
		if err != nil {
			return fmt.Errorf("%s: %w", step.Title, err)
		}
		fmt.Printf("    %s\n    done in %s\n", detail, time.Since(start).Round(time.Millisecond))
		for _, s := range []*e2e.Site{env.Primary, env.Secondary} {
			out, err := s.CP.Kubectl("get", "tmr", "-n", "default", "-o", "wide")
			if err != nil || strings.TrimSpace(out) == "" {
				continue
			}
			fmt.Printf("    %s: %s\n", s.Name, strings.ReplaceAll(strings.TrimSpace(out), "\n", "\n    "+strings.Repeat(" ", len(s.Name)+2)))
		}
		for _, at := range []string{"2. Secondary: TMRs established", "4. Unplanned failover", "Split brain", "6. Failback"} {
			if strings.HasPrefix(step.Title, at) {
				status()
			}
		}
	}
	fmt.Println("\nAll data checks passed, through real mounts (a bind mount of the NFS volume's directory, ext4 on a loop device on the LUN's image; the node plugin mounts them): what the application wrote on the primary, it read on the secondary after each failover; planned failover lost nothing (checksums equal), reestablish discarded only the writes made since the break; each volume was published only where the application ran, and read-only while it was a mirror destination.")
	if os.Getenv("KEEP") != "" {
		fmt.Println("\nKEEP is set: both sites stay up.")
		for _, s := range []*e2e.Site{env.Primary, env.Secondary} {
			fmt.Printf("  %-9s kubectl --kubeconfig %s get tmr,pvc,pv -A\n", s.Name+":", s.CP.Kubeconfig)
			fmt.Printf("  %-9s ONTAP (simulated) at https://%s, side API under /sim/\n", "", s.Cluster.Address())
			fmt.Printf("  %-9s its CA in %s, its credentials in %s (username, password)\n", "", s.CAFile(), s.CredentialsDir())
		}
		fmt.Println("Press Ctrl-C to stop them; nothing is left running afterwards.")
		<-ctx.Done()
	}
	return nil
}
