package frontend_test

import (
	"testing"

	"github.com/snapmirror-csi/snapmirror-csi/test/controlplane"
)

// cp is the real etcd and kube-apiserver, with the generated CRDs installed, that every test
// of this package shares; each test works in a namespace of its own.
var cp *controlplane.ControlPlane

func TestMain(m *testing.M) { controlplane.Main(m, &cp) }

// newNamespace creates a namespace for one test and returns its name.
func newNamespace(t *testing.T) string { return cp.Namespace(t) }
