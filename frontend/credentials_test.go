package frontend_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snapmirror-csi/snapmirror-csi/frontend"
)

// forbiddenReader answers every read as the API server does without a grant.
type forbiddenReader struct{ client.Reader }

func (forbiddenReader) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, key.Name, nil)
}

// TestSecretCredentialsForbidden: a credentials Secret outside the namespaces the driver may read
// fails with the way out (a Role in that namespace), not only the API server's refusal.
func TestSecretCredentialsForbidden(t *testing.T) {
	src, err := frontend.SecretCredentials(forbiddenReader{}, time.Minute)("storage-admins/ontap")
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Credentials(context.Background())
	if err == nil || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), "a Role in namespace storage-admins") {
		t.Errorf("got %v, want the refusal and the Role to add", err)
	}
}
