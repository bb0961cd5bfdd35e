package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The node side. Each site's node runs the real node plugin (snapmirror-csi --mode=node) with
// the simulator's fabric: "mount over NFS" is a bind mount of the volume's directory, which the
// simulator grants only where the volume's export policy admits the node, and "iSCSI login" a
// loop device on the LUN's image, found by its serial; everything after is real (mkfs, mount,
// read-only mounts, unmount). What this machine cannot run is kubelet (it has no container
// runtime), so the test plays kubelet's part for the site's one node, as kubelet does it:
// the plugin registration (GetInfo on the registration socket, NodeGetInfo, the CSINode with
// that node ID), and, for a pod, NodeStageVolume and NodePublishVolume once its volume's
// VolumeAttachment is attached (with the attachment's metadata as the publish context), and
// NodeUnpublishVolume and NodeUnstageVolume before the pod goes. The application is a process
// that reads and writes its files through the published mount.

// RequireRootEnv, set to 1 (as .ci/run does), makes the tests that need root fail instead of
// skipping when they do not have it.
const RequireRootEnv = "SNAPMIRROR_REQUIRE_ROOT_TESTS"

// kubelet is the test's stand-in for the site's kubelet.
type kubelet struct {
	dir  string // its root, like /var/lib/kubelet
	conn *grpc.ClientConn
	node csispec.NodeClient
}

// startNodePlugin starts the site's node plugin and registers it as kubelet would, which gives
// the node's ID.
func (s *Site) startNodePlugin(ctx context.Context, binary string, start func(name, path string, args ...string) error) error {
	k := &kubelet{dir: filepath.Join(s.dir, "kubelet")}
	s.kubelet = k
	iqn := "iqn.2005-03.org.open-iscsi:" + s.Name + "-worker"
	initiator := filepath.Join(s.dir, "initiatorname.iscsi")
	cas := filepath.Join(s.dir, "sim-ca.pem")
	registration := filepath.Join(k.dir, "plugins_registry", Driver+"-reg.sock")
	endpoint := filepath.Join(k.dir, "plugins", Driver, "csi.sock")
	health, err := freeAddress()
	if err != nil {
		return err
	}
	for name, content := range map[string]string{initiator: "InitiatorName=" + iqn + "\n", cas: string(s.Cluster.CA()) + string(s.peer.CA())} {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(registration), 0o750); err != nil {
		return err
	}
	if err := start("snapmirror-csi-node", binary, "--mode=node", "--node-name="+s.Name+"-worker", "--csi-endpoint=unix://"+endpoint,
		"--kubelet-csi-endpoint="+endpoint, "--registration-socket="+registration, "--iscsi-initiator-file="+initiator,
		"--nfs-addresses=127.0.0.1", "--state-dir="+filepath.Join(s.dir, "node-state"), "--health-probe-bind-address="+health,
		"--fabric=sim", "--sim-endpoints=https://"+s.Cluster.Address()+",https://"+s.peer.Address(), "--sim-ca-file="+cas,
		"--sim-credentials-dir="+s.CredentialsDir(), "-v=1"); err != nil {
		return err
	}
	// kubelet's plugin watcher finds the socket, asks GetInfo, and dials the endpoint it names.
	var info *registerapi.PluginInfo
	err = poll(ctx, 30*time.Second, func() (bool, string) {
		conn, err := grpc.NewClient("unix://"+registration, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return false, err.Error()
		}
		defer conn.Close()
		info, err = registerapi.NewRegistrationClient(conn).GetInfo(ctx, &registerapi.InfoRequest{})
		return err == nil, fmt.Sprintf("GetInfo on %s: %v", registration, err)
	})
	if err != nil {
		return err
	}
	if info.Type != registerapi.CSIPlugin || info.Name != Driver || info.Endpoint != endpoint {
		return fmt.Errorf("the node plugin registers %+v; want a CSI plugin %s at %s", info, Driver, endpoint)
	}
	if k.conn, err = grpc.NewClient("unix://"+info.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return err
	}
	k.node = csispec.NewNodeClient(k.conn)
	got, err := k.node.NodeGetInfo(ctx, &csispec.NodeGetInfoRequest{})
	if err != nil {
		return fmt.Errorf("NodeGetInfo: %w", err)
	}
	s.NodeID = got.GetNodeId()
	if want := s.Name + "-worker;iqn=" + iqn + ";nfs=127.0.0.1"; s.NodeID != want {
		return fmt.Errorf("NodeGetInfo says node ID %q; want %q", s.NodeID, want)
	}
	reg, err := grpc.NewClient("unix://"+registration, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer reg.Close()
	_, err = registerapi.NewRegistrationClient(reg).NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: true})
	return err
}

// mounted is where a pod's volume is published on the node.
func (k *kubelet) targetPath(pod *corev1.Pod, pv string) string {
	return filepath.Join(k.dir, "pods", string(pod.UID), "volumes", "kubernetes.io~csi", pv, "mount")
}

// stagingPath is the volume's global mount on the node, as kubelet names it.
func (k *kubelet) stagingPath(handle string) string {
	sum := sha256.Sum256([]byte(handle))
	return filepath.Join(k.dir, "plugins", "kubernetes.io", "csi", Driver, hex.EncodeToString(sum[:]), "globalmount")
}

// mountApp stages and publishes the volume of the application's pod on the node, from its
// PV and its attached VolumeAttachment, and returns the pod's mount.
func (s *Site) mountApp(ctx context.Context, v *Volume) (string, error) {
	pod, pv, err := s.appVolume(ctx, v)
	if err != nil {
		return "", err
	}
	va, err := s.attachment(ctx, v)
	if err != nil || va == nil || !va.Status.Attached {
		return "", fmt.Errorf("the volume is not attached to %s: %v", s.Node, err)
	}
	k, src := s.kubelet, pv.Spec.CSI
	capability := &csispec.VolumeCapability{
		AccessType: &csispec.VolumeCapability_Mount{Mount: &csispec.VolumeCapability_MountVolume{FsType: src.FSType}},
		AccessMode: &csispec.VolumeCapability_AccessMode{Mode: accessMode(pv.Spec.AccessModes)},
	}
	staging := k.stagingPath(src.VolumeHandle)
	if _, err := k.node.NodeStageVolume(ctx, &csispec.NodeStageVolumeRequest{
		VolumeId: src.VolumeHandle, PublishContext: va.Status.AttachmentMetadata, StagingTargetPath: staging,
		VolumeCapability: capability, VolumeContext: src.VolumeAttributes,
	}); err != nil {
		return "", fmt.Errorf("NodeStageVolume: %w", err)
	}
	target := k.targetPath(pod, pv.Name)
	if _, err := k.node.NodePublishVolume(ctx, &csispec.NodePublishVolumeRequest{
		VolumeId: src.VolumeHandle, PublishContext: va.Status.AttachmentMetadata, StagingTargetPath: staging, TargetPath: target,
		VolumeCapability: capability, VolumeContext: src.VolumeAttributes,
	}); err != nil {
		return "", fmt.Errorf("NodePublishVolume: %w", err)
	}
	return target, nil
}

// unmountApp unpublishes and unstages the volume of the application's pod, as kubelet does
// once the pod's containers stopped, before the VolumeAttachment goes.
func (s *Site) unmountApp(ctx context.Context, v *Volume) error {
	pod, pv, err := s.appVolume(ctx, v)
	if err != nil {
		return err
	}
	k, handle := s.kubelet, pv.Spec.CSI.VolumeHandle
	if _, err := k.node.NodeUnpublishVolume(ctx, &csispec.NodeUnpublishVolumeRequest{VolumeId: handle, TargetPath: k.targetPath(pod, pv.Name)}); err != nil {
		return fmt.Errorf("NodeUnpublishVolume: %w", err)
	}
	if _, err := k.node.NodeUnstageVolume(ctx, &csispec.NodeUnstageVolumeRequest{VolumeId: handle, StagingTargetPath: k.stagingPath(handle)}); err != nil {
		return fmt.Errorf("NodeUnstageVolume: %w", err)
	}
	return nil
}

// appVolume returns the application's pod and its volume's PV.
func (s *Site) appVolume(ctx context.Context, v *Volume) (*corev1.Pod, *corev1.PersistentVolume, error) {
	pod := &corev1.Pod{}
	if err := s.CP.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: appName(v)}, pod); err != nil {
		return nil, nil, err
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if err := s.CP.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: v.PVC}, pvc); err != nil {
		return nil, nil, err
	}
	pv := &corev1.PersistentVolume{}
	if err := s.CP.Client.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		return nil, nil, err
	}
	if pv.Spec.CSI == nil {
		return nil, nil, fmt.Errorf("PV %s is not a CSI volume", pv.Name)
	}
	return pod, pv, nil
}

func accessMode(modes []corev1.PersistentVolumeAccessMode) csispec.VolumeCapability_AccessMode_Mode {
	if len(modes) == 0 {
		return csispec.VolumeCapability_AccessMode_UNKNOWN
	}
	switch modes[0] {
	case corev1.ReadWriteMany:
		return csispec.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	case corev1.ReadOnlyMany:
		return csispec.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
	case corev1.ReadWriteOncePod:
		return csispec.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
	}
	return csispec.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
}

// The application: a process on the node that uses the volume through the pod's mount.

// appFile is the application's data file.
const appFile = "orders.db"

// appWrite has the application write text to its file and make it durable: fsync, and on a
// LUN's filesystem a freeze and thaw (fsfreeze), as an application-consistent snapshot is
// prepared: the journal is checkpointed, so a copy taken afterwards holds the file even where
// its journal cannot be replayed (a mirror destination mounted read-only).
func (s *Site) appWrite(v *Volume, text string) error {
	mnt, ok := s.mounts[v.PVC]
	if !ok {
		return fmt.Errorf("the application of %s does not run on %s", v.PVC, s.Name)
	}
	script := `printf %s "$1" > "$2/` + appFile + `" && sync "$2/` + appFile + `"`
	if v.SAN {
		script += ` && fsfreeze --freeze "$2" && fsfreeze --unfreeze "$2"`
	}
	if out, err := exec.Command("sh", "-c", script, "app", text, mnt).CombinedOutput(); err != nil {
		return fmt.Errorf("the application's write on %s: %w: %s", s.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// appRead has the application read its file through its mount.
func (s *Site) appRead(v *Volume) (string, error) {
	mnt, ok := s.mounts[v.PVC]
	if !ok {
		return "", fmt.Errorf("the application of %s does not run on %s", v.PVC, s.Name)
	}
	out, err := exec.Command("cat", filepath.Join(mnt, appFile)).Output()
	if err != nil {
		return "", fmt.Errorf("the application's read on %s: %w", s.Name, err)
	}
	return string(out), nil
}

// appReads checks that the application reads want through its mount.
func (s *Site) appReads(v *Volume, want string) error {
	got, err := s.appRead(v)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("the application on %s reads %q from %s, want %q", s.Name, got, appFile, want)
	}
	return nil
}

// appCannotWrite checks that a write through the application's mount fails as read-only.
func (s *Site) appCannotWrite(v *Volume) (string, error) {
	mnt := s.mounts[v.PVC]
	out, err := exec.Command("sh", "-c", `echo x > "$1/probe"`, "app", mnt).CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if err == nil || !strings.Contains(msg, "Read-only file system") {
		return "", fmt.Errorf("a write to the mirror destination's mount: %v %q, want a read-only file system", err, msg)
	}
	return "Read-only file system", nil
}

// unmountAll releases what the node plugin left mounted or attached under dir, in case a test
// stopped half-way: every mount below it (deepest first, detached) and every loop device whose
// backing file is below dataDir. It runs before the folders are removed, so that removing them
// never reaches through a mount into the simulator's volumes.
func unmountAll(dir, dataDir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", points[i], err))
		}
	}
	if dataDir == "" {
		return errors.Join(errs...)
	}
	out, err := exec.Command("losetup", "--noheadings", "--list", "--output", "NAME,BACK-FILE").Output()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for line := range strings.Lines(string(out)) {
		name, back, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(strings.TrimSpace(back), dataDir+"/") {
			if out, err := exec.Command("losetup", "--detach", name).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("losetup --detach %s: %w: %s", name, err, out))
			}
		}
	}
	return errors.Join(errs...)
}
