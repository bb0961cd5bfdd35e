package ontap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Credentials are an ONTAP user name and password. Their String and GoString never show the
// password, so they cannot leak through logs or %v.
type Credentials struct {
	Username string
	Password string
}

// String shows the user name only.
func (c Credentials) String() string {
	return "Credentials{Username: " + c.Username + ", Password: <redacted>}"
}

// GoString shows the user name only.
func (c Credentials) GoString() string { return c.String() }

// CredentialsSource supplies the credentials of every request. Implementations must be safe
// for concurrent use, and their errors must not contain the password.
type CredentialsSource interface {
	Credentials(ctx context.Context) (Credentials, error)
}

// CredentialsFunc adapts a function to CredentialsSource; frontend uses it to read a
// Kubernetes Secret.
type CredentialsFunc func(ctx context.Context) (Credentials, error)

// Credentials calls f.
func (f CredentialsFunc) Credentials(ctx context.Context) (Credentials, error) { return f(ctx) }

// DirCredentials reads the files "username" and "password" in a directory: the layout of a
// Kubernetes Secret mounted as a volume. It re-reads them at most once per TTL, so a rotated
// Secret takes effect without a restart.
type DirCredentials struct {
	// Dir holds the files username and password.
	Dir string
	// TTL is how long the files are cached; 0 means 30 seconds.
	TTL time.Duration

	mu      sync.Mutex
	cached  Credentials
	expires time.Time
}

// Credentials returns the cached credentials, re-reading the files after TTL.
func (d *DirCredentials) Credentials(context.Context) (Credentials, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Now().Before(d.expires) {
		return d.cached, nil
	}
	var c Credentials
	for name, dst := range map[string]*string{"username": &c.Username, "password": &c.Password} {
		b, err := os.ReadFile(filepath.Join(d.Dir, name))
		if err != nil {
			// os errors name the file, never its content.
			return Credentials{}, fmt.Errorf("read ONTAP credentials: %w", err)
		}
		*dst = strings.TrimRight(string(b), "\r\n")
		if *dst == "" {
			return Credentials{}, fmt.Errorf("read ONTAP credentials: %s is empty", filepath.Join(d.Dir, name))
		}
	}
	ttl := d.TTL
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	d.cached, d.expires = c, time.Now().Add(ttl)
	return c, nil
}
