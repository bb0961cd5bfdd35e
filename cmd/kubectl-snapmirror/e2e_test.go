package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/test/e2e"
)

// TestPluginEndToEnd drives the plugin's commands, in-process, against two real sites (control
// planes, simulated ONTAP clusters, snapmirror-csi and the CSI sidecars): status, update,
// a planned failover (dry run, then real), a reestablish refused without --yes, a failback,
// and an unplanned failover with the primary's ONTAP down. No application pod runs, so the
// source PVC is free for the planned failovers; data is written through the simulator, as an
// NFS client would, and compared there.
func TestPluginEndToEnd(t *testing.T) {
	// As main does: the clients' log lines go to klog, not to controller-runtime's warning.
	ctrllog.SetLogger(klog.NewKlogr())
	ctx, env := e2e.StartT(t, 6*time.Minute)
	p, s := env.Primary, env.Secondary
	v := &e2e.Volume{PVC: "csi-nas"}
	const file = "orders.db"
	write := func(site *e2e.Site, volume, content string) {
		t.Helper()
		if err := site.Cluster.WriteFile(site.SVM, volume, file, content); err != nil {
			t.Fatalf("%s: write %s: %v", site.Name, file, err)
		}
	}

	// The mirror, as workflow sections 1 and 2 make it with the examples' YAML.
	start := time.Now()
	for _, f := range []string{"1-primary/storageclass.yaml", "1-primary/pvc.yaml"} {
		if err := p.ApplyExample(env, f, v.Example(f, nil)); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if v.PrimaryVolume, err = p.BoundVolume(ctx, v.PVC); err != nil {
		t.Fatal(err)
	}
	write(p, v.PrimaryVolume, "order 1\n")
	if err := p.ApplyExample(env, "1-primary/tmr-promoted.yaml", v.Example("", nil)); err != nil {
		t.Fatal(err)
	}
	cond, err := p.WaitTMR(ctx, v.PVC, "promoted")
	if err != nil {
		t.Fatal(err)
	}
	v.PrimaryHandle = cond.LocalVolumeHandle
	for _, f := range []string{"2-secondary/storageclass.yaml", "2-secondary/tmr-established.yaml", "2-secondary/pvc.yaml"} {
		if err := s.ApplyExample(env, f, v.Example(f, map[string]string{e2e.ExampleHandle: v.PrimaryHandle})); err != nil {
			t.Fatal(err)
		}
	}
	if v.SecondaryVolume, err = s.BoundVolume(ctx, v.PVC); err != nil {
		t.Fatal(err)
	}
	if cond, err = s.WaitTMR(ctx, v.PVC, "established"); err != nil {
		t.Fatal(err)
	}
	v.SecondaryHandle = cond.LocalVolumeHandle
	t.Logf("set-up: %s mirrored to %s (%s)", v.PrimaryHandle, v.SecondaryHandle, time.Since(start).Round(time.Millisecond))

	// run executes the plugin on a site, the other being the peer.
	run := func(here, peer *e2e.Site, args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		began := time.Now()
		all := append(args, "--kubeconfig="+here.CP.Kubeconfig, "--namespace=default", "--peer-kubeconfig="+peer.CP.Kubeconfig, "--timeout=2m")
		code := Execute(ctx, all, &out, &out)
		t.Logf("%s$ kubectl snapmirror %s   (%s, exit %d)\n%s", here.Name, strings.Join(args, " "), time.Since(began).Round(time.Millisecond), code, out.String())
		return code, out.String()
	}
	expect := func(code int, out string, want int, contains ...string) {
		t.Helper()
		if code != want {
			t.Fatalf("exit code %d, want %d", code, want)
		}
		for _, c := range contains {
			if !strings.Contains(out, c) {
				t.Fatalf("the output does not say %q", c)
			}
		}
	}

	// status: both ends side by side, healthy; -o json gives the same, structured.
	code, out := run(s, p, "status")
	expect(code, out, exitOK, "TMR default/csi-nas: HEALTHY", v.PrimaryHandle, v.SecondaryHandle, "established / established", "promoted / promoted")
	code, out = run(s, p, "status", "csi-nas", "-o", "json")
	expect(code, out, exitOK)
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	if len(rep.Relationships) != 1 || rep.Relationships[0].Peer == nil || rep.Relationships[0].Peer.LocalVolumeHandle != v.PrimaryHandle || !rep.Healthy {
		t.Fatalf("status -o json: want one healthy pair whose peer end is %s: %s", v.PrimaryHandle, out)
	}

	// update --wait: a TAMU carries the new write.
	write(p, v.PrimaryVolume, "order 1\norder 2\n")
	code, out = run(s, p, "update", "csi-nas", "--wait")
	expect(code, out, exitOK, "Succeeded")
	if err := v.SameData(p, v.PrimaryVolume, s, v.SecondaryVolume); err != nil {
		t.Fatalf("after update: %v", err)
	}

	// failover --planned --dry-run refuses while a pod uses the source PVC, and passes once
	// it is gone; neither changes anything.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.PVC}}}},
		},
	}
	if err := createPod(ctx, p.CP.Client, pod); err != nil {
		t.Fatal(err)
	}
	code, out = run(s, p, "failover", "csi-nas", "--planned", "--dry-run")
	expect(code, out, exitUnsafe, "[FAIL] the source PVC is not in use", "pod app", "stop the application on the source first")
	if err := p.CP.Client.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	code, out = run(s, p, "failover", "csi-nas", "--planned", "--dry-run")
	expect(code, out, exitOK, "Dry run: all checks pass")
	if tmr := getTMRT(ctx, t, s, v.PVC); tmr.Spec.State != tridentv1.MirrorStateEstablished {
		t.Fatalf("the dry run changed the TMR: %s", tmr.Spec.State)
	}

	// failover --planned --wait: the secondary holds exactly the primary's last data.
	write(p, v.PrimaryVolume, "order 1\norder 2\nlast order before the migration\n")
	want, err := v.Checksum(p, v.PrimaryVolume)
	if err != nil {
		t.Fatal(err)
	}
	code, out = run(s, p, "failover", "csi-nas", "--planned", "--wait")
	expect(code, out, exitOK, "Step 1 done", "Step 2 done", "Step 3 done", "Step 4 done", "bytes lost: 0")
	if got, err := v.Checksum(s, v.SecondaryVolume); err != nil || got != want {
		t.Fatalf("planned failover lost data: checksum %s, want %s (%v)", got, want, err)
	}

	// Both copies written after the failover: reestablish on the primary would discard its
	// write; without --yes it says so and changes nothing.
	write(s, v.SecondaryVolume, "order 1\norder 2\nlast order before the migration\norder 3, at the DR site\n")
	write(p, v.PrimaryVolume, "order 1\norder 2\nlast order before the migration\nwritten at the old primary\n")
	splitBrain := waitSplitBrain(ctx, p, v.PVC)
	code, out = run(p, s, "reestablish", "csi-nas")
	expect(code, out, exitUnsafe, "discards", "refused", "--yes")
	if splitBrain && !strings.Contains(out, "since snapshot") {
		t.Fatalf("the primary reports a split brain, but reestablish does not say how much it discards")
	}
	if tmr := getTMRT(ctx, t, p, v.PVC); tmr.Spec.State != tridentv1.MirrorStatePromoted {
		t.Fatalf("the refused reestablish changed the TMR: %s", tmr.Spec.State)
	}

	// failback: refused without --yes, then done: the primary serves the DR site's data, the
	// secondary mirrors it; the old primary's write after the failover was discarded.
	code, out = run(p, s, "failback", "csi-nas")
	expect(code, out, exitUnsafe, "A. ", "B. ", "C. ", "refused")
	code, out = run(p, s, "failback", "csi-nas", "--yes")
	expect(code, out, exitOK, "Step A done", "Step B: planned failover", "Step C done", "Failback of csi-nas done")
	if err := v.SameData(p, v.PrimaryVolume, s, v.SecondaryVolume); err != nil {
		t.Fatalf("after failback: %v", err)
	}
	files, err := p.Cluster.Files(p.SVM, v.PrimaryVolume)
	if err != nil || !strings.Contains(files[file], "order 3, at the DR site") {
		t.Fatalf("after failback the primary holds %q (%v), want the DR site's order 3", files[file], err)
	}
	if pt, st := getTMRT(ctx, t, p, v.PVC), getTMRT(ctx, t, s, v.PVC); pt.Spec.State != tridentv1.MirrorStatePromoted || st.Spec.State != tridentv1.MirrorStateReestablished {
		t.Fatalf("after failback: primary %s, secondary %s; want promoted and reestablished", pt.Spec.State, st.Spec.State)
	}
	code, out = run(s, p, "status")
	expect(code, out, exitOK, "reestablished / reestablished")

	// failover --unplanned with the primary's ONTAP down: the expected loss first, then the
	// secondary is promoted.
	write(p, v.PrimaryVolume, "order 1\norder 2\nlast order before the migration\norder 3, at the DR site\norder 4, never mirrored\n")
	if err := p.Cluster.SetDown(true); err != nil {
		t.Fatal(err)
	}
	code, out = run(s, p, "failover", "csi-nas", "--unplanned", "--wait")
	expect(code, out, exitOK, "Expected data loss", "last transfer: ", "lag: ", "written on the source since: unknown", "promoted in")
	if err := p.Cluster.SetDown(false); err != nil {
		t.Fatal(err)
	}
}

// createPod creates a pod, retrying while the namespace's default ServiceAccount, which
// admission needs, is not made yet.
func createPod(ctx context.Context, c client.Client, pod *corev1.Pod) error {
	var err error
	for range 100 {
		if err = c.Create(ctx, pod); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}

func getTMRT(ctx context.Context, t *testing.T, s *e2e.Site, name string) *tridentv1.TridentMirrorRelationship {
	t.Helper()
	tmr := &tridentv1.TridentMirrorRelationship{}
	if err := s.CP.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, tmr); err != nil {
		t.Fatal(err)
	}
	return tmr
}

// waitSplitBrain waits up to 30s for the site's TMR to report a split brain and says whether
// it did. The guard is checked either way: without the report it refuses an unknown amount.
func waitSplitBrain(ctx context.Context, s *e2e.Site, name string) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		tmr := &tridentv1.TridentMirrorRelationship{}
		if err := s.CP.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, tmr); err == nil &&
			len(tmr.Status.Conditions) > 0 && tmr.Status.Conditions[0].SplitBrain != nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false
}
