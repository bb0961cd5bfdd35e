package ontap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"sigs.k8s.io/yaml"
)

// Drivers a backend can have.
const (
	DriverNAS = "ontap-nas"
	DriverSAN = "ontap-san"
)

// DefaultStoragePrefix starts every FlexVol name, as in Trident.
const DefaultStoragePrefix = "trident_"

// BackendConfig is one backend: one SVM on one ONTAP cluster. Field names follow Trident's
// backend configuration.
type BackendConfig struct {
	// Name identifies the backend in volume contexts, logs and metrics.
	Name string `json:"name"`
	// Driver is "ontap-nas" (FlexVols exported over NFS); "ontap-san" is not supported yet.
	Driver string `json:"driver"`
	// ManagementLIF is the cluster's management address, host or host:port.
	ManagementLIF string `json:"managementLIF"`
	// DataLIF is the NFS server address that nodes mount; default: the management LIF's host.
	DataLIF string `json:"dataLIF,omitempty"`
	// SVM is the data SVM the backend provisions in.
	SVM string `json:"svm"`
	// Aggregates hold the backend's FlexVols; the first with room is used.
	Aggregates []string `json:"aggregates"`
	// StoragePrefix starts FlexVol names; default "trident_".
	StoragePrefix *string `json:"storagePrefix,omitempty"`
	// ExportPolicy is the NFS export policy of new volumes; default "default".
	ExportPolicy string `json:"exportPolicy,omitempty"`
	// ReplicationPolicy and ReplicationSchedule are the defaults of mirror relationships whose
	// TMR names none.
	ReplicationPolicy   string `json:"replicationPolicy,omitempty"`
	ReplicationSchedule string `json:"replicationSchedule,omitempty"`
	// CAFile is a PEM bundle to verify the cluster's certificate; default: system roots.
	CAFile string `json:"caFile,omitempty"`
	// InsecureSkipTLSVerify turns TLS verification off; it is logged as a warning.
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`
	// Credentials name where the user name and password are: never inline.
	Credentials CredentialsRef `json:"credentials"`
	// MaxConcurrentRequests caps requests in flight to the cluster; default 10.
	MaxConcurrentRequests int `json:"maxConcurrentRequests,omitempty"`
}

// CredentialsRef names a credentials source: a directory holding the files username and
// password (a mounted Secret), or a Secret "namespace/name" read through the API.
type CredentialsRef struct {
	File   string `json:"file,omitempty"`
	Secret string `json:"secret,omitempty"`
}

// DriverConfig is the driver's configuration file.
type DriverConfig struct {
	Backends []BackendConfig `json:"backends"`
}

// LoadConfig reads a configuration file and checks what can be checked without ONTAP.
// Relative file paths in it are resolved from the file's folder.
func LoadConfig(path string) (*DriverConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg DriverConfig
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("backend configuration %s: %w", path, err)
	}
	if len(cfg.Backends) == 0 {
		return nil, fmt.Errorf("backend configuration %s: backends: give at least one backend", path)
	}
	var errs []error
	names := map[string]bool{}
	for i := range cfg.Backends {
		b := &cfg.Backends[i]
		for _, f := range []*string{&b.CAFile, &b.Credentials.File} {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(filepath.Dir(path), *f)
			}
		}
		if err := b.check(); err != nil {
			errs = append(errs, fmt.Errorf("backends[%d]: %w", i, err))
		}
		if names[b.Name] {
			errs = append(errs, fmt.Errorf("backends[%d].name: %q is used twice: give each backend its own name", i, b.Name))
		}
		names[b.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("backend configuration %s:\n%w", path, err)
	}
	return &cfg, nil
}

// check finds what is wrong with a backend's configuration on its own.
func (b *BackendConfig) check() error {
	var errs []error
	need := func(field, value, fix string) {
		if value == "" {
			errs = append(errs, fmt.Errorf("%s is empty: %s", field, fix))
		}
	}
	need("name", b.Name, "name the backend")
	need("managementLIF", b.ManagementLIF, "give the cluster's management address")
	need("svm", b.SVM, "name the data SVM to provision in")
	switch b.Driver {
	case DriverNAS:
	case DriverSAN:
		errs = append(errs, errors.New(`driver "ontap-san" is not supported yet: use "ontap-nas"`))
	default:
		errs = append(errs, fmt.Errorf(`driver %q is unknown: use "ontap-nas"`, b.Driver))
	}
	if len(b.Aggregates) == 0 {
		errs = append(errs, errors.New("aggregates is empty: list the aggregates to place volumes on"))
	}
	if (b.Credentials.File == "") == (b.Credentials.Secret == "") {
		errs = append(errs, errors.New("credentials: give exactly one of file (a folder with username and password) or secret (namespace/name)"))
	}
	if b.Credentials.Secret != "" && strings.Count(b.Credentials.Secret, "/") != 1 {
		errs = append(errs, fmt.Errorf("credentials.secret %q: write it as namespace/name", b.Credentials.Secret))
	}
	if p := b.Prefix(); p != "" && !volumeNamePrefix.MatchString(p) {
		errs = append(errs, fmt.Errorf("storagePrefix %q: start with a letter or _, then letters, digits and _", p))
	}
	return errors.Join(errs...)
}

// Prefix is the storage prefix in effect.
func (b *BackendConfig) Prefix() string {
	if b.StoragePrefix == nil {
		return DefaultStoragePrefix
	}
	return *b.StoragePrefix
}

// DataAddress is the NFS server address in effect.
func (b *BackendConfig) DataAddress() string {
	if b.DataLIF != "" {
		return b.DataLIF
	}
	host := b.ManagementLIF
	if i := strings.LastIndex(host, ":"); i > 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return host
}

// Backend is a configured backend with its client. It is validated against ONTAP when opened.
type Backend struct {
	BackendConfig
	*Client
}

// SecretCredentials resolves a credentials Secret "namespace/name"; frontend provides it.
type SecretCredentials func(ref string) (CredentialsSource, error)

// OpenOptions are what OpenBackends needs beside the configuration.
type OpenOptions struct {
	// Secrets resolves credentials.secret; nil refuses secrets with a clear error.
	Secrets SecretCredentials
	Metrics *Metrics
	Log     logr.Logger
}

// OpenBackends connects to each backend and validates it against ONTAP: the cluster answers,
// the SVM and aggregates exist, the default policy exists and is async with
// MirrorAllSnapshots semantics (or sync), and the default schedule exists and is cron. Every
// problem of every backend is reported, each with its fix.
func OpenBackends(ctx context.Context, cfg *DriverConfig, opts OpenOptions) ([]*Backend, error) {
	var backends []*Backend
	var errs []error
	for _, bc := range cfg.Backends {
		b, err := openBackend(ctx, bc, opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("backend %s: %w", bc.Name, err))
			continue
		}
		backends = append(backends, b)
	}
	return backends, errors.Join(errs...)
}

func openBackend(ctx context.Context, bc BackendConfig, opts OpenOptions) (*Backend, error) {
	var creds CredentialsSource
	switch {
	case bc.Credentials.File != "":
		creds = &DirCredentials{Dir: bc.Credentials.File}
	case opts.Secrets == nil:
		return nil, fmt.Errorf("credentials.secret %s cannot be read here: give credentials.file instead", bc.Credentials.Secret)
	default:
		var err error
		if creds, err = opts.Secrets(bc.Credentials.Secret); err != nil {
			return nil, fmt.Errorf("credentials.secret: %w", err)
		}
	}
	var ca []byte
	if bc.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(bc.CAFile); err != nil {
			return nil, fmt.Errorf("caFile: %w", err)
		}
	}
	client, err := New(Config{
		Name: bc.Name, Address: bc.ManagementLIF, Credentials: creds, CA: ca, InsecureSkipTLSVerify: bc.InsecureSkipTLSVerify,
		MaxConcurrentRequests: bc.MaxConcurrentRequests, Metrics: opts.Metrics, Log: opts.Log,
	})
	if err != nil {
		return nil, err
	}
	b := &Backend{BackendConfig: bc, Client: client}
	return b, b.validate(ctx)
}

// validate checks the backend against ONTAP.
func (b *Backend) validate(ctx context.Context) error {
	if _, err := b.Cluster(ctx); err != nil {
		return fmt.Errorf("managementLIF %s does not answer: %w", b.ManagementLIF, err)
	}
	var errs []error
	svm, err := b.GetSVM(ctx, b.SVM)
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("svm %q does not exist on the cluster: name an existing data SVM", b.SVM)
	case err != nil:
		return fmt.Errorf("svm %q: %w", b.SVM, err)
	}
	for _, a := range b.Aggregates {
		if len(svm.Aggregates) > 0 && slices.Contains(svm.Aggregates, a) {
			continue
		}
		if _, err := b.GetAggregate(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("aggregates: %q is not an aggregate of SVM %s: %w", a, b.SVM, err))
		}
	}
	if b.ReplicationPolicy != "" {
		p, err := b.GetPolicy(ctx, b.SVM, b.ReplicationPolicy)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("replicationPolicy %q: %w: name an existing SnapMirror policy, such as MirrorAllSnapshots", b.ReplicationPolicy, err))
		case p.Type == "async" && !p.CopyAllSnapshots:
			errs = append(errs, fmt.Errorf("replicationPolicy %q is async but does not mirror all source snapshots: use a policy like MirrorAllSnapshots, so that snapshots reach the destination", b.ReplicationPolicy))
		case p.Type != "async" && p.Type != "sync":
			errs = append(errs, fmt.Errorf("replicationPolicy %q is of type %s: use an async policy like MirrorAllSnapshots, or a sync one", b.ReplicationPolicy, p.Type))
		}
	}
	if b.ReplicationSchedule != "" {
		s, err := b.GetSchedule(ctx, b.ReplicationSchedule)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("replicationSchedule %q: %w: name an existing cron schedule, such as 5min", b.ReplicationSchedule, err))
		case s.Type != "cron":
			errs = append(errs, fmt.Errorf("replicationSchedule %q is an %s schedule: SnapMirror takes cron schedules only", b.ReplicationSchedule, s.Type))
		}
	}
	return errors.Join(errs...)
}
