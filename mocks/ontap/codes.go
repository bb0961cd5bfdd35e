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

	// codeSimulatorDisk is the simulator's own: it could not read or write a volume's content
	// on its disk (ONTAP has no such code).
	codeSimulatorDisk = "999001"

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

	// SAN (§11). The HTTP status of most is UNCONFIRMED: the simulator answers 404 for a
	// missing object, 409 for a duplicate or an object in use, 400 otherwise.
	codeLUNNotFound          = "5374875" // LUN not found (GET/PATCH/DELETE by uuid, lun-maps)
	codeLUNDuplicate         = "5374242" // a LUN already exists at that path
	codeLUNRequired          = "5374884" // a property required for a non-clone LUN is missing (target names it)
	codeLUNNameChars         = "5374121" // bad characters in the LUN's base name
	codeLUNNameInvalid       = "5374127" // invalid LUN path
	codeLUNNameTooLong       = "5376462" // LUN name too long
	codeLUNSizeNegative      = "5374123" // negative size
	codeLUNSizeTooSmall      = "5374124" // below 4096 bytes
	codeLUNSizeTooLarge      = "5374125" // above 128 TiB; also a guaranteed LUN that does not fit its volume (UNCONFIRMED)
	codeLUNSizeInvalid       = "5374130" // not a size
	codeLUNReadOnlyVolume    = "5374129" // documented for an LS mirror; also a DP volume here (UNCONFIRMED)
	codeLUNInSnapshot        = "5374238" // a LUN path inside a snapshot
	codeLUNVolumeOffline     = "5374866" // containing volume offline
	codeLUNShrink            = "5374892" // attempt to reduce a LUN's size
	codeLUNSameSize          = "1254226" // the new size equals the current one
	codeLUNDeleteMapped      = "1254197" // delete of a mapped LUN without allow_delete_while_mapped
	codeVolumeNameNotFound   = "917927"  // volume not found by name
	codeAttributeExists      = "5374930" // a LUN attribute of that name exists
	codeAttributeNotFound    = "5374931" // no LUN attribute of that name
	codeIgroupDuplicate      = "5374023" // an igroup of that name exists (HTTP 409: Trident relies on it)
	codeIgroupNameInvalid    = "5373958" // bad igroup name
	codeInitiatorInvalid     = "5373969" // bad initiator name (the code within 5373969-5373993 is UNCONFIRMED)
	codeInitiatorProtocol    = "5374038" // initiator of the wrong kind for the igroup's protocol (UNCONFIRMED)
	codeInitiatorNotMember   = "5374034" // the initiator is not in the igroup
	codeInitiatorExists      = "5374035" // the initiator is already in the igroup
	codeInitiatorOSConflict  = "5374732" // create: an initiator is in an igroup of a conflicting os_type
	codeInitiatorOSConflict2 = "5374734" // add initiator: same conflict
	codeIgroupNotFound       = "5374852" // igroup not found
	codeIgroupMapped         = "1254213" // the igroup is mapped and allow_delete_while_mapped is not set
	codeISCSIServiceMissing  = "5374078" // the SVM has no iSCSI service
	codeMapExists            = "1254207" // the LUN is already mapped to this igroup
	codeMapLUNMissing        = "1254201" // map: the LUN does not exist
	codeMapNoLUN             = "5374901" // map: no lun given
	codeMapNoIgroup          = "5374902" // map: no igroup given
	codeMapNoISCSILIF        = "5374573" // map: no iSCSI LIF on the LUN's node (which code in 5374573-5374584: UNCONFIRMED)
	codeMapNoFCLIF           = "5374574" // map: no FC LIF on the LUN's node (UNCONFIRMED; FC is not simulated)
	codeMapNotFound          = "5374922" // the LUN map does not exist
	codeUnmapIgroupMissing   = "5374878" // unmap: the igroup does not exist
)
