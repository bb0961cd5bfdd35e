package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/test/controlplane"
	"github.com/snapmirror-csi/snapmirror-csi/test/wait"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBinary runs the whole process against a real API server and a simulated cluster: it
// serves CSI, reports ready once the backend answers, and exports metrics.
func TestBinary(t *testing.T) {
	cp, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	t.Setenv("KUBECONFIG", cp.Kubeconfig)
	f := sim.NewFabric(sim.Options{})
	defer f.Close()
	c, err := f.AddCluster(sim.ClusterSpec{Name: "c1", SVMs: []string{"svm1"}, Aggregates: []string{"aggr1"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	u, p := f.Credentials()
	os.Mkdir(filepath.Join(dir, "creds"), 0o700)
	os.WriteFile(filepath.Join(dir, "creds", "username"), []byte(u), 0o600)
	os.WriteFile(filepath.Join(dir, "creds", "password"), []byte(p), 0o600)
	os.WriteFile(filepath.Join(dir, "ca.pem"), c.CA(), 0o600)
	backends := "backends:\n- name: primary\n  driver: ontap-nas\n  managementLIF: " + c.Address() +
		"\n  svm: svm1\n  aggregates: [aggr1]\n  caFile: ca.pem\n  credentials: {file: creds}\n  replicationPolicy: MirrorAllSnapshots\n" +
		// The other site is down: a peer that does not answer does not stop the process
		// from starting or being ready.
		"peers:\n- name: other-site\n  managementLIF: 127.0.0.1:1\n  svm: drvserver\n  credentials: {file: creds}\n"
	os.WriteFile(filepath.Join(dir, "backends.yaml"), []byte(backends), 0o600)

	sock := filepath.Join(dir, "csi.sock")
	cfg := config{
		backendFile: filepath.Join(dir, "backends.yaml"), csiEndpoint: "unix://" + sock, driverName: "csi.trident.netapp.io",
		metricsAddr: freePort(t), probeAddr: freePort(t), workers: 4, recheck: time.Minute, secretTTL: time.Minute,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg) }()

	// Ready, and serving CSI: the socket is made by a runnable of its own, which may start
	// after the probes answer.
	wait.For(t, 30*time.Second, "ready, with the CSI socket", func() bool {
		code, _ := get("http://" + cfg.probeAddr + "/readyz")
		_, err := os.Stat(sock)
		return code == http.StatusOK && err == nil
	})
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	info, err := csispec.NewIdentityClient(conn).GetPluginInfo(ctx, &csispec.GetPluginInfoRequest{})
	if err != nil || info.GetName() != "csi.trident.netapp.io" {
		t.Errorf("GetPluginInfo: %v, %v", info, err)
	}
	probe, err := csispec.NewIdentityClient(conn).Probe(ctx, &csispec.ProbeRequest{})
	if err != nil || !probe.GetReady().GetValue() {
		t.Errorf("Probe: %v, %v", probe, err)
	}
	// Metrics are served over HTTPS, to a client whose token the API server accepts and that may
	// get /metrics, and to no one else (--metrics-secure, the default).
	scrape := scraper(t, cp)
	// The server listens once it has made its self-signed certificate, which may be after ready.
	wait.For(t, 10*time.Second, "the metrics server answers", func() bool {
		code, _ := scrape("", "https://"+cfg.metricsAddr+"/metrics")
		return code != 0
	})
	t.Run("MetricsRefuseUnauthenticated", func(t *testing.T) {
		if code, body := get("http://" + cfg.metricsAddr + "/metrics"); code == http.StatusOK {
			t.Errorf("plain HTTP: %d %.200s", code, body)
		}
		if code, body := scrape("", "https://"+cfg.metricsAddr+"/metrics"); code != http.StatusUnauthorized {
			t.Errorf("no token: %d %.200s, want 401", code, body)
		}
		// controller-runtime's filter answers a token the API server rejects with 500
		// "Authentication failed" (the TokenReview carries an error), not 401: refused either way.
		if code, body := scrape("not-a-token", "https://"+cfg.metricsAddr+"/metrics"); code == http.StatusOK || strings.Contains(body, "snapmirror_csi") {
			t.Errorf("a bad token: %d %.200s, want a refusal", code, body)
		}
		if code, body := scrape(serviceAccountToken(t, cp, "nobody", false), "https://"+cfg.metricsAddr+"/metrics"); code != http.StatusForbidden {
			t.Errorf("a ServiceAccount not bound to the metrics reader role: %d %.200s, want 403", code, body)
		}
	})
	t.Run("MetricsServeAuthorized", func(t *testing.T) {
		token := serviceAccountToken(t, cp, "prometheus", true)
		if code, body := scrape(token, "https://"+cfg.metricsAddr+"/metrics"); code != http.StatusOK || !strings.Contains(body, `snapmirror_csi_ontap_requests_total{cluster="primary"`) {
			t.Errorf("metrics: %d, no ONTAP request counter: %.300s", code, body)
		}
	})
	// The backend goes away: not ready, with the reason.
	c.SetDown(true)
	if code, _ := get("http://" + cfg.probeAddr + "/readyz"); code == http.StatusOK {
		t.Error("ready with the backend down")
	}
	c.SetDown(false)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

// TestBadBackendFile: the process refuses to start, naming the field and the fix.
func TestBadBackendFile(t *testing.T) {
	cp, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	t.Setenv("KUBECONFIG", cp.Kubeconfig)
	path := filepath.Join(t.TempDir(), "backends.yaml")
	os.WriteFile(path, []byte("backends:\n- name: b\n  driver: ontap-san\n  sanType: nvme\n  svm: s\n  credentials: {file: x, secret: a/b}\n"+
		"peers:\n- name: b\n  managementLIF: other:443\n  credentials: {secret: nonamespace}\n"), 0o600)
	err = run(context.Background(), config{backendFile: path, metricsAddr: "0", probeAddr: "0"})
	for _, want := range []string{`sanType "nvme" is not served: only "iscsi" is`, "managementLIF is empty", "aggregates is empty", "give exactly one of file",
		"peers[0]: svm is empty", `credentials.secret "nonamespace": write it as namespace/name`, `peers[0].name: "b" is used twice`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to say %q", err, want)
		}
	}
}

// scraper returns a function that GETs a URL over HTTPS (the metrics server's certificate is
// self-signed) with a bearer token, if any, and returns the status code and body.
func scraper(t *testing.T, cp *controlplane.ControlPlane) func(token, url string) (int, string) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return func(token, url string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

// serviceAccountToken creates a ServiceAccount in namespace default, bound to deploy/rbac's
// metrics reader ClusterRole if reader, and returns a token of it.
func serviceAccountToken(t *testing.T, cp *controlplane.ControlPlane, name string, reader bool) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	if err := cp.Client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if reader {
		root, err := controlplane.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(root, "deploy", "rbac", "metrics_reader.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		role := &rbacv1.ClusterRole{}
		if err := yaml.UnmarshalStrict(data, role); err != nil {
			t.Fatal(err)
		}
		if err := cp.Client.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-metrics"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: "default"}},
		}
		if err := cp.Client.Create(ctx, binding); err != nil {
			t.Fatal(err)
		}
	}
	clientset, err := kubernetes.NewForConfig(cp.Config())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := clientset.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}
