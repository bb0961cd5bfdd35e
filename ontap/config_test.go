package ontap_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestExampleConfig: the shipped example backend file is valid as it stands.
func TestExampleConfig(t *testing.T) {
	cfg, err := ontap.LoadConfig("../deploy/backends.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Backends) != 1 || len(cfg.Peers) != 1 || cfg.Peers[0].SVM != "drvserver" {
		t.Errorf("example: %+v", cfg)
	}
}

// TestDrivers: ontap-nas and ontap-san (iSCSI) are served; any other driver or SAN protocol is
// refused, naming the field and what to write instead.
func TestDrivers(t *testing.T) {
	for _, tc := range []struct {
		// driver and sanType are the backend's; want is a fragment of the error, "" for none.
		driver, sanType, want string
	}{
		{"ontap-nas", "", ""},
		{"ontap-san", "", ""},
		{"ontap-san", "iscsi", ""},
		{"ontap-san", "nvme", `sanType "nvme" is not served: only "iscsi" is`},
		{"ontap-san", "fcp", `sanType "fcp" is not served`},
		{"ontap-san", "iSCSI", `sanType "iSCSI" is unknown`},
		{"ontap-nas", "iscsi", "only ontap-san backends take it"},
		{"ontap-nas-economy", "", `driver "ontap-nas-economy" is unknown: use "ontap-nas" or "ontap-san"`},
	} {
		path := filepath.Join(t.TempDir(), "backends.yaml")
		os.WriteFile(path, []byte("backends:\n- name: b\n  driver: "+tc.driver+"\n  sanType: \""+tc.sanType+"\"\n  managementLIF: c\n  svm: s\n  aggregates: [a]\n  credentials: {file: x}\n"), 0o600)
		_, err := ontap.LoadConfig(path)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("driver %s, sanType %q: got %v, want %q", tc.driver, tc.sanType, err, tc.want)
		}
	}
}
