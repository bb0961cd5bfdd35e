package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
)

// Exit codes. Scripts tell "it is not safe or not healthy" (2) from "it went wrong" (1).
const (
	exitOK = 0
	// exitFailed: bad arguments, an API error, an operation that failed or timed out.
	exitFailed = 1
	// exitUnsafe: status found something unhealthy, or a command refused to act (a pre-flight
	// check failed, or data would be discarded without --yes). Nothing was changed.
	exitUnsafe = 2
)

// codeError carries the exit code of a command's error.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// unsafe marks an error as a refusal or an unhealthy verdict (exit code 2).
func unsafe(format string, args ...any) error {
	return &codeError{code: exitUnsafe, err: fmt.Errorf(format, args...)}
}

// options are the flags every command shares.
type options struct {
	config         *genericclioptions.ConfigFlags
	peerKubeconfig string
	peerContext    string
	peerNamespace  string
	timeout        time.Duration
	out            *printer
	// newClient builds a client from a REST config; tests replace it.
	newClient func(*rest.Config) (client.Client, error)
}

// Execute runs the plugin with args and returns the process's exit code.
func Execute(ctx context.Context, args []string, out, errOut io.Writer) int {
	return execute(ctx, args, out, errOut, newClient)
}

// execute is Execute with the client constructor given, for tests.
func execute(ctx context.Context, args []string, out, errOut io.Writer, newClient func(*rest.Config) (client.Client, error)) int {
	o := &options{out: &printer{w: out}, newClient: newClient}
	root := newRootCommand(o)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	if err == nil && o.out.err != nil {
		err = fmt.Errorf("write the output: %w", o.out.err)
	}
	if err == nil {
		return exitOK
	}
	(&printer{w: errOut}).println("error:", err)
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitFailed
}

func newRootCommand(o *options) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-snapmirror",
		Short: "Operate snapmirror-csi mirror relationships across two sites",
		Long: `kubectl snapmirror runs the steps of the snapmirror-csi DR workflow on both sites: this
site (--kubeconfig, --context, -n) and the peer site (--peer-context or --peer-kubeconfig).

Exit codes: 0 done or healthy; 1 failed (an error, a failed operation, a timeout);
2 unhealthy (status) or refused (a pre-flight check failed, or data would be discarded
without --yes), with nothing changed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// cobra's usage goes where the command's output goes; a usage error is exit code 1.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	o.config = genericclioptions.NewConfigFlags(true)
	o.config.AddFlags(root.PersistentFlags())
	pf := root.PersistentFlags()
	pf.StringVar(&o.peerKubeconfig, "peer-kubeconfig", "", "kubeconfig of the peer site (default: this site's kubeconfig, with --peer-context)")
	pf.StringVar(&o.peerContext, "peer-context", "", "context of the peer site in the peer kubeconfig")
	pf.StringVar(&o.peerNamespace, "peer-namespace", "", "namespace of the peer site's objects (default: this site's namespace)")
	pf.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long a waiting command waits before it gives up")
	root.AddCommand(newStatusCommand(o), newUpdateCommand(o), newFailoverCommand(o), newReestablishCommand(o), newFailbackCommand(o))
	return root
}

// scheme knows the kinds the plugin reads and writes.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), tridentv1.AddToScheme(s), snapshotv1.AddToScheme(s)); err != nil {
		panic(fmt.Sprintf("build scheme: %v", err)) // only a programming error gets here
	}
	return s
}

func newClient(cfg *rest.Config) (client.Client, error) {
	return client.New(cfg, client.Options{Scheme: scheme()})
}

// site is one Kubernetes cluster: this one or the peer.
type site struct {
	// name is how the user knows it: "this site" or "peer site", and its kubeconfig context.
	name      string
	namespace string
	c         client.Client
}

// peerTimeout bounds each request to the peer site, so that an unreachable peer is reported
// within seconds instead of hanging the command.
const peerTimeout = 10 * time.Second

// local connects to this site.
func (o *options) local() (*site, error) {
	loader := o.config.ToRawKubeConfigLoader()
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("this site's kubeconfig: %w", err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return nil, fmt.Errorf("this site's namespace: %w", err)
	}
	c, err := o.newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("this site: %w", err)
	}
	return &site{name: contextName(loader, *o.config.Context, "this site"), namespace: ns, c: c}, nil
}

// errNoPeer: neither --peer-context nor --peer-kubeconfig was given.
var errNoPeer = errors.New("no peer site: give --peer-context (a context of the same kubeconfig) or --peer-kubeconfig")

// peer connects to the peer site. The connection is lazy: an unreachable API server shows in
// the first request, not here.
func (o *options) peer(localNamespace string) (*site, error) {
	if o.peerKubeconfig == "" && o.peerContext == "" {
		return nil, errNoPeer
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	switch {
	case o.peerKubeconfig != "":
		rules.ExplicitPath = o.peerKubeconfig
	case o.config.KubeConfig != nil && *o.config.KubeConfig != "":
		rules.ExplicitPath = *o.config.KubeConfig
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.peerContext})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the peer site's kubeconfig: %w", err)
	}
	cfg.Timeout = peerTimeout
	c, err := o.newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("the peer site: %w", err)
	}
	ns := o.peerNamespace
	if ns == "" {
		ns = localNamespace
	}
	return &site{name: contextName(loader, o.peerContext, "peer site"), namespace: ns, c: c}, nil
}

// contextName names a site by its role and kubeconfig context, "peer site (dr-east)": the
// role always, since two kubeconfigs may use the same context name.
func contextName(loader clientcmd.ClientConfig, override, role string) string {
	ctx := override
	if ctx == "" {
		if raw, err := loader.RawConfig(); err == nil {
			ctx = raw.CurrentContext
		}
	}
	if ctx == "" {
		return role
	}
	return role + " (" + ctx + ")"
}

// withTimeout bounds a command by --timeout.
func (o *options) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, o.timeout)
}
