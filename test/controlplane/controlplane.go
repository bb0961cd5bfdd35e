// Package controlplane starts real Kubernetes control planes for tests and the demo: etcd and
// kube-apiserver (through controller-runtime's envtest), with the project's CRDs installed.
//
// The binaries come from hack/install-test-binaries.sh, which builds them from source; `make
// test` runs it and sets KUBEBUILDER_ASSETS. Without KUBEBUILDER_ASSETS the default output
// folder of that script is used.
package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

// K8sVersion is the Kubernetes version that hack/install-test-binaries.sh builds by default.
const K8sVersion = "v1.36.3"

// ControlPlane is a running etcd and kube-apiserver with the project's CRDs installed.
type ControlPlane struct {
	// Env is the envtest environment; Env.Config reaches the API server as an administrator.
	Env *envtest.Environment
	// Client is a client for Scheme's kinds, authenticated as an administrator.
	Client client.Client
	// Scheme knows the built-in kinds and the trident.netapp.io kinds.
	Scheme *runtime.Scheme
	// CRDs are the installed CustomResourceDefinitions.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// Kubeconfig is the path of an administrator's kubeconfig, for kubectl.
	Kubeconfig string

	assets string
	dir    string
}

// Options change how a control plane runs.
type Options struct {
	// AuditLog, when set, is where the API server writes an audit record (Metadata level) of
	// every request it answers.
	AuditLog string
}

// Start starts a control plane and installs the CRDs from crds/manifests and the VolumeSnapshot
// CRDs from crds/external. Call Stop when done.
func Start() (*ControlPlane, error) { return StartWith(Options{}) }

// auditPolicy records who did what to which resource, never request or response bodies.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
`

// StartWith is Start with options.
func StartWith(opts Options) (*ControlPlane, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := Assets(root)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), tridentv1.AddToScheme(scheme), snapshotv1.AddToScheme(scheme)); err != nil {
		return nil, fmt.Errorf("build scheme: %w", err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "crds", "manifests"), filepath.Join(root, "crds", "external")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	if opts.AuditLog != "" {
		policy := strings.TrimSuffix(opts.AuditLog, filepath.Ext(opts.AuditLog)) + "-policy.yaml"
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
			return nil, err
		}
		env.ControlPlane.GetAPIServer().Configure().Set("audit-policy-file", policy).Set("audit-log-path", opts.AuditLog)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start etcd and kube-apiserver from %s: %w", assets, err)
	}
	cp := &ControlPlane{Env: env, Scheme: scheme, CRDs: env.CRDs, assets: assets}
	if err := cp.connect(cfg); err != nil {
		return nil, errors.Join(err, cp.Stop())
	}
	return cp, nil
}

// connect builds the client and writes an administrator's kubeconfig.
func (cp *ControlPlane) connect(cfg *rest.Config) error {
	var err error
	if cp.Client, err = client.New(cfg, client.Options{Scheme: cp.Scheme}); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	user, err := cp.Env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add an administrator: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if cp.dir, err = os.MkdirTemp("", "controlplane-"); err != nil {
		return err
	}
	cp.Kubeconfig = filepath.Join(cp.dir, "kubeconfig")
	return os.WriteFile(cp.Kubeconfig, kubeconfig, 0o600)
}

// UserKubeconfig writes a kubeconfig for a user with no groups, and so no rights until a
// binding grants some, and returns its path.
func (cp *ControlPlane) UserKubeconfig(name string) (string, error) {
	user, err := cp.Env.AddUser(envtest.User{Name: name}, nil)
	if err != nil {
		return "", fmt.Errorf("add user %s: %w", name, err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("kubeconfig of %s: %w", name, err)
	}
	path := filepath.Join(cp.dir, name+".kubeconfig")
	return path, os.WriteFile(path, kubeconfig, 0o600)
}

// Config returns the administrator's REST config.
func (cp *ControlPlane) Config() *rest.Config { return cp.Env.Config }

// Kubectl runs the built kubectl against this control plane and returns its standard output,
// or an error that carries its standard error.
func (cp *ControlPlane) Kubectl(args ...string) (string, error) { return cp.KubectlStdin(nil, args...) }

// KubectlStdin is Kubectl with stdin, e.g. for "apply -f -".
func (cp *ControlPlane) KubectlStdin(stdin io.Reader, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(cp.assets, "kubectl"), append([]string{"--kubeconfig", cp.Kubeconfig}, args...)...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(out), nil
}

// Stop stops the API server and etcd and removes their data.
func (cp *ControlPlane) Stop() error {
	err := cp.Env.Stop()
	if cp.dir != "" {
		err = errors.Join(err, os.RemoveAll(cp.dir))
	}
	return err
}

// Assets returns the folder of control-plane binaries: KUBEBUILDER_ASSETS if set, else the
// default output folder of hack/install-test-binaries.sh. It fails with the command to run
// when the binaries are missing.
func Assets(root string) (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(root, "bin", "k8s-"+K8sVersion)
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("control-plane binary %s is missing from %s: run hack/install-test-binaries.sh (or make test)", b, dir)
		}
	}
	return dir, nil
}

// RepoRoot returns the folder of the project's go.mod, searched upwards from the working
// directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Main is a test package's TestMain: it starts a control plane into *cp, runs the tests and
// stops it, exiting with the tests' code.
func Main(m *testing.M, cp **ControlPlane) {
	log.SetLogger(logr.Discard())
	var err error
	if *cp, err = Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := (*cp).Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop control plane:", err)
	}
	os.Exit(code)
}

// Namespace creates a namespace for one test and returns its name.
func (cp *ControlPlane) Namespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := cp.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}
