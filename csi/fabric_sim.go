package csi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"
)

// SimFabricConfig wires the simulator's fabric.
type SimFabricConfig struct {
	// Endpoints are the simulated clusters, https://host:port: their side API answers for the
	// data LIFs and targets of their own SVMs, and 404 for the others'.
	Endpoints []string
	// CAFile verifies the simulators' certificates; "" trusts the system's roots.
	CAFile string
	// CredentialsDir holds the files username and password of the simulators' basic auth.
	CredentialsDir string
	// NodeID is the node's: its first NFS address is the client the export rules must admit,
	// its IQN the initiator the LUN maps must name.
	NodeID NodeID
	// Mounter bind mounts volume directories; default mount.New("").
	Mounter mount.Interface
	// Exec runs losetup; default the host's.
	Exec utilexec.Interface
}

// simFabric reaches the volumes of the ONTAP simulator (mocks/ontap) on the same host: an NFS
// mount is a bind mount of the simulated volume's directory, and an iSCSI LUN a loop device on
// its image file. The simulator decides, as ONTAP would, whether the export rules admit the
// node and which LUNs are mapped to its initiator. Everything above the attach (formatting,
// mounting, resizing) is real.
type simFabric struct {
	endpoints  []string
	hc         *http.Client
	user, pass string
	node       NodeID
	mounter    mount.Interface
	exec       utilexec.Interface
	// loops serializes the loop device work, so that two stages of one image share one device.
	loops sync.Mutex
}

// NewSimFabric builds the simulator's fabric.
func NewSimFabric(cfg SimFabricConfig) (Fabric, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("sim fabric: no simulator endpoint")
	}
	user, err := os.ReadFile(filepath.Join(cfg.CredentialsDir, "username"))
	if err != nil {
		return nil, fmt.Errorf("sim fabric credentials: %w", err)
	}
	pass, err := os.ReadFile(filepath.Join(cfg.CredentialsDir, "password"))
	if err != nil {
		return nil, fmt.Errorf("sim fabric credentials: %w", err)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("sim fabric CA: %w", err)
		}
		tlsCfg.RootCAs = x509.NewCertPool()
		if !tlsCfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sim fabric CA %s: no PEM certificate", cfg.CAFile)
		}
	}
	f := &simFabric{
		endpoints: cfg.Endpoints, node: cfg.NodeID, mounter: cfg.Mounter, exec: cfg.Exec,
		user: strings.TrimSpace(string(user)), pass: strings.TrimSpace(string(pass)),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}},
	}
	if f.mounter == nil {
		f.mounter = mount.New("")
	}
	if f.exec == nil {
		f.exec = utilexec.New()
	}
	return f, nil
}

// errNoCluster: no simulated cluster serves the address asked for.
var errNoCluster = errors.New("no simulated cluster serves it")

// ask GETs path from each endpoint in turn until one answers 200, and decodes its body into
// out; 404 means "not this cluster", 403 ErrAccessDenied.
func (f *simFabric) ask(ctx context.Context, path string, q url.Values, out any) error {
	for _, e := range f.endpoints {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(e, "/")+path+"?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth(f.user, f.pass)
		resp, err := f.hc.Do(req)
		if err != nil {
			return fmt.Errorf("simulator %s: %w", e, err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close() // read whole
		if err != nil {
			return fmt.Errorf("simulator %s: %w", e, err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if err := json.Unmarshal(body, out); err != nil {
				return fmt.Errorf("simulator %s %s: %w", e, path, err)
			}
			return nil
		case http.StatusNotFound:
			continue
		}
		var sideErr struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &sideErr) // a body that is no error says nothing more
		if resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%w: %s", ErrAccessDenied, sideErr.Error)
		}
		return fmt.Errorf("simulator %s %s: %s: %s", e, path, resp.Status, sideErr.Error)
	}
	return fmt.Errorf("%s?%s: %w", path, q.Encode(), errNoCluster)
}

// MountNFS asks GET /sim/nfs/mount for the volume's directory, then bind mounts it on
// target, read-only when asked or when the volume is (a DP destination).
func (f *simFabric) MountNFS(ctx context.Context, server, path, target string, readOnly bool, _ []string) error {
	if len(f.node.NFS) == 0 {
		return errors.New("the node has no NFS address to mount from")
	}
	var vol struct {
		Dir      string `json:"dir"`
		ReadOnly bool   `json:"readOnly"`
	}
	q := url.Values{"server": {server}, "path": {path}, "client": {f.node.NFS[0]}, "write": {strconv.FormatBool(!readOnly)}}
	if err := f.ask(ctx, "/sim/nfs/mount", q, &vol); err != nil {
		return err
	}
	opts := []string{"bind"}
	if readOnly || vol.ReadOnly {
		opts = append(opts, "ro")
	}
	return f.mounter.Mount(vol.Dir, target, "", opts)
}

// simLUN is a LUN of a simulated iSCSI session.
type simLUN struct {
	Number   int    `json:"number"`
	Serial   string `json:"serial"`
	Image    string `json:"image"`
	ReadOnly bool   `json:"readOnly"`
}

// session asks GET /sim/iscsi/session, through each portal, for the LUNs the target maps to
// this node's initiator: the union of what the portals answer, since a portal serves only the
// LUNs of its node and that node's HA partner, as ONTAP's selective LUN map reports paths. It
// fails when no portal answers.
func (f *simFabric) session(ctx context.Context, t ISCSITarget) ([]simLUN, error) {
	var errs []error
	var luns []simLUN
	answered := false
	for _, p := range t.Portals {
		var s struct {
			LUNs []simLUN `json:"luns"`
		}
		if err := f.ask(ctx, "/sim/iscsi/session", url.Values{"portal": {p}, "target": {t.IQN}, "initiator": {f.node.IQN}}, &s); err != nil {
			errs = append(errs, err)
			continue
		}
		answered = true
		for _, l := range s.LUNs {
			if !slices.ContainsFunc(luns, func(o simLUN) bool { return o.Serial == l.Serial }) {
				luns = append(luns, l)
			}
		}
	}
	if !answered {
		return nil, errors.Join(errs...)
	}
	return luns, nil
}

// LoginISCSI checks that a portal of the target answers for this node: the simulator keeps
// no session, each FindLUN asks again.
func (f *simFabric) LoginISCSI(ctx context.Context, t ISCSITarget) error {
	_, err := f.session(ctx, t)
	return err
}

// FindLUN attaches a loop device to the image of the LUN with that number and serial, or
// returns the one attached already (losetup -j <image>; losetup --find --show [--read-only]
// <image>).
func (f *simFabric) FindLUN(ctx context.Context, t ISCSITarget, lun int, serial string) (string, error) {
	luns, err := f.session(ctx, t)
	if err != nil {
		return "", err
	}
	for _, l := range luns {
		if l.Number != lun || l.Serial != serial {
			continue
		}
		f.loops.Lock()
		defer f.loops.Unlock()
		attached, err := f.loopsOf(ctx, l.Image)
		if err != nil || len(attached) > 0 {
			return firstDevice(attached), err
		}
		args := []string{"--find", "--show"}
		if l.ReadOnly {
			args = append(args, "--read-only")
		}
		out, err := f.exec.CommandContext(ctx, "losetup", append(args, l.Image)...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("losetup %s: %w: %s", strings.Join(append(args, l.Image), " "), err, strings.TrimSpace(string(out)))
		}
		return strings.TrimSpace(string(out)), nil
	}
	return "", fmt.Errorf("%w: target %s maps no LUN %d with serial %s to initiator %s", ErrNoDevice, t.IQN, lun, serial, f.node.IQN)
}

func firstDevice(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// loopsOf lists the loop devices attached to an image (losetup -j <image>, whose lines read
// "/dev/loop3: [2049]:1234 (/path/image)").
func (f *simFabric) loopsOf(ctx context.Context, image string) ([]string, error) {
	out, err := f.exec.CommandContext(ctx, "losetup", "-j", image).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("losetup -j %s: %w: %s", image, err, strings.TrimSpace(string(out)))
	}
	var devs []string
	for _, line := range strings.Split(string(out), "\n") {
		if dev, _, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(dev, "/dev/") {
			devs = append(devs, dev)
		}
	}
	return devs, nil
}

// RescanISCSI runs losetup --set-capacity <device>: the loop device takes the image's new size.
func (f *simFabric) RescanISCSI(ctx context.Context, device string) error {
	if out, err := f.exec.CommandContext(ctx, "losetup", "--set-capacity", device).CombinedOutput(); err != nil {
		return fmt.Errorf("losetup --set-capacity %s: %w: %s", device, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// DetachLUN runs losetup -d <device>, unless the device has no image attached any more.
func (f *simFabric) DetachLUN(ctx context.Context, device string) error {
	f.loops.Lock()
	defer f.loops.Unlock()
	return f.detach(ctx, device)
}

func (f *simFabric) detach(ctx context.Context, device string) error {
	if _, err := os.Stat(filepath.Join("/sys/block", filepath.Base(device), "loop")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := f.exec.CommandContext(ctx, "losetup", "-d", device).CombinedOutput(); err != nil {
		return fmt.Errorf("losetup -d %s: %w: %s", device, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// LogoutISCSI detaches the loop devices of the target's LUNs that are left.
func (f *simFabric) LogoutISCSI(ctx context.Context, t ISCSITarget) error {
	luns, err := f.session(ctx, t)
	if err != nil {
		return err
	}
	f.loops.Lock()
	defer f.loops.Unlock()
	for _, l := range luns {
		devs, err := f.loopsOf(ctx, l.Image)
		if err != nil {
			return err
		}
		for _, d := range devs {
			if err := f.detach(ctx, d); err != nil {
				return err
			}
		}
	}
	return nil
}
