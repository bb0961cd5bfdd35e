package v1_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

const remoteHandle = "datavserver:trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1"

// tmr builds a valid established TMR, then applies the options.
func tmr(opts ...func(*v1.TridentMirrorRelationship)) *v1.TridentMirrorRelationship {
	obj := &v1.TridentMirrorRelationship{
		ObjectMeta: metav1.ObjectMeta{Name: "csi-nas"},
		Spec: v1.TridentMirrorRelationshipSpec{
			State:          v1.MirrorStateEstablished,
			VolumeMappings: []v1.VolumeMapping{{LocalPVCName: "csi-nas", RemoteVolumeHandle: remoteHandle}},
		},
	}
	for _, o := range opts {
		o(obj)
	}
	return obj
}

func withState(s v1.MirrorState) func(*v1.TridentMirrorRelationship) {
	return func(o *v1.TridentMirrorRelationship) { o.Spec.State = s }
}

func withMapping(f func(*v1.VolumeMapping)) func(*v1.TridentMirrorRelationship) {
	return func(o *v1.TridentMirrorRelationship) { f(&o.Spec.VolumeMappings[0]) }
}

func withRPO(d time.Duration) func(*v1.TridentMirrorRelationship) {
	return func(o *v1.TridentMirrorRelationship) { o.Spec.RecoveryPointObjective = &metav1.Duration{Duration: d} }
}

// rawTMR is a valid TMR whose spec.recoveryPointObjective is the string rpo as a user may
// write it in YAML, which the typed client cannot send when it is no Go duration.
func rawTMR(rpo string) client.Object {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1.GroupVersion.WithKind("TridentMirrorRelationship"))
	u.SetName("raw")
	u.Object["spec"] = map[string]any{
		"state": "established", "recoveryPointObjective": rpo,
		"volumeMappings": []any{map[string]any{"localPVCName": "csi-nas", "remoteVolumeHandle": remoteHandle}},
	}
	return u
}

func tamu(spec v1.TridentActionMirrorUpdateSpec) *v1.TridentActionMirrorUpdate {
	return &v1.TridentActionMirrorUpdate{ObjectMeta: metav1.ObjectMeta{Name: "update"}, Spec: spec}
}

// TestInvalidObjectsAreRejected: the API server refuses each invalid object at admission, with
// a message that names the field and says how to fix it.
func TestInvalidObjectsAreRejected(t *testing.T) {
	long := strings.Repeat("a", 254)
	cases := []struct {
		name string
		// obj is created, and must be refused.
		obj client.Object
		// want are fragments of the API server's message, all of which must appear.
		want []string
	}{{
		name: "unknown state",
		obj:  tmr(withState("failover")),
		want: []string{`spec.state: Unsupported value: "failover"`, `"established", "promoted", "reestablished"`},
	}, {
		name: "missing state",
		obj:  tmr(withState("")),
		want: []string{"spec.state: Unsupported value"},
	}, {
		name: "no volume mapping",
		obj:  tmr(func(o *v1.TridentMirrorRelationship) { o.Spec.VolumeMappings = []v1.VolumeMapping{} }),
		want: []string{"spec.volumeMappings must hold exactly one mapping: volume groups are not supported yet"},
	}, {
		name: "two volume mappings",
		obj: tmr(func(o *v1.TridentMirrorRelationship) {
			o.Spec.VolumeMappings = append(o.Spec.VolumeMappings, v1.VolumeMapping{LocalPVCName: "other", RemoteVolumeHandle: remoteHandle})
		}),
		want: []string{"spec.volumeMappings must hold exactly one mapping", "create one TridentMirrorRelationship per PVC"},
	}, {
		name: "missing localPVCName",
		obj:  tmr(withMapping(func(m *v1.VolumeMapping) { m.LocalPVCName = "" })),
		want: []string{"spec.volumeMappings[0].localPVCName"},
	}, {
		name: "localPVCName not a PVC name",
		obj:  tmr(withMapping(func(m *v1.VolumeMapping) { m.LocalPVCName = "Csi_Nas" })),
		want: []string{"spec.volumeMappings[0].localPVCName", "must be the name of a PersistentVolumeClaim"},
	}, {
		name: "localPVCName too long",
		obj:  tmr(withMapping(func(m *v1.VolumeMapping) { m.LocalPVCName = long })),
		want: []string{"spec.volumeMappings[0].localPVCName: Too long", "253"},
	}, {
		name: "established without remoteVolumeHandle",
		obj:  tmr(withMapping(func(m *v1.VolumeMapping) { m.RemoteVolumeHandle = "" })),
		want: []string{"remoteVolumeHandle is required when spec.state is established or reestablished", "<svm>:<volume>"},
	}, {
		name: "reestablished without remoteVolumeHandle",
		obj:  tmr(withState(v1.MirrorStateReestablished), withMapping(func(m *v1.VolumeMapping) { m.RemoteVolumeHandle = "" })),
		want: []string{"remoteVolumeHandle is required when spec.state is established or reestablished"},
	}, {
		name: "remoteVolumeHandle without svm",
		obj:  tmr(withMapping(func(m *v1.VolumeMapping) { m.RemoteVolumeHandle = "trident_pvc_1" })),
		want: []string{"spec.volumeMappings[0].remoteVolumeHandle", "must be <svm>:<volume>", "localVolumeHandle"},
	}, {
		name: "remoteVolumeHandle with a volume name ONTAP refuses",
		obj:  tmr(withMapping(func(m *v1.VolumeMapping) { m.RemoteVolumeHandle = "svm1:pvc-3bedd23c" })),
		want: []string{"spec.volumeMappings[0].remoteVolumeHandle", "must be <svm>:<volume>"},
	}, {
		name: "remoteVolumeHandle too long",
		obj:  tmr(withMapping(func(m *v1.VolumeMapping) { m.RemoteVolumeHandle = "svm1:" + strings.Repeat("v", 250) })),
		want: []string{"spec.volumeMappings[0].remoteVolumeHandle: Too long"},
	}, {
		name: "promotedSnapshotHandle with established",
		obj:  tmr(withMapping(func(m *v1.VolumeMapping) { m.PromotedSnapshotHandle = "pvc-1/snap-1" })),
		want: []string{"promotedSnapshotHandle is allowed only with spec.state: promoted"},
	}, {
		name: "promotedSnapshotHandle with reestablished",
		obj: tmr(withState(v1.MirrorStateReestablished),
			withMapping(func(m *v1.VolumeMapping) { m.PromotedSnapshotHandle = "pvc-1/snap-1" })),
		want: []string{"promotedSnapshotHandle is allowed only with spec.state: promoted"},
	}, {
		name: "promotedSnapshotHandle without a snapshot",
		obj:  tmr(withState(v1.MirrorStatePromoted), withMapping(func(m *v1.VolumeMapping) { m.PromotedSnapshotHandle = "pvc-1" })),
		want: []string{"spec.volumeMappings[0].promotedSnapshotHandle", "must be <volume>/<snapshot>"},
	}, {
		name: "promotedSnapshotHandle with too many parts",
		obj:  tmr(withState(v1.MirrorStatePromoted), withMapping(func(m *v1.VolumeMapping) { m.PromotedSnapshotHandle = "pvc-1/snap/1" })),
		want: []string{"must be <volume>/<snapshot>"},
	}, {
		name: "replicationPolicy too long",
		obj:  tmr(func(o *v1.TridentMirrorRelationship) { o.Spec.ReplicationPolicy = strings.Repeat("p", 257) }),
		want: []string{"spec.replicationPolicy: Too long"},
	}, {
		name: "recoveryPointObjective below a minute",
		obj:  tmr(withRPO(30 * time.Second)),
		want: []string{"spec.recoveryPointObjective must be a duration of at least 1m", "remove it to derive the objective"},
	}, {
		name: "recoveryPointObjective negative",
		obj:  tmr(withRPO(-5 * time.Minute)),
		want: []string{"spec.recoveryPointObjective must be a duration of at least 1m"},
	}, {
		name: "recoveryPointObjective not a duration",
		obj:  rawTMR("15 minutes"),
		want: []string{"spec.recoveryPointObjective must be a duration of at least 1m, such as 15m or 1h30m"},
	}, {
		name: "TAMU without a relationship",
		obj:  tamu(v1.TridentActionMirrorUpdateSpec{}),
		want: []string{"spec.tridentMirrorRelationshipName"},
	}, {
		name: "TAMU with a malformed relationship name",
		obj:  tamu(v1.TridentActionMirrorUpdateSpec{TridentMirrorRelationshipName: "Mirror B"}),
		want: []string{"spec.tridentMirrorRelationshipName", "must be the name of a TridentMirrorRelationship"},
	}, {
		name: "TAMU with a malformed snapshotHandle",
		obj:  tamu(v1.TridentActionMirrorUpdateSpec{TridentMirrorRelationshipName: "mirror-b", SnapshotHandle: "snapshot-1234"}),
		want: []string{"spec.snapshotHandle", "must be <volume>/<snapshot>"},
	}, {
		name: "TridentSnapshotInfo without snapshotName",
		obj:  &v1.TridentSnapshotInfo{ObjectMeta: metav1.ObjectMeta{Name: "info"}},
		want: []string{"spec.snapshotName"},
	}, {
		name: "SnapshotInfo without snapshot-name",
		obj:  &v1.SnapshotInfo{ObjectMeta: metav1.ObjectMeta{Name: "info"}},
		want: []string{"spec.snapshot-name"},
	}, {
		name: "SnapshotInfo with a malformed snapshot-name",
		obj:  &v1.SnapshotInfo{ObjectMeta: metav1.ObjectMeta{Name: "info"}, Spec: v1.SnapshotInfoSpec{SnapshotName: "my/snap"}},
		want: []string{"spec.snapshot-name", "must be the name of a VolumeSnapshot"},
	}}
	ns := newNamespace(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.obj.SetNamespace(ns)
			err := cp.Client.Create(context.Background(), tc.obj)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create: got %v, want an Invalid error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestValidSpecsAreAccepted: each desired state with the fields it allows.
func TestValidSpecsAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	for i, obj := range []*v1.TridentMirrorRelationship{
		tmr(),
		tmr(withState(v1.MirrorStateReestablished)),
		tmr(withState(v1.MirrorStatePromoted), withMapping(func(m *v1.VolumeMapping) { m.RemoteVolumeHandle = "" })),
		tmr(withState(v1.MirrorStatePromoted), withMapping(func(m *v1.VolumeMapping) {
			m.PromotedSnapshotHandle = "pvc-3bedd23c-46a8-4384-b12b-3c38b313c1e1/snapshot-0cd5b1a4"
		})),
		tmr(func(o *v1.TridentMirrorRelationship) {
			o.Spec.ReplicationPolicy, o.Spec.ReplicationSchedule = "MirrorAllSnapshots", "5min"
		}),
		tmr(withMapping(func(m *v1.VolumeMapping) { m.RemoteVolumeHandle = "svm-dr.example_1:_vol1" })),
		tmr(withRPO(time.Minute)),
		tmr(withRPO(90 * time.Minute)),
		tmr(withState(v1.MirrorStatePromoted), withRPO(15*time.Minute)),
	} {
		obj.Name = obj.Name + "-" + string(rune('a'+i))
		obj.Namespace = ns
		if err := cp.Client.Create(context.Background(), obj); err != nil {
			t.Errorf("create %+v: %v", obj.Spec, err)
		}
	}
}

// TestTAMUSpecIsImmutable: a TAMU is a one-shot action; its spec cannot change, its status can.
func TestTAMUSpecIsImmutable(t *testing.T) {
	ctx := context.Background()
	obj := tamu(v1.TridentActionMirrorUpdateSpec{TridentMirrorRelationshipName: "mirror-b"})
	obj.Namespace = newNamespace(t)
	if err := cp.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	obj.Status = v1.TridentActionMirrorUpdateStatus{State: v1.ActionStateInProgress, Message: "transfer started"}
	if err := cp.Client.Status().Update(ctx, obj); err != nil {
		t.Fatalf("status update: %v", err)
	}
	for name, change := range map[string]func(*v1.TridentActionMirrorUpdateSpec){
		"snapshotHandle":                func(s *v1.TridentActionMirrorUpdateSpec) { s.SnapshotHandle = "pvc-1/snap-1" },
		"tridentMirrorRelationshipName": func(s *v1.TridentActionMirrorUpdateSpec) { s.TridentMirrorRelationshipName = "mirror-c" },
	} {
		changed := obj.DeepCopy()
		change(&changed.Spec)
		err := cp.Client.Update(ctx, changed)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec is immutable") {
			t.Errorf("change %s: got %v, want an Invalid error saying the spec is immutable", name, err)
		}
	}
}

// TestTMRStatusRoundTrip: every status field the controllers fill is stored and read back.
func TestTMRStatusRoundTrip(t *testing.T) {
	ctx := context.Background()
	obj := tmr()
	obj.Namespace = newNamespace(t)
	if err := cp.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	want := v1.TridentMirrorRelationshipCondition{
		State: v1.MirrorStateEstablished, Message: "mirrored", LastTransitionTime: &now,
		ObservedGeneration: obj.Generation, LocalPVCName: "csi-nas", LocalVolumeHandle: "svm2:trident_pvc_x",
		RemoteVolumeHandle: remoteHandle, ReplicationPolicy: "MirrorAllSnapshots", ReplicationSchedule: "5min",
		Lag: &metav1.Duration{Duration: 5 * time.Minute}, Healthy: ptr.To(false), UnhealthyReason: "transfer failed",
		LastTransferTime: &now, LastTransferBytes: ptr.To[int64](1 << 20), LastTransferDuration: &metav1.Duration{Duration: 3 * time.Second},
		RecoveryPointObjective: &metav1.Duration{Duration: 10 * time.Minute}, RecoveryPointObjectiveSource: "derived from schedule 5min",
		RPOStatus: v1.RPOAtRisk,
	}
	obj.Status.Conditions = []v1.TridentMirrorRelationshipCondition{want}
	if err := cp.Client.Status().Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	got := &v1.TridentMirrorRelationship{}
	if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 1 {
		t.Fatalf("got %d conditions, want 1", len(got.Status.Conditions))
	}
	g := got.Status.Conditions[0]
	if !g.LastTransitionTime.Equal(want.LastTransitionTime) || !g.LastTransferTime.Equal(want.LastTransferTime) {
		t.Errorf("times: got %v and %v, want %v", g.LastTransitionTime, g.LastTransferTime, now)
	}
	g.LastTransitionTime, g.LastTransferTime, want.LastTransitionTime, want.LastTransferTime = nil, nil, nil, nil
	if !equalJSON(t, g, want) {
		t.Errorf("status read back:\n got %+v\nwant %+v", g, want)
	}
}
