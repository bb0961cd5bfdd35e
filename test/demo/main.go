// Command demo walks the documented workflow's YAML (examples/) on two local control planes,
// one per site, as `make demo` shows it to someone trying the product for the first time.
//
// Today it shows what has landed: real etcd and kube-apiserver built from source, the
// trident.netapp.io CRDs with their admission rules, and every example applied as a user would.
// The CSI driver, the simulated ONTAP clusters and the controllers that fill in status come
// with later issues; the demo says so rather than pretend.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/test/controlplane"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// site is one Kubernetes cluster of the DR pair.
type site struct {
	name string
	cp   *controlplane.ControlPlane
}

func run() (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := controlplane.RepoRoot()
	if err != nil {
		return err
	}
	begin := time.Now()

	var sites []*site
	defer func() {
		for _, s := range sites {
			err = errors.Join(err, s.cp.Stop())
		}
		if err == nil {
			fmt.Printf("\nBoth control planes stopped; nothing left running. Total %s.\n", time.Since(begin).Round(time.Millisecond))
		}
	}()
	for _, name := range []string{"primary", "secondary"} {
		if err := step(fmt.Sprintf("Start the %s site: etcd and kube-apiserver, with the trident.netapp.io CRDs", name), func() error {
			cp, err := controlplane.Start()
			if err != nil {
				return err
			}
			sites = append(sites, &site{name: name, cp: cp})
			return nil
		}); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	primary, secondary := sites[0], sites[1]

	walk := []struct {
		title string
		site  *site
		dir   string
	}{
		{"1. Mirror a PVC, primary side: replicated StorageClass, PVC, TMR in state promoted", primary, "1-primary"},
		{"2. Mirror a PVC, secondary side: StorageClass, TMR in state established, annotated PVC", secondary, "2-secondary"},
		{"4. Unplanned failover: the secondary's TMR goes to promoted", secondary, "4-unplanned-failover"},
		{"5. Planned failover: a SnapshotInfo learns a snapshot's handle", primary, "5-planned-failover/snapshotinfo.yaml"},
		{"5. The same in Trident's spelling, TridentSnapshotInfo", primary, "5-planned-failover/tridentsnapshotinfo.yaml"},
		{"5. Planned failover: promote the secondary to that snapshot", secondary, "5-planned-failover/tmr-promoted-to-snapshot.yaml"},
		{"6. Restore the mirror: the secondary's TMR goes to reestablished", secondary, "6-reestablish"},
		{"7. Update on demand: a TridentActionMirrorUpdate", secondary, "7-update"},
	}
	for _, w := range walk {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := step(w.title+" ("+w.site.name+")", func() error {
			out, err := w.site.cp.Kubectl("apply", "-n", "default", "-f", filepath.Join(root, "examples", w.dir))
			fmt.Print(indent(out))
			return err
		}); err != nil {
			return err
		}
	}
	if err := step("Admission refuses a bad TMR, naming the field and the fix", func() error {
		bad := &tridentv1.TridentMirrorRelationship{
			ObjectMeta: metav1.ObjectMeta{Name: "no-source", Namespace: "default"},
			Spec: tridentv1.TridentMirrorRelationshipSpec{
				State:          tridentv1.MirrorStateEstablished,
				VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "csi-nas"}},
			},
		}
		err := secondary.cp.Client.Create(ctx, bad)
		if err == nil {
			return errors.New("an established TMR without remoteVolumeHandle was accepted")
		}
		fmt.Print(indent(err.Error() + "\n"))
		return nil
	}); err != nil {
		return err
	}

	for _, s := range sites {
		if err := step("What the "+s.name+" site holds", func() error {
			out, err := s.cp.Kubectl("get", "storageclass,pvc,trident", "-n", "default", "-o", "wide")
			fmt.Print(indent(out))
			return err
		}); err != nil {
			return err
		}
	}
	fmt.Print(`
Not there yet, and why the status columns above are empty: the CSI driver that creates the
FlexVols, the simulated ONTAP clusters, and the controllers that drive SnapMirror and fill in
each TMR's status arrive with the next issues. When they land, this demo carries data from the
primary to the secondary and checks it at each step.
`)
	return nil
}

// step prints a title, runs f and prints how long it took.
func step(title string, f func() error) error {
	fmt.Printf("\n==> %s\n", title)
	start := time.Now()
	if err := f(); err != nil {
		return fmt.Errorf("%s: %w", title, err)
	}
	fmt.Printf("    done in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}
