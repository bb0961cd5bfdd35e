package ontap_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestSideRoutes sends one request per case to the side API under /sim/, in order (the cases
// build on each other), and checks the status, the JSON content type and the exact body of
// every route, of its refusals, of an unknown path and of a known path with a method it does
// not serve; and that every route of the table has a case it answers with success. The bodies
// are those docs/simulator.md promises: a stable interface.
func TestSideRoutes(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	v := volume(t, primary, "svm1", "v", ontap.VolumeRW)
	volume(t, primary, "svm1", "dp", ontap.VolumeDP)
	do := sideClient(t, f, primary)
	// ontapStatus sends one ONTAP request, without the client's retries.
	ontapStatus := func(t *testing.T, path string) int {
		code, _, _ := do(t, "GET", path, "", true)
		return code
	}

	sum := sha256.Sum256([]byte("9:dir/a.txt5:hello"))
	later := f.Now().Add(time.Hour).Format(time.RFC3339Nano)
	errBody := func(msg string) string { return `{"error":` + fmt.Sprintf("%q", msg) + "}\n" }
	notFound := func(method, path string) string {
		return errBody("no such simulator endpoint: " + method + " " + path)
	}
	const wantOther = "want POST /sim/clusters/{another cluster}/down or /up"
	clusterAnswers := func(want bool) func(*testing.T) {
		return func(t *testing.T) {
			if _, err := secondary.api.Cluster(context.Background()); (err == nil) != want {
				t.Errorf("secondary answers: %v, want %v", err == nil, want)
			}
		}
	}

	// A LUN of 1 MiB in v, made through ONTAP's API.
	if status, body := raw(t, f, primary)(t, "POST", "/api/storage/luns?return_timeout=10",
		`{"svm":{"name":"svm1"},"name":"/vol/v/lun0","os_type":"linux","space":{"size":1048576,"guarantee":{"requested":false}}}`); status != 201 {
		t.Fatalf("LUN create: %d %v", status, body)
	}
	// "hello" written at 512 (a case below) takes the LUN's first block on disk: the checksum
	// and the written bytes count whole blocks of the data directory's file system (4 KiB).
	// v is exported to every IPv4 client at /v, for an NFS mount; an initiator in no igroup
	// logs in to svm1's target and sees no LUN.
	ontapCall := raw(t, f, primary)
	if status, body := ontapCall(t, "POST", "/api/protocols/nfs/export-policies", `{"svm":{"name":"svm1"},"name":"all","rules":[{"clients":[{"match":"0.0.0.0/0"}],"ro_rule":["sys"],"rw_rule":["sys"]}]}`); status != 201 {
		t.Fatalf("export policy: %d %v", status, body)
	}
	if status, body := ontapCall(t, "PATCH", "/api/storage/volumes/"+v.UUID+"?return_timeout=10", `{"nas":{"path":"/v","export_policy":{"name":"all"}}}`); status != 200 {
		t.Fatalf("junction: %d %v", status, body)
	}
	_, svc := ontapCall(t, "GET", "/api/protocols/san/iscsi/services?svm.name=svm1&fields=target.name", "")
	target := url.QueryEscape(svc["records"].([]any)[0].(map[string]any)["target"].(map[string]any)["name"].(string))
	fsDir := f.DataDir() + "/primary/" + v.UUID + "/active/fs"

	lunSum := sha256.New()
	block := make([]byte, 4096)
	copy(block[512:], "hello")
	lunSum.Write(append([]byte("size 1048576\n0 4096\n"), block...))
	lunInfo := func() string {
		info, err := primary.LUN("svm1", "v", "lun0")
		if err != nil {
			t.Fatal(err)
		}
		return `{"uuid":"` + info.UUID + `","serial_number":"` + info.Serial + `","size":1048576,"written":4096,"read_only":false,"mapped":false}` + "\n"
	}

	served := make([]bool, sim.NumSideRoutes) // which routes a case got an answer from
	for _, tc := range []struct {
		name, method, path, body string
		noAuth                   bool
		status                   int
		want                     string
		after                    func(*testing.T)
	}{
		{name: "write a file", method: "PUT", path: "/sim/volumes/svm1/v/files/dir/a.txt", body: "hello", status: 204},
		{name: "write to a DP volume", method: "PUT", path: "/sim/volumes/svm1/dp/files/a.txt", body: "x", status: 409, want: errBody("volume svm1:dp is a read-only DP volume")},
		{name: "write to no volume", method: "PUT", path: "/sim/volumes/svm1/nope/files/a.txt", status: 409, want: errBody("volume svm1:nope: no such volume")},
		{name: "volume", method: "GET", path: "/sim/volumes/svm1/v", status: 200, want: `{"UUID":"` + v.UUID + `","Type":"rw","State":"online","Size":1073741824,"Snapshots":null}` + "\n"},
		{name: "no volume", method: "GET", path: "/sim/volumes/svm1/nope", status: 409, want: errBody("volume svm1:nope: no such volume")},
		{name: "files", method: "GET", path: "/sim/volumes/svm1/v/files", status: 200, want: `{"dir/a.txt":"hello"}` + "\n"},
		{name: "files of no volume", method: "GET", path: "/sim/volumes/svm2/v/files", status: 409, want: errBody("volume svm2:v: no such volume")},
		{name: "checksum", method: "GET", path: "/sim/volumes/svm1/v/checksum", status: 200, want: `{"sha256":"` + hex.EncodeToString(sum[:]) + `"}` + "\n"},
		{name: "checksum of no volume", method: "GET", path: "/sim/volumes/svm1/nope/checksum", status: 409, want: errBody("volume svm1:nope: no such volume")},
		{name: "advance the clock", method: "POST", path: "/sim/clock?advance=1h", status: 200, want: `{"now":"` + later + `"}` + "\n", after: func(t *testing.T) {
			if got := f.Now().Format(time.RFC3339Nano); got != later {
				t.Errorf("clock at %s, want %s", got, later)
			}
		}},
		{name: "advance by nothing", method: "POST", path: "/sim/clock", status: 400, want: errBody(`advance: time: invalid duration ""`)},
		{name: "reset the counters", method: "DELETE", path: "/sim/requests", status: 204},
		{name: "counters", method: "GET", path: "/sim/requests", status: 200, want: "{}\n"},
		{name: "instant from now on", method: "POST", path: "/sim/instant", status: 204},
		{name: "work, none", method: "GET", path: "/sim/work", status: 200, want: `{"jobs":0,"jobSeconds":0,"transfers":0,"transferSeconds":0,"transferredBytes":0}` + "\n"},
		{name: "add a fault", method: "POST", path: "/sim/faults", body: `{"Method":"GET","Path":"/cluster","Status":500,"Code":"1"}`, status: 204, after: func(t *testing.T) {
			if code := ontapStatus(t, "/api/cluster"); code != 500 {
				t.Errorf("GET /api/cluster despite the fault: %d, want 500", code)
			}
		}},
		{name: "counters after a request", method: "GET", path: "/sim/requests", status: 200, want: `{"GET /cluster":1,"total":1}` + "\n"},
		{name: "add a fault that is not JSON", method: "POST", path: "/sim/faults", body: "{", status: 400, want: errBody("unexpected EOF")},
		{name: "clear the faults", method: "DELETE", path: "/sim/faults", status: 204, after: func(t *testing.T) {
			if code := ontapStatus(t, "/api/cluster"); code != 200 {
				t.Errorf("GET /api/cluster after the faults were cleared: %d, want 200", code)
			}
		}},
		{name: "latency", method: "POST", path: "/sim/latency?d=1ms", status: 204},
		{name: "latency that is not a duration", method: "POST", path: "/sim/latency?d=soon", status: 400, want: errBody(`d: time: invalid duration "soon"`)},
		{name: "transfer rate", method: "POST", path: "/sim/transfer-rate?bytes=1048576", status: 204},
		{name: "transfer rate that is not a number", method: "POST", path: "/sim/transfer-rate?bytes=lots", status: 400, want: errBody(`bytes: strconv.ParseInt: parsing "lots": invalid syntax`)},
		{name: "another cluster down", method: "POST", path: "/sim/clusters/secondary/down", status: 204, after: clusterAnswers(false)},
		{name: "another cluster up", method: "POST", path: "/sim/clusters/secondary/up", status: 204, after: clusterAnswers(true)},
		{name: "another cluster black-holed", method: "POST", path: "/sim/clusters/secondary/down?mode=blackhole", status: 204, after: blackHoled(f, secondary)},
		{name: "another cluster up after a black hole", method: "POST", path: "/sim/clusters/secondary/up", status: 204, after: clusterAnswers(true)},
		{name: "another cluster down, refusing", method: "POST", path: "/sim/clusters/secondary/down?mode=refuse", status: 204, after: clusterAnswers(false)},
		{name: "another cluster up again", method: "POST", path: "/sim/clusters/secondary/up", status: 204, after: clusterAnswers(true)},
		{name: "another cluster down sideways", method: "POST", path: "/sim/clusters/secondary/down?mode=sideways", status: 400, want: errBody("mode: want refuse or blackhole, on /down only")},
		{name: "another cluster up with a mode", method: "POST", path: "/sim/clusters/secondary/up?mode=blackhole", status: 400, want: errBody("mode: want refuse or blackhole, on /down only")},
		{name: "this cluster down", method: "POST", path: "/sim/clusters/primary/down", status: 400, want: errBody(wantOther)},
		{name: "no such cluster down", method: "POST", path: "/sim/clusters/tertiary/down", status: 400, want: errBody(wantOther)},
		{name: "another cluster sideways", method: "POST", path: "/sim/clusters/secondary/sideways", status: 400, want: errBody(wantOther)},
		{name: "EMS events, none logged", method: "GET", path: "/sim/ems", status: 200, want: "[]\n"},
		{name: "write to a LUN", method: "PUT", path: "/sim/luns/svm1/v/lun0/data?offset=512", body: "hello", status: 204},
		{name: "a LUN", method: "GET", path: "/sim/luns/svm1/v/lun0", status: 200, want: lunInfo()},
		{name: "read a LUN", method: "GET", path: "/sim/luns/svm1/v/lun0/data?offset=510&length=9", status: 200, want: `{"data":"AABoZWxsbwAA","length":9,"offset":510}` + "\n"},
		{name: "checksum of a LUN", method: "GET", path: "/sim/luns/svm1/v/lun0/checksum", status: 200, want: `{"sha256":"` + hex.EncodeToString(lunSum.Sum(nil)) + `"}` + "\n"},
		{name: "write beyond a LUN", method: "PUT", path: "/sim/luns/svm1/v/lun0/data?offset=1048575", body: "xy", status: 409, want: errBody("write of 2 bytes at 1048575 is beyond LUN /vol/v/lun0 of 1048576 bytes")},
		{name: "read beyond a LUN", method: "GET", path: "/sim/luns/svm1/v/lun0/data?length=1048577", status: 409, want: errBody("read of 1048577 bytes at 0 is beyond LUN /vol/v/lun0 of 1048576 bytes")},
		{name: "write at an offset that is not a number", method: "PUT", path: "/sim/luns/svm1/v/lun0/data?offset=end", body: "x", status: 400, want: errBody(`offset: strconv.ParseInt: parsing "end": invalid syntax`)},
		{name: "no such LUN", method: "GET", path: "/sim/luns/svm1/v/lun9", status: 409, want: errBody("LUN /vol/v/lun9 in SVM svm1: no such LUN")},
		{name: "a LUN of no volume", method: "GET", path: "/sim/luns/svm1/nope/lun0/checksum", status: 409, want: errBody("volume svm1:nope: no such volume")},
		{name: "an NFS mount", method: "GET", path: "/sim/nfs/mount?server=127.0.0.1&path=/v&client=10.0.0.5&write=true", status: 200, want: `{"svm":"svm1","volume":"v","dir":"` + fsDir + `","readOnly":false}` + "\n"},
		{name: "an NFS mount where nothing is mounted", method: "GET", path: "/sim/nfs/mount?server=127.0.0.1&path=/w&client=10.0.0.5", status: 404, want: errBody("no volume of SVM svm1 is mounted at /w")},
		{name: "an NFS mount refused", method: "GET", path: "/sim/nfs/mount?server=127.0.0.1&path=/v&client=fd20::1", status: 403, want: errBody("access denied: export policy all of SVM svm1 has no rule that admits client fd20::1 for NFS")},
		{name: "an NFS mount without a client", method: "GET", path: "/sim/nfs/mount?server=127.0.0.1&path=/v", status: 400, want: errBody("want server, path and client")},
		{name: "an iSCSI login", method: "GET", path: "/sim/iscsi/session?portal=127.1.1.2:3260&target=" + target + "&initiator=iqn.1994-05.com.redhat:node1", status: 200, want: `{"luns":[]}` + "\n"},
		{name: "an iSCSI login to no portal", method: "GET", path: "/sim/iscsi/session?portal=127.9.9.9&target=" + target + "&initiator=iqn.1994-05.com.redhat:node1", status: 404, want: errBody("no iSCSI data interface of cluster primary has address 127.9.9.9")},
		{name: "unknown path", method: "GET", path: "/sim/nothing", status: 404, want: notFound("GET", "/sim/nothing")},
		{name: "the root", method: "GET", path: "/sim/", status: 404, want: notFound("GET", "/sim/")},
		{name: "a volume's unknown sub-path", method: "GET", path: "/sim/volumes/svm1/v/snapshots", status: 404, want: notFound("GET", "/sim/volumes/svm1/v/snapshots")},
		{name: "a cluster without an action", method: "POST", path: "/sim/clusters/secondary", status: 404, want: notFound("POST", "/sim/clusters/secondary")},
		// Each route matches its whole path, segment by segment: before the table, the switch
		// also took these (the clock advanced, the volume "" was looked up).
		{name: "the clock with a segment more", method: "POST", path: "/sim/clock/later?advance=1h", status: 404, want: notFound("POST", "/sim/clock/later")},
		{name: "a volume without an SVM", method: "GET", path: "/sim/volumes//v/files", status: 404, want: notFound("GET", "/sim/volumes//v/files")},
		{name: "a file without a name", method: "PUT", path: "/sim/volumes/svm1/v/files/", body: "x", status: 404, want: notFound("PUT", "/sim/volumes/svm1/v/files/")},
		// A path served with another method answers 404 as an unknown path does, as it did
		// before the route table (and as ONTAP's own table does): no 405.
		{name: "GET the clock", method: "GET", path: "/sim/clock", status: 404, want: notFound("GET", "/sim/clock")},
		{name: "POST a checksum", method: "POST", path: "/sim/volumes/svm1/v/checksum", status: 404, want: notFound("POST", "/sim/volumes/svm1/v/checksum")},
		{name: "DELETE a volume", method: "DELETE", path: "/sim/volumes/svm1/v", status: 404, want: notFound("DELETE", "/sim/volumes/svm1/v")},
		{name: "GET a file", method: "GET", path: "/sim/volumes/svm1/v/files/dir/a.txt", status: 404, want: notFound("GET", "/sim/volumes/svm1/v/files/dir/a.txt")},
		{name: "PUT the counters", method: "PUT", path: "/sim/requests", status: 404, want: notFound("PUT", "/sim/requests")},
		{name: "GET the faults", method: "GET", path: "/sim/faults", status: 404, want: notFound("GET", "/sim/faults")},
		{name: "GET a cluster down", method: "GET", path: "/sim/clusters/secondary/down", status: 404, want: notFound("GET", "/sim/clusters/secondary/down")},
		{name: "without credentials", method: "GET", path: "/sim/requests", noAuth: true, status: 401, want: `{"error":{"code":"6","message":"not authorized for that account"}}` + "\n"},
	} {
		if i := sim.SideRouteOf(tc.method, tc.path); i >= 0 && tc.status < 300 {
			served[i] = true
		}
		t.Run(tc.name, func(t *testing.T) {
			code, body, header := do(t, tc.method, tc.path, tc.body, !tc.noAuth)
			if code != tc.status || body != tc.want {
				t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.status, tc.want)
			}
			if ct, want := header.Get("Content-Type"), "application/json"; !tc.noAuth && ct != want {
				t.Errorf("Content-Type %q, want %q", ct, want)
			}
			if tc.after != nil {
				tc.after(t)
			}
		})
	}
	for i, ok := range served {
		if !ok {
			t.Errorf("no case succeeds on route %d of sideRoutes", i)
		}
	}
}

// blackHoled checks that the cluster accepts a connection and never answers: a client with a
// short timeout times out (the connection was not refused).
func blackHoled(f *sim.Fabric, s site) func(*testing.T) {
	return func(t *testing.T) {
		t.Helper()
		api := client(t, f, s.Cluster, s.CA(), func(c *ontap.Config) { c.RequestTimeout = 200 * time.Millisecond })
		_, err := api.Cluster(context.Background())
		if err == nil || !isTimeout(err) {
			t.Errorf("a black-holed cluster answered %v, want a timeout", err)
		}
	}
}

// sideClient returns a function that sends one request to a cluster over HTTPS, verifying
// its CA, with the fabric's credentials when auth is set, and returns the answer.
func sideClient(t *testing.T, f *sim.Fabric, s site) func(t *testing.T, method, path, body string, auth bool) (int, string, http.Header) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CA())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	user, password := f.Credentials()
	return func(t *testing.T, method, path, body string, auth bool) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, "https://"+s.Address()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.SetBasicAuth(user, password)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
}
