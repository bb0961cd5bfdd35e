package frontend_test

import (
	"encoding/binary"
	"encoding/json"
	"testing"

	csispec "github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// kinds are the backend kinds the mirror tests run with: every TMR state, update, snapshot
// handle and release must work the same for an ontap-nas volume (a FlexVol exported over NFS)
// and an ontap-san one (a FlexVol holding the LUN lun0).
var kinds = []string{ontap.DriverNAS, ontap.DriverSAN}

// forKinds runs test once per backend kind, as subtests named after the kind. The two run at
// once: each has its own simulated fabric, namespace and managers, and spends its time
// waiting for the controllers, so that the second kind costs the suite little time.
func forKinds(t *testing.T, test func(t *testing.T, kind string)) {
	t.Helper()
	for _, k := range kinds {
		t.Run(k, func(t *testing.T) {
			t.Parallel()
			test(t, k)
		})
	}
}

// san reports whether the side's backend is ontap-san.
func (s *side) san() bool { return s.kind == ontap.DriverSAN }

// access is how the side's PVCs are used: an NFS volume by many nodes, a LUN's filesystem by
// one (the CSI driver refuses a LUN written from several nodes).
func (s *side) access() (corev1.PersistentVolumeAccessMode, csispec.VolumeCapability_AccessMode_Mode) {
	if s.san() {
		return corev1.ReadWriteOnce, csispec.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	}
	return corev1.ReadWriteMany, csispec.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
}

// The tests' data is named files, as an application keeps it. On an ontap-nas volume they are
// the volume's files, written as an NFS client writes them. On an ontap-san volume they are
// kept in the LUN's bytes, as a filesystem on the LUN would keep them: a table of the files
// (JSON) after its length (4 bytes) at the LUN's start, written with Cluster.WriteLUN and read
// with ReadLUN, so that what a test sees of a destination is what a transfer brought into its
// LUN.

// lun is the LUN of every ontap-san volume.
const lun = "lun0"

// write writes a file on the side's volume: an error when the volume is read-only (a DP
// destination, or a LUN in one).
func (s *side) write(vol, name, content string) error {
	if !s.san() {
		return s.cluster.WriteFile(s.svm, vol, name, content)
	}
	files, err := s.lunFiles(vol)
	if err != nil {
		return err
	}
	files[name] = content
	table, _ := json.Marshal(files) // a map of strings: cannot fail
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(table)))
	return s.cluster.WriteLUN(s.svm, vol, lun, 0, append(buf, table...))
}

// mustWrite is write, failing the test on an error.
func (s *side) mustWrite(t *testing.T, vol, name, content string) {
	t.Helper()
	if err := s.write(vol, name, content); err != nil {
		t.Fatal(err)
	}
}

// files returns the files of the side's volume.
func (s *side) files(t *testing.T, vol string) map[string]string {
	t.Helper()
	read := s.cluster.Files
	if s.san() {
		read = func(_, vol string) (map[string]string, error) { return s.lunFiles(vol) }
	}
	f, err := read(s.svm, vol)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// lunFiles reads the file table of the volume's LUN; a LUN never written holds none.
func (s *side) lunFiles(vol string) (map[string]string, error) {
	head, err := s.cluster.ReadLUN(s.svm, vol, lun, 0, 4)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	n := int64(binary.BigEndian.Uint32(head))
	if n == 0 {
		return files, nil
	}
	table, err := s.cluster.ReadLUN(s.svm, vol, lun, 4, n)
	if err != nil {
		return nil, err
	}
	return files, json.Unmarshal(table, &files)
}

// checksum is a digest of the volume's data: of its files, or of its LUN's bytes.
func (s *side) checksum(t *testing.T, vol string) string {
	t.Helper()
	sum, err := s.cluster.Checksum(s.svm, vol)
	if s.san() {
		sum, err = s.cluster.LUNChecksum(s.svm, vol, lun)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// writable checks that the side's volume is read-write (want) or a read-only DP destination,
// and for ontap-san that its LUN says the same (ONTAP flips a LUN's read_only with its
// volume's type: a promotion does nothing to LUNs).
func (s *side) writable(t *testing.T, vol string, want bool) {
	t.Helper()
	wantType := map[bool]string{true: ontap.VolumeRW, false: ontap.VolumeDP}[want]
	if v, err := s.cluster.Volume(s.svm, vol); err != nil || v.Type != wantType {
		t.Errorf("volume %s:%s: %+v, %v; want type %s", s.svm, vol, v, err, wantType)
	}
	if !s.san() {
		return
	}
	if l := s.lunInfo(t, vol); l.ReadOnly == want {
		t.Errorf("LUN %s of %s:%s: %+v; want read_only=%t", lun, s.svm, vol, l, !want)
	}
}

// lunInfo reads the volume's LUN.
func (s *side) lunInfo(t *testing.T, vol string) sim.LUNInfo {
	t.Helper()
	l, err := s.cluster.LUN(s.svm, vol, lun)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// mounted checks the destination's junction path once it holds data: ontap-nas volumes are
// mounted at /<volume> for NFS; an ontap-san FlexVol gets none (nodes log in to its LUN).
func (s *side) mounted(t *testing.T, vol string) {
	t.Helper()
	want := "/" + vol
	if s.san() {
		want = ""
	}
	if v, err := s.backend.GetVolume(t.Context(), s.svm, vol); err != nil || v.JunctionPath != want {
		t.Errorf("the destination's junction path: %+v, %v; want %q", v, err, want)
	}
}
