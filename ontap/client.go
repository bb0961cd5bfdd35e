package ontap

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/client"
	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// Config says how to reach one ONTAP cluster's management interface.
type Config struct {
	// Name identifies the cluster in metrics and logs, e.g. the backend name.
	Name string
	// Address is the management LIF, host or host:port (HTTPS).
	Address string
	// Credentials supplies the user name and password of every request.
	Credentials CredentialsSource
	// CA is a PEM bundle to verify ONTAP's certificate with; empty means the system's roots.
	CA []byte
	// InsecureSkipTLSVerify turns TLS verification off. Never the default; a warning is logged.
	InsecureSkipTLSVerify bool
	// MaxConcurrentRequests caps the requests in flight to this cluster; 0 means 10.
	MaxConcurrentRequests int
	// ReturnTimeout is how long ONTAP may hold an asynchronous request to finish its job
	// before answering 202 with the job (return_timeout), at most 120 seconds. 0, the
	// default, asks ONTAP to answer at once: a request that waits for its job holds one of the
	// cluster's REST slots for as long as the job runs, and at a few seconds a job, a failover
	// of many relationships then queues on those slots. Jobs are followed by the job watcher
	// instead (WaitJob, NotifyJob).
	ReturnTimeout time.Duration
	// RequestTimeout bounds a request, its retries included, so that a cluster that hangs
	// holds a worker only that long; 0 means ReturnTimeout plus 25 seconds (25 s by default:
	// a collection page comes within 15 s).
	RequestTimeout time.Duration
	// RetryAttempts is how many times a request that failed transiently is tried in all;
	// 0 means 4.
	RetryAttempts int
	// RetryBaseDelay is the first backoff delay, doubled at each retry up to 5 seconds;
	// 0 means 200 milliseconds.
	RetryBaseDelay time.Duration
	// JobPollInterval is how often the job watcher lists the jobs that callers wait for;
	// 0 means 500 milliseconds.
	JobPollInterval time.Duration
	// PageSize is max_records for collection GETs; 0 lets ONTAP choose.
	PageSize int64
	// Metrics records requests; nil records nothing.
	Metrics *Metrics
	// Log receives warnings and V(1) retry messages; the zero Logger discards them.
	Log logr.Logger
}

// Client is the domain API of one ONTAP cluster: FlexVols, their snapshots (named by the
// volume's UUID), SnapMirror relationships and transfers, jobs, the cluster, its SVMs and
// peerings, SnapMirror policies and schedules, NFS export policies. Mutations return a nil
// *Job when the operation ended within the request (return_timeout), or the running job,
// which WaitJob and NotifyJob follow with one list call per interval for all jobs together.
// SnapMirror calls go to the destination's cluster unless a method says otherwise. Its users
// declare the small interfaces they need of it (mirror.ONTAP, mirror.Writes). It is safe for
// concurrent use.
type Client struct {
	api           *client.Ontap
	returnTimeout int64
	pageSize      *int64
	jobs          *jobWatch
}

// New validates cfg and builds a Client over an http.Client that verifies TLS (unless told
// otherwise), authenticates, caps concurrency, retries transient failures and records metrics.
func New(cfg Config) (*Client, error) {
	if cfg.Address == "" {
		return nil, errors.New("ONTAP address is empty: set the management LIF's host or host:port")
	}
	if strings.Contains(cfg.Address, "/") {
		return nil, fmt.Errorf("ONTAP address %q must be a host or host:port, without scheme or path", cfg.Address)
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("ONTAP %s: no credentials source: give a credentials file or Secret", cfg.Address)
	}
	tlsCfg, err := tlsConfig(cfg.CA, cfg.InsecureSkipTLSVerify)
	if err != nil {
		return nil, fmt.Errorf("ONTAP %s: CA: %w", cfg.Address, err)
	}
	if cfg.InsecureSkipTLSVerify {
		cfg.Log.Info("TLS verification to ONTAP is OFF: anyone on the network path can impersonate the cluster and read its credentials", "cluster", cfg.Name, "address", cfg.Address)
	}
	name := cfg.Name
	if name == "" {
		name = cfg.Address
	}
	limit := orDefault(cfg.MaxConcurrentRequests, 10)
	base := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsCfg,
		MaxIdleConnsPerHost: limit,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	var rt http.RoundTripper = &authTransport{next: base, creds: cfg.Credentials}
	rt = errorBodyTransport{next: rt}
	rt = &metricsTransport{next: rt, metrics: cfg.Metrics, cluster: name}
	rt = &limitTransport{next: rt, slots: make(chan struct{}, limit)}
	rt = &retryTransport{
		next: rt, attempts: orDefault(cfg.RetryAttempts, 4), base: orDefault(cfg.RetryBaseDelay, 200*time.Millisecond),
		max: 5 * time.Second, metrics: cfg.Metrics, cluster: name, log: cfg.Log,
	}
	returnTimeout := min(cfg.ReturnTimeout, 120*time.Second)
	hc := &http.Client{Transport: rt, Timeout: orDefault(cfg.RequestTimeout, returnTimeout+25*time.Second)}

	transport := httptransport.NewWithClient(cfg.Address, client.DefaultBasePath, []string{"https"}, hc)
	transport.Consumers["application/hal+json"] = runtime.JSONConsumer()
	transport.SetDebug(false) // the runtime's debug dump must never print requests
	c := &Client{
		api:           client.New(transport, strfmt.Default),
		returnTimeout: int64(returnTimeout / time.Second),
	}
	c.jobs = &jobWatch{c: c, interval: orDefault(cfg.JobPollInterval, 500*time.Millisecond)}
	if cfg.PageSize > 0 {
		c.pageSize = &cfg.PageSize
	}
	return c, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// nextLink makes a generated call fetch the page that ONTAP's _links.next names instead of the
// first one: the path and every query parameter come from the link.
func nextLink(href string) (func(*runtime.ClientOperation), error) {
	u, err := url.Parse(href)
	if err != nil {
		return nil, fmt.Errorf("ONTAP next link %q: %w", href, err)
	}
	path := strings.TrimPrefix(u.Path, client.DefaultBasePath)
	query := u.Query()
	return func(op *runtime.ClientOperation) {
		op.PathPattern = path
		op.Params = runtime.ClientRequestWriterFunc(func(r runtime.ClientRequest, _ strfmt.Registry) error {
			for k, v := range query {
				if err := r.SetQueryParam(k, v...); err != nil {
					return err
				}
			}
			return nil
		})
	}, nil
}

// fetchPage fetches one page of a collection GET: the first with no options, later ones with
// the next link's. It returns the page's records and links.
type fetchPage[M any] func(opts ...func(*runtime.ClientOperation)) ([]M, *models.CollectionLinks, error)

// listAll fetches every page of a collection and converts each record.
func listAll[M, T any](fetch fetchPage[M], conv func(M) (T, error)) ([]T, error) {
	var all []T
	var opts []func(*runtime.ClientOperation)
	for {
		records, links, err := fetch(opts...)
		if err != nil {
			return nil, apiError(err)
		}
		for _, r := range records {
			t, err := conv(r)
			if err != nil {
				return nil, err
			}
			all = append(all, t)
		}
		next := nextHref(links)
		if next == "" {
			return all, nil
		}
		opt, err := nextLink(next)
		if err != nil {
			return nil, err
		}
		opts = []func(*runtime.ClientOperation){opt}
	}
}

// first returns the first item, or ErrNotFound when there is none.
func first[T any](items []T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, ErrNotFound
	}
	return &items[0], nil
}

// infallible adapts a conversion that cannot fail to listAll.
func infallible[M, T any](f func(M) T) func(M) (T, error) {
	return func(m M) (T, error) { return f(m), nil }
}

// opts converts page options to the option type of a generated package.
func opts[O ~func(*runtime.ClientOperation)](in []func(*runtime.ClientOperation)) []O {
	out := make([]O, len(in))
	for i, o := range in {
		out[i] = o
	}
	return out
}

// nextHref returns the href of the next page, or "".
func nextHref(l *models.CollectionLinks) string {
	if l == nil || l.Next == nil {
		return ""
	}
	return l.Next.Href
}
