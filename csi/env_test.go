package csi_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/snapmirror-csi/snapmirror-csi/csi"
	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// env is a simulated fabric: cluster "primary" with svm1 and cluster "secondary" with svm2
// (peered with svm1) and svm3 (unpeered), with a backend configuration for each SVM (ontap-nas
// with autoExportPolicy; kind makes one ontap-san).
type env struct {
	fabric             *sim.Fabric
	primary, secondary *sim.Cluster
	dir                string
	svm1, svm2, svm3   ontap.BackendConfig
}

func newEnv(t *testing.T, opts sim.Options) *env {
	t.Helper()
	f := sim.NewFabric(opts)
	t.Cleanup(f.Close)
	e := &env{fabric: f, dir: t.TempDir()}
	var err error
	if e.primary, err = f.AddCluster(sim.ClusterSpec{Name: "primary", SVMs: []string{"svm1"}, Aggregates: []string{"aggr1"}}); err != nil {
		t.Fatal(err)
	}
	if e.secondary, err = f.AddCluster(sim.ClusterSpec{Name: "secondary", SVMs: []string{"svm2", "svm3"}, Aggregates: []string{"aggr1"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.PeerSVMs("svm1", "svm2"); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(e.dir, "creds")
	if err := f.WriteCredentials(creds); err != nil {
		t.Fatal(err)
	}
	backend := func(c *sim.Cluster, svm string) ontap.BackendConfig {
		ca := filepath.Join(e.dir, c.Name()+"-ca.pem")
		os.WriteFile(ca, c.CA(), 0o600)
		return ontap.BackendConfig{
			Name: svm, Driver: ontap.DriverNAS, ManagementLIF: c.Address(), SVM: svm, Aggregates: []string{"aggr1"},
			CAFile: ca, Credentials: ontap.CredentialsRef{File: creds}, ReplicationPolicy: "MirrorAllSnapshots", ReplicationSchedule: "5min",
			AutoExportPolicy: true,
		}
	}
	e.svm1, e.svm2, e.svm3 = backend(e.primary, "svm1"), backend(e.secondary, "svm2"), backend(e.secondary, "svm3")
	return e
}

// driver opens the backends and builds a driver over them. A backend that does not answer is
// tried again every few tens of milliseconds, until the test ends.
func (e *env) driver(t *testing.T, mirrors csi.Mirrors, backends ...ontap.BackendConfig) *csi.Driver {
	t.Helper()
	return e.driverWith(t, csi.Config{Mirrors: mirrors}, backends...)
}

// kind returns backend b with driver kind (ontap.DriverNAS or ontap.DriverSAN).
func (e *env) kind(b ontap.BackendConfig, kind string) ontap.BackendConfig {
	b.Driver = kind
	b.AutoExportPolicy = b.AutoExportPolicy && kind == ontap.DriverNAS
	return b
}

// driverWith is driver with more of the driver's configuration: cfg's Backends are those
// given, opened.
func (e *env) driverWith(t *testing.T, cfg csi.Config, backends ...ontap.BackendConfig) *csi.Driver {
	t.Helper()
	// A cluster that is black-holed holds a validation until ConnectTimeout.
	opts := ontap.OpenOptions{RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, ConnectTimeout: time.Second, JobPoll: 10 * time.Millisecond}
	opened, err := ontap.OpenBackends(t.Context(), &ontap.DriverConfig{Backends: backends}, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Backends, cfg.Version, cfg.Log = opened, "test", logr.Discard()
	d, err := csi.NewDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fakeMirrors answers DestinationOf from a map of PVC name to target; a target with an empty
// handle stands for a missing TMR.
type fakeMirrors map[string]*csi.MirrorTarget

func (m fakeMirrors) DestinationOf(_ context.Context, _, pvc string) (*csi.MirrorTarget, error) {
	t, ok := m[pvc]
	if !ok {
		return nil, nil
	}
	if t.RemoteVolumeHandle == "" {
		return nil, &csi.MirrorError{Message: "TridentMirrorRelationship " + t.Relationship + " does not exist: create it before the PVC"}
	}
	return t, nil
}
