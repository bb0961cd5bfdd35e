package ontap

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The simulator's encoders and codes are checked against ONTAP's documented forms
// (docs/ontap-rest.md), never against the client's, so that a bug shared by both cannot hide.

func TestISODuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "PT0S"},
		{400 * time.Millisecond, "PT0S"},
		{600 * time.Millisecond, "PT1S"},
		{42 * time.Second, "PT42S"},
		{90 * time.Second, "PT1M30S"},
		{59 * time.Minute, "PT59M"},
		{time.Hour, "PT1H"},
		{time.Hour + 2*time.Minute + 3*time.Second, "PT1H2M3S"},
		{8*time.Hour + 35*time.Minute + 42*time.Second, "PT8H35M42S"},
		{2*time.Hour + 5*time.Second, "PT2H5S"},
		{24 * time.Hour, "P1D"},
		{26 * time.Hour, "P1DT2H"},
		{26*time.Hour + 3*time.Minute + 4*time.Second, "P1DT2H3M4S"},
		{48*time.Hour + 7*time.Second, "P2DT7S"},
		{400 * 24 * time.Hour, "P400D"},
		{-5 * time.Second, "PT0S"},
	} {
		if got := isoDuration(tc.in); got != tc.want {
			t.Errorf("isoDuration(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct{ got, want, meaning string }{
		{codeDuplicate, "1", "duplicate entry"},
		{codeInvalidField, "2", "invalid, missing or extra field"},
		{codeNotSupported, "3", "operation not supported"},
		{codeNotFound, "4", "entry doesn't exist"},
		{codePermissionDenied, "6", "permission denied"},
		{codeBusy, "460770", "job failed / busy"},
		{codeAggregateNotFound, "917508", "target aggregate not found"},
		{codeVolumeDuplicate, "917526", "volume name is a duplicate"},
		{codeVolumeTooSmall, "917534", "size too small"},
		{codeVolumeTooLarge, "917535", "size too large (UNCONFIRMED)"},
		{codeDPNotInitialized, "917536", "DP volume not initialized"},
		{codeSnapshotPolicyOnDP, "917617", "snapshot policy not modifiable on DP"},
		{codeNotModifiableForType, "917628", "field not modifiable for this volume type"},
		{codeVolumeInRelationship, "917858", "volume is a SnapMirror endpoint"},
		{codeVolumeNameTooLong, "917886", "name too long"},
		{codeVolumeNameFirstChar, "917887", "first character must be a letter or _"},
		{codeVolumeNameInvalid, "917888", "invalid character in name"},
		{codeVolumeUUIDNotFound, "918235", "volume invalid"},
		{codeOneAggregate, "918242", "FlexVol needs exactly one aggregate"},
		{codeRestoreInvalid, "918251", "value invalid for restore"},
		{codeJunctionPathInvalid, "918252", "nas.path invalid"},
		{codeSVMNotFound, "2621462", "SVM does not exist"},
		{codeSVMMissing, "2621707", "no SVM given"},
		{codeNewerSnapshotIsSMRef, "1638480", "newer snapshots in use as SnapMirror reference"},
		{codeSnapshotDuplicate, "525059", "snapshot name already exists"},
		{codeSnapshotOnlyOnRW, "1638461", "snapshots only on RW volumes"},
		{codeSnapshotReservedName, "1638477", "reserved snapshot name prefix"},
		{codeSnapshotNameInvalid, "1638518", "invalid snapshot name"},
		{codeSnapshotDeleteOnlyRW, "1638521", "snapshot delete only on RW volumes"},
		{codeSnapshotHasOwner, "1638543", "snapshot has an owner"},
		{codeSnapshotNotFound, "1638600", "snapshot does not exist"},
		{codeSameVolume, "6619441", "source and destination are the same volume"},
		{codeRelationshipExists, "6619637", "relationship with this destination exists"},
		{codeScheduleNotFound, "6619699", "schedule not found"},
		{codeTransferAborted, "6620046", "Transfer aborted"},
		{codeDestinationOutOfSpace, "6620112", "destination out of space (UNCONFIRMED)"},
		{codeSourceUnreachable, "6621444", "unhealthy reason"},
		{codeAnotherTransfer, "13303808", "another transfer is in progress"},
		{codeTransferInProgress, "13303812", "transfer already in progress"},
		{codePeerLookupFailed, "13303814", "SVM / peer lookup failed"},
		{codeStateUnreadable, "13303816", "could not read state, retry"},
		{codeUnknownState, "13303817", "unknown value for state"},
		{codeInvalidTransition, "13303818", "invalid state transition"},
		{codePolicyNotFound, "13303819", "policy lookup failed"},
		{codeReleaseFailed, "13303822", "release failed"},
		{codeOnlyWhenBrokenOff, "13303835", "flag valid only with broken_off"},
		{codeUpdateFailed, "13303844", "update failed"},
		{codeInvalidProperty, "13303847", "invalid property"},
		{codeNoActiveTransfer, "13303849", "no active transfer"},
		{codeDestinationPath, "13303852", "destination.path lacks ':'"},
		{codeStateNeedsCreateDest, "13303873", "state without create_destination"},
		{codeNoCommonSnapshot, "13303890", "no common snapshot (UNCONFIRMED)"},
		{codeLUNNotFound, "5374875", "LUN not found"},
		{codeLUNDuplicate, "5374242", "LUN path exists"},
		{codeLUNRequired, "5374884", "required LUN property missing"},
		{codeLUNNameChars, "5374121", "bad characters in a LUN name"},
		{codeLUNNameInvalid, "5374127", "invalid LUN path"},
		{codeLUNNameTooLong, "5376462", "LUN name too long"},
		{codeLUNSizeNegative, "5374123", "negative LUN size"},
		{codeLUNSizeTooSmall, "5374124", "LUN too small"},
		{codeLUNSizeTooLarge, "5374125", "LUN too large"},
		{codeLUNSizeInvalid, "5374130", "invalid LUN size"},
		{codeLUNReadOnlyVolume, "5374129", "LUN in a read-only volume (UNCONFIRMED for DP)"},
		{codeLUNInSnapshot, "5374238", "LUN in a snapshot"},
		{codeLUNVolumeOffline, "5374866", "containing volume offline"},
		{codeLUNShrink, "5374892", "LUN shrink"},
		{codeLUNSameSize, "1254226", "LUN size unchanged"},
		{codeLUNDeleteMapped, "1254197", "delete of a mapped LUN"},
		{codeVolumeNameNotFound, "917927", "volume not found by name"},
		{codeAttributeExists, "5374930", "LUN attribute exists"},
		{codeAttributeNotFound, "5374931", "LUN attribute missing"},
		{codeIgroupDuplicate, "5374023", "igroup name exists"},
		{codeIgroupNameInvalid, "5373958", "bad igroup name"},
		{codeInitiatorInvalid, "5373969", "bad initiator"},
		{codeInitiatorProtocol, "5374038", "initiator of the wrong protocol (UNCONFIRMED)"},
		{codeInitiatorNotMember, "5374034", "initiator not in the igroup"},
		{codeInitiatorExists, "5374035", "initiator already in the igroup"},
		{codeInitiatorOSConflict, "5374732", "initiator in an igroup of another os_type (create)"},
		{codeInitiatorOSConflict2, "5374734", "initiator in an igroup of another os_type (add)"},
		{codeIgroupNotFound, "5374852", "igroup not found"},
		{codeIgroupMapped, "1254213", "igroup mapped"},
		{codeISCSIServiceMissing, "5374078", "no iSCSI service"},
		{codeMapExists, "1254207", "already mapped to the igroup"},
		{codeMapLUNMissing, "1254201", "map: LUN missing"},
		{codeMapNoLUN, "5374901", "map: no lun given"},
		{codeMapNoIgroup, "5374902", "map: no igroup given"},
		{codeMapNoISCSILIF, "5374573", "map: no iSCSI LIF on the LUN's node (UNCONFIRMED)"},
		{codeMapNoFCLIF, "5374574", "map: no FC LIF (UNCONFIRMED)"},
		{codeMapNotFound, "5374922", "LUN map missing"},
		{codeUnmapIgroupMissing, "5374878", "unmap: igroup missing"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: code %q, want %q", tc.meaning, tc.got, tc.want)
		}
	}
}

// TestOperationNames checks the names counters and faults use, written out by hand.
func TestOperationNames(t *testing.T) {
	const vol, snap = "0f3c1a52-9a3e-4b1e-8f6a-2f1d6c1e7a90", "7d2fd988-1b2c-4d5e-8f90-a1b2c3d4e5f6"
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/api/cluster", "GET /cluster"},
		{"GET", "/api/storage/volumes", "GET /storage/volumes"},
		{"PATCH", "/api/storage/volumes/" + vol, "PATCH /storage/volumes/{id}"},
		{"DELETE", "/api/storage/volumes/" + vol + "/snapshots/" + snap, "DELETE /storage/volumes/{id}/snapshots/{id}"},
		{"POST", "/api/snapmirror/relationships/" + vol + "/transfers", "POST /snapmirror/relationships/{id}/transfers"},
		{"POST", "/api/protocols/nfs/export-policies/12/rules", "POST /protocols/nfs/export-policies/{id}/rules"},
		{"GET", "/api/cluster/jobs/" + snap, "GET /cluster/jobs/{id}"},
		{"PUT", "/api/storage/volumes/" + vol, "PUT /storage/volumes/{id}"},
		{"GET", "/api/no/such/thing", "GET /no/such/thing"},
	} {
		rt, _ := match(tc.method, tc.path)
		if got := operation(rt, tc.method, tc.path); got != tc.want {
			t.Errorf("operation(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

// TestIndependentOfTheClient keeps the simulator a second opinion: neither it nor
// cmd/ontap-sim may import the client (ontap/ or anything under it), directly or through
// another package of this module. Test files may use the client to drive the simulator.
func TestIndependentOfTheClient(t *testing.T) {
	const module = "github.com/snapmirror-csi/snapmirror-csi"
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(pkg, from string)
	walk = func(pkg, from string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		if pkg == module+"/ontap" || strings.HasPrefix(pkg, module+"/ontap/") {
			t.Errorf("%s imports the client package %s", from, pkg)
			return
		}
		p, err := build.ImportDir(filepath.Join(root, strings.TrimPrefix(pkg, module)), 0)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") {
				walk(imp, pkg)
			}
		}
	}
	walk(module+"/mocks/ontap", "")
	walk(module+"/cmd/ontap-sim", "")
}
