package frontend_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestBadInput: inputs that pass admission but cannot be met (admission's own table is in
// crds/trident/v1, the parameters' in csi). Each gets a status or a CSI error that names the
// field and the fix, a Warning Event where it is a TMR, and nothing is made on ONTAP.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	f := sim.NewFabric(sim.Options{})
	t.Cleanup(f.Close)
	pc, _ := f.AddCluster(sim.ClusterSpec{Name: "primary", SVMs: []string{"datavserver", "lonelysvm"}, Aggregates: []string{"aggr1"}})
	sc, _ := f.AddCluster(sim.ClusterSpec{Name: "secondary", SVMs: []string{"drvserver"}, Aggregates: []string{"aggr1"}})
	if err := f.PeerSVMs("datavserver", "drvserver"); err != nil {
		t.Fatal(err)
	}
	primary, secondary := startSide(t, f, pc, "datavserver", ontap.DriverNAS), startSide(t, f, sc, "drvserver", ontap.DriverNAS)
	primary.provision(t, srcPV, "csi-nas", nil)
	source := "datavserver:" + srcVol
	// A volume on an SVM that is peered with nothing.
	if job, err := primary.backend.CreateVolume(ctx, ontap.VolumeSpec{Name: "lonely", SVM: "lonelysvm", Aggregate: "aggr1", Size: 1 << 30}); err != nil || primary.backend.WaitJob(ctx, job) != nil {
		t.Fatal(err)
	}

	// TMRs on the secondary; each case with a read-write PVC of its own makes it first.
	for i, tc := range []struct {
		name  string
		pvc   bool // provision the PVC (read-write) first
		spec  tridentv1.TridentMirrorRelationshipSpec
		state tridentv1.MirrorState
		want  []string
	}{{
		name:  "TMR naming a missing PVC",
		spec:  tridentv1.TridentMirrorRelationshipSpec{State: "established", VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "absent", RemoteVolumeHandle: source}}},
		state: "establishing", want: []string{"waiting for PVC absent to exist"},
	}, {
		name: "remote handle on an unpeered SVM", pvc: true,
		spec:  tridentv1.TridentMirrorRelationshipSpec{State: "reestablished", VolumeMappings: []tridentv1.VolumeMapping{{RemoteVolumeHandle: "lonelysvm:lonely"}}},
		state: "failed", want: []string{"not peered", "correct spec.volumeMappings[0].remoteVolumeHandle"},
	}, {
		name: "remote handle naming no volume", pvc: true,
		spec:  tridentv1.TridentMirrorRelationshipSpec{State: "reestablished", VolumeMappings: []tridentv1.VolumeMapping{{RemoteVolumeHandle: "datavserver:nosuchvolume"}}},
		state: "failed", want: []string{"datavserver:nosuchvolume does not exist", "correct spec.volumeMappings[0].remoteVolumeHandle"},
	}, {
		name: "unknown replication policy", pvc: true,
		spec:  tridentv1.TridentMirrorRelationshipSpec{State: "reestablished", ReplicationPolicy: "NoSuchPolicy", VolumeMappings: []tridentv1.VolumeMapping{{RemoteVolumeHandle: source}}},
		state: "invalid", want: []string{`spec.replicationPolicy "NoSuchPolicy" is no SnapMirror policy`, "name an existing one"},
	}, {
		name: "replication policy that drops snapshots", pvc: true,
		spec:  tridentv1.TridentMirrorRelationshipSpec{State: "reestablished", ReplicationPolicy: "MirrorLatest", VolumeMappings: []tridentv1.VolumeMapping{{RemoteVolumeHandle: source}}},
		state: "invalid", want: []string{`spec.replicationPolicy "MirrorLatest" is async but does not mirror all source snapshots`},
	}, {
		name: "unknown replication schedule", pvc: true,
		spec:  tridentv1.TridentMirrorRelationshipSpec{State: "reestablished", ReplicationSchedule: "every-blue-moon", VolumeMappings: []tridentv1.VolumeMapping{{RemoteVolumeHandle: source}}},
		state: "failed", want: []string{`"every-blue-moon" does not exist`, "correct spec.replicationSchedule"},
	}, {
		name: "reestablish a volume never mirrored from the source", pvc: true,
		spec:  tridentv1.TridentMirrorRelationshipSpec{State: "reestablished", VolumeMappings: []tridentv1.VolumeMapping{{RemoteVolumeHandle: source}}},
		state: "failed", want: []string{"never in a relationship with " + source, "mirror it with a new destination volume"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("bad-%c", 'a'+i)
			local := "absent"
			if tc.pvc {
				local = name
				secondary.provision(t, "pvc-"+name, local, nil)
			}
			volumes := sc.VolumeNames()
			start := time.Now()
			secondary.tmr(t, name, func(o *tridentv1.TridentMirrorRelationship) {
				o.Spec = tc.spec
				o.Spec.VolumeMappings[0].LocalPVCName = local
			})
			cond := secondary.wait(t, name, tc.state)
			t.Logf("%s: %s", cond.State, cond.Message)
			for _, w := range tc.want {
				if !strings.Contains(cond.Message, w) {
					t.Errorf("message %q lacks %q", cond.Message, w)
				}
			}
			if tc.state == "failed" {
				waitEvent(t, secondary.ns, name, tridentv1.ReasonFailed, tc.want[0])
			}
			if got := sc.VolumeNames(); !slices.Equal(got, volumes) {
				t.Errorf("volumes changed: %v, were %v", got, volumes)
			}
			if tc.pvc {
				// A later pass may be retrying, so a relationship it made for the resync may
				// exist for a moment; none may stay.
				dst := "drvserver:trident_pvc_" + strings.ReplaceAll(name, "-", "_")
				var err error
				if !eventually(10*time.Second, func() bool {
					_, err = secondary.backend.GetRelationship(ctx, dst)
					return errors.Is(err, ontap.ErrNotFound)
				}) {
					t.Errorf("a relationship was left: %v", err)
				}
				// A refusal is retried at the re-check interval (1 s here), not at once.
				creates := 0
				for _, op := range f.History() {
					if op.Name == "create" && op.Destination == dst {
						creates++
					}
				}
				if allowed := 2 + int(time.Since(start)/time.Second); creates > allowed {
					t.Errorf("ONTAP's refusal was retried at once: %d relationships created in %s", creates, time.Since(start).Round(time.Millisecond))
				}
			}
		})
	}

	// Destination PVCs whose mirror cannot be: CSI refuses them, and no FlexVol is made.
	secondary.tmr(t, "to-lonely", func(o *tridentv1.TridentMirrorRelationship) {
		o.Spec = tridentv1.TridentMirrorRelationshipSpec{State: "established", VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: "lonely-copy", RemoteVolumeHandle: "lonelysvm:lonely"}}}
	})
	for _, tc := range []struct {
		name, pvc, annotation string
		want                  []string
	}{
		{"PVC annotation naming a missing TMR", "ghost-copy", "ghost", []string{"ghost", "does not exist", "create"}},
		{"PVC mirroring a volume on an unpeered SVM", "lonely-copy", "to-lonely", []string{"lonelysvm", "peer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: tc.pvc, Namespace: secondary.ns, Annotations: map[string]string{csi.MirrorAnnotation: tc.annotation}},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}, StorageClassName: ptr.To("csi-nas"),
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}
			if err := cp.Client.Create(ctx, pvc); err != nil {
				t.Fatal(err)
			}
			volumes := sc.VolumeNames()
			_, err := secondary.driver.CreateVolume(ctx, &csispec.CreateVolumeRequest{
				Name: "pvc-" + tc.pvc, CapacityRange: &csispec.CapacityRange{RequiredBytes: 1 << 30},
				VolumeCapabilities: []*csispec.VolumeCapability{{AccessType: &csispec.VolumeCapability_Mount{Mount: &csispec.VolumeCapability_MountVolume{}}, AccessMode: &csispec.VolumeCapability_AccessMode{Mode: csispec.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER}}},
				Parameters:         map[string]string{"csi.storage.k8s.io/pvc/name": tc.pvc, "csi.storage.k8s.io/pvc/namespace": secondary.ns},
			})
			t.Logf("%v", err)
			if status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("got %v, want FailedPrecondition", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if got := sc.VolumeNames(); !slices.Equal(got, volumes) {
				t.Errorf("volumes changed: %v, were %v", got, volumes)
			}
		})
	}
}
