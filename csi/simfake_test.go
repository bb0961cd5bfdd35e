package csi_test

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// fakeSim serves the simulator's node routes, GET /sim/nfs/mount and GET /sim/iscsi/session,
// in the shapes mocks/ontap serves them, from directories and image files of the test's. The
// node's unit tests use it: they make an export or a LUN image by hand, with whatever LUN
// number, serial or read-only flag a case needs, without a controller. TestSanityNode runs the
// real controller over mocks/ontap instead.
type fakeSim struct {
	mu      sync.Mutex
	exports map[string]*fakeExport // nfsServer:nfsPath ->
	targets map[string][]*fakeLUN  // target IQN -> LUNs mapped to the node
	srv     *httptest.Server
}

// fakeExport is an NFS export.
type fakeExport struct {
	// dir is the volume's directory.
	dir string
	// readOnly: a DP volume.
	readOnly bool
	// clients are the addresses its export rules admit.
	clients []string
}

// fakeLUN is a LUN mapped to the node's initiator.
type fakeLUN struct {
	Number   int    `json:"number"`
	Serial   string `json:"serial"`
	Image    string `json:"image"`
	ReadOnly bool   `json:"readOnly"`
	Size     int64  `json:"size"`
	SVM      string `json:"svm"`
	Path     string `json:"path"`
}

const simUser, simPassword = "admin", "netapp1!"

// newFakeSim starts a fake simulator; its CA file and credentials directory are returned for
// the sim fabric.
func newFakeSim(t *testing.T) (s *fakeSim, caFile, credsDir string) {
	t.Helper()
	s = &fakeSim{exports: map[string]*fakeExport{}, targets: map[string][]*fakeLUN{}}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	dir := t.TempDir()
	caFile = filepath.Join(dir, "ca.pem")
	credsDir = filepath.Join(dir, "creds")
	must(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o600))
	must(t, os.MkdirAll(credsDir, 0o700))
	must(t, os.WriteFile(filepath.Join(credsDir, "username"), []byte(simUser+"\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(credsDir, "password"), []byte(simPassword), 0o600))
	return s, caFile, credsDir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (s *fakeSim) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := func(code int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	}
	if u, p, ok := r.BasicAuth(); !ok || u != simUser || p != simPassword {
		reply(http.StatusUnauthorized, map[string]string{"error": "authentication required"})
		return
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/sim/nfs/mount":
		e, ok := s.exports[q.Get("server")+":"+q.Get("path")]
		switch {
		case !ok:
			reply(http.StatusNotFound, map[string]string{"error": "not this cluster"})
		case !slices.Contains(e.clients, q.Get("client")):
			reply(http.StatusForbidden, map[string]string{"error": "no rule of export policy default admits client " + q.Get("client")})
		default:
			reply(http.StatusOK, map[string]any{"svm": "svm1", "volume": "vol", "dir": e.dir, "readOnly": e.readOnly})
		}
	case "/sim/iscsi/session":
		luns, ok := s.targets[q.Get("target")]
		if !ok {
			reply(http.StatusNotFound, map[string]string{"error": "not this cluster"})
			return
		}
		reply(http.StatusOK, map[string]any{"luns": luns})
	default:
		reply(http.StatusNotFound, map[string]string{"error": "no such simulator endpoint"})
	}
}

// export serves dir as server:path to the clients given.
func (s *fakeSim) export(server, path, dir string, readOnly bool, clients ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exports[server+":"+path] = &fakeExport{dir: dir, readOnly: readOnly, clients: clients}
}

// mapLUN maps a LUN of target to the node.
func (s *fakeSim) mapLUN(target string, l *fakeLUN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets[target] = append(s.targets[target], l)
}
