package frontend_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/csi"
	"github.com/snapmirror-csi/snapmirror-csi/frontend"
)

const handle = "datavserver:trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1"

func TestMirrors(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	pvc := func(name, annotation string) {
		p := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		if annotation != "" {
			p.Annotations = map[string]string{csi.MirrorAnnotation: annotation}
		}
		if err := cp.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	tmr := func(name, localPVC string, state tridentv1.MirrorState) {
		o := &tridentv1.TridentMirrorRelationship{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       tridentv1.TridentMirrorRelationshipSpec{State: state, VolumeMappings: []tridentv1.VolumeMapping{{LocalPVCName: localPVC}}},
		}
		if state != tridentv1.MirrorStatePromoted {
			o.Spec.VolumeMappings[0].RemoteVolumeHandle = handle
		}
		if err := cp.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	pvc("plain", "")
	pvc("csi-nas", "csi-nas")
	tmr("csi-nas", "csi-nas", tridentv1.MirrorStateEstablished)
	pvc("orphan", "no-such-tmr")
	pvc("wrong", "other")
	tmr("other", "someone-else", tridentv1.MirrorStateEstablished)
	pvc("early", "promoted")
	tmr("promoted", "early", tridentv1.MirrorStatePromoted)
	pvc("not-a-name", "Not_A/Name "+strings.Repeat("x", 5000))

	m := frontend.Mirrors{Reader: cp.Client}
	for _, tc := range []struct {
		// pvc is asked about; want the target, or wantErr a fragment of the MirrorError.
		pvc     string
		want    *csi.MirrorTarget
		wantErr string
	}{
		{pvc: "plain"},
		{pvc: "csi-nas", want: &csi.MirrorTarget{Relationship: "csi-nas", RemoteVolumeHandle: handle}},
		{pvc: "orphan", wantErr: "TridentMirrorRelationship no-such-tmr does not exist in namespace " + ns + ": create it"},
		{pvc: "wrong", wantErr: "maps PVC someone-else, not wrong"},
		{pvc: "early", wantErr: "is in state promoted: a new destination volume needs state established"},
		{pvc: "not-a-name", wantErr: "cannot be the name of a TridentMirrorRelationship"},
	} {
		got, err := m.DestinationOf(ctx, ns, tc.pvc)
		if err != nil && (len(err.Error()) > 1000 || strings.Contains(err.Error(), "create it")) && tc.pvc == "not-a-name" {
			t.Errorf("%s: the error echoes the value or asks to create it: %.300s", tc.pvc, err)
		}
		var mirrorErr *csi.MirrorError
		switch {
		case tc.wantErr != "":
			if !errors.As(err, &mirrorErr) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "nothing was created") {
				t.Errorf("%s: got %v, want a MirrorError with %q", tc.pvc, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.pvc, err)
		case (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want):
			t.Errorf("%s: got %+v, want %+v", tc.pvc, got, tc.want)
		}
	}
}

func TestSecretCredentials(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ontap", Namespace: ns}, Data: map[string][]byte{"username": []byte("admin"), "password": []byte("pw1")}}
	if err := cp.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	resolve := frontend.SecretCredentials(cp.Client, time.Millisecond)
	src, err := resolve(ns + "/ontap")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := src.Credentials(ctx); err != nil || c.Username != "admin" || c.Password != "pw1" {
		t.Errorf("got %v, %v", c, err)
	}
	// Rotation takes effect once the cache expires.
	secret.Data["password"] = []byte("pw2")
	if err := cp.Client.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if c, err := src.Credentials(ctx); err != nil || c.Password != "pw2" {
		t.Errorf("after rotation: %v, %v", c, err)
	}
	missing, _ := resolve(ns + "/absent")
	if _, err := missing.Credentials(ctx); err == nil || strings.Contains(err.Error(), "pw1") || strings.Contains(err.Error(), "pw2") {
		t.Errorf("a missing Secret: %v", err)
	}
	if _, err := resolve("no-slash"); err == nil {
		t.Error("a reference without namespace was accepted")
	}
}
