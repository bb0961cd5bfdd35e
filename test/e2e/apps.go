package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The application is one pod per volume, placed on the site's node (spec.nodeName: there is
// no scheduler). No kubelet runs it; what matters is what Kubernetes does for a pod on a node:
// the attach-detach controller makes a VolumeAttachment for its volume, which the
// external-attacher publishes (ControllerPublishVolume), and when the pod goes, unpublishes.

// appName is the name of the pod that uses a volume's PVC.
func appName(v *Volume) string { return "app-" + v.PVC }

// createApp creates the application's pod on the site's node.
func (s *Site) createApp(ctx context.Context, v *Volume) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: appName(v), Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: s.Node,
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.k8s.io/pause:3.10",
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.PVC},
			}}},
		},
	}
	// The service account controller makes the namespace's default ServiceAccount, which
	// admission needs, shortly after the control plane starts.
	return poll(ctx, 30*time.Second, func() (bool, string) {
		err := s.CP.Client.Create(ctx, pod)
		return err == nil, fmt.Sprintf("create pod %s: %v", pod.Name, err)
	})
}

// startApp creates the application's pod, waits until its volume is published to the node,
// and mounts it there as kubelet would (kubelet.go).
func (s *Site) startApp(ctx context.Context, v *Volume, volume string) (string, error) {
	if err := s.createApp(ctx, v); err != nil {
		return "", err
	}
	published, err := s.waitAttached(ctx, v, volume)
	if err != nil {
		return "", err
	}
	mnt, err := s.mountApp(ctx, v)
	if err != nil {
		return "", err
	}
	if s.mounts == nil {
		s.mounts = map[string]string{}
	}
	s.mounts[v.PVC] = mnt
	return published + "; mounted on the node", nil
}

// stopApp deletes the application's pod, as a node would once its containers stopped, and
// waits until its volume is unpublished: the VolumeAttachment is gone and, for a LUN, ONTAP
// shows no map to the node's igroup.
func (s *Site) stopApp(ctx context.Context, v *Volume, volume string) (string, error) {
	if err := s.unmountApp(ctx, v); err != nil {
		return "", err
	}
	delete(s.mounts, v.PVC)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: appName(v), Namespace: "default"}}
	if err := s.CP.Client.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		return "", err
	}
	err := poll(ctx, 60*time.Second, func() (bool, string) {
		va, err := s.attachment(ctx, v)
		if err != nil || va != nil {
			return false, fmt.Sprintf("VolumeAttachment still there: %v", err)
		}
		if !v.SAN {
			rules, err := s.ExportClients(ctx, volume)
			return err == nil && len(rules) == 0, fmt.Sprintf("export rules %v %v", rules, err)
		}
		maps, err := s.LUNMaps(ctx, volume)
		return err == nil && !slices.ContainsFunc(maps, func(m LUNMap) bool { return m.Igroup == s.igroup() }), fmt.Sprintf("LUN maps %v %v", maps, err)
	})
	if err != nil {
		return "", fmt.Errorf("unpublish after the application stopped: %w", err)
	}
	if v.SAN {
		return "the application stopped: its volume unmounted from the node (the loop device detached), its VolumeAttachment gone and the LUN unmapped from igroup " + s.igroup(), nil
	}
	return "the application stopped: its volume unmounted from the node, its VolumeAttachment gone and the volume's export policy left with no rule", nil
}

// igroup is the node's igroup on this site's SVM: <node>-<installation ID>.
func (s *Site) igroup() string { return s.Node + "-" + s.InstallationID }

// attachment returns the VolumeAttachment of the volume's PV to the site's node, or nil.
func (s *Site) attachment(ctx context.Context, v *Volume) (*storagev1.VolumeAttachment, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := s.CP.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: v.PVC}, pvc); err != nil {
		return nil, err
	}
	vas := &storagev1.VolumeAttachmentList{}
	if err := s.CP.Client.List(ctx, vas); err != nil {
		return nil, err
	}
	for i, va := range vas.Items {
		if pv := va.Spec.Source.PersistentVolumeName; pv != nil && *pv == pvc.Spec.VolumeName && va.Spec.NodeName == s.Node && va.Spec.Attacher == Driver {
			return &vas.Items[i], nil
		}
	}
	return nil, nil
}

// waitAttached waits until the volume's VolumeAttachment is attached. For a LUN it checks the
// publish context (lunNumber) against ONTAP: the LUN is mapped to the node's igroup under
// that number.
func (s *Site) waitAttached(ctx context.Context, v *Volume, volume string) (string, error) {
	var va *storagev1.VolumeAttachment
	err := poll(ctx, 60*time.Second, func() (bool, string) {
		var err error
		if va, err = s.attachment(ctx, v); err != nil || va == nil {
			return false, fmt.Sprintf("no VolumeAttachment yet (%v)", err)
		}
		if !va.Status.Attached {
			return false, fmt.Sprintf("VolumeAttachment %s not attached: %s", va.Name, attachError(va))
		}
		return true, ""
	})
	if err != nil {
		return "", err
	}
	md := va.Status.AttachmentMetadata
	mode := "read-write"
	if md["readOnly"] == "true" {
		mode = "read-only"
	}
	if !v.SAN {
		if md["protocol"] != "nfs" || md["nfsPath"] == "" {
			return "", fmt.Errorf("VolumeAttachment %s says %v: want protocol nfs and nfsPath", va.Name, md)
		}
		rules, err := s.ExportClients(ctx, volume)
		if err != nil || len(rules) != 1 || !strings.HasPrefix(rules[0], "127.0.0.1 ") {
			return "", fmt.Errorf("the export rules of volume %s: %v, %v; want one for the node's address 127.0.0.1", volume, rules, err)
		}
		return fmt.Sprintf("VolumeAttachment %s attached %s: the node mounts %s:%s, and the volume's own export policy has the rule %q", va.Name, mode, md["nfsServer"], md["nfsPath"], rules[0]), nil
	}
	maps, err := s.LUNMaps(ctx, volume)
	if err != nil {
		return "", err
	}
	if !slices.Contains(maps, LUNMap{Igroup: s.igroup(), Number: atoi(md["lunNumber"])}) || md["lunNumber"] == "" || md["lunSerial"] == "" || md["targetIQN"] == "" {
		return "", fmt.Errorf("VolumeAttachment %s says %v, and ONTAP maps the LUN %v; want it mapped to igroup %s under lunNumber", va.Name, md, maps, s.igroup())
	}
	return fmt.Sprintf("VolumeAttachment %s attached %s: LUN %s (serial %s) mapped to igroup %s", va.Name, mode, md["lunNumber"], md["lunSerial"], s.igroup()), nil
}

func attachError(va *storagev1.VolumeAttachment) string {
	if va.Status.AttachError == nil {
		return "none"
	}
	return va.Status.AttachError.Message
}

// atoi reads a decimal number, -1 when it is none.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
