package ontap_test

import (
	"os"
	"path/filepath"
	"slices"
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

// TestExportSettings: autoExportPolicy and its CIDRs are checked before ONTAP is asked: one
// policy per volume excludes a fixed exportPolicy, CIDRs need autoExportPolicy and must parse,
// and ontap-san volumes take none of them.
func TestExportSettings(t *testing.T) {
	for _, tc := range []struct {
		driver, settings, want string
	}{
		{"ontap-nas", "autoExportPolicy: true", ""},
		{"ontap-nas", "autoExportPolicy: true\n  autoExportCIDRs: [10.0.0.0/8, \"::/0\"]", ""},
		{"ontap-nas", "exportPolicy: default", ""},
		{"ontap-nas", "autoExportPolicy: true\n  exportPolicy: default", `exportPolicy "default": with autoExportPolicy each volume gets a policy of its own`},
		{"ontap-nas", "autoExportCIDRs: [10.0.0.0/8]", "autoExportCIDRs: only autoExportPolicy uses them"},
		{"ontap-nas", "autoExportPolicy: true\n  autoExportCIDRs: [10.0.0.1]", `autoExportCIDRs[0] "10.0.0.1": write a subnet in CIDR notation`},
		{"ontap-san", "autoExportPolicy: true", "ontap-san volumes are not exported over NFS"},
	} {
		path := filepath.Join(t.TempDir(), "backends.yaml")
		os.WriteFile(path, []byte("backends:\n- name: b\n  driver: "+tc.driver+"\n  "+tc.settings+"\n  managementLIF: c\n  svm: s\n  aggregates: [a]\n  credentials: {file: x}\n"), 0o600)
		_, err := ontap.LoadConfig(path)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s with %q: got %v, want %q", tc.driver, tc.settings, err, tc.want)
		}
	}
}

// TestExportAddresses: the addresses a node's rules name are those inside autoExportCIDRs,
// all of them by default, IPv4-mapped IPv6 written as IPv4; names are not addresses.
func TestExportAddresses(t *testing.T) {
	b := ontap.BackendConfig{AutoExportPolicy: true}
	if got := b.ExportAddresses([]string{"10.1.2.3", "fd00::1", "::ffff:192.168.1.1", "node.example"}); !slices.Equal(got, []string{"10.1.2.3", "fd00::1", "192.168.1.1"}) {
		t.Errorf("default CIDRs: %v", got)
	}
	b.AutoExportCIDRs = []string{"192.168.0.0/16"}
	if got := b.ExportAddresses([]string{"10.1.2.3", "192.168.1.1"}); !slices.Equal(got, []string{"192.168.1.1"}) {
		t.Errorf("192.168.0.0/16: %v", got)
	}
	if b.ExportPolicyOf("trident_pvc_x") != "trident_pvc_x" || (&ontap.BackendConfig{ExportPolicy: "p"}).ExportPolicyOf("v") != "p" {
		t.Error("ExportPolicyOf: a volume's own policy with autoExportPolicy, exportPolicy without")
	}
}
