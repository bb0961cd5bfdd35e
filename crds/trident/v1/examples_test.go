package v1_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snapmirror-csi/snapmirror-csi/test/controlplane"
)

// TestExamplesApplyAndReadBack applies every YAML in examples/ unchanged with kubectl, as a
// user would, and reads each object back with every field it gave.
func TestExamplesApplyAndReadBack(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "examples", "*", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found under %s: %v", root, err)
	}
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		t.Run(rel, func(t *testing.T) {
			ns := newNamespace(t)
			if _, err := cp.Kubectl("apply", "-n", ns, "-f", file); err != nil {
				t.Fatal(err)
			}
			for _, want := range readObjects(t, file) {
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(want.GroupVersionKind())
				namespaced, err := cp.Client.IsObjectNamespaced(got)
				if err != nil {
					t.Fatalf("%s: %v", want.GetKind(), err)
				}
				key := client.ObjectKey{Name: want.GetName()}
				if namespaced {
					key.Namespace = ns
				} else {
					// Each site has its own cluster-scoped objects (the primary's and the
					// secondary's StorageClass share a name): remove them after the example.
					t.Cleanup(func() {
						if err := cp.Client.Delete(context.Background(), got); err != nil {
							t.Errorf("delete %s %s: %v", want.GetKind(), key, err)
						}
					})
				}
				if err := cp.Client.Get(context.Background(), key, got); err != nil {
					t.Fatalf("read back %s %s: %v", want.GetKind(), key, err)
				}
				if err := contains(got.Object, want.Object, ""); err != nil {
					t.Errorf("%s %s read back differs from %s: %v", want.GetKind(), key, rel, err)
				}
			}
		})
	}
}

// readObjects decodes every document of a YAML file.
func readObjects(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decode %s: %v", file, err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// contains reports where got lacks a field of want or holds another value. Maps may hold
// more keys in got (defaults, metadata the server adds); lists must match item by item.
func contains(got, want any, path string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want an object", path, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing", path, k)
			}
			if err := contains(gv, wv, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: got %v, want %v", path, got, want)
		}
		for i := range w {
			if err := contains(g[i], w[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		if !reflect.DeepEqual(fmt.Sprint(got), fmt.Sprint(want)) {
			return fmt.Errorf("%s: got %v, want %v", path, got, want)
		}
	}
	return nil
}
