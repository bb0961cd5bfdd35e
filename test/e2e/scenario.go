package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

// exampleHandle is the volume handle the examples name; the scenario puts the real one in.
const exampleHandle = "datavserver:trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1"

// Step is one step of the documented workflow: what it does, and a check of its outcome.
type Step struct {
	Title string
	// Run does the step and returns what it shows the user.
	Run func(ctx context.Context, e *Env, st *State) (string, error)
}

// State carries what steps learn for later ones.
type State struct {
	PrimaryHandle, SecondaryHandle string
	PrimaryVolume, SecondaryVolume string
}

// Steps walk shared/docs/workflow.md sections 1 to 7 with the YAML of examples/.
var Steps = []Step{
	{"1. Primary: a replicated StorageClass and a PVC; the driver creates a read-write FlexVol", func(ctx context.Context, e *Env, st *State) (string, error) {
		p := e.Primary
		if err := p.applyExample(e, "1-primary/storageclass.yaml", nil); err != nil {
			return "", err
		}
		if err := p.applyExample(e, "1-primary/pvc.yaml", nil); err != nil {
			return "", err
		}
		vol, err := p.boundVolume(ctx, "csi-nas")
		if err != nil {
			return "", err
		}
		st.PrimaryVolume = vol
		if err := p.Cluster.WriteFile(p.SVM, vol, "orders.db", "order 1\n"); err != nil {
			return "", err
		}
		return fmt.Sprintf("PVC csi-nas bound to FlexVol %s:%s; the application wrote orders.db", p.SVM, vol), nil
	}},
	{"1. Primary: TMR in state promoted reports the volume's handle", func(ctx context.Context, e *Env, st *State) (string, error) {
		p := e.Primary
		if err := p.applyExample(e, "1-primary/tmr-promoted.yaml", nil); err != nil {
			return "", err
		}
		cond, err := p.waitTMR(ctx, "csi-nas", "promoted")
		if err != nil {
			return "", err
		}
		st.PrimaryHandle = cond.LocalVolumeHandle
		return "status.conditions[0].localVolumeHandle = " + cond.LocalVolumeHandle, nil
	}},
	{"2. Secondary: TMR established from that handle, then the annotated PVC: a DP FlexVol, mirrored", func(ctx context.Context, e *Env, st *State) (string, error) {
		s := e.Secondary
		if err := s.applyExample(e, "2-secondary/storageclass.yaml", nil); err != nil {
			return "", err
		}
		if err := s.applyExample(e, "2-secondary/tmr-established.yaml", map[string]string{exampleHandle: st.PrimaryHandle}); err != nil {
			return "", err
		}
		if err := s.applyExample(e, "2-secondary/pvc.yaml", nil); err != nil {
			return "", err
		}
		vol, err := s.boundVolume(ctx, "csi-nas")
		if err != nil {
			return "", err
		}
		st.SecondaryVolume = vol
		cond, err := s.waitTMR(ctx, "csi-nas", "established")
		if err != nil {
			return "", err
		}
		st.SecondaryHandle = cond.LocalVolumeHandle
		if err := e.sameData(e.Primary, st.PrimaryVolume, s, vol); err != nil {
			return "", err
		}
		return fmt.Sprintf("established; lag %s, healthy %v; orders.db arrived on %s", cond.Lag.Duration, *cond.Healthy, cond.LocalVolumeHandle), nil
	}},
	{"7. Update on demand: a TridentActionMirrorUpdate carries new writes", func(ctx context.Context, e *Env, st *State) (string, error) {
		if err := e.Primary.Cluster.WriteFile(e.Primary.SVM, st.PrimaryVolume, "orders.db", "order 1\norder 2\n"); err != nil {
			return "", err
		}
		s := e.Secondary
		if err := s.applyExample(e, "7-update/tamu.yaml", map[string]string{
			"tridentMirrorRelationshipName: mirror-b": "tridentMirrorRelationshipName: csi-nas", `  snapshotHandle: "pvc-1234/snapshot-1234"` + "\n": ""}); err != nil {
			return "", err
		}
		status, err := s.waitTAMU(ctx, "update-mirror-b")
		if err != nil {
			return "", err
		}
		if err := e.sameData(e.Primary, st.PrimaryVolume, s, st.SecondaryVolume); err != nil {
			return "", err
		}
		return "Succeeded: " + status.Message, nil
	}},
	{"4. Unplanned failover: the primary's ONTAP goes down; the secondary is promoted", func(ctx context.Context, e *Env, st *State) (string, error) {
		if err := e.Primary.Cluster.SetDown(true); err != nil {
			return "", err
		}
		s := e.Secondary
		if err := s.applyExample(e, "4-unplanned-failover/tmr-promoted.yaml", map[string]string{exampleHandle: st.PrimaryHandle}); err != nil {
			return "", err
		}
		if _, err := s.waitTMR(ctx, "csi-nas", "promoted"); err != nil {
			return "", err
		}
		if err := s.Cluster.WriteFile(s.SVM, st.SecondaryVolume, "orders.db", "order 1\norder 2\nwritten during the outage\n"); err != nil {
			return "", fmt.Errorf("the promoted volume is not writable: %w", err)
		}
		if err := e.Primary.Cluster.SetDown(false); err != nil {
			return "", err
		}
		return "promoted with the primary unreachable; the secondary volume took writes; the primary is back", nil
	}},
	{"Split brain: the old primary is back and written too; both sites report it and nothing is resynced", func(ctx context.Context, e *Env, st *State) (string, error) {
		p, s := e.Primary, e.Secondary
		if err := p.Cluster.WriteFile(p.SVM, st.PrimaryVolume, "orders.db", "order 1\norder 2\nwritten at the old primary after the failover\n"); err != nil {
			return "", err
		}
		// Both sites report it, each from its side, with a Warning Event.
		found := map[string]*tridentv1.SplitBrain{}
		for _, site := range []*Site{s, p} {
			cond, err := site.waitCondition(ctx, "csi-nas", 30*time.Second, func(c tridentv1.TridentMirrorRelationshipCondition, _ int64) bool { return c.SplitBrain != nil })
			if err != nil {
				return "", err
			}
			found[site.Name] = cond.SplitBrain
			if out, err := site.CP.Kubectl("get", "events", "-n", "default", "--field-selector", "reason=SplitBrain", "-o", "name"); err != nil || out == "" {
				return "", fmt.Errorf("%s: no SplitBrain event: %q, %v", site.Name, out, err)
			}
		}
		sb := found["secondary"]
		if got, _ := s.Cluster.Files(s.SVM, st.SecondaryVolume); !strings.Contains(got["orders.db"], "written during the outage") {
			return "", fmt.Errorf("the secondary lost its writes: %v", got)
		}
		return fmt.Sprintf("both TMRs report status.splitBrain (secondary: %d bytes here, %d there since %s) with a SplitBrain Warning Event; both copies kept",
			sb.LocalBytes, sb.RemoteBytes, sb.CommonSnapshot), nil
	}},
	{"6. Restore the mirror: reestablished on the secondary discards its writes since the break", func(ctx context.Context, e *Env, st *State) (string, error) {
		s := e.Secondary
		if err := s.applyExample(e, "6-reestablish/tmr-reestablished.yaml", map[string]string{exampleHandle: st.PrimaryHandle}); err != nil {
			return "", err
		}
		if _, err := s.waitTMR(ctx, "csi-nas", "reestablished"); err != nil {
			return "", err
		}
		if err := e.sameData(e.Primary, st.PrimaryVolume, s, st.SecondaryVolume); err != nil {
			return "", err
		}
		// The copies agree again: both sites stop reporting a split brain, the old primary at
		// its next re-check.
		for _, site := range []*Site{s, e.Primary} {
			if _, err := site.waitCondition(ctx, "csi-nas", 30*time.Second, func(c tridentv1.TridentMirrorRelationshipCondition, _ int64) bool { return c.SplitBrain == nil }); err != nil {
				return "", fmt.Errorf("split brain still reported: %w", err)
			}
		}
		return "reestablished; the secondary again equals the primary; neither site reports a split brain", nil
	}},
	{"5. Planned failover: VolumeSnapshot, SnapshotInfo, promotion to that snapshot, nothing lost", func(ctx context.Context, e *Env, st *State) (string, error) {
		p, s := e.Primary, e.Secondary
		if err := p.Cluster.WriteFile(p.SVM, st.PrimaryVolume, "orders.db", "order 1\norder 2\nlast order before the migration\n"); err != nil {
			return "", err
		}
		want, _ := p.Cluster.Checksum(p.SVM, st.PrimaryVolume)
		vs := &snapshotv1.VolumeSnapshot{
			ObjectMeta: metav1.ObjectMeta{Name: "csi-nas-snapshot", Namespace: "default"},
			Spec:       snapshotv1.VolumeSnapshotSpec{VolumeSnapshotClassName: ptr.To("csi-snapclass"), Source: snapshotv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To("csi-nas")}},
		}
		if err := p.CP.Client.Create(ctx, vs); err != nil {
			return "", err
		}
		// Both spellings: SnapshotInfo and Trident's TridentSnapshotInfo give the same handle.
		for _, f := range []string{"snapshotinfo.yaml", "tridentsnapshotinfo.yaml"} {
			if err := p.applyExample(e, "5-planned-failover/"+f, nil); err != nil {
				return "", err
			}
		}
		var handle, tridentHandle string
		err := poll(ctx, 60*time.Second, func() (bool, string) {
			si, tsi := &tridentv1.SnapshotInfo{}, &tridentv1.TridentSnapshotInfo{}
			key := client.ObjectKey{Namespace: "default", Name: "csi-nas"}
			if err := errors.Join(p.CP.Client.Get(ctx, key, si), p.CP.Client.Get(ctx, key, tsi)); err != nil {
				return false, err.Error()
			}
			handle, tridentHandle = si.Status.SnapshotHandle, tsi.Status.SnapshotHandle
			return handle != "" && tridentHandle != "", si.Status.Message + "; " + tsi.Status.Message
		})
		if err != nil {
			return "", fmt.Errorf("SnapshotInfo: %w", err)
		}
		if handle != tridentHandle {
			return "", fmt.Errorf("SnapshotInfo gives %s, TridentSnapshotInfo %s", handle, tridentHandle)
		}
		if err := s.applyExample(e, "5-planned-failover/tmr-promoted-to-snapshot.yaml", map[string]string{
			exampleHandle: st.PrimaryHandle, "pvc-3bedd23c-46a8-4384-b12b-3c38b313c1e1/snapshot-0cd5b1a4-6b86-4f0e-9d4e-3a2f1c9a8e77": handle}); err != nil {
			return "", err
		}
		if _, err := s.waitTMR(ctx, "csi-nas", "promoted"); err != nil {
			return "", err
		}
		got, _ := s.Cluster.Checksum(s.SVM, st.SecondaryVolume)
		if got != want {
			return "", fmt.Errorf("planned failover lost data: checksums %s and %s differ", got, want)
		}
		return fmt.Sprintf("snapshot handle %s; promoted to it; checksums equal (0 bytes lost)", handle), nil
	}},
	{"6. Reverse direction: the old primary becomes the destination of the new one", func(ctx context.Context, e *Env, st *State) (string, error) {
		p, s := e.Primary, e.Secondary
		if err := s.Cluster.WriteFile(s.SVM, st.SecondaryVolume, "orders.db", "order 1\norder 2\nlast order before the migration\norder 3, at the DR site\n"); err != nil {
			return "", err
		}
		if err := p.setTMR(ctx, "csi-nas", tridentv1.MirrorStateReestablished, st.SecondaryHandle); err != nil {
			return "", err
		}
		if _, err := p.waitTMR(ctx, "csi-nas", "reestablished"); err != nil {
			return "", err
		}
		if err := e.sameData(s, st.SecondaryVolume, p, st.PrimaryVolume); err != nil {
			return "", err
		}
		return "the primary mirrors the secondary; order 3 arrived", nil
	}},
	{"6. Failback: the primary is promoted, the secondary mirrors it again", func(ctx context.Context, e *Env, st *State) (string, error) {
		p, s := e.Primary, e.Secondary
		if err := p.setTMR(ctx, "csi-nas", tridentv1.MirrorStatePromoted, st.SecondaryHandle); err != nil {
			return "", err
		}
		if _, err := p.waitTMR(ctx, "csi-nas", "promoted"); err != nil {
			return "", err
		}
		if err := p.Cluster.WriteFile(p.SVM, st.PrimaryVolume, "orders.db", "order 1\norder 2\nlast order before the migration\norder 3, at the DR site\norder 4, back home\n"); err != nil {
			return "", err
		}
		if err := s.setTMR(ctx, "csi-nas", tridentv1.MirrorStateReestablished, st.PrimaryHandle); err != nil {
			return "", err
		}
		if _, err := s.waitTMR(ctx, "csi-nas", "reestablished"); err != nil {
			return "", err
		}
		if err := e.sameData(p, st.PrimaryVolume, s, st.SecondaryVolume); err != nil {
			return "", err
		}
		return "back to the original direction; order 4 mirrored", nil
	}},
	{"7. Resize: the primary PVC grows to 2Gi", func(ctx context.Context, e *Env, st *State) (string, error) {
		p := e.Primary
		if _, err := p.CP.Kubectl("patch", "storageclass", "csi-nas", "-p", `{"allowVolumeExpansion":true}`); err != nil {
			return "", err
		}
		if _, err := p.CP.Kubectl("patch", "pvc", "csi-nas", "-n", "default", "-p", `{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`); err != nil {
			return "", err
		}
		err := poll(ctx, 60*time.Second, func() (bool, string) {
			info, err := p.Cluster.Volume(p.SVM, st.PrimaryVolume)
			return err == nil && info.Size >= 2<<30, fmt.Sprintf("FlexVol size %d", info.Size)
		})
		if err != nil {
			return "", err
		}
		return "FlexVol " + st.PrimaryVolume + " is 2 GiB", nil
	}},
	{"7. Deletion: the secondary's TMR and PVC go; the relationship is released, the volume deleted", func(ctx context.Context, e *Env, st *State) (string, error) {
		s := e.Secondary
		if _, err := s.CP.Kubectl("delete", "tmr", "csi-nas", "-n", "default", "--wait=true", "--timeout=60s"); err != nil {
			return "", err
		}
		if info, err := s.Cluster.Volume(s.SVM, st.SecondaryVolume); err != nil || info.Type != "rw" {
			return "", fmt.Errorf("after the TMR went, the volume should be read-write: %+v %v", info, err)
		}
		if _, err := s.CP.Kubectl("delete", "pvc", "csi-nas", "-n", "default", "--wait=true", "--timeout=60s"); err != nil {
			return "", err
		}
		err := poll(ctx, 60*time.Second, func() (bool, string) {
			_, err := s.Cluster.Volume(s.SVM, st.SecondaryVolume)
			return err != nil, "the FlexVol still exists"
		})
		if err != nil {
			return "", err
		}
		return "the secondary FlexVol was promoted, released and deleted; the primary keeps its data", nil
	}},
}

// applyExample applies an example file with kubectl, after replacing the example's values
// that only this run knows.
func (s *Site) applyExample(e *Env, rel string, replace map[string]string) error {
	data, err := os.ReadFile(filepath.Join(e.Root, "examples", rel))
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(replace))
	for k := range replace {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		data = bytes.ReplaceAll(data, []byte(k), []byte(replace[k]))
	}
	_, err = s.CP.KubectlStdin(bytes.NewReader(data), "apply", "-n", "default", "-f", "-")
	return err
}

// setTMR changes a TMR's desired state and remote handle, as kubectl edit would.
func (s *Site) setTMR(ctx context.Context, name string, state tridentv1.MirrorState, remote string) error {
	patch := fmt.Sprintf(`{"spec":{"state":%q,"volumeMappings":[{"localPVCName":"csi-nas","remoteVolumeHandle":%q}]}}`, state, remote)
	_, err := s.CP.Kubectl("patch", "tmr", name, "-n", "default", "--type=merge", "-p", patch)
	return err
}

// boundVolume waits for the PVC to bind and returns its FlexVol's name.
func (s *Site) boundVolume(ctx context.Context, pvc string) (string, error) {
	var vol string
	err := poll(ctx, 90*time.Second, func() (bool, string) {
		c := &corev1.PersistentVolumeClaim{}
		if err := s.CP.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: pvc}, c); err != nil {
			return false, err.Error()
		}
		if c.Status.Phase != corev1.ClaimBound {
			return false, "PVC " + string(c.Status.Phase)
		}
		pv := &corev1.PersistentVolume{}
		if err := s.CP.Client.Get(ctx, client.ObjectKey{Name: c.Spec.VolumeName}, pv); err != nil {
			return false, err.Error()
		}
		vol = pv.Spec.CSI.VolumeAttributes["internalName"]
		return vol != "", "no internalName"
	})
	return vol, err
}

func (s *Site) waitTMR(ctx context.Context, name, state string) (tridentv1.TridentMirrorRelationshipCondition, error) {
	return s.waitCondition(ctx, name, 90*time.Second, func(c tridentv1.TridentMirrorRelationshipCondition, generation int64) bool {
		return string(c.State) == state && c.ObservedGeneration == generation
	})
}

// waitCondition waits until the TMR's condition satisfies ok, given the TMR's generation.
func (s *Site) waitCondition(ctx context.Context, name string, timeout time.Duration, ok func(tridentv1.TridentMirrorRelationshipCondition, int64) bool) (tridentv1.TridentMirrorRelationshipCondition, error) {
	var cond tridentv1.TridentMirrorRelationshipCondition
	err := poll(ctx, timeout, func() (bool, string) {
		t := &tridentv1.TridentMirrorRelationship{}
		if err := s.CP.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, t); err != nil {
			return false, err.Error()
		}
		if len(t.Status.Conditions) == 0 {
			return false, "no status yet"
		}
		cond = t.Status.Conditions[0]
		return ok(cond, t.Generation), fmt.Sprintf("%s: %s: %s", s.Name, cond.State, cond.Message)
	})
	return cond, err
}

func (s *Site) waitTAMU(ctx context.Context, name string) (tridentv1.TridentActionMirrorUpdateStatus, error) {
	var st tridentv1.TridentActionMirrorUpdateStatus
	err := poll(ctx, 60*time.Second, func() (bool, string) {
		t := &tridentv1.TridentActionMirrorUpdate{}
		if err := s.CP.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, t); err != nil {
			return false, err.Error()
		}
		st = t.Status
		return st.State == tridentv1.ActionStateSucceeded, fmt.Sprintf("%s: %s", st.State, st.Message)
	})
	if err == nil && st.State == tridentv1.ActionStateFailed {
		err = fmt.Errorf("update failed: %s", st.Message)
	}
	return st, err
}

// sameData checks, through the simulator, that two volumes hold the same files.
func (e *Env) sameData(a *Site, av string, b *Site, bv string) error {
	fa, err := a.Cluster.Files(a.SVM, av)
	if err != nil {
		return err
	}
	fb, err := b.Cluster.Files(b.SVM, bv)
	if err != nil {
		return err
	}
	if !maps.Equal(fa, fb) {
		return fmt.Errorf("%s:%s holds %v, but %s:%s holds %v", a.SVM, av, fa, b.SVM, bv, fb)
	}
	return nil
}

// poll calls check until it reports done or the timeout passes; the error carries its last
// word.
func poll(ctx context.Context, timeout time.Duration, check func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, last := check()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s: %s", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
