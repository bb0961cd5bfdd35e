package e2e_test

import (
	"context"
	"encoding/base64"
	rbacv1 "k8s.io/api/rbac/v1"
	"os"
	"path/filepath"
	"sigs.k8s.io/yaml"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/test/e2e"
)

// TestWorkflow walks shared/docs/workflow.md sections 1 to 7 on two sites with the real CSI
// sidecars, kube-controller-manager binding PVCs, and the snapmirror-csi binary; data is checked
// through the simulator at every step.
func TestWorkflow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := e2e.Start(ctx, e2e.Options{Log: t.Logf})
	defer func() {
		if t.Failed() && env != nil {
			for _, s := range []*e2e.Site{env.Primary, env.Secondary} {
				if s != nil {
					t.Log(s.Logs())
				}
			}
		}
		if err := env.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	// The deploy manifests are valid for this Kubernetes: a server-side dry-run applies them.
	if _, err := env.Primary.CP.Kubectl("create", "namespace", "snapmirror-csi"); err != nil {
		t.Fatal(err)
	}
	if out, err := env.Primary.CP.Kubectl("apply", "-k", filepath.Join(env.Root, "deploy"), "--dry-run=server"); err != nil {
		t.Fatalf("deploy manifests: %v", err)
	} else {
		t.Logf("kubectl apply -k deploy --dry-run=server:\n%s", out)
	}

	st := &e2e.State{}
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
	// RBAC: snapmirror-csi ran as its own user bound to deploy/rbac's ClusterRole. It was
	// never denied, and it used every verb the role grants: the role is exactly what the
	// code needs.
	used, denied, err := env.APIUse(e2e.DriverUser)
	if err != nil {
		t.Fatal(err)
	}
	if len(denied) > 0 {
		t.Errorf("denied by the RBAC of deploy/: %v", denied)
	}
	var role rbacv1.ClusterRole
	if data, err := os.ReadFile(filepath.Join(env.Root, "deploy", "rbac", "role.yaml")); err != nil || yaml.Unmarshal(data, &role) != nil {
		t.Fatalf("read deploy/rbac/role.yaml: %v", err)
	}
	granted := map[string]bool{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					granted[v+" "+g+"/"+res] = true
				}
			}
		}
	}
	// Two grants serve paths this scenario cannot take: informers stream their first list
	// through a watch (WatchList) on this Kubernetes and fall back to list on API servers
	// without it; an event recorder patches an event only when it repeats.
	fallback := func(k string) bool {
		verb, resource, _ := strings.Cut(k, " ")
		return (verb == "list" && used["watch "+resource]) || k == "patch /events" || k == "patch events.k8s.io/events"
	}
	for k := range granted {
		if !used[k] && !fallback(k) {
			t.Errorf("deploy/rbac grants %q, which snapmirror-csi never used", k)
		}
	}
	for k := range used {
		if !granted[k] {
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
