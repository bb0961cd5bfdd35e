package csi

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// Registration is kubelet's plugin registration service for the node plugin, served in
// process in place of the node-driver-registrar sidecar: kubelet's plugin watcher finds its
// socket in plugins_registry, asks GetInfo for the driver's name and CSI endpoint, then says
// whether it registered the driver.
type Registration struct {
	registerapi.UnimplementedRegistrationServer

	// DriverName is the CSI driver's name.
	DriverName string
	// Endpoint is the path of the CSI socket as kubelet sees it.
	Endpoint string
	// Log receives the registration's outcome.
	Log logr.Logger

	failed chan error
}

// GetInfo implements the registration service: a CSI plugin, its name, its endpoint and the
// version of the registration API it speaks.
func (r *Registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type: registerapi.CSIPlugin, Name: r.DriverName, Endpoint: r.Endpoint, SupportedVersions: []string{"1.0.0"},
	}, nil
}

// NotifyRegistrationStatus implements the registration service. A failed registration ends
// Serve with an error, as node-driver-registrar exits: the pod restarts and kubelet tries again.
func (r *Registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if s.GetPluginRegistered() {
		r.Log.Info("Registered with kubelet", "driver", r.DriverName, "endpoint", r.Endpoint)
		return &registerapi.RegistrationStatusResponse{}, nil
	}
	select {
	case r.failed <- fmt.Errorf("kubelet did not register driver %s: %s", r.DriverName, s.GetError()):
	default: // a failure is being reported already
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// Serve serves the registration service on a unix socket until ctx ends (nil) or kubelet
// reports a failed registration (an error saying why). The socket is removed when it ends,
// so that kubelet deregisters the driver.
func (r *Registration) Serve(ctx context.Context, socket string) error {
	r.failed = make(chan error, 1)
	ln, err := listenUnix(socket)
	if err != nil {
		return fmt.Errorf("registration socket: %w", err)
	}
	s := grpc.NewServer()
	registerapi.RegisterRegistrationServer(s, r)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	r.Log.Info("Serving kubelet plugin registration", "socket", socket)
	var end error
	select {
	case <-ctx.Done():
	case end = <-r.failed:
	case end = <-served:
	}
	// Gracefully: the NotifyRegistrationStatus that reported a failure gets its answer.
	s.GracefulStop()
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		end = errors.Join(end, err)
	}
	return end
}
