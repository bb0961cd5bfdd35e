package ontap_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
)

// rest is an ONTAP REST client written from ONTAP's published model (shared/docs/ontap-rest.md),
// not from ours: plain net/http and encoding/json, no import of the ontap package nor of the
// generated swagger client. It checks the simulator answers as ONTAP documents, whatever our
// own client happens to need.
type rest struct {
	f          *sim.Fabric
	base       string
	hc         *http.Client
	user, pass string
}

// ontapError is ONTAP's error body, {"error": {...}}; its code is a string.
type ontapError struct {
	Message string `json:"message"`
	Code    string `json:"code"`
	Target  string `json:"target"`
}

func newREST(t *testing.T, f *sim.Fabric, c *sim.Cluster) *rest {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CA())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	u, p := f.Credentials()
	return &rest{f: f, base: "https://" + c.Address(), hc: hc, user: u, pass: p}
}

// call sends one request with a JSON body (unless nil) and decodes a success answer into out
// (unless nil); it returns the status and, on an error status, ONTAP's error.
func (o *rest) call(t *testing.T, method, path string, body, out any) (int, *ontapError) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, o.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(o.user, o.pass)
	req.Header.Set("Accept", "application/hal+json")
	req.Header.Set("X-Dot-Client-App", "published-model-test/1.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error *ontapError `json:"error"`
		}
		if err := json.Unmarshal(data, &e); err != nil || e.Error == nil || e.Error.Code == "" {
			t.Fatalf("%s %s: %d with a body that is not ONTAP's error envelope (code a string): %s (%v)", method, path, resp.StatusCode, data, err)
		}
		return resp.StatusCode, e.Error
	}
	if out != nil && len(data) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, nil
}

// get reads one object or collection and fails the test unless ONTAP answers 200.
func (o *rest) get(t *testing.T, path string, out any) {
	t.Helper()
	if status, e := o.call(t, "GET", path, nil, out); status != http.StatusOK {
		t.Fatalf("GET %s: %d %+v", path, status, e)
	}
}

// job is a job as GET /api/cluster/jobs/{uuid} returns it: code is an integer there.
type job struct {
	UUID    string      `json:"uuid"`
	State   string      `json:"state"`
	Message string      `json:"message"`
	Code    int64       `json:"code"`
	Error   *ontapError `json:"error"`
}

// jobLink is the answer of an asynchronous POST, PATCH or DELETE.
type jobLink struct {
	Job struct {
		UUID  string `json:"uuid"`
		Links struct {
			Self struct {
				Href string `json:"href"`
			} `json:"self"`
		} `json:"_links"`
	} `json:"job"`
}

// async sends a mutation ONTAP may run as a job (202, or 200/201 with the job when it ended
// in time) and waits for the job to succeed.
func (o *rest) async(t *testing.T, method, path string, body any) {
	t.Helper()
	var link jobLink
	status, e := o.call(t, method, path, body, &link)
	if e != nil || (status != http.StatusAccepted && status != http.StatusOK && status != http.StatusCreated) {
		t.Fatalf("%s %s: %d %+v", method, path, status, e)
	}
	if link.Job.UUID == "" {
		t.Fatalf("%s %s: %d without a job", method, path, status)
	}
	o.waitJob(t, link)
}

// waitJob polls the job by its self link until it is terminal. Every state but success and
// failure is non-terminal (queued, running, paused, and whatever a later ONTAP adds): the
// client lets time pass, here the simulated clock, and asks again.
func (o *rest) waitJob(t *testing.T, link jobLink) {
	t.Helper()
	href := link.Job.Links.Self.Href
	if href == "" {
		href = "/api/cluster/jobs/" + link.Job.UUID
	}
	for range 200 {
		var j job
		o.get(t, href+"?fields=state,message,code,error", &j)
		switch j.State {
		case "success":
			return
		case "failure":
			t.Fatalf("job %s failed: code %d %q %+v", link.Job.UUID, j.Code, j.Message, j.Error)
		case "":
			t.Fatalf("job %s without a state", link.Job.UUID)
		}
		o.f.Advance(500 * time.Millisecond)
	}
	t.Fatalf("job %s did not end", link.Job.UUID)
}

// collection is a collection GET's answer.
type collection[T any] struct {
	Records    []T `json:"records"`
	NumRecords int `json:"num_records"`
}

type named struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

// uuidOf looks an object up by a query that must match exactly one record.
func (o *rest) uuidOf(t *testing.T, path string) string {
	t.Helper()
	var c collection[named]
	o.get(t, path, &c)
	if c.NumRecords != 1 || len(c.Records) != 1 || c.Records[0].UUID == "" {
		t.Fatalf("GET %s: %d records, want exactly one: %+v", path, c.NumRecords, c.Records)
	}
	return c.Records[0].UUID
}

// startUp makes the calls Trident makes when a backend starts, on one cluster for one SVM,
// and returns the SVM's uuid.
func startUp(t *testing.T, o *rest, svmName string) string {
	var cluster struct {
		Name, UUID string
		Version    struct {
			Full                     string
			Generation, Major, Minor int
		}
	}
	o.get(t, "/api/cluster?fields=**", &cluster)
	v := cluster.Version
	if cluster.Name == "" || cluster.UUID == "" || slices.Compare([]int{v.Generation, v.Major, v.Minor}, []int{9, 12, 1}) < 0 {
		t.Fatalf("cluster %+v: want a name, a uuid and ONTAP 9.12.1 or later", cluster)
	}
	if want := fmt.Sprintf("NetApp Release %d.%d.%d:", v.Generation, v.Major, v.Minor); !strings.HasPrefix(v.Full, want) {
		t.Errorf("version.full %q, want it to start with %q", v.Full, want)
	}

	// The SVM by name with an empty fields=: exactly the key fields.
	var svms collection[map[string]any]
	o.get(t, "/api/svm/svms?name="+svmName+"&fields=", &svms)
	if svms.NumRecords != 1 || len(svms.Records) != 1 {
		t.Fatalf("SVM %s: %d records", svmName, svms.NumRecords)
	}
	if keys := sortedKeys(svms.Records[0]); !slices.Equal(keys, []string{"name", "uuid"}) {
		t.Errorf("SVM lookup with an empty fields= returned %v, want the key fields name, uuid", keys)
	}
	svmUUID, _ := svms.Records[0]["uuid"].(string)

	// The SVM by uuid, default fields: aggregates and state.
	var svm struct {
		UUID, Name, State string
		Aggregates        []named
	}
	o.get(t, "/api/svm/svms/"+svmUUID, &svm)
	if svm.UUID != svmUUID || svm.Name != svmName || svm.State != "running" || len(svm.Aggregates) == 0 || svm.Aggregates[0].Name == "" {
		t.Fatalf("SVM %s: %+v, want it running with aggregates", svmUUID, svm)
	}

	// Its NFS data LIFs that are up.
	var lifs collection[struct {
		IP    struct{ Address string }
		State string
	}]
	o.get(t, "/api/network/ip/interfaces?services=data_nfs&svm.uuid="+svmUUID+"&fields=ip.address,state", &lifs)
	var up []string
	for _, l := range lifs.Records {
		if l.State == "up" {
			up = append(up, l.IP.Address)
		}
	}
	// The CSI driver mounts the management host when no dataLIF is set: it must be a LIF.
	if !slices.Contains(up, "127.0.0.1") {
		t.Errorf("NFS LIFs up of %s: %v, want 127.0.0.1 among them", svmName, up)
	}

	var nodeSerials collection[map[string]any]
	o.get(t, "/api/cluster/nodes?name=*&fields=serial_number", &nodeSerials)
	if nodeSerials.NumRecords < 1 || nodeSerials.Records[0]["serial_number"] == nil {
		t.Errorf("nodes: %+v, want serial numbers", nodeSerials)
	}

	diskTypes := []string{"fc", "lun", "nl_sas", "nvme_ssd", "sas", "sata", "scsi", "ssd", "ssd_cap", "ssd_zns", "vm_disk"}
	var aggrs collection[struct {
		Name         string
		BlockStorage struct {
			Primary struct {
				DiskType string `json:"disk_type"`
			}
		} `json:"block_storage"`
	}]
	o.get(t, "/api/storage/aggregates?name="+svm.Aggregates[0].Name+"&fields=block_storage.primary.disk_type", &aggrs)
	if aggrs.NumRecords != 1 || !slices.Contains(diskTypes, aggrs.Records[0].BlockStorage.Primary.DiskType) {
		t.Errorf("aggregate %s: %+v, want one with a disk type of %v", svm.Aggregates[0].Name, aggrs, diskTypes)
	}

	var licenses collection[named]
	o.get(t, "/api/cluster/licensing/licenses", &licenses)
	if !slices.ContainsFunc(licenses.Records, func(l named) bool { return l.Name == "snapmirror" }) {
		t.Errorf("licenses %+v: no snapmirror package", licenses.Records)
	}

	ems := map[string]any{
		"computer_name": "k8s-node-1", "event_source": "published-model-test", "app_version": "1.0",
		"event_id": 1, "category": "provisioning", "event_description": "backend started",
		"severity": "notice", "autosupport_required": false,
	}
	if status, e := o.call(t, "POST", "/api/support/ems/application-logs?return_records=true", ems, nil); status != http.StatusCreated {
		t.Errorf("EMS log: %d %+v, want 201", status, e)
	}
	return svmUUID
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// relationship is what a client reads of a relationship with fields=state,healthy.
type relationship struct {
	State   string `json:"state"`
	Healthy *bool  `json:"healthy"`
}

// waitState reads the relationship with fields=state,healthy until it reaches state,
// letting simulated time pass between reads: transfers end after the PATCH's job.
func (o *rest) waitState(t *testing.T, uuid, state string) {
	t.Helper()
	var rel relationship
	for range 100 {
		o.get(t, "/api/snapmirror/relationships/"+uuid+"?fields=state,healthy", &rel)
		if rel.State == state && rel.Healthy != nil {
			if !*rel.Healthy {
				t.Fatalf("relationship %s is %s but unhealthy", uuid, state)
			}
			return
		}
		o.f.Advance(time.Second)
	}
	t.Fatalf("relationship %s: state %q, want %q", uuid, rel.State, state)
}

func (o *rest) volumeType(t *testing.T, svmName, name string) string {
	t.Helper()
	var vols collection[struct{ Type string }]
	o.get(t, "/api/storage/volumes?svm.name="+svmName+"&name="+name+"&fields=type", &vols)
	if vols.NumRecords != 1 {
		t.Fatalf("volume %s:%s: %d records", svmName, name, vols.NumRecords)
	}
	return vols.Records[0].Type
}

// restFabric starts a fabric on a manual clock with jobs of jobDuration, adds the clusters,
// peers two SVMs, and returns a published-model client of each cluster.
func restFabric(t *testing.T, jobDuration time.Duration, peers [2]string, specs ...sim.ClusterSpec) (*sim.Fabric, []*rest) {
	t.Helper()
	f := sim.NewFabric(sim.Options{Start: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Manual: true, JobDuration: jobDuration})
	t.Cleanup(f.Close)
	var apis []*rest
	for _, spec := range specs {
		c, err := f.AddCluster(spec)
		if err != nil {
			t.Fatal(err)
		}
		apis = append(apis, newREST(t, f, c))
	}
	if err := f.PeerSVMs(peers[0], peers[1]); err != nil {
		t.Fatal(err)
	}
	return f, apis
}

// TestPublishedModelClient runs what Trident does at start-up against two clusters, then the
// SnapMirror life cycle as ONTAP's documentation describes it: create, initialize, quiesce,
// break, resync, delete, with every job polled to its end.
func TestPublishedModelClient(t *testing.T) {
	f, apis := restFabric(t, 2*time.Second, [2]string{"svm1", "svm2"},
		sim.ClusterSpec{Name: "primary", SVMs: []string{"svm1"}, Aggregates: []string{"aggr1"}},
		sim.ClusterSpec{Name: "secondary", SVMs: []string{"svm2"}, Aggregates: []string{"aggr2"}},
	)
	src, dst := apis[0], apis[1]
	t.Run("start-up primary", func(t *testing.T) { startUp(t, src, "svm1") })
	t.Run("start-up secondary", func(t *testing.T) { startUp(t, dst, "svm2") })

	src.async(t, "POST", "/api/storage/volumes", map[string]any{
		"name": "src", "svm": map[string]any{"name": "svm1"}, "aggregates": []any{map[string]any{"name": "aggr1"}},
		"size": 1 << 30, "type": "rw", "nas": map[string]any{"path": "/src"},
	})
	if err := f.Cluster("primary").WriteFile("svm1", "src", "a.txt", "hello"); err != nil {
		t.Fatal(err)
	}
	dpVolume := map[string]any{
		"name": "dst", "svm": map[string]any{"name": "svm2"}, "aggregates": []any{map[string]any{"name": "aggr2"}},
		"size": 1 << 30, "type": "dp", "snapshot_policy": map[string]any{"name": "none"},
	}
	// ONTAP accepts snapshot_policy "none" on a DP create; clients send it.
	dst.async(t, "POST", "/api/storage/volumes", dpVolume)

	dst.async(t, "POST", "/api/snapmirror/relationships", map[string]any{
		"source": map[string]any{"path": "svm1:src"}, "destination": map[string]any{"path": "svm2:dst"},
		"policy": map[string]any{"name": "MirrorAllSnapshots"},
	})
	uuid := dst.uuidOf(t, "/api/snapmirror/relationships?destination.path="+url.QueryEscape("svm2:dst")+"&fields=uuid")
	var rel relationship
	dst.get(t, "/api/snapmirror/relationships/"+uuid+"?fields=state,healthy", &rel)
	if rel.State != "uninitialized" {
		t.Errorf("new relationship: state %q, want uninitialized", rel.State)
	}

	steps := []struct {
		name, state, volumeType string
	}{
		{"initialize", "snapmirrored", "dp"},
		{"quiesce", "paused", "dp"},
		{"break", "broken_off", "rw"},
		{"resync", "snapmirrored", "dp"},
	}
	for _, s := range steps {
		dst.async(t, "PATCH", "/api/snapmirror/relationships/"+uuid, map[string]any{"state": s.state})
		dst.waitState(t, uuid, s.state)
		if got := dst.volumeType(t, "svm2", "dst"); got != s.volumeType {
			t.Errorf("after %s the destination volume is %s, want %s", s.name, got, s.volumeType)
		}
		if s.name == "break" {
			files, err := f.Cluster("secondary").Files("svm2", "dst")
			if err != nil || files["a.txt"] != "hello" {
				t.Errorf("destination after the break: %v, %v; want a.txt replicated", files, err)
			}
		}
	}

	// Delete on the destination also releases the source (no flags: ONTAP's default).
	dst.async(t, "DELETE", "/api/snapmirror/relationships/"+uuid, nil)
	if status, e := dst.call(t, "GET", "/api/snapmirror/relationships/"+uuid+"?fields=state,healthy", nil, nil); status != http.StatusNotFound || e.Code != "4" || e.Target != "uuid" {
		t.Errorf("deleted relationship: %d %+v, want 404 code 4 target uuid", status, e)
	}
	var srcSide collection[named]
	src.get(t, "/api/snapmirror/relationships?list_destinations_only=true", &srcSide)
	if srcSide.NumRecords != 0 {
		t.Errorf("source-side records after the delete: %+v", srcSide.Records)
	}
	dst.async(t, "DELETE", "/api/storage/volumes/"+dst.uuidOf(t, "/api/storage/volumes?svm.name=svm2&name=dst"), nil)
	src.async(t, "DELETE", "/api/storage/volumes/"+src.uuidOf(t, "/api/storage/volumes?svm.name=svm1&name=src"), nil)
}
