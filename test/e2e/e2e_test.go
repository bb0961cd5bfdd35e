package e2e_test

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/snapmirror-csi/snapmirror-csi/test/e2e"
)

// TestWorkflow walks shared/docs/workflow.md sections 1 to 7 on two sites with the real CSI
// sidecars, kube-controller-manager binding PVCs, and the snapmirror-csi binary, its node
// plugin mounting the volumes for the application, which reads and writes its files through
// them; copies are compared through the simulator's checksums too.
func TestWorkflow(t *testing.T) {
	ctx, env := e2e.StartT(t, 10*time.Minute)
	// The deploy manifests are valid for this Kubernetes: a server-side dry-run applies them (the
	// namespace exists: the driver's Role is in it).
	if out, err := env.Primary.CP.Kubectl("apply", "-k", filepath.Join(env.Root, "deploy"), "--dry-run=server"); err != nil {
		t.Fatalf("deploy manifests: %v", err)
	} else {
		t.Logf("kubectl apply -k deploy --dry-run=server:\n%s", out)
	}

	st := e2e.NewState()
	for _, step := range e2e.Steps {
		start := time.Now()
		detail, err := step.Run(ctx, env, st)
		if err != nil {
			t.Fatalf("%s: %v", step.Title, err)
		}
		t.Logf("%s (%s): %s", step.Title, time.Since(start).Round(time.Millisecond), detail)
	}

	// Security: no component of either site logged the ONTAP password, in clear or as the
	// Secret's base64, over the whole scenario. The search reads what was logged: each
	// site's CSI calls are there.
	for _, secret := range []string{env.Password, base64.StdEncoding.EncodeToString([]byte(env.Password))} {
		if found, searched := env.LogsContaining(secret); len(found) > 0 || searched < 12 {
			t.Errorf("the password is in %v (%d logs searched)", found, searched)
		}
	}
	// Metrics: HTTPS, refused without a token, served to a ServiceAccount bound to the metrics
	// reader role as the README says; each scrape makes snapmirror-csi ask the API server (a
	// TokenReview and a SubjectAccessReview), which the RBAC check below counts.
	for _, s := range []*e2e.Site{env.Primary, env.Secondary} {
		if err := checkMetrics(env.Root, s); err != nil {
			t.Errorf("%s: metrics: %v", s.Name, err)
		}
	}

	// RBAC: snapmirror-csi ran as its own user bound to the roles of deploy/rbac/role.yaml: the
	// ClusterRole in every namespace, the Role in its own. It was never denied, and it used
	// every verb each role grants where it grants it: the roles are exactly what the code needs.
	used, denied, err := env.APIUse(e2e.DriverUser)
	if err != nil {
		t.Fatal(err)
	}
	if len(denied) > 0 {
		t.Errorf("denied by the RBAC of deploy/: %v", denied)
	}
	// The sidecars ran with the ClusterRole of deploy/rbac/sidecars.yaml and were denied
	// nothing but csi-snapshotter's probe for VolumeGroupSnapshots, which this driver does not
	// serve: refused, it runs without them.
	_, sidecarsDenied, err := env.APIUse(e2e.SidecarUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range sidecarsDenied {
		if _, what, _ := strings.Cut(d, ": "); what != "list groupsnapshot.storage.k8s.io/volumegroupsnapshotcontents" {
			t.Errorf("CSI sidecars denied by deploy/rbac/sidecars.yaml: %s", d)
		}
	}
	// Grants: "verb group/resource" for the ClusterRole, "verb group/resource in namespace" for
	// a Role; the keys of used are written the same way.
	granted := map[string]bool{}
	data, err := os.ReadFile(filepath.Join(env.Root, "deploy", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var role rbacv1.Role // a ClusterRole reads the same
		var kind struct{ Kind string }
		if yaml.Unmarshal([]byte(doc), &role) != nil || yaml.Unmarshal([]byte(doc), &kind) != nil || role.Name != "snapmirror-csi" {
			t.Fatalf("deploy/rbac/role.yaml: a document that is not a role of snapmirror-csi:\n%s", doc)
		}
		where := ""
		if kind.Kind == "Role" {
			where = " in " + role.Namespace
		}
		for _, r := range role.Rules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						granted[v+" "+g+"/"+res+where] = true
					}
				}
			}
		}
	}
	// usedAnywhere: the ClusterRole's grant k was used in some namespace or cluster-wide.
	usedAnywhere := func(k string) bool {
		for u := range used {
			if u == k || strings.HasPrefix(u, k+" in ") {
				return true
			}
		}
		return false
	}
	// Three grants serve paths this scenario cannot take: informers stream their first list
	// through a watch (WatchList) on this Kubernetes and fall back to list on API servers
	// without it; an event recorder patches an event only when it repeats; a CSINode is read
	// from the API server only when the cache does not hold the node ID yet (a node plugin
	// that registered a moment before the publish), and here every node is registered first.
	fallback := func(k string) bool {
		verb, resource, _ := strings.Cut(k, " ")
		return (verb == "list" && usedAnywhere("watch "+resource)) || k == "patch /events" || k == "patch events.k8s.io/events" ||
			(k == "get storage.k8s.io/csinodes" && usedAnywhere("watch storage.k8s.io/csinodes"))
	}
	// grantUsed: a Role's grant was used in its namespace, the ClusterRole's anywhere.
	grantUsed := func(k string) bool {
		if strings.Contains(k, " in ") {
			return used[k]
		}
		return usedAnywhere(k)
	}
	for k := range granted {
		if !grantUsed(k) && !fallback(k) {
			t.Errorf("deploy/rbac grants %q, which snapmirror-csi never used", k)
		}
	}
	for k := range used {
		clusterWide, _, _ := strings.Cut(k, " in ")
		if !granted[k] && !granted[clusterWide] {
			t.Errorf("snapmirror-csi did %q, which deploy/rbac does not grant", k)
		}
	}
	t.Logf("RBAC: %d grants; %d kinds of request, none denied", len(granted), len(used))
	for _, s := range []*e2e.Site{env.Primary, env.Secondary} {
		if found, _ := env.LogsContaining("/csi.v1.Controller/CreateVolume"); !slices.Contains(found, s.Name+"/snapmirror-csi.log") {
			t.Errorf("%s: snapmirror-csi.log shows no CreateVolume call: the logs searched are not the ones written", s.Name)
		}
	}
}

// checkMetrics scrapes a site's snapmirror-csi the way the README tells an administrator to:
// a ServiceAccount bound to the metrics reader ClusterRole, and its token. Without a token, or
// over plain HTTP, nothing is served.
func checkMetrics(root string, s *e2e.Site) error {
	for _, args := range [][]string{
		{"apply", "-f", filepath.Join(root, "deploy", "rbac", "metrics_reader.yaml")},
		{"create", "namespace", "monitoring"},
		{"create", "serviceaccount", "prometheus", "--namespace=monitoring"},
		{"create", "clusterrolebinding", "prometheus-snapmirror-csi-metrics", "--clusterrole=snapmirror-csi-metrics-reader", "--serviceaccount=monitoring:prometheus"},
	} {
		if _, err := s.CP.Kubectl(args...); err != nil {
			return err
		}
	}
	token, err := s.CP.Kubectl("create", "token", "prometheus", "--namespace=monitoring")
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(url, token string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return 0, "", err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	if code, _, err := get("http://"+s.MetricsAddr+"/metrics", ""); err == nil && code == http.StatusOK {
		return fmt.Errorf("served over plain HTTP")
	}
	if code, body, err := get("https://"+s.MetricsAddr+"/metrics", ""); err != nil || code != http.StatusUnauthorized {
		return fmt.Errorf("without a token: %d %.200s %v, want 401", code, body, err)
	}
	code, body, err := get("https://"+s.MetricsAddr+"/metrics", strings.TrimSpace(token))
	if err != nil || code != http.StatusOK || !strings.Contains(body, "snapmirror_csi_ontap_requests_total{") {
		return fmt.Errorf("with the token of a ServiceAccount bound to snapmirror-csi-metrics-reader: %d %.300s %v", code, body, err)
	}
	return nil
}
