package frontend

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// Secrets are read only in the driver's own namespace (a Role, not the ClusterRole): a backend
// whose credentials Secret is in another namespace needs a Role there (see the README).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get,namespace=snapmirror-csi

// SecretCredentials resolves a backend's credentials.secret "namespace/name": the Secret's
// keys username and password, read through the API and cached for a TTL so that rotation
// takes effect without a restart.
func SecretCredentials(reader client.Reader, ttl time.Duration) ontap.SecretCredentials {
	return func(ref string) (ontap.CredentialsSource, error) {
		ns, name, ok := strings.Cut(ref, "/")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("%q: write it as namespace/name", ref)
		}
		return &secretSource{reader: reader, key: client.ObjectKey{Namespace: ns, Name: name}, ttl: ttl}, nil
	}
}

type secretSource struct {
	reader  client.Reader
	key     client.ObjectKey
	ttl     time.Duration
	mu      sync.Mutex
	cached  ontap.Credentials
	expires time.Time
}

func (s *secretSource) Credentials(ctx context.Context) (ontap.Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Now().Before(s.expires) {
		return s.cached, nil
	}
	secret := &corev1.Secret{}
	if err := s.reader.Get(ctx, s.key, secret); err != nil {
		if apierrors.IsForbidden(err) {
			return ontap.Credentials{}, fmt.Errorf("read ONTAP credentials from Secret %s: %w; snapmirror-csi may read Secrets only in its own namespace "+
				"unless a Role in namespace %s grants it get on secrets (see the README, \"Credentials\")", s.key, err, s.key.Namespace)
		}
		return ontap.Credentials{}, fmt.Errorf("read ONTAP credentials from Secret %s: %w", s.key, err)
	}
	c := ontap.Credentials{Username: string(secret.Data["username"]), Password: string(secret.Data["password"])}
	if c.Username == "" || c.Password == "" {
		return ontap.Credentials{}, fmt.Errorf("Secret %s must hold the keys username and password", s.key)
	}
	s.cached, s.expires = c, time.Now().Add(s.ttl)
	return c, nil
}
