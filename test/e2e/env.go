// Package e2e runs the product as users run it, on two "sites": each has its own control plane
// (etcd, kube-apiserver and kube-controller-manager, built from source), its own simulated
// ONTAP cluster (an ontap-nas and an ontap-san backend on its SVM), its own snapmirror-csi
// process, and the real CSI sidecars on its socket (external-provisioner with
// --extra-create-metadata, external-attacher, external-resizer, csi-snapshotter and
// snapshot-controller). There is no kubelet: each site has one Node, registered as a kubelet
// and our node plugin would register it (a CSINode with the node ID, iSCSI initiator name
// included), so that kube-controller-manager's attach-detach controller makes a
// VolumeAttachment for each volume of a pod placed on it, and the external-attacher publishes
// it. The end-to-end test and `make demo` both use it.
package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/controlplane"
)

// Env is the two sites and the simulated fabric between them.
type Env struct {
	Fabric             *sim.Fabric
	Primary, Secondary *Site
	// Root is the repository, where examples/ is.
	Root string
	// Password is the ONTAP password of this run, made at random, so that logs can be
	// searched for it.
	Password string
	dir      string
}

// Site is one Kubernetes cluster with its storage.
type Site struct {
	Name string
	SVM  string
	// Node is the site's one Kubernetes node, and NodeID what our node plugin would report
	// for it: <node>;iqn=<its iSCSI initiator name>.
	Node, NodeID string
	// InstallationID is snapmirror-csi's on this site: the kube-system namespace's UID. It
	// ends the node's igroup name.
	InstallationID string
	CP             *controlplane.ControlPlane
	Cluster        *sim.Cluster
	// MetricsAddr is where snapmirror-csi serves its metrics: HTTPS, to a token allowed to get
	// /metrics (deploy/rbac/metrics_reader.yaml).
	MetricsAddr string
	dir         string
	procs       []*exec.Cmd
	// peer is the other site's cluster, configured as a peer for split-brain detection.
	peer    *sim.Cluster
	peerSVM string
	// user and password are the ONTAP administrator's, for LUNMaps.
	user, password string
	// kubelet plays kubelet's part for the node (kubelet.go); mounts are the running
	// applications' mounts, by PVC.
	kubelet *kubelet
	mounts  map[string]string
}

// Options configure Start.
type Options struct {
	// Log, when set, receives one line per started component.
	Log func(format string, args ...any)
}

// Start builds snapmirror-csi, starts the fabric of test/topologies/two-clusters.yaml and both
// sites. Call Stop when done, even after an error.
func Start(ctx context.Context, opts Options) (*Env, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the sites' node plugins mount filesystems and attach loop devices: run as root")
	}
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	root, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := controlplane.Assets(root)
	if err != nil {
		return nil, err
	}
	for _, b := range sidecars {
		if _, err := os.Stat(filepath.Join(assets, "csi", b)); err != nil {
			return nil, fmt.Errorf("CSI sidecar %s is missing from %s/csi: run WITH_CSI=1 hack/install-test-binaries.sh (or make test)", b, assets)
		}
	}
	dir, err := os.MkdirTemp("", "snapmirror-e2e-")
	if err != nil {
		return nil, err
	}
	env := &Env{dir: dir, Root: root}
	binary := filepath.Join(dir, "snapmirror-csi")
	logf("building snapmirror-csi")
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, "./cmd/snapmirror-csi")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return env, fmt.Errorf("build snapmirror-csi: %w: %s", err, out)
	}
	topo, err := sim.LoadTopology(filepath.Join(root, "test", "topologies", "two-clusters.yaml"))
	if err != nil {
		return env, err
	}
	random := make([]byte, 12)
	rand.Read(random)
	env.Password = "e2e-" + hex.EncodeToString(random)
	topo.Credentials.Username, topo.Credentials.PasswordFile = "admin", filepath.Join(dir, "ontap-password")
	// The topology's timings are ONTAP's (jobs of seconds, transfers with a setup); on a clock
	// 50 times real time the harness keeps them and stays fast.
	topo.ClockRate = 50
	if err := os.WriteFile(topo.Credentials.PasswordFile, []byte(env.Password), 0o600); err != nil {
		return env, err
	}
	if env.Fabric, err = topo.Start(); err != nil {
		return env, err
	}
	for _, spec := range []struct{ name, cluster, svm, peer, peerSVM string }{
		{"primary", "primary", "datavserver", "secondary", "drvserver"}, {"secondary", "secondary", "drvserver", "primary", "datavserver"},
	} {
		s := &Site{Name: spec.name, SVM: spec.svm, Cluster: env.Fabric.Cluster(spec.cluster), dir: filepath.Join(dir, spec.name),
			peer: env.Fabric.Cluster(spec.peer), peerSVM: spec.peerSVM}
		if spec.name == "primary" {
			env.Primary = s
		} else {
			env.Secondary = s
		}
		if err := s.start(ctx, env.Fabric, root, assets, binary, logf); err != nil {
			return env, fmt.Errorf("site %s: %w", spec.name, err)
		}
	}
	return env, nil
}

var sidecars = []string{"csi-provisioner", "csi-attacher", "csi-resizer", "csi-snapshotter", "snapshot-controller"}

// Driver is the CSI driver name, Trident's.
const Driver = "csi.trident.netapp.io"

// registerNode creates the site's Node as a kubelet would (its attach and detach left to the
// attach-detach controller), and its CSINode as a kubelet does when our node plugin registers,
// with the node ID that NodeGetInfo would give.
func (s *Site) registerNode(ctx context.Context) error {
	s.Node = s.Name + "-worker"
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: s.Node, Annotations: map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"}}}
	if err := s.CP.Client.Create(ctx, node); err != nil {
		return err
	}
	csiNode := &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{Name: s.Node, OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}},
		Spec:       storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: Driver, NodeID: s.NodeID}}},
	}
	return s.CP.Client.Create(ctx, csiNode)
}

func (s *Site) start(ctx context.Context, f *sim.Fabric, root, assets, binary string, logf func(string, ...any)) error {
	if err := os.MkdirAll(filepath.Join(s.dir, "creds"), 0o700); err != nil {
		return err
	}
	var err error
	logf("%s: starting etcd and kube-apiserver", s.Name)
	if s.CP, err = controlplane.StartWith(controlplane.Options{AuditLog: filepath.Join(s.dir, "audit.jsonl")}); err != nil {
		return err
	}
	// snapmirror-csi runs as its own user with exactly the roles of deploy/rbac/role.yaml: the
	// ClusterRole, and the Role of its namespace (Secrets, the leader election Lease).
	userKubeconfig, err := s.CP.UserKubeconfig(DriverUser)
	if err != nil {
		return err
	}
	// The CSI sidecars of deploy/ run as another user, with the ClusterRole that
	// deploy/rbac/sidecars.yaml gives them (their leader election is off here).
	sidecarKubeconfig, err := s.CP.UserKubeconfig(SidecarUser)
	if err != nil {
		return err
	}
	for _, args := range [][]string{
		{"create", "namespace", DriverNamespace},
		{"apply", "-f", filepath.Join(root, "deploy", "rbac", "role.yaml")},
		{"apply", "-f", filepath.Join(root, "deploy", "rbac", "sidecars.yaml")},
		{"create", "clusterrolebinding", "snapmirror-csi-sidecars-user", "--clusterrole=snapmirror-csi-sidecars", "--user=" + SidecarUser},
		{"create", "clusterrolebinding", "snapmirror-csi", "--clusterrole=snapmirror-csi", "--user=" + DriverUser},
		{"create", "rolebinding", "snapmirror-csi", "--namespace=" + DriverNamespace, "--role=snapmirror-csi", "--user=" + DriverUser},
		{"apply", "-f", filepath.Join(root, "deploy", "csidriver.yaml")},
	} {
		if _, err := s.CP.Kubectl(args...); err != nil {
			return err
		}
	}
	start := func(name, path string, args ...string) error {
		logf("%s: starting %s", s.Name, name)
		log, err := os.Create(filepath.Join(s.dir, name+".log"))
		if err != nil {
			return err
		}
		cmd := exec.Command(path, args...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		s.procs = append(s.procs, cmd)
		return nil
	}

	system := &corev1.Namespace{}
	if err := s.CP.Client.Get(ctx, client.ObjectKey{Name: metav1.NamespaceSystem}, system); err != nil {
		return err
	}
	s.InstallationID = string(system.UID)
	// The primary reads its credentials from files (a mounted Secret), the secondary from a
	// Secret through the API: both ways are in the logs the test searches.
	u, p := f.Credentials()
	s.user, s.password = u, p
	creds := "{file: creds}"
	if s.Name == "secondary" {
		creds = "{secret: " + DriverNamespace + "/ontap-credentials}"
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ontap-credentials", Namespace: DriverNamespace}, StringData: map[string]string{"username": u, "password": p}}
		if err := s.CP.Client.Create(ctx, secret); err != nil {
			return err
		}
	}
	// Both drivers serve the site's SVM, each from a backend of its own, as with Trident.
	// NFS volumes get export policies of their own, which admit the nodes they are published to.
	backend := func(name, driver string) string {
		exports := ""
		if driver == "ontap-nas" {
			exports = "  autoExportPolicy: true\n"
		}
		return fmt.Sprintf("- name: %s\n  driver: %s\n  managementLIF: %s\n  svm: %s\n  aggregates: [aggr1]\n"+
			"  caFile: ca.pem\n  credentials: %s\n  replicationPolicy: MirrorAllSnapshots\n  replicationSchedule: 5min\n%s",
			name, driver, s.Cluster.Address(), s.SVM, creds, exports)
	}
	files := map[string]string{
		"creds/username": u, "creds/password": p, "ca.pem": string(s.Cluster.CA()), "peer-ca.pem": string(s.peer.CA()),
		"backends.yaml": "backends:\n" + backend(s.Name, "ontap-nas") + backend(s.Name+"-san", "ontap-san") +
			fmt.Sprintf("peers:\n- name: other-site\n  managementLIF: %s\n  svm: %s\n  caFile: peer-ca.pem\n  credentials: {file: creds}\n", s.peer.Address(), s.peerSVM),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	// The node's plugin first: its registration gives the node ID that the CSINode carries.
	if err := s.startNodePlugin(ctx, binary, start); err != nil {
		return err
	}
	if err := s.registerNode(ctx); err != nil {
		return err
	}
	if s.MetricsAddr, err = freeAddress(); err != nil {
		return err
	}
	kc, sidecarKC := "--kubeconfig="+s.CP.Kubeconfig, "--kubeconfig="+sidecarKubeconfig
	sock := filepath.Join(s.dir, "csi.sock")
	csiAddr := "--csi-address=" + sock
	csiBin := func(b string) string { return filepath.Join(assets, "csi", b) }
	for _, c := range []struct {
		name, path string
		args       []string
	}{
		// The attach-detach controller makes a VolumeAttachment for each volume of a pod on a
		// node; the service account controller makes the namespaces' default ServiceAccount,
		// without which no pod is admitted.
		{"kube-controller-manager", filepath.Join(assets, "kube-controller-manager"), []string{kc, "--controllers=persistentvolume-binder-controller,persistentvolume-expander-controller,persistentvolume-protection-controller,persistentvolumeclaim-protection-controller," +
			"persistentvolume-attach-detach-controller,serviceaccount-controller",
			"--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false"}},
		{"snapmirror-csi", binary, []string{"--kubeconfig=" + userKubeconfig, "--leader-elect", "--leader-election-namespace=" + DriverNamespace, "--backends=" + filepath.Join(s.dir, "backends.yaml"), "--csi-endpoint=unix://" + sock,
			"--metrics-bind-address=" + s.MetricsAddr, "--health-probe-bind-address=0", "--recheck-interval=2s", "-v=1"}},
		{"csi-provisioner", csiBin("csi-provisioner"), []string{sidecarKC, csiAddr, "--extra-create-metadata", "--leader-election=false", "--timeout=60s", "--retry-interval-max=2s"}},
		{"csi-attacher", csiBin("csi-attacher"), []string{sidecarKC, csiAddr, "--leader-election=false", "--timeout=60s", "--retry-interval-max=2s"}},
		{"csi-resizer", csiBin("csi-resizer"), []string{sidecarKC, csiAddr, "--leader-election=false", "--timeout=60s"}},
		{"csi-snapshotter", csiBin("csi-snapshotter"), []string{sidecarKC, csiAddr, "--leader-election=false", "--timeout=60s"}},
		{"snapshot-controller", csiBin("snapshot-controller"), []string{kc, "--leader-election=false"}},
	} {
		if err := start(c.name, c.path, c.args...); err != nil {
			return err
		}
	}
	class := &snapshotv1.VolumeSnapshotClass{ObjectMeta: metav1.ObjectMeta{Name: "csi-snapclass"}, Driver: Driver, DeletionPolicy: snapshotv1.VolumeSnapshotContentDelete}
	return s.CP.Client.Create(ctx, class)
}

// LUNMap is a LUN's map to an igroup.
type LUNMap struct {
	Igroup string
	Number int
}

// LUNMaps asks the site's ONTAP, through its REST API as an administrator would, which
// igroups the LUN lun0 of a volume is mapped to.
func (s *Site) LUNMaps(ctx context.Context, volume string) ([]LUNMap, error) {
	var body struct {
		Records []struct {
			Igroup struct{ Name string }
			Number int `json:"logical_unit_number"`
		}
	}
	q := url.Values{"svm.name": {s.SVM}, "lun.name": {"/vol/" + volume + "/lun0"}, "fields": {"igroup.name,logical_unit_number"}}
	if err := s.ontapGet(ctx, "/api/protocols/san/lun-maps", q, &body); err != nil {
		return nil, err
	}
	maps := make([]LUNMap, len(body.Records))
	for i, r := range body.Records {
		maps[i] = LUNMap{Igroup: r.Igroup.Name, Number: r.Number}
	}
	return maps, nil
}

// CAFile is where the site's ONTAP CA is (PEM), and CredentialsDir the folder holding its
// ONTAP user name and password (files username and password), as the driver reads them.
func (s *Site) CAFile() string         { return filepath.Join(s.dir, "ca.pem") }
func (s *Site) CredentialsDir() string { return filepath.Join(s.dir, "creds") }

// JunctionPath asks the site's ONTAP where a volume is mounted in its SVM's namespace (NFS);
// "" when it is not.
func (s *Site) JunctionPath(ctx context.Context, volume string) (string, error) {
	var body struct {
		Records []struct {
			NAS struct{ Path string } `json:"nas"`
		}
	}
	q := url.Values{"svm.name": {s.SVM}, "name": {volume}, "fields": {"nas.path"}}
	if err := s.ontapGet(ctx, "/api/storage/volumes", q, &body); err != nil {
		return "", err
	}
	if len(body.Records) != 1 {
		return "", fmt.Errorf("volume %s: %d records", volume, len(body.Records))
	}
	return body.Records[0].NAS.Path, nil
}

// ExportClients asks the site's ONTAP which clients the rules of the volume's own export
// policy (autoExportPolicy: named as the volume) admit, and whether read-write.
func (s *Site) ExportClients(ctx context.Context, volume string) ([]string, error) {
	var body struct {
		Records []struct {
			Rules []struct {
				Clients []struct{ Match string }
				RW      []string `json:"rw_rule"`
			}
		}
	}
	q := url.Values{"svm.name": {s.SVM}, "name": {volume}, "fields": {"rules"}}
	if err := s.ontapGet(ctx, "/api/protocols/nfs/export-policies", q, &body); err != nil {
		return nil, err
	}
	if len(body.Records) != 1 {
		return nil, fmt.Errorf("export policy %s: %d records", volume, len(body.Records))
	}
	var out []string
	for _, r := range body.Records[0].Rules {
		for _, c := range r.Clients {
			out = append(out, c.Match+" "+strings.Join(r.RW, ","))
		}
	}
	return out, nil
}

// ontapGet reads an ONTAP REST collection as the administrator, into out.
func (s *Site) ontapGet(ctx context.Context, path string, q url.Values, out any) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.Cluster.CA())
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+s.Cluster.Address()+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(s.user, s.password)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, data)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Logs returns the tail of each component's log, for a failure report.
func (s *Site) Logs() string {
	var b strings.Builder
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		f, err := os.Open(filepath.Join(s.dir, e.Name()))
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(f)
		f.Close()
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		fmt.Fprintf(&b, "--- %s: %s (last %d lines)\n%s\n", s.Name, e.Name(), min(len(lines), 30), strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
	return b.String()
}

// DriverUser is the Kubernetes user snapmirror-csi runs as.
const DriverUser = "snapmirror-csi"

// SidecarUser is the Kubernetes user the CSI sidecars of deploy/ run as: external-provisioner,
// external-attacher, external-resizer and csi-snapshotter.
const SidecarUser = "snapmirror-csi-sidecars"

// DriverNamespace is snapmirror-csi's own namespace, as in deploy/: its leader election Lease
// and its credentials Secret are there.
const DriverNamespace = "snapmirror-csi"

// freeAddress returns a local TCP address that nothing listens on.
func freeAddress() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// APIUse reads both API servers' audit logs and returns what user did: the set of
// "verb group/resource[/subresource]" it was allowed, followed by " in <namespace>" for a
// request on one namespace's objects, and the requests it was denied.
func (e *Env) APIUse(user string) (allowed map[string]bool, denied []string, err error) {
	allowed = map[string]bool{}
	for _, s := range []*Site{e.Primary, e.Secondary} {
		data, err := os.ReadFile(filepath.Join(s.dir, "audit.jsonl"))
		if err != nil {
			return nil, nil, err
		}
		for line := range strings.Lines(string(data)) {
			var ev struct {
				Verb string `json:"verb"`
				User struct {
					Username string `json:"username"`
				} `json:"user"`
				ObjectRef *struct {
					APIGroup, Resource, Subresource, Namespace string
				} `json:"objectRef"`
				ResponseStatus struct {
					Code int `json:"code"`
				} `json:"responseStatus"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				return nil, nil, fmt.Errorf("%s audit log: %w", s.Name, err)
			}
			if ev.User.Username != user || ev.ObjectRef == nil {
				continue
			}
			key := ev.Verb + " " + ev.ObjectRef.APIGroup + "/" + ev.ObjectRef.Resource
			if ev.ObjectRef.Subresource != "" {
				key += "/" + ev.ObjectRef.Subresource
			}
			if ev.ObjectRef.Namespace != "" {
				key += " in " + ev.ObjectRef.Namespace
			}
			if ev.ResponseStatus.Code == http.StatusForbidden {
				denied = append(denied, s.Name+": "+key)
				continue
			}
			allowed[key] = true
		}
	}
	return allowed, denied, nil
}

// LogsContaining returns the component logs of both sites ("site/component.log") that
// contain text, and how many log files were searched.
func (e *Env) LogsContaining(text string) (found []string, searched int) {
	for _, s := range []*Site{e.Primary, e.Secondary} {
		entries, _ := os.ReadDir(s.dir)
		for _, entry := range entries {
			if !strings.HasSuffix(entry.Name(), ".log") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(s.dir, entry.Name()))
			if err != nil {
				continue
			}
			searched++
			if strings.Contains(string(data), text) {
				found = append(found, s.Name+"/"+entry.Name())
			}
		}
	}
	return found, searched
}

// Stop stops every process of both sites, the control planes and the fabric, and removes the
// working folder. Nothing is left running.
func (e *Env) Stop() error {
	var errs []error
	for _, s := range []*Site{e.Secondary, e.Primary} {
		if s == nil {
			continue
		}
		if e.Fabric != nil {
			errs = append(errs, unmountAll(s.dir, e.Fabric.DataDir()))
		}
		if s.kubelet != nil && s.kubelet.conn != nil {
			s.kubelet.conn.Close()
		}
		for _, p := range s.procs {
			syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
			done := make(chan struct{})
			go func() { p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}
		if s.CP != nil {
			errs = append(errs, s.CP.Stop())
		}
	}
	if e.Fabric != nil {
		e.Fabric.Close()
	}
	if e.dir != "" {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
}
