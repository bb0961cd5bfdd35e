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
	"sync"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
)

// exampleHandle is the volume handle the examples name; the scenario puts the real one in.
const exampleHandle = "datavserver:trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1"

// Step is one step of the documented workflow: what it does, and a check of its outcome.
type Step struct {
	Title string
	// Run does the step and returns what it shows the user.
	Run func(ctx context.Context, e *Env, st *State) (string, error)
}

// State carries what steps learn for later ones: the mirrored volumes.
type State struct {
	Volumes []*Volume
}

// NewState is the scenario's start: an ontap-nas PVC (the examples as they are) and an
// ontap-san one (the same YAML for a LUN), mirrored side by side.
func NewState() *State {
	return &State{Volumes: []*Volume{{PVC: "csi-nas"}, {PVC: "csi-san", SAN: true}}}
}

// Volume is one mirrored PVC. Its StorageClass, TMR, TAMU and SnapshotInfo share its name.
type Volume struct {
	PVC string
	// SAN: an ontap-san volume, whose LUN lun0 holds an ext4 filesystem with the
	// application's files; else an ontap-nas one, whose files are the application's.
	SAN                            bool
	PrimaryHandle, SecondaryHandle string
	PrimaryVolume, SecondaryVolume string
}

// lun is the LUN the driver makes in each ontap-san FlexVol.
const lun = "lun0"

// example returns the replacements that turn an example written for csi-nas into this
// volume's: its name, and for ontap-san the backend type, a filesystem on the LUN and one
// writer (ReadWriteOnce).
func (v *Volume) example(rel string, replace map[string]string) map[string]string {
	r := map[string]string{"csi-nas": v.PVC, "tridentMirrorRelationshipName: mirror-b": "tridentMirrorRelationshipName: " + v.PVC, "name: update-mirror-b": "name: update-" + v.PVC}
	if v.SAN {
		r[`backendType: "ontap-nas"`], r[`fsType: "nfs"`], r["[ReadWriteMany]"] = `backendType: "ontap-san"`, `fsType: "ext4"`, "[ReadWriteOnce]"
		if rel == "2-secondary/storageclass.yaml" {
			// With two drivers on the SVM, the destination's class names its driver.
			r[`trident.netapp.io/replication: "true"`] = `backendType: "ontap-san"` + "\n  " + `trident.netapp.io/replication: "true"`
		}
	}
	maps.Copy(r, replace)
	return r
}

// checksum sums the volume's data: its files, or its LUN's size and bytes.
func (v *Volume) checksum(s *Site, volume string) (string, error) {
	if v.SAN {
		return s.Cluster.LUNChecksum(s.SVM, volume, lun)
	}
	return s.Cluster.Checksum(s.SVM, volume)
}

// sameData checks, through the simulator, that two volumes hold the same data.
func (v *Volume) sameData(a *Site, av string, b *Site, bv string) error {
	if !v.SAN {
		return sameFiles(a, av, b, bv)
	}
	ca, err := v.checksum(a, av)
	if err != nil {
		return err
	}
	cb, err := v.checksum(b, bv)
	if err != nil {
		return err
	}
	if ca != cb {
		return fmt.Errorf("LUN %s:%s/%s has checksum %s, but %s:%s/%s has %s", a.SVM, av, lun, ca, b.SVM, bv, lun, cb)
	}
	return nil
}

// what names the volume's data for the user.
func (v *Volume) what() string {
	if v.SAN {
		return "the LUN's bytes"
	}
	return "orders.db"
}

// forEach runs do on every volume side by side, as an administrator applies the YAML of
// both at once, and returns what each says, one line each.
func (st *State) forEach(do func(v *Volume) (string, error)) (string, error) {
	said := make([]string, len(st.Volumes))
	errs := make([]error, len(st.Volumes))
	var wg sync.WaitGroup
	for i, v := range st.Volumes {
		wg.Go(func() {
			detail, err := do(v)
			said[i] = v.PVC + ": " + detail
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", v.PVC, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return strings.Join(said, "\n    "), nil
}

// Steps walk shared/docs/workflow.md sections 1 to 7 with the YAML of examples/, for every
// volume of the State. The application is a pod on each site's node: where it runs, Kubernetes
// publishes its volumes there (a VolumeAttachment, ControllerPublishVolume); where it stops,
// they are unpublished.
var Steps = []Step{
	{"1. Primary: replicated StorageClasses, a NAS and a SAN PVC, and the application's pod on the node", func(ctx context.Context, e *Env, st *State) (string, error) {
		p := e.Primary
		return st.forEach(func(v *Volume) (string, error) {
			for _, f := range []string{"1-primary/storageclass.yaml", "1-primary/pvc.yaml"} {
				if err := p.applyExample(e, f, v.example(f, nil)); err != nil {
					return "", err
				}
			}
			vol, err := p.boundVolume(ctx, v.PVC)
			if err != nil {
				return "", err
			}
			v.PrimaryVolume = vol
			published, err := p.startApp(ctx, v, vol)
			if err != nil {
				return "", err
			}
			if err := p.appWrite(v, "order 1\n"); err != nil {
				return "", err
			}
			return fmt.Sprintf("bound to FlexVol %s:%s; %s; the application wrote %s through it", p.SVM, vol, published, appFile), nil
		})
	}},
	{"1. Primary: TMRs in state promoted report the volumes' handles", func(ctx context.Context, e *Env, st *State) (string, error) {
		p := e.Primary
		return st.forEach(func(v *Volume) (string, error) {
			if err := p.applyExample(e, "1-primary/tmr-promoted.yaml", v.example("", nil)); err != nil {
				return "", err
			}
			cond, err := p.waitTMR(ctx, v.PVC, "promoted")
			if err != nil {
				return "", err
			}
			v.PrimaryHandle = cond.LocalVolumeHandle
			return "status.conditions[0].localVolumeHandle = " + cond.LocalVolumeHandle, nil
		})
	}},
	{"2. Secondary: TMRs established from those handles, then the annotated PVCs: DP FlexVols, mirrored", func(ctx context.Context, e *Env, st *State) (string, error) {
		s := e.Secondary
		return st.forEach(func(v *Volume) (string, error) {
			for _, f := range []string{"2-secondary/storageclass.yaml", "2-secondary/tmr-established.yaml", "2-secondary/pvc.yaml"} {
				if err := s.applyExample(e, f, v.example(f, map[string]string{exampleHandle: v.PrimaryHandle})); err != nil {
					return "", err
				}
			}
			vol, err := s.boundVolume(ctx, v.PVC)
			if err != nil {
				return "", err
			}
			v.SecondaryVolume = vol
			cond, err := s.waitTMR(ctx, v.PVC, "established")
			if err != nil {
				return "", err
			}
			v.SecondaryHandle = cond.LocalVolumeHandle
			if err := v.sameData(e.Primary, v.PrimaryVolume, s, vol); err != nil {
				return "", err
			}
			return fmt.Sprintf("established; lag %s, healthy %v; %s arrived on %s", cond.Lag.Duration, *cond.Healthy, v.what(), cond.LocalVolumeHandle), nil
		})
	}},
	{"2. Secondary: the standby application's pod; the DP volumes are published read-only", func(ctx context.Context, e *Env, st *State) (string, error) {
		s := e.Secondary
		return st.forEach(func(v *Volume) (string, error) {
			published, err := s.startApp(ctx, v, v.SecondaryVolume)
			if err != nil {
				return "", err
			}
			if !strings.Contains(published, "attached read-only") {
				return "", fmt.Errorf("a DP volume published for writing: %s", published)
			}
			if err := s.appReads(v, "order 1\n"); err != nil {
				return "", err
			}
			refused, err := s.appCannotWrite(v)
			if err != nil {
				return "", err
			}
			published += "; the standby application reads " + appFile + " through its mount, and its write fails: " + refused
			if v.SAN {
				// A LUN's FlexVol is reached over iSCSI: neither copy gets an NFS junction path.
				for _, at := range []struct {
					site   *Site
					volume string
				}{{e.Primary, v.PrimaryVolume}, {s, v.SecondaryVolume}} {
					if path, err := at.site.JunctionPath(ctx, at.volume); err != nil || path != "" {
						return "", fmt.Errorf("SAN volume %s has junction path %q (%v), want none", at.volume, path, err)
					}
				}
			}
			return published, nil
		})
	}},
	{"7. Update on demand: a TridentActionMirrorUpdate carries new writes", func(ctx context.Context, e *Env, st *State) (string, error) {
		s := e.Secondary
		return st.forEach(func(v *Volume) (string, error) {
			if err := e.Primary.appWrite(v, "order 1\norder 2\n"); err != nil {
				return "", err
			}
			if err := s.applyExample(e, "7-update/tamu.yaml", v.example("", map[string]string{`  snapshotHandle: "pvc-1234/snapshot-1234"` + "\n": ""})); err != nil {
				return "", err
			}
			status, err := s.waitTAMU(ctx, "update-"+v.PVC)
			if err != nil {
				return "", err
			}
			if err := v.sameData(e.Primary, v.PrimaryVolume, s, v.SecondaryVolume); err != nil {
				return "", err
			}
			if v.SAN {
				// The standby's read-only ext4 keeps what it read cached, as a host's does until
				// it mounts again: the LUN's bytes are compared above.
				return "Succeeded: " + status.Message, nil
			}
			if err := s.appReads(v, "order 1\norder 2\n"); err != nil {
				return "", err
			}
			return "Succeeded: " + status.Message + "; the standby application reads order 2", nil
		})
	}},
	{"4. Unplanned failover: the primary's ONTAP goes down; the secondary is promoted and its application's volumes published", func(ctx context.Context, e *Env, st *State) (string, error) {
		if err := e.Primary.Cluster.SetDown(true); err != nil {
			return "", err
		}
		s := e.Secondary
		detail, err := st.forEach(func(v *Volume) (string, error) {
			if err := s.applyExample(e, "4-unplanned-failover/tmr-promoted.yaml", v.example("", map[string]string{exampleHandle: v.PrimaryHandle})); err != nil {
				return "", err
			}
			if _, err := s.waitTMR(ctx, v.PVC, "promoted"); err != nil {
				return "", err
			}
			// The standby application had the mirror read-only: it restarts on the promoted
			// volume, which is published for writing.
			if _, err := s.stopApp(ctx, v, v.SecondaryVolume); err != nil {
				return "", err
			}
			published, err := s.startApp(ctx, v, v.SecondaryVolume)
			if err != nil {
				return "", err
			}
			if !strings.Contains(published, "attached read-write") {
				return "", fmt.Errorf("the promoted volume is published read-only: %s", published)
			}
			if err := s.appReads(v, "order 1\norder 2\n"); err != nil {
				return "", err
			}
			if err := s.appWrite(v, "order 1\norder 2\nwritten during the outage\n"); err != nil {
				return "", fmt.Errorf("the promoted volume is not writable: %w", err)
			}
			return "promoted; " + published + "; the application read order 2 and wrote " + appFile, nil
		})
		if err != nil {
			return "", err
		}
		if err := e.Primary.Cluster.SetDown(false); err != nil {
			return "", err
		}
		return detail + "\n    the primary is back", nil
	}},
	{"Split brain: the old primary is back and written too; both sites report it and nothing is resynced", func(ctx context.Context, e *Env, st *State) (string, error) {
		p, s := e.Primary, e.Secondary
		return st.forEach(func(v *Volume) (string, error) {
			if err := p.appWrite(v, "order 1\norder 2\nwritten at the old primary after the failover\n"); err != nil {
				return "", err
			}
			// Both sites report it, each from its side, with a Warning Event.
			found := map[string]*tridentv1.SplitBrain{}
			for _, site := range []*Site{s, p} {
				cond, err := site.waitCondition(ctx, v.PVC, 30*time.Second, func(c tridentv1.TridentMirrorRelationshipCondition, _ int64) bool { return c.SplitBrain != nil })
				if err != nil {
					return "", err
				}
				found[site.Name] = cond.SplitBrain
				if out, err := site.CP.Kubectl("get", "events", "-n", "default", "--field-selector", "reason=SplitBrain,involvedObject.name="+v.PVC, "-o", "name"); err != nil || out == "" {
					return "", fmt.Errorf("%s: no SplitBrain event: %q, %v", site.Name, out, err)
				}
			}
			if err := s.appReads(v, "order 1\norder 2\nwritten during the outage\n"); err != nil {
				return "", fmt.Errorf("the secondary lost its writes: %w", err)
			}
			sb := found["secondary"]
			return fmt.Sprintf("both TMRs report status.splitBrain (secondary: %d bytes here, %d there since %s) with a SplitBrain Warning Event; both copies kept",
				sb.LocalBytes, sb.RemoteBytes, sb.CommonSnapshot), nil
		})
	}},
	{"6. Restore the mirror: the secondary's application stops; reestablished there discards its writes since the break", func(ctx context.Context, e *Env, st *State) (string, error) {
		s := e.Secondary
		return st.forEach(func(v *Volume) (string, error) {
			unpublished, err := s.stopApp(ctx, v, v.SecondaryVolume)
			if err != nil {
				return "", err
			}
			if err := s.applyExample(e, "6-reestablish/tmr-reestablished.yaml", v.example("", map[string]string{exampleHandle: v.PrimaryHandle})); err != nil {
				return "", err
			}
			if _, err := s.waitTMR(ctx, v.PVC, "reestablished"); err != nil {
				return "", err
			}
			if err := v.sameData(e.Primary, v.PrimaryVolume, s, v.SecondaryVolume); err != nil {
				return "", err
			}
			// The copies agree again: both sites stop reporting a split brain, the old primary
			// at its next re-check.
			for _, site := range []*Site{s, e.Primary} {
				if _, err := site.waitCondition(ctx, v.PVC, 30*time.Second, func(c tridentv1.TridentMirrorRelationshipCondition, _ int64) bool { return c.SplitBrain == nil }); err != nil {
					return "", fmt.Errorf("split brain still reported: %w", err)
				}
			}
			return unpublished + "; reestablished; the secondary again equals the primary; neither site reports a split brain", nil
		})
	}},
	{"5. Planned failover: the application stops; VolumeSnapshot, SnapshotInfo, promotion to that snapshot, nothing lost; it starts at the secondary", func(ctx context.Context, e *Env, st *State) (string, error) {
		p, s := e.Primary, e.Secondary
		return st.forEach(func(v *Volume) (string, error) {
			if err := p.appWrite(v, "order 1\norder 2\nlast order before the migration\n"); err != nil {
				return "", err
			}
			unpublished, err := p.stopApp(ctx, v, v.PrimaryVolume)
			if err != nil {
				return "", err
			}
			want, err := v.checksum(p, v.PrimaryVolume)
			if err != nil {
				return "", err
			}
			vs := &snapshotv1.VolumeSnapshot{
				ObjectMeta: metav1.ObjectMeta{Name: v.PVC + "-snapshot", Namespace: "default"},
				Spec:       snapshotv1.VolumeSnapshotSpec{VolumeSnapshotClassName: ptr.To("csi-snapclass"), Source: snapshotv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To(v.PVC)}},
			}
			if err := p.CP.Client.Create(ctx, vs); err != nil {
				return "", err
			}
			// Both spellings: SnapshotInfo and Trident's TridentSnapshotInfo give the same handle.
			for _, f := range []string{"snapshotinfo.yaml", "tridentsnapshotinfo.yaml"} {
				if err := p.applyExample(e, "5-planned-failover/"+f, v.example("", nil)); err != nil {
					return "", err
				}
			}
			var handle, tridentHandle string
			err = poll(ctx, 60*time.Second, func() (bool, string) {
				si, tsi := &tridentv1.SnapshotInfo{}, &tridentv1.TridentSnapshotInfo{}
				key := client.ObjectKey{Namespace: "default", Name: v.PVC}
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
			if err := s.applyExample(e, "5-planned-failover/tmr-promoted-to-snapshot.yaml", v.example("", map[string]string{
				exampleHandle: v.PrimaryHandle, "pvc-3bedd23c-46a8-4384-b12b-3c38b313c1e1/snapshot-0cd5b1a4-6b86-4f0e-9d4e-3a2f1c9a8e77": handle})); err != nil {
				return "", err
			}
			if _, err := s.waitTMR(ctx, v.PVC, "promoted"); err != nil {
				return "", err
			}
			if got, err := v.checksum(s, v.SecondaryVolume); err != nil || got != want {
				return "", fmt.Errorf("planned failover lost data: checksums %s and %s differ (%v)", got, want, err)
			}
			published, err := s.startApp(ctx, v, v.SecondaryVolume)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%s; snapshot handle %s; promoted to it; checksums equal (0 bytes lost); %s", unpublished, handle, published), nil
		})
	}},
	{"6. Reverse direction: the old primary becomes the destination of the new one", func(ctx context.Context, e *Env, st *State) (string, error) {
		p, s := e.Primary, e.Secondary
		return st.forEach(func(v *Volume) (string, error) {
			if err := s.appReads(v, "order 1\norder 2\nlast order before the migration\n"); err != nil {
				return "", err
			}
			if err := s.appWrite(v, "order 1\norder 2\nlast order before the migration\norder 3, at the DR site\n"); err != nil {
				return "", err
			}
			if err := p.setTMR(ctx, v.PVC, tridentv1.MirrorStateReestablished, v.SecondaryHandle); err != nil {
				return "", err
			}
			if _, err := p.waitTMR(ctx, v.PVC, "reestablished"); err != nil {
				return "", err
			}
			if err := v.sameData(s, v.SecondaryVolume, p, v.PrimaryVolume); err != nil {
				return "", err
			}
			return "the primary mirrors the secondary; order 3 arrived", nil
		})
	}},
	{"6. Failback: the application moves home; the primary is promoted, the secondary mirrors it again", func(ctx context.Context, e *Env, st *State) (string, error) {
		p, s := e.Primary, e.Secondary
		return st.forEach(func(v *Volume) (string, error) {
			unpublished, err := s.stopApp(ctx, v, v.SecondaryVolume)
			if err != nil {
				return "", err
			}
			if err := p.setTMR(ctx, v.PVC, tridentv1.MirrorStatePromoted, v.SecondaryHandle); err != nil {
				return "", err
			}
			if _, err := p.waitTMR(ctx, v.PVC, "promoted"); err != nil {
				return "", err
			}
			published, err := p.startApp(ctx, v, v.PrimaryVolume)
			if err != nil {
				return "", err
			}
			if err := p.appReads(v, "order 1\norder 2\nlast order before the migration\norder 3, at the DR site\n"); err != nil {
				return "", err
			}
			if err := p.appWrite(v, "order 1\norder 2\nlast order before the migration\norder 3, at the DR site\norder 4, back home\n"); err != nil {
				return "", err
			}
			if err := s.setTMR(ctx, v.PVC, tridentv1.MirrorStateReestablished, v.PrimaryHandle); err != nil {
				return "", err
			}
			if _, err := s.waitTMR(ctx, v.PVC, "reestablished"); err != nil {
				return "", err
			}
			if err := v.sameData(p, v.PrimaryVolume, s, v.SecondaryVolume); err != nil {
				return "", err
			}
			return fmt.Sprintf("secondary: %s; primary: %s; back to the original direction; order 4 mirrored", unpublished, published), nil
		})
	}},
	{"7. Resize: the primary PVCs grow to 2Gi", func(ctx context.Context, e *Env, st *State) (string, error) {
		p := e.Primary
		return st.forEach(func(v *Volume) (string, error) {
			if _, err := p.CP.Kubectl("patch", "storageclass", v.PVC, "-p", `{"allowVolumeExpansion":true}`); err != nil {
				return "", err
			}
			if _, err := p.CP.Kubectl("patch", "pvc", v.PVC, "-n", "default", "-p", `{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`); err != nil {
				return "", err
			}
			what := "FlexVol " + v.PrimaryVolume
			if v.SAN {
				what = "LUN " + v.PrimaryVolume + "/" + lun
			}
			err := poll(ctx, 60*time.Second, func() (bool, string) {
				var size int64
				var err error
				if v.SAN {
					var info sim.LUNInfo
					info, err = p.Cluster.LUN(p.SVM, v.PrimaryVolume, lun)
					size = info.Size
				} else {
					var info sim.VolumeInfo
					info, err = p.Cluster.Volume(p.SVM, v.PrimaryVolume)
					size = info.Size
				}
				return err == nil && size >= 2<<30, fmt.Sprintf("%s: size %d %v", what, size, err)
			})
			if err != nil {
				return "", err
			}
			return what + " is 2 GiB", nil
		})
	}},
	{"7. Deletion: the secondary's TMRs and PVCs go; the relationships are released, the volumes deleted", func(ctx context.Context, e *Env, st *State) (string, error) {
		s := e.Secondary
		return st.forEach(func(v *Volume) (string, error) {
			if _, err := s.CP.Kubectl("delete", "tmr", v.PVC, "-n", "default", "--wait=true", "--timeout=60s"); err != nil {
				return "", err
			}
			if info, err := s.Cluster.Volume(s.SVM, v.SecondaryVolume); err != nil || info.Type != "rw" {
				return "", fmt.Errorf("after the TMR went, the volume should be read-write: %+v %v", info, err)
			}
			if _, err := s.CP.Kubectl("delete", "pvc", v.PVC, "-n", "default", "--wait=true", "--timeout=60s"); err != nil {
				return "", err
			}
			err := poll(ctx, 60*time.Second, func() (bool, string) {
				_, err := s.Cluster.Volume(s.SVM, v.SecondaryVolume)
				return err != nil, "the FlexVol still exists"
			})
			if err != nil {
				return "", err
			}
			return "the secondary FlexVol was promoted, released and deleted; the primary keeps its data", nil
		})
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

// setTMR changes a TMR's desired state and remote handle, as kubectl edit would; the TMR and
// its PVC share their name.
func (s *Site) setTMR(ctx context.Context, name string, state tridentv1.MirrorState, remote string) error {
	patch := fmt.Sprintf(`{"spec":{"state":%q,"volumeMappings":[{"localPVCName":%q,"remoteVolumeHandle":%q}]}}`, state, name, remote)
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

// sameFiles checks, through the simulator, that two volumes hold the same files.
func sameFiles(a *Site, av string, b *Site, bv string) error {
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
