package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

const (
	primaryHandle   = "datavserver:trident_pvc_1"
	secondaryHandle = "drvserver:trident_pvc_2"
)

// tmrOption changes a TMR fixture.
type tmrOption func(*tridentv1.TridentMirrorRelationship)

// newTMR is a TMR csi-nas in namespace default whose status has reached state, with the
// local handle given; options add the rest.
func newTMR(state tridentv1.MirrorState, local string, opts ...tmrOption) *tridentv1.TridentMirrorRelationship {
	t := &tridentv1.TridentMirrorRelationship{
		ObjectMeta: metav1.ObjectMeta{Name: "csi-nas", Namespace: "default", Generation: 1},
		Spec:       tridentv1.TridentMirrorRelationshipSpec{State: state, VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "csi-nas"}}},
		Status: tridentv1.TridentMirrorRelationshipStatus{Conditions: []tridentv1.TridentMirrorRelationshipCondition{{
			State: state, ObservedGeneration: 1, LocalPVCName: "csi-nas", LocalVolumeHandle: local,
		}}},
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// mirrorOf makes the TMR a destination of remote, healthy, with a recent transfer.
func mirrorOf(remote string) tmrOption {
	return func(t *tridentv1.TridentMirrorRelationship) {
		t.Spec.VolumeMappings[0].RemoteVolumeHandle = remote
		c := &t.Status.Conditions[0]
		c.RemoteVolumeHandle = remote
		c.Lag = &metav1.Duration{Duration: 42 * time.Second}
		c.Healthy = ptr.To(true)
		c.LastTransferTime = &metav1.Time{Time: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
		c.LastTransferBytes = ptr.To(int64(4096))
		c.LastTransferDuration = &metav1.Duration{Duration: 3 * time.Second}
	}
}

func withCondition(f func(*tridentv1.TridentMirrorRelationshipCondition)) tmrOption {
	return func(t *tridentv1.TridentMirrorRelationship) { f(&t.Status.Conditions[0]) }
}

// kubeconfig writes a kubeconfig with two contexts, here and peer, whose servers name the
// fake clients the tests give.
func kubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	data := `apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://here.invalid"}}
- {name: b, cluster: {server: "https://peer.invalid"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: here, context: {cluster: a, user: u, namespace: default}}
- {name: peer, context: {cluster: b, user: u, namespace: default}}
current-context: here
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func fakeClient(funcs *interceptor.Funcs, objs ...client.Object) client.Client {
	b := fake.NewClientBuilder().WithScheme(scheme()).WithObjects(objs...)
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	return b.Build()
}

// unreachable is a client whose every request fails, as an API server that does not answer.
func unreachable() client.Client {
	fail := errors.New("dial tcp: connect: connection refused")
	return fakeClient(&interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return fail
		},
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error { return fail },
	})
}

// runPlugin runs the plugin on the fake sites and returns its exit code and output.
func runPlugin(t *testing.T, here, peer client.Client, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	args = append(args, "--kubeconfig="+kubeconfig(t), "--peer-context=peer", "--timeout=5s")
	code := execute(context.Background(), args, &out, &out, func(cfg *rest.Config) (client.Client, error) {
		if strings.Contains(cfg.Host, "peer") {
			return peer, nil
		}
		return here, nil
	})
	return code, out.String()
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		// here and peer are the TMRs of each site; peerDown makes the peer unreachable.
		here, peer *tridentv1.TridentMirrorRelationship
		peerDown   bool
		// output is -o's value.
		output string
		// wantCode is the exit code; want are texts the output must hold.
		wantCode int
		want     []string
	}{{
		name:     "healthy pair, side by side",
		here:     newTMR("established", secondaryHandle, mirrorOf(primaryHandle)),
		peer:     newTMR("promoted", primaryHandle),
		wantCode: exitOK,
		want: []string{"TMR default/csi-nas: HEALTHY", "this site (here)", "peer site (peer)", "established / established", "promoted / promoted",
			secondaryHandle, primaryHandle, "42s", "2026-12-02T10:00:00Z, 4.0 KiB, in 3s"},
	}, {
		name: "split brain",
		here: newTMR("promoted", secondaryHandle, mirrorOf(primaryHandle), withCondition(func(c *tridentv1.TridentMirrorRelationshipCondition) {
			c.SplitBrain = &tridentv1.SplitBrain{CommonSnapshot: "snap1", LocalBytes: 10, RemoteBytes: 2048}
		})),
		peer:     newTMR("promoted", primaryHandle),
		wantCode: exitUnsafe,
		want:     []string{"UNHEALTHY", "problem: this site (here): split brain: both copies written since snapshot snap1 (10 B here, 2.0 KiB on the other copy)"},
	}, {
		name: "recovery point objective breached",
		here: newTMR("established", secondaryHandle, mirrorOf(primaryHandle), withCondition(func(c *tridentv1.TridentMirrorRelationshipCondition) {
			c.RecoveryPointObjective, c.RecoveryPointObjectiveSource, c.RPOStatus = &metav1.Duration{Duration: 10 * time.Minute}, "derived from schedule 5min", tridentv1.RPOBreached
		})),
		peer:     newTMR("promoted", primaryHandle),
		wantCode: exitUnsafe,
		want:     []string{"RPO               10m0s: Breached", "problem: this site (here): recovery point objective breached: lag 42s, objective 10m0s (derived from schedule 5min)"},
	}, {
		name: "recovery point objective at risk",
		here: newTMR("established", secondaryHandle, mirrorOf(primaryHandle), withCondition(func(c *tridentv1.TridentMirrorRelationshipCondition) {
			c.RecoveryPointObjective, c.RPOStatus = &metav1.Duration{Duration: 50 * time.Second}, tridentv1.RPOAtRisk
		})),
		peer:     newTMR("promoted", primaryHandle),
		wantCode: exitOK,
		want:     []string{"HEALTHY", "note: this site (here): recovery point objective at risk: lag 42s of 50s"},
	}, {
		name:     "failed state at the peer",
		here:     newTMR("established", secondaryHandle, mirrorOf(primaryHandle)),
		peer:     newTMR("promoted", primaryHandle, withCondition(func(c *tridentv1.TridentMirrorRelationshipCondition) { c.State, c.Message = "failed", "ONTAP said no" })),
		wantCode: exitUnsafe,
		want:     []string{"problem: peer site (peer): state failed: ONTAP said no"},
	}, {
		name: "unhealthy relationship",
		here: newTMR("established", secondaryHandle, mirrorOf(primaryHandle), withCondition(func(c *tridentv1.TridentMirrorRelationshipCondition) {
			c.Healthy, c.UnhealthyReason = ptr.To(false), "transfer failed"
		})),
		peer:     newTMR("promoted", primaryHandle),
		wantCode: exitUnsafe,
		want:     []string{"healthy           false: transfer failed", "relationship unhealthy: transfer failed"},
	}, {
		name: "drift",
		here: newTMR("established", secondaryHandle, mirrorOf(primaryHandle), withCondition(func(c *tridentv1.TridentMirrorRelationshipCondition) {
			c.Drift = "the relationship was broken on ONTAP"
		})),
		peer:     newTMR("promoted", primaryHandle),
		wantCode: exitUnsafe,
		want:     []string{"drift: the relationship was broken on ONTAP"},
	}, {
		name:     "peer unreachable",
		here:     newTMR("established", secondaryHandle, mirrorOf(primaryHandle)),
		peerDown: true,
		wantCode: exitUnsafe,
		want:     []string{"peer site: unreachable", "problem: peer site unreachable", "connection refused"},
	}, {
		name:     "json",
		here:     newTMR("established", secondaryHandle, mirrorOf(primaryHandle)),
		peer:     newTMR("promoted", primaryHandle),
		output:   "json",
		wantCode: exitOK,
		want:     []string{`"healthy": true`, `"localVolumeHandle": "datavserver:trident_pvc_1"`},
	}, {
		name:     "yaml",
		here:     newTMR("established", secondaryHandle, mirrorOf(primaryHandle)),
		peer:     newTMR("promoted", primaryHandle),
		output:   "yaml",
		wantCode: exitOK,
		want:     []string{"healthy: true", "lag: 42s"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			peer := unreachable()
			if !tc.peerDown {
				peer = fakeClient(nil, tc.peer)
			}
			args := []string{"status"}
			if tc.output != "" {
				args = append(args, "-o", tc.output)
			}
			code, out := runPlugin(t, fakeClient(nil, tc.here), peer, args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\n%s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not hold %q:\n%s", w, out)
				}
			}
			if tc.output == "json" {
				var rep Report
				if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Relationships[0].Peer == nil {
					t.Errorf("-o json: %v\n%s", err, out)
				}
			}
		})
	}
}

func TestStatusPendingUpdates(t *testing.T) {
	here := fakeClient(nil, newTMR("established", secondaryHandle, mirrorOf(primaryHandle)),
		&tridentv1.TridentActionMirrorUpdate{ObjectMeta: metav1.ObjectMeta{Name: "u1", Namespace: "default"}, Spec: tridentv1.TridentActionMirrorUpdateSpec{TridentMirrorRelationshipName: "csi-nas"},
			Status: tridentv1.TridentActionMirrorUpdateStatus{State: tridentv1.ActionStateInProgress}},
		&tridentv1.TridentActionMirrorUpdate{ObjectMeta: metav1.ObjectMeta{Name: "u0", Namespace: "default"}, Spec: tridentv1.TridentActionMirrorUpdateSpec{TridentMirrorRelationshipName: "csi-nas"},
			Status: tridentv1.TridentActionMirrorUpdateStatus{State: tridentv1.ActionStateSucceeded}})
	code, out := runPlugin(t, here, fakeClient(nil, newTMR("promoted", primaryHandle)), "status", "csi-nas")
	if code != exitOK || !strings.Contains(out, "pending updates   u1 (In progress)") {
		t.Errorf("exit code %d; want 0 and u1 pending:\n%s", code, out)
	}
}

func TestPlannedChecks(t *testing.T) {
	good := func() plannedFacts {
		return plannedFacts{
			local:     end(&site{name: "this site"}, newTMR("established", secondaryHandle, mirrorOf(primaryHandle)), nil),
			sourcePVC: "csi-nas", snapshotClass: "csi-snapclass",
		}
	}
	for _, tc := range []struct {
		name string
		// change spoils the good facts.
		change func(*plannedFacts)
		// failing is the name of the check that must fail, "" when all pass.
		failing string
		// detail is a text the failing check's detail must hold.
		detail string
	}{
		{"all pass", func(*plannedFacts) {}, "", ""},
		{"peer down", func(f *plannedFacts) { f.peerErr = errors.New("timeout") }, "both sites answer", "use --unplanned"},
		{"promoted already", func(f *plannedFacts) { f.local.DesiredState = "promoted" }, "this site's TMR is established", "not the destination"},
		{"still establishing", func(f *plannedFacts) { f.local.ActualState = "establishing" }, "this site's TMR is established", "wait until"},
		{"unhealthy", func(f *plannedFacts) { f.local.Healthy = ptr.To(false) }, "the relationship is healthy", "unhealthy"},
		{"last update failed", func(f *plannedFacts) {
			f.local.LastUpdate = &Update{Name: "u", State: tridentv1.ActionStateFailed, Message: "no route"}
		}, "no failing transfer", "no route"},
		{"update running", func(f *plannedFacts) { f.local.PendingUpdates = []string{"u (In progress)"} }, "no failing transfer", "wait for them"},
		{"source in use", func(f *plannedFacts) { f.sourceUsers = []string{"pod app"} }, "the source PVC is not in use", "stop the application on the source first"},
		{"destination written", func(f *plannedFacts) { f.destWriters = []string{"pod standby"} }, "the destination PVC has no writer", "pod standby"},
		{"no snapshot class", func(f *plannedFacts) { f.classErr = errors.New("choose one with --snapshot-class") }, "a VolumeSnapshotClass on the peer site", "--snapshot-class"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := good()
			tc.change(&f)
			checks := plannedChecks(f)
			if allPass(checks) != (tc.failing == "") {
				t.Fatalf("allPass = %v: %+v", allPass(checks), checks)
			}
			for _, c := range checks {
				if c.Name == tc.failing && (c.OK || !strings.Contains(c.Detail, tc.detail)) {
					t.Errorf("check %q: ok=%v detail %q, want failed with %q", c.Name, c.OK, c.Detail, tc.detail)
				}
				if c.Name != tc.failing && !c.OK {
					t.Errorf("check %q failed too: %s", c.Name, c.Detail)
				}
			}
		})
	}
}

func TestPlannedDryRunRefusesWhileSourceInUse(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "data",
		VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "csi-nas"}}}}}}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "csi-nas", Namespace: "default"}}
	class := &snapshotv1.VolumeSnapshotClass{ObjectMeta: metav1.ObjectMeta{Name: "csi-snapclass"}, Driver: snapshotDriver}
	here := newTMR("established", secondaryHandle, mirrorOf(primaryHandle))
	code, out := runPlugin(t, fakeClient(nil, here), fakeClient(nil, newTMR("promoted", primaryHandle), pod, pvc, class), "failover", "csi-nas", "--planned", "--dry-run")
	if code != exitUnsafe || !strings.Contains(out, "in use by pod app: stop the application on the source first") {
		t.Errorf("exit code %d, want 2 with the pod named:\n%s", code, out)
	}
	code, out = runPlugin(t, fakeClient(nil, here), fakeClient(nil, newTMR("promoted", primaryHandle), pvc, class), "failover", "csi-nas", "--planned", "--dry-run")
	if code != exitOK || !strings.Contains(out, "Dry run: all checks pass") {
		t.Errorf("exit code %d, want 0:\n%s", code, out)
	}
}

func TestPVCUsers(t *testing.T) {
	claim := func(ro bool) corev1.Volume {
		return corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "csi-nas", ReadOnly: ro}}}
	}
	pod := func(name string, phase corev1.PodPhase, vol corev1.Volume, mountRO bool) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Status: corev1.PodStatus{Phase: phase},
			Spec: corev1.PodSpec{Volumes: []corev1.Volume{vol}, Containers: []corev1.Container{{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "data", ReadOnly: mountRO}}}}}}
	}
	s := &site{name: "here", namespace: "default", c: fakeClient(nil,
		pod("writer", corev1.PodRunning, claim(false), false),
		pod("claim-ro", corev1.PodRunning, claim(true), false),
		pod("mount-ro", corev1.PodPending, claim(false), true),
		pod("done", corev1.PodSucceeded, claim(false), false),
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "csi-nas", Namespace: "default"}},
	)}
	writers, err := pvcUsers(context.Background(), s, "csi-nas", true)
	if err != nil || strings.Join(writers, ",") != "pod writer" {
		t.Errorf("writers %v (%v), want the writer only", writers, err)
	}
	users, err := pvcUsers(context.Background(), s, "csi-nas", false)
	if err != nil || len(users) != 3 {
		t.Errorf("users %v (%v), want the three unfinished pods", users, err)
	}
}

func TestPickSnapshotClass(t *testing.T) {
	class := func(name, driver string, isDefault bool) *snapshotv1.VolumeSnapshotClass {
		c := &snapshotv1.VolumeSnapshotClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Driver: driver}
		if isDefault {
			c.Annotations = map[string]string{"snapshot.storage.kubernetes.io/is-default-class": "true"}
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		classes []client.Object
		// named is --snapshot-class; want the class chosen, or wantErr a text of the error.
		named, want, wantErr string
	}{
		{"the only one of the driver", []client.Object{class("a", snapshotDriver, false), class("other", "ebs.csi.aws.com", true)}, "", "a", ""},
		{"the driver's default", []client.Object{class("a", snapshotDriver, false), class("b", snapshotDriver, true)}, "", "b", ""},
		{"several, no default", []client.Object{class("a", snapshotDriver, false), class("b", snapshotDriver, false)}, "", "", "--snapshot-class"},
		{"none", nil, "", "", "create one"},
		{"named", []client.Object{class("a", snapshotDriver, false), class("b", snapshotDriver, false)}, "b", "b", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickSnapshotClass(context.Background(), &site{name: "peer", c: fakeClient(nil, tc.classes...)}, tc.named)
			if got != tc.want || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("got %q, %v; want %q, error with %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestDiscardGuard(t *testing.T) {
	for _, tc := range []struct {
		name string
		// cond changes a promoted TMR's condition; yes is --yes.
		cond func(*tridentv1.TridentMirrorRelationshipCondition)
		yes  bool
		// wantRefused: the guard refuses; wantText: what the user is told first.
		wantRefused bool
		wantText    string
	}{
		{"split brain gives the bytes", func(c *tridentv1.TridentMirrorRelationshipCondition) {
			c.SplitBrain = &tridentv1.SplitBrain{CommonSnapshot: "s1", LocalBytes: 2048}
		}, false, true, "discards 2.0 KiB written there since snapshot s1"},
		{"split brain, --yes", func(c *tridentv1.TridentMirrorRelationshipCondition) {
			c.SplitBrain = &tridentv1.SplitBrain{CommonSnapshot: "s1", LocalBytes: 2048}
		}, true, false, "discards 2.0 KiB"},
		{"unknown is refused", func(*tridentv1.TridentMirrorRelationshipCondition) {}, false, true, "how much is unknown"},
		{"unknown, split brain not checked", func(c *tridentv1.TridentMirrorRelationshipCondition) { c.SplitBrainCheck = "no peers" }, false, true, "not checked: no peers"},
		{"resync reports zero", func(c *tridentv1.TridentMirrorRelationshipCondition) {
			c.Discarding = &tridentv1.Discarding{CommonSnapshot: "s2", Bytes: 0}
		}, false, false, "discards 0 B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := end(&site{name: "here"}, newTMR("promoted", primaryHandle, withCondition(tc.cond)), nil)
			d := discardOf(e)
			if text := d.text("here", "csi-nas"); !strings.Contains(text, tc.wantText) {
				t.Errorf("text %q does not hold %q", text, tc.wantText)
			}
			err := guardDiscard(d, tc.yes, "kubectl snapmirror reestablish csi-nas")
			var ce *codeError
			if refused := err != nil; refused != tc.wantRefused || (refused && (!errors.As(err, &ce) || ce.code != exitUnsafe)) {
				t.Errorf("guard: %v, want refused=%v with exit code 2", err, tc.wantRefused)
			}
		})
	}
}

func TestReestablish(t *testing.T) {
	splitBrain := withCondition(func(c *tridentv1.TridentMirrorRelationshipCondition) {
		c.SplitBrain = &tridentv1.SplitBrain{CommonSnapshot: "s1", LocalBytes: 75, RemoteBytes: 72}
	})
	peer := newTMR("promoted", secondaryHandle, mirrorOf(primaryHandle))

	here := fakeClient(nil, newTMR("promoted", primaryHandle, splitBrain))
	code, out := runPlugin(t, here, fakeClient(nil, peer), "reestablish", "csi-nas")
	if code != exitUnsafe || !strings.Contains(out, "discards 75 B") || !strings.Contains(out, "--yes") {
		t.Errorf("without --yes: exit code %d, want 2 saying what is discarded:\n%s", code, out)
	}
	got := &tridentv1.TridentMirrorRelationship{}
	if err := here.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "csi-nas"}, got); err != nil || got.Spec.State != "promoted" {
		t.Errorf("the refused reestablish changed the TMR: %s %v", got.Spec.State, err)
	}

	code, out = runPlugin(t, here, fakeClient(nil, peer), "reestablish", "csi-nas", "--yes")
	if code != exitOK {
		t.Fatalf("with --yes: exit code %d:\n%s", code, out)
	}
	if err := here.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "csi-nas"}, got); err != nil ||
		got.Spec.State != "reestablished" || got.Spec.VolumeMappings[0].RemoteVolumeHandle != secondaryHandle {
		t.Errorf("with --yes: spec %+v (%v), want reestablished from the peer's volume %s", got.Spec, err, secondaryHandle)
	}
}

func TestUpdateFailedExitsOne(t *testing.T) {
	// The controller's part: the update fails as soon as it is read back.
	here := fakeClient(&interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		err := c.Get(ctx, key, obj, opts...)
		if u, ok := obj.(*tridentv1.TridentActionMirrorUpdate); ok && err == nil {
			u.Status.State, u.Status.Message = tridentv1.ActionStateFailed, "the source is unreachable"
		}
		return err
	}}, newTMR("established", secondaryHandle, mirrorOf(primaryHandle)))
	code, out := runPlugin(t, here, unreachable(), "update", "csi-nas", "--wait")
	if code != exitFailed || !strings.Contains(out, "Failed: the source is unreachable") {
		t.Errorf("exit code %d, want 1 with the failure:\n%s", code, out)
	}
	var tamus tridentv1.TridentActionMirrorUpdateList
	if err := here.List(context.Background(), &tamus); err != nil || len(tamus.Items) != 1 || tamus.Items[0].Spec.TridentMirrorRelationshipName != "csi-nas" {
		t.Errorf("TAMUs %+v (%v), want one for csi-nas", tamus.Items, err)
	}
}

func TestUnplannedFailoverWithPeerDown(t *testing.T) {
	here := fakeClient(nil, newTMR("established", secondaryHandle, mirrorOf(primaryHandle)))
	code, out := runPlugin(t, here, unreachable(), "failover", "csi-nas", "--unplanned")
	for _, w := range []string{"Expected data loss", "last transfer: 2026-12-02T10:00:00Z", "lag: 42s", "the peer site does not answer", "spec.state to promoted"} {
		if !strings.Contains(out, w) {
			t.Errorf("output does not hold %q:\n%s", w, out)
		}
	}
	got := &tridentv1.TridentMirrorRelationship{}
	if err := here.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "csi-nas"}, got); code != exitOK || err != nil || got.Spec.State != "promoted" || got.Spec.VolumeMappings[0].RemoteVolumeHandle != primaryHandle {
		t.Errorf("exit code %d, spec %+v (%v): want promoted, the remote handle kept", code, got.Spec, err)
	}
}

func TestFailoverNeedsOneMode(t *testing.T) {
	code, out := runPlugin(t, fakeClient(nil), fakeClient(nil), "failover", "csi-nas")
	if code != exitFailed || !strings.Contains(out, "exactly one of --planned or --unplanned") {
		t.Errorf("exit code %d:\n%s", code, out)
	}
}

func TestBytesText(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
}
