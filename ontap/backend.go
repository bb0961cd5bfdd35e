package ontap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/yaml"
)

// Drivers a backend can have.
const (
	DriverNAS = "ontap-nas"
	DriverSAN = "ontap-san"
)

// SAN protocols of an ontap-san backend (sanType, Trident's field). Only iSCSI is served.
const (
	SANiSCSI = "iscsi"
	SANNVMe  = "nvme"
	SANFCP   = "fcp"
)

// ISCSIPort is the TCP port of iSCSI portals.
const ISCSIPort = "3260"

// DefaultStoragePrefix starts every FlexVol name, as in Trident.
const DefaultStoragePrefix = "trident_"

// BackendConfig is one backend: one SVM on one ONTAP cluster. Field names follow Trident's
// backend configuration.
type BackendConfig struct {
	// Name identifies the backend in volume contexts, logs and metrics.
	Name string `json:"name"`
	// Driver is "ontap-nas" (FlexVols exported over NFS) or "ontap-san" (a FlexVol holding
	// one LUN, over iSCSI).
	Driver string `json:"driver"`
	// SANType is the SAN protocol of an ontap-san backend: "iscsi", the default and the only
	// one served today ("nvme" and "fcp" are refused).
	SANType string `json:"sanType,omitempty"`
	// ManagementLIF is the cluster's management address, host or host:port.
	ManagementLIF string `json:"managementLIF"`
	// DataLIF is, for ontap-nas, the NFS server address that nodes mount (default: the
	// management LIF's host); for ontap-san, the one iSCSI portal address nodes log in to
	// (default: every data LIF of the SVM with the data_iscsi service that is up).
	DataLIF string `json:"dataLIF,omitempty"`
	// SVM is the data SVM the backend provisions in.
	SVM string `json:"svm"`
	// Aggregates hold the backend's FlexVols; the first with room is used.
	Aggregates []string `json:"aggregates"`
	// StoragePrefix starts FlexVol names; default "trident_".
	StoragePrefix *string `json:"storagePrefix,omitempty"`
	// ExportPolicy is the NFS export policy of new volumes; default "default". Leave it out
	// with autoExportPolicy.
	ExportPolicy string `json:"exportPolicy,omitempty"`
	// AutoExportPolicy gives each new ontap-nas volume an export policy of its own, named as
	// the volume, that admits exactly the nodes the volume is published to (a rule per node
	// address, added by ControllerPublishVolume and removed by ControllerUnpublishVolume), as
	// Trident's volume-based automatic export policies do.
	AutoExportPolicy bool `json:"autoExportPolicy,omitempty"`
	// AutoExportCIDRs limit the node addresses that autoExportPolicy admits; default
	// ["0.0.0.0/0", "::/0"] (every address a node reports).
	AutoExportCIDRs []string `json:"autoExportCIDRs,omitempty"`
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
	// MaxVolumeSize is the largest FlexVol the cluster makes, in bytes: a larger request is
	// refused before ONTAP is asked. Default DefaultMaxVolumeSize, ONTAP's common platform
	// maximum.
	MaxVolumeSize int64 `json:"maxVolumeSize,omitempty"`
}

// DefaultMaxVolumeSize is ONTAP's common maximum FlexVol size, 100 TiB.
const DefaultMaxVolumeSize int64 = 100 << 40

// MaxVolume is the largest volume the backend makes, in bytes.
func (b *BackendConfig) MaxVolume() int64 { return orDefault(b.MaxVolumeSize, DefaultMaxVolumeSize) }

// CredentialsRef names a credentials source: a directory holding the files username and
// password (a mounted Secret), or a Secret "namespace/name" read through the API.
type CredentialsRef struct {
	File   string `json:"file,omitempty"`
	Secret string `json:"secret,omitempty"`
}

// check finds what is wrong with a credentials reference.
func (c CredentialsRef) check() error {
	if (c.File == "") == (c.Secret == "") {
		return errors.New("credentials: give exactly one of file (a folder with username and password) or secret (namespace/name)")
	}
	if c.Secret != "" && strings.Count(c.Secret, "/") != 1 {
		return fmt.Errorf("credentials.secret %q: write it as namespace/name", c.Secret)
	}
	return nil
}

// DriverConfig is the driver's configuration file.
type DriverConfig struct {
	Backends []BackendConfig `json:"backends"`
	// Peers are the other site's SVMs, only read, to detect split brain; never provisioned on.
	Peers []PeerConfig `json:"peers,omitempty"`
}

// PeerConfig is an SVM of the other site, read (never written) to tell whether both copies of
// a broken-off relationship have been written. Read-only credentials are enough. Unlike a
// backend, a peer that does not answer is no error: in a disaster the other site is down.
type PeerConfig struct {
	// Name identifies the peer in logs and metrics.
	Name string `json:"name"`
	// ManagementLIF is the peer cluster's management address, host or host:port.
	ManagementLIF string `json:"managementLIF"`
	// SVM is the peer's data SVM: the SVM of the relationships' other end.
	SVM string `json:"svm"`
	// CAFile, InsecureSkipTLSVerify and Credentials are as for a backend.
	CAFile                string         `json:"caFile,omitempty"`
	InsecureSkipTLSVerify bool           `json:"insecureSkipTLSVerify,omitempty"`
	Credentials           CredentialsRef `json:"credentials"`
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
	// Backends and peers alike: paths relative to the file, a valid entry, a unique name.
	type entry struct {
		field, name string
		paths       []*string
		check       func() error
	}
	var entries []entry
	for i := range cfg.Backends {
		b := &cfg.Backends[i]
		entries = append(entries, entry{fmt.Sprintf("backends[%d]", i), b.Name, []*string{&b.CAFile, &b.Credentials.File}, b.check})
	}
	for i := range cfg.Peers {
		p := &cfg.Peers[i]
		entries = append(entries, entry{fmt.Sprintf("peers[%d]", i), p.Name, []*string{&p.CAFile, &p.Credentials.File}, p.check})
	}
	var errs []error
	names := map[string]bool{}
	for _, e := range entries {
		for _, f := range e.paths {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(filepath.Dir(path), *f)
			}
		}
		if err := e.check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.field, err))
		}
		if names[e.name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice: give each backend and peer its own name", e.field, e.name))
		}
		names[e.name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("backend configuration %s:\n%w", path, err)
	}
	return &cfg, nil
}

// check finds what is wrong with a peer's configuration on its own.
func (p *PeerConfig) check() error {
	var errs []error
	for _, f := range []struct{ field, value, fix string }{
		{"name", p.Name, "name the peer"},
		{"managementLIF", p.ManagementLIF, "give the peer cluster's management address"},
		{"svm", p.SVM, "name the peer's data SVM"},
	} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("%s is empty: %s", f.field, f.fix))
		}
	}
	return errors.Join(append(errs, p.Credentials.check())...)
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
		if b.SANType != "" {
			errs = append(errs, fmt.Errorf(`sanType %q: only ontap-san backends take it: remove it, or use driver "ontap-san"`, b.SANType))
		}
	case DriverSAN:
		switch b.SANType {
		case "", SANiSCSI:
		case SANNVMe, SANFCP:
			errs = append(errs, fmt.Errorf(`sanType %q is not served: only "iscsi" is, today: use sanType "iscsi" (or leave it out)`, b.SANType))
		default:
			errs = append(errs, fmt.Errorf(`sanType %q is unknown: use "iscsi" (or leave it out)`, b.SANType))
		}
	default:
		errs = append(errs, fmt.Errorf(`driver %q is unknown: use "ontap-nas" or "ontap-san"`, b.Driver))
	}
	if len(b.Aggregates) == 0 {
		errs = append(errs, errors.New("aggregates is empty: list the aggregates to place volumes on"))
	}
	errs = append(errs, b.checkExports()...)
	if b.MaxVolumeSize < 0 {
		errs = append(errs, fmt.Errorf("maxVolumeSize %d: give a size in bytes, or leave it out for %d (100 TiB)", b.MaxVolumeSize, DefaultMaxVolumeSize))
	}
	errs = append(errs, b.Credentials.check())
	if p := b.Prefix(); p != "" && !volumeNamePrefix.MatchString(p) {
		errs = append(errs, fmt.Errorf("storagePrefix %q: start with a letter or _, then letters, digits and _", p))
	}
	return errors.Join(errs...)
}

// checkExports finds what is wrong with the NFS export settings.
func (b *BackendConfig) checkExports() []error {
	var errs []error
	switch {
	case b.Driver == DriverSAN && (b.ExportPolicy != "" || b.AutoExportPolicy || len(b.AutoExportCIDRs) > 0):
		errs = append(errs, errors.New("exportPolicy, autoExportPolicy and autoExportCIDRs: ontap-san volumes are not exported over NFS: remove them"))
	case b.AutoExportPolicy && b.ExportPolicy != "":
		errs = append(errs, fmt.Errorf("exportPolicy %q: with autoExportPolicy each volume gets a policy of its own: remove exportPolicy, or set autoExportPolicy to false", b.ExportPolicy))
	case !b.AutoExportPolicy && len(b.AutoExportCIDRs) > 0:
		errs = append(errs, errors.New("autoExportCIDRs: only autoExportPolicy uses them: set autoExportPolicy to true, or remove autoExportCIDRs"))
	}
	for i, c := range b.AutoExportCIDRs {
		if _, err := netip.ParsePrefix(c); err != nil {
			errs = append(errs, fmt.Errorf("autoExportCIDRs[%d] %q: write a subnet in CIDR notation, such as 10.0.0.0/8", i, c))
		}
	}
	return errs
}

// ExportPolicyOf is the export policy a new volume of this backend gets: its own (named as
// the volume) with autoExportPolicy, else exportPolicy; "" leaves ONTAP's default.
func (b *BackendConfig) ExportPolicyOf(volume string) string {
	if b.AutoExportPolicy {
		return volume
	}
	return b.ExportPolicy
}

// ExportAddresses are those of a node's addresses that autoExportCIDRs admit.
func (b *BackendConfig) ExportAddresses(addrs []string) []string {
	cidrs := b.AutoExportCIDRs
	if len(cidrs) == 0 {
		cidrs = []string{"0.0.0.0/0", "::/0"}
	}
	var in []string
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue
		}
		if slices.ContainsFunc(cidrs, func(c string) bool {
			p, err := netip.ParsePrefix(c)
			return err == nil && p.Contains(ip.Unmap())
		}) {
			in = append(in, ip.Unmap().String())
		}
	}
	return in
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

// Backend is a configured backend with its client. OpenBackends validates it against ONTAP;
// one whose cluster does not answer then is kept and connected once it answers (see
// Available). Its Client exists either way, so a call through it gets the network's or
// ONTAP's own error, never a nil client.
type Backend struct {
	BackendConfig
	*Client
	// conn is the backend's connection state; nil (a Backend made by hand) is connected.
	conn *connection
	// iscsi is where the nodes of an ontap-san backend log in, found by validate.
	iscsi atomic.Pointer[ISCSITarget]
}

// ISCSITarget is where the nodes of an ontap-san backend log in: the SVM's iSCSI target and
// its portals.
type ISCSITarget struct {
	// IQN is the target's name (the iSCSI service's target.name).
	IQN string
	// Portals are the data LIFs' addresses, host:3260.
	Portals []string
}

// ISCSI returns where the nodes of an ontap-san backend log in, as found when the backend was
// validated against ONTAP; nil for an ontap-nas backend, or one not validated yet.
func (b *Backend) ISCSI() *ISCSITarget { return b.iscsi.Load() }

// findISCSI finds the SVM's iSCSI target and the portals of its data LIFs (or the configured
// dataLIF), or says what the SVM lacks.
func (b *Backend) findISCSI(ctx context.Context) error {
	svc, err := b.GetISCSIService(ctx, b.SVM)
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("driver ontap-san: SVM %s has no iSCSI service: create one on ONTAP (vserver iscsi create)", b.SVM)
	case err != nil:
		return fmt.Errorf("driver ontap-san: %w", err)
	case !svc.Enabled:
		return fmt.Errorf("driver ontap-san: the iSCSI service of SVM %s is disabled: enable it on ONTAP", b.SVM)
	}
	addrs := []string{b.DataLIF}
	if b.DataLIF == "" {
		if addrs, err = b.DataLIFs(ctx, b.SVM, "data_iscsi"); err != nil {
			return fmt.Errorf("driver ontap-san: %w", err)
		}
		if len(addrs) == 0 {
			return fmt.Errorf("driver ontap-san: SVM %s has no data LIF with the data_iscsi service that is up: create one on ONTAP, or set dataLIF", b.SVM)
		}
	}
	t := ISCSITarget{IQN: svc.Target}
	for _, a := range addrs {
		t.Portals = append(t.Portals, net.JoinHostPort(strings.Trim(a, "[]"), ISCSIPort))
	}
	b.iscsi.Store(&t)
	return nil
}

// SecretCredentials resolves a credentials Secret "namespace/name"; frontend provides it.
type SecretCredentials func(ref string) (CredentialsSource, error)

// OpenOptions are what OpenBackends needs beside the configuration.
type OpenOptions struct {
	// Secrets resolves credentials.secret; nil refuses secrets with a clear error.
	Secrets SecretCredentials
	Metrics *Metrics
	Log     logr.Logger
	// RetryMin and RetryMax bound the backoff between attempts to reach a backend whose
	// cluster does not answer; 0 means 1 second and 1 minute. A use of the backend brings
	// the next attempt forward, to no sooner than RetryMin after the last one.
	RetryMin, RetryMax time.Duration
	// ConnectTimeout bounds one attempt to validate a backend; 0 means 15 seconds.
	ConnectTimeout time.Duration
	// JobPoll is how often the backends' job watchers look at the jobs followed; 0 means
	// Config's default.
	JobPoll time.Duration
}

// OpenBackends connects to the backends, all at once, and validates each against ONTAP: the
// cluster answers, the SVM and aggregates exist, the default policy exists and is async with
// MirrorAllSnapshots semantics (or sync), and the default schedule exists and is cron. Every
// problem of every backend is reported, each with its fix, and fails the opening; except
// that a cluster does not answer (see DoesNotAnswer): in a site outage the backends that
// answer must serve. Such a backend is returned unconnected, logged once with the reason,
// and connected in the background, with backoff, as soon as its cluster answers and passes
// the validation; until then its Available says why it cannot be used. The background
// attempts end with ctx.
func OpenBackends(ctx context.Context, cfg *DriverConfig, opts OpenOptions) ([]*Backend, error) {
	backends := make([]*Backend, len(cfg.Backends))
	errs := make([]error, len(cfg.Backends))
	var wg sync.WaitGroup
	for i, bc := range cfg.Backends {
		wg.Go(func() {
			if backends[i], errs[i] = openBackend(ctx, bc, opts); errs[i] != nil {
				errs[i] = fmt.Errorf("backend %s: %w", bc.Name, errs[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, b := range backends {
		b.conn.start(ctx, b)
	}
	return backends, nil
}

func openBackend(ctx context.Context, bc BackendConfig, opts OpenOptions) (*Backend, error) {
	client, err := connect(Config{
		Name: bc.Name, Address: bc.ManagementLIF, InsecureSkipTLSVerify: bc.InsecureSkipTLSVerify,
		MaxConcurrentRequests: bc.MaxConcurrentRequests, JobPollInterval: opts.JobPoll, Metrics: opts.Metrics, Log: opts.Log,
	}, bc.CAFile, bc.Credentials, opts)
	if err != nil {
		return nil, err
	}
	b := &Backend{BackendConfig: bc, Client: client, conn: newConnection(opts)}
	err = b.tryValidate(ctx)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err == nil:
		b.up()
	case DoesNotAnswer(err):
		b.down(err)
	default:
		return nil, err
	}
	return b, nil
}

// OpenPeers makes a client for each peer. It does not call them: a peer that does not
// answer is no error, as in a disaster the other site is down.
func OpenPeers(cfg *DriverConfig, opts OpenOptions) ([]*Peer, error) {
	var peers []*Peer
	var errs []error
	for _, pc := range cfg.Peers {
		client, err := connect(Config{Name: pc.Name, Address: pc.ManagementLIF, InsecureSkipTLSVerify: pc.InsecureSkipTLSVerify, Metrics: opts.Metrics, Log: opts.Log}, pc.CAFile, pc.Credentials, opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("peer %s: %w", pc.Name, err))
			continue
		}
		peers = append(peers, &Peer{PeerConfig: pc, Client: client})
	}
	return peers, errors.Join(errs...)
}

// connect resolves the credentials and the CA of a backend or peer and makes its client.
func connect(cfg Config, caFile string, ref CredentialsRef, opts OpenOptions) (*Client, error) {
	switch {
	case ref.File != "":
		cfg.Credentials = &DirCredentials{Dir: ref.File}
	case opts.Secrets == nil:
		return nil, fmt.Errorf("credentials.secret %s cannot be read here: give credentials.file instead", ref.Secret)
	default:
		var err error
		if cfg.Credentials, err = opts.Secrets(ref.Secret); err != nil {
			return nil, fmt.Errorf("credentials.secret: %w", err)
		}
	}
	if caFile != "" {
		var err error
		if cfg.CA, err = os.ReadFile(caFile); err != nil {
			return nil, fmt.Errorf("caFile: %w", err)
		}
	}
	return New(cfg)
}

// validate checks the backend against ONTAP.
func (b *Backend) validate(ctx context.Context) error {
	if _, err := b.Cluster(ctx); err != nil {
		if DoesNotAnswer(err) {
			return b.noAnswer(err)
		}
		return fmt.Errorf("managementLIF %s: %w", b.ManagementLIF, err)
	}
	var errs []error
	svm, err := b.GetSVM(ctx, b.SVM)
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("svm %q does not exist on the cluster: name an existing data SVM", b.SVM)
	case err != nil:
		return fmt.Errorf("svm %q: %w", b.SVM, err)
	}
	if b.Driver == DriverSAN {
		if err := b.findISCSI(ctx); err != nil {
			errs = append(errs, err)
		}
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
