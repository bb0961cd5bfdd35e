package ontap

// ONTAP's error codes as the simulator answers them, written out from docs/ontap-rest.md and
// not taken from the client: a client that misreads a code must fail against the simulator.
// ONTAP sends each code as a string in the error body ({"error":{"code":"4",...}}).
const (
	// Generic codes (ontap-rest.md §1.5).
	codeDuplicate        = "1" // an object with the same identifier exists (HTTP 409)
	codeInvalidField     = "2" // invalid, missing or extra field (HTTP 400)
	codeNotSupported     = "3" // operation not supported; also our answer to an unknown endpoint (UNCONFIRMED)
	codeNotFound         = "4" // entry doesn't exist (HTTP 404)
	codePermissionDenied = "6" // permission denied / not authorized

	// codeBusy answers a request refused because too many are queued. ONTAP documents 460770
	// as "[Job "jobid"] Job failed."; its code for a full request queue is UNCONFIRMED.
	codeBusy = "460770"

	// Volumes (§3).
	codeAggregateNotFound    = "917508"  // target aggregate not found
	codeVolumeDuplicate      = "917526"  // volume name is a duplicate (create)
	codeVolumeTooSmall       = "917534"  // size too small
	codeVolumeTooLarge       = "917535"  // size above the platform maximum (UNCONFIRMED: not in ontap-rest.md)
	codeDPNotInitialized     = "917536"  // mounting an uninitialized DP volume (Trident: DP_VOLUME_NOT_INITIALIZED)
	codeSnapshotPolicyOnDP   = "917617"  // cannot modify the snapshot policy of a DP/LS/DC/TMP volume
	codeNotModifiableForType = "917628"  // field not modifiable for this volume type
	codeVolumeInRelationship = "917858"  // delete: the volume is a SnapMirror source or destination endpoint
	codeVolumeNameTooLong    = "917886"  // name too long (more than 203 characters)
	codeVolumeNameFirstChar  = "917887"  // first character must be a letter or '_'
	codeVolumeNameInvalid    = "917888"  // invalid character in name (only '_' and alphanumerics)
	codeVolumeUUIDNotFound   = "918235"  // volume not found by uuid (snapshot collection)
	codeOneAggregate         = "918242"  // a FlexVol needs exactly one aggregate
	codeRestoreInvalid       = "918251"  // value invalid for restore
	codeJunctionPathInvalid  = "918252"  // nas.path invalid
	codeSVMNotFound          = "2621462" // the SVM does not exist
	codeSVMMissing           = "2621707" // neither svm.name nor svm.uuid given
	codeNewerSnapshotIsSMRef = "1638480" // restore: newer snapshots are in use as a SnapMirror reference
	codeSnapshotDuplicate    = "525059"  // a snapshot of that name exists
	codeSnapshotOnlyOnRW     = "1638461" // snapshots can only be created on RW volumes
	codeSnapshotReservedName = "1638477" // user snapshot names cannot start with a reserved prefix
	codeSnapshotNameInvalid  = "1638518" // invalid snapshot name
	codeSnapshotDeleteOnlyRW = "1638521" // snapshots can only be deleted on RW volumes
	codeSnapshotHasOwner     = "1638543" // the snapshot has an owner
	codeSnapshotNotFound     = "1638600" // the snapshot does not exist

	// SnapMirror relationships and transfers (§8, §9).
	codeSameVolume         = "6619441" // source and destination are the same volume
	codeRelationshipExists = "6619637" // a relationship with this destination volume exists
	// codeModifyInProgress answers a PATCH or DELETE of a relationship while the job of an
	// earlier one runs (UNCONFIRMED: that ONTAP serializes them so; the code is its documented
	// "modification of the relationship in progress, retry").
	codeModifyInProgress      = "6619715"
	codeScheduleNotFound      = "6619699"  // schedule not found
	codeTransferAborted       = "6620046"  // transfer error_info: "Transfer aborted"
	codeDestinationOutOfSpace = "6620112"  // transfer failed: destination out of space (UNCONFIRMED code)
	codeSourceUnreachable     = "6621444"  // unhealthy_reason example code; used for an unreachable source
	codeAnotherTransfer       = "13303808" // transition to broken_off failed: another transfer is in progress
	codeTransferInProgress    = "13303812" // initialize/update failed: a transfer is in progress
	codePeerLookupFailed      = "13303814" // SVM / peer lookup failed
	codeStateUnreadable       = "13303816" // could not read state/status; retry
	codeUnknownState          = "13303817" // unknown value for state
	codeInvalidTransition     = "13303818" // invalid state transition requested
	codePolicyNotFound        = "13303819" // policy lookup failed
	codeReleaseFailed         = "13303822" // release failed
	codeOnlyWhenBrokenOff     = "13303835" // flag valid only when PATCH state is broken_off
	codeUpdateFailed          = "13303844" // update failed (quiesced or broken off)
	codeInvalidProperty       = "13303847" // invalid property
	codeNoActiveTransfer      = "13303849" // transfer state invalid: no active transfer to abort
	codeDestinationPath       = "13303852" // destination.path lacks ':'
	codeStateNeedsCreateDest  = "13303873" // state given without create_destination
	codeNoCommonSnapshot      = "13303890" // resync: no common snapshot (UNCONFIRMED code)
)
