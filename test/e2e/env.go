// Package e2e runs the product as users run it, on two "sites": each has its own control plane
// (etcd, kube-apiserver and kube-controller-manager, built from source), its own simulated
// ONTAP cluster, its own snapmirror-csi process, and the real CSI sidecars on its socket
// (external-provisioner with --extra-create-metadata, external-resizer, csi-snapshotter and
// snapshot-controller). The end-to-end test and `make demo` both use it.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	Name    string
	SVM     string
	CP      *controlplane.ControlPlane
	Cluster *sim.Cluster
	// MetricsAddr is where snapmirror-csi serves its metrics: HTTPS, to a token allowed to get
	// /metrics (deploy/rbac/metrics_reader.yaml).
	MetricsAddr string
	dir         string
	procs       []*exec.Cmd
	// peer is the other site's cluster, configured as a peer for split-brain detection.
	peer    *sim.Cluster
	peerSVM string
}

// Options configure Start.
type Options struct {
	// Log, when set, receives one line per started component.
	Log func(format string, args ...any)
}

// Start builds snapmirror-csi, starts the fabric of test/topologies/two-clusters.yaml and both
// sites. Call Stop when done, even after an error.
func Start(ctx context.Context, opts Options) (*Env, error) {
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

var sidecars = []string{"csi-provisioner", "csi-resizer", "csi-snapshotter", "snapshot-controller"}

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
	for _, args := range [][]string{
		{"create", "namespace", DriverNamespace},
		{"apply", "-f", filepath.Join(root, "deploy", "rbac", "role.yaml")},
		{"create", "clusterrolebinding", "snapmirror-csi", "--clusterrole=snapmirror-csi", "--user=" + DriverUser},
		{"create", "rolebinding", "snapmirror-csi", "--namespace=" + DriverNamespace, "--role=snapmirror-csi", "--user=" + DriverUser},
	} {
		if _, err := s.CP.Kubectl(args...); err != nil {
			return err
		}
	}
	// The primary reads its credentials from files (a mounted Secret), the secondary from a
	// Secret through the API: both ways are in the logs the test searches.
	u, p := f.Credentials()
	creds := "{file: creds}"
	if s.Name == "secondary" {
		creds = "{secret: " + DriverNamespace + "/ontap-credentials}"
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ontap-credentials", Namespace: DriverNamespace}, StringData: map[string]string{"username": u, "password": p}}
		if err := s.CP.Client.Create(ctx, secret); err != nil {
			return err
		}
	}
	files := map[string]string{
		"creds/username": u, "creds/password": p, "ca.pem": string(s.Cluster.CA()), "peer-ca.pem": string(s.peer.CA()),
		"backends.yaml": fmt.Sprintf("backends:\n- name: %s\n  driver: ontap-nas\n  managementLIF: %s\n  svm: %s\n  aggregates: [aggr1]\n"+
			"  caFile: ca.pem\n  credentials: %s\n  replicationPolicy: MirrorAllSnapshots\n  replicationSchedule: 5min\n"+
			"peers:\n- name: other-site\n  managementLIF: %s\n  svm: %s\n  caFile: peer-ca.pem\n  credentials: {file: creds}\n",
			s.Name, s.Cluster.Address(), s.SVM, creds, s.peer.Address(), s.peerSVM),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	if s.MetricsAddr, err = freeAddress(); err != nil {
		return err
	}
	kc := "--kubeconfig=" + s.CP.Kubeconfig
	sock := filepath.Join(s.dir, "csi.sock")
	csiAddr := "--csi-address=" + sock
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
	csiBin := func(b string) string { return filepath.Join(assets, "csi", b) }
	for _, c := range []struct {
		name, path string
		args       []string
	}{
		{"kube-controller-manager", filepath.Join(assets, "kube-controller-manager"), []string{kc, "--controllers=persistentvolume-binder-controller,persistentvolume-expander-controller,persistentvolume-protection-controller,persistentvolumeclaim-protection-controller",
			"--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false"}},
		{"snapmirror-csi", binary, []string{"--kubeconfig=" + userKubeconfig, "--leader-elect", "--leader-election-namespace=" + DriverNamespace, "--backends=" + filepath.Join(s.dir, "backends.yaml"), "--csi-endpoint=unix://" + sock,
			"--metrics-bind-address=" + s.MetricsAddr, "--health-probe-bind-address=0", "--recheck-interval=2s", "-v=1"}},
		{"csi-provisioner", csiBin("csi-provisioner"), []string{kc, csiAddr, "--extra-create-metadata", "--leader-election=false", "--timeout=60s", "--retry-interval-max=2s"}},
		{"csi-resizer", csiBin("csi-resizer"), []string{kc, csiAddr, "--leader-election=false", "--timeout=60s"}},
		{"csi-snapshotter", csiBin("csi-snapshotter"), []string{kc, csiAddr, "--leader-election=false", "--timeout=60s"}},
		{"snapshot-controller", csiBin("snapshot-controller"), []string{kc, "--leader-election=false"}},
	} {
		if err := start(c.name, c.path, c.args...); err != nil {
			return err
		}
	}
	class := &snapshotv1.VolumeSnapshotClass{ObjectMeta: metav1.ObjectMeta{Name: "csi-snapclass"}, Driver: "csi.trident.netapp.io", DeletionPolicy: snapshotv1.VolumeSnapshotContentDelete}
	return s.CP.Client.Create(ctx, class)
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
