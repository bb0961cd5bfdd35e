// Package deploy_test checks what `kubectl apply -k deploy` applies: the objects of the
// kustomization's resources, read as kustomize reads them (files, and folders with their own
// kustomization.yaml). The end-to-end test applies them to a real API server (a dry run).
package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// namespace is the driver's own, where the kustomization puts every namespaced object.
const namespace = "snapmirror-csi"

// object is one applied document: its kind, name and namespace (after the kustomization's
// namespace), its YAML and where it came from.
type object struct {
	Kind, Name, Namespace string
	data                  []byte
	file                  string
}

func (o object) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", o.Kind, o.Namespace, o.Name, o.file)
}

func (o object) decode(t *testing.T, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(o.data, into); err != nil {
		t.Fatalf("%s: %v", o, err)
	}
}

// applied returns the objects of the kustomization in dir, with ns (if not empty) as the
// namespace of the namespaced ones.
func applied(dir, ns string) ([]object, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Namespace string   `json:"namespace"`
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	if ns == "" {
		ns = k.Namespace
	}
	var objects []object
	for _, r := range k.Resources {
		path := filepath.Join(dir, r)
		if info, err := os.Stat(path); err != nil {
			return nil, err
		} else if info.IsDir() {
			sub, err := applied(path, ns)
			if err != nil {
				return nil, err
			}
			objects = append(objects, sub...)
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := docs.Read()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			var meta struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name, Namespace string
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if meta.Kind == "" {
				continue // only comments
			}
			o := object{Kind: meta.Kind, Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace, data: doc, file: path}
			if ns != "" && !clusterScoped[o.Kind] {
				o.Namespace = ns
			}
			objects = append(objects, o)
		}
	}
	return objects, nil
}

var clusterScoped = map[string]bool{
	"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true, "CSIDriver": true,
}

func deployObjects(t *testing.T) []object {
	t.Helper()
	objects, err := applied(".", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objects) < 10 {
		t.Fatalf("only %d objects in the kustomization: %v", len(objects), objects)
	}
	return objects
}

// TestNoSecretApplied: applying deploy/ again must never overwrite the ONTAP credentials with a
// placeholder, so no Secret is in the applied set; the README says how to create it.
func TestNoSecretApplied(t *testing.T) {
	for _, o := range deployObjects(t) {
		if o.Kind == "Secret" {
			t.Errorf("%s is applied by kubectl apply -k deploy: it would overwrite the real one each time", o)
		}
	}
}

// TestRestrictedSecurityContext: the pod and every container run as non-root, with a read-only
// root filesystem, no privilege escalation, no capabilities and the RuntimeDefault seccomp
// profile; whatever is written goes to an emptyDir.
func TestRestrictedSecurityContext(t *testing.T) {
	deployments := 0
	for _, o := range deployObjects(t) {
		if o.Kind != "Deployment" {
			continue
		}
		deployments++
		var d appsv1.Deployment
		o.decode(t, &d)
		pod := d.Spec.Template.Spec
		psc := pod.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: the pod's securityContext must say runAsNonRoot and seccompProfile RuntimeDefault: %+v", o, psc)
		}
		emptyDirs := map[string]bool{}
		for _, v := range pod.Volumes {
			if v.HostPath != nil {
				t.Errorf("%s: volume %s is a hostPath", o, v.Name)
			}
			emptyDirs[v.Name] = v.EmptyDir != nil
		}
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: container %s has no securityContext", o, c.Name)
				continue
			}
			var problems []string
			if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				problems = append(problems, "runAsNonRoot: true")
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				problems = append(problems, "readOnlyRootFilesystem: true")
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				problems = append(problems, "allowPrivilegeEscalation: false")
			}
			if sc.Privileged != nil && *sc.Privileged {
				problems = append(problems, "not privileged")
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
				problems = append(problems, "capabilities: {drop: [ALL]} and none added")
			}
			if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				problems = append(problems, "seccompProfile: {type: RuntimeDefault}")
			}
			if len(problems) > 0 {
				t.Errorf("%s: container %s needs %s", o, c.Name, strings.Join(problems, ", "))
			}
			for _, m := range c.VolumeMounts {
				writable, ok := emptyDirs[m.Name]
				if !ok {
					t.Errorf("%s: container %s mounts volume %s, which the pod does not have", o, c.Name, m.Name)
				}
				if !writable && !m.ReadOnly && m.SubPath == "" && !isConfig(pod.Volumes, m.Name) {
					t.Errorf("%s: container %s mounts %s writable; only emptyDirs are written", o, c.Name, m.Name)
				}
			}
			if slices.Contains(c.Args, "--metrics-secure=false") {
				t.Errorf("%s: container %s serves metrics without authentication", o, c.Name)
			}
		}
	}
	if deployments == 0 {
		t.Fatal("no Deployment in the kustomization")
	}
}

// isConfig: ConfigMap, Secret and projected volumes are read-only whatever the mount says.
func isConfig(volumes []corev1.Volume, name string) bool {
	for _, v := range volumes {
		if v.Name == name {
			return v.ConfigMap != nil || v.Secret != nil || v.Projected != nil
		}
	}
	return false
}

// TestLeastPrivilegeRBAC: no ClusterRole grants Secrets or Leases (credentials and leader
// election are the driver's namespace's business: Roles there); every Role and ClusterRole is
// bound to the driver's ServiceAccount, except the metrics reader, which is for scrapers; the
// metrics endpoint's reviews are granted.
func TestLeastPrivilegeRBAC(t *testing.T) {
	objects := deployObjects(t)
	roles := map[string][]rbacv1.PolicyRule{} // "ClusterRole name" or "Role namespace/name"
	type binding struct {
		role     string
		subjects []rbacv1.Subject
	}
	var bindings []binding
	for _, o := range objects {
		switch o.Kind {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			o.decode(t, &r)
			roles["ClusterRole "+r.Name] = r.Rules
			for _, rule := range r.Rules {
				for _, res := range rule.Resources {
					if res == "secrets" || res == "leases" || res == "*" {
						t.Errorf("%s grants %v on %s in every namespace", o, rule.Verbs, res)
					}
				}
			}
		case "Role":
			var r rbacv1.Role
			o.decode(t, &r)
			if o.Namespace != namespace {
				t.Errorf("%s: a Role outside the driver's namespace", o)
			}
			roles["Role "+o.Namespace+"/"+r.Name] = r.Rules
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			o.decode(t, &b)
			bindings = append(bindings, binding{"ClusterRole " + b.RoleRef.Name, b.Subjects})
		case "RoleBinding":
			var b rbacv1.RoleBinding
			o.decode(t, &b)
			role := "Role " + o.Namespace + "/" + b.RoleRef.Name
			if b.RoleRef.Kind == "ClusterRole" {
				role = "ClusterRole " + b.RoleRef.Name
			}
			bindings = append(bindings, binding{role, b.Subjects})
		}
	}
	grants := func(role, verb, group, resource string) bool {
		for _, r := range roles[role] {
			if slices.Contains(r.Verbs, verb) && slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) {
				return true
			}
		}
		return false
	}
	for _, want := range []struct{ role, verb, group, resource string }{
		{"Role " + namespace + "/snapmirror-csi", "get", "", "secrets"},
		{"Role " + namespace + "/snapmirror-csi", "update", "coordination.k8s.io", "leases"},
		{"ClusterRole snapmirror-csi", "create", "authentication.k8s.io", "tokenreviews"},
		{"ClusterRole snapmirror-csi", "create", "authorization.k8s.io", "subjectaccessreviews"},
	} {
		if !grants(want.role, want.verb, want.group, want.resource) {
			t.Errorf("%s does not grant %s %s/%s", want.role, want.verb, want.group, want.resource)
		}
	}
	reader := roles["ClusterRole snapmirror-csi-metrics-reader"]
	if len(reader) != 1 || !slices.Equal(reader[0].NonResourceURLs, []string{"/metrics"}) || !slices.Equal(reader[0].Verbs, []string{"get"}) {
		t.Errorf("ClusterRole snapmirror-csi-metrics-reader: got %+v, want get on /metrics only", reader)
	}
	driver := rbacv1.Subject{Kind: "ServiceAccount", Name: "snapmirror-csi", Namespace: namespace}
	for role := range roles {
		if role == "ClusterRole snapmirror-csi-metrics-reader" {
			continue
		}
		bound := false
		for _, b := range bindings {
			bound = bound || (b.role == role && slices.Contains(b.subjects, driver))
		}
		if !bound {
			t.Errorf("%s is not bound to the driver's ServiceAccount", role)
		}
	}
	for _, b := range bindings {
		if _, ok := roles[b.role]; !ok {
			t.Errorf("a binding refers to %s, which deploy/ does not have", b.role)
		}
	}
}

// TestSidecarsAreTheTested: each CSI sidecar image is the release that
// hack/install-test-binaries.sh builds for the end-to-end tests, the external-attacher among
// them, and the CSIDriver asks Kubernetes to attach (ControllerPublishVolume maps ontap-san
// LUNs), with the attacher's grants in the sidecars' ClusterRole.
func TestSidecarsAreTheTested(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "hack", "install-test-binaries.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// CSI_ATTACHER=${CSI_ATTACHER:-github.com/kubernetes-csi/external-attacher/v4@v4.13.0}
	pinned := map[string]string{}
	for line := range strings.Lines(string(script)) {
		name, rest, ok := strings.Cut(line, "=${")
		if !ok || !strings.HasPrefix(name, "CSI_") {
			continue
		}
		_, version, _ := strings.Cut(strings.TrimRight(strings.TrimSpace(rest), "}"), "@")
		pinned["csi-"+strings.ToLower(strings.TrimPrefix(name, "CSI_"))] = version
	}
	if len(pinned) != 4 {
		t.Fatalf("hack/install-test-binaries.sh pins %v; want the provisioner, attacher, resizer and snapshotter", pinned)
	}
	images := map[string]string{}
	var driver struct {
		Spec struct {
			AttachRequired *bool `json:"attachRequired"`
		} `json:"spec"`
	}
	var sidecarRules []rbacv1.PolicyRule
	for _, o := range deployObjects(t) {
		switch {
		case o.Kind == "Deployment":
			var d appsv1.Deployment
			o.decode(t, &d)
			for _, c := range d.Spec.Template.Spec.Containers {
				images[c.Name] = c.Image
			}
		case o.Kind == "CSIDriver":
			if err := yaml.Unmarshal(o.data, &driver); err != nil {
				t.Fatal(err)
			}
		case o.Kind == "ClusterRole" && o.Name == "snapmirror-csi-sidecars":
			var r rbacv1.ClusterRole
			o.decode(t, &r)
			sidecarRules = r.Rules
		}
	}
	for name, version := range pinned {
		if want := "registry.k8s.io/sig-storage/" + name + ":" + version; images[name] != want {
			t.Errorf("container %s has image %q; the tests run %s", name, images[name], want)
		}
	}
	if driver.Spec.AttachRequired == nil || !*driver.Spec.AttachRequired {
		t.Errorf("the CSIDriver must say attachRequired: true, or ontap-san volumes are never published")
	}
	for _, want := range []struct{ verb, group, resource string }{
		{"patch", "storage.k8s.io", "volumeattachments"}, {"watch", "storage.k8s.io", "volumeattachments"},
		{"patch", "storage.k8s.io", "volumeattachments/status"}, {"watch", "storage.k8s.io", "csinodes"},
		{"patch", "", "persistentvolumes"},
	} {
		granted := slices.ContainsFunc(sidecarRules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.Verbs, want.verb) && slices.Contains(r.APIGroups, want.group) && slices.Contains(r.Resources, want.resource)
		})
		if !granted {
			t.Errorf("ClusterRole snapmirror-csi-sidecars does not grant %s %s/%s, which the attacher needs", want.verb, want.group, want.resource)
		}
	}
}

// TestNodePlugin: the node plugin runs on every node as a DaemonSet of snapmirror-csi
// --mode=node, privileged as a node plugin must be, with no API token (it needs none), its
// mounts shared back to kubelet, hostPath volumes only where a node plugin must reach, and
// only flags the binary has.
func TestNodePlugin(t *testing.T) {
	main, err := os.ReadFile(filepath.Join("..", "cmd", "snapmirror-csi", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"/var/lib/kubelet", "/var/lib/snapmirror-csi", "/dev", "/sys", "/etc/iscsi"}
	var found int
	for _, o := range deployObjects(t) {
		if o.Kind != "DaemonSet" {
			continue
		}
		found++
		var ds appsv1.DaemonSet
		o.decode(t, &ds)
		pod := ds.Spec.Template.Spec
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken must be false: the node plugin uses no API", o)
		}
		for _, v := range pod.Volumes {
			if v.HostPath != nil && !slices.Contains(allowed, v.HostPath.Path) {
				t.Errorf("%s: hostPath %s is not one a node plugin needs (%v)", o, v.HostPath.Path, allowed)
			}
		}
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers, want the node plugin alone", o, len(pod.Containers))
		}
		c := pod.Containers[0]
		if !slices.Contains(c.Args, "--mode=node") {
			t.Errorf("%s: args %v lack --mode=node", o, c.Args)
		}
		for _, a := range c.Args {
			name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !strings.Contains(string(main), `, "`+name+`", `) {
				t.Errorf("%s: flag --%s is not one of cmd/snapmirror-csi's", o, name)
			}
		}
		if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
			t.Errorf("%s: the node plugin must be privileged to mount and reach devices", o)
		}
		shared := false
		for _, m := range c.VolumeMounts {
			if m.MountPath == "/var/lib/kubelet" {
				shared = m.MountPropagation != nil && *m.MountPropagation == corev1.MountPropagationBidirectional
			}
		}
		if !shared {
			t.Errorf("%s: /var/lib/kubelet must be mounted with Bidirectional propagation, or pods do not see the plugin's mounts", o)
		}
	}
	if found != 1 {
		t.Errorf("%d DaemonSets in the kustomization, want the node plugin's", found)
	}
}
