package ontap_test

import (
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
