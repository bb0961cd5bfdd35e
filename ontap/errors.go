package ontap

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/go-openapi/runtime"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// ErrNotFound is matched (errors.Is) by every error that says the object does not exist: an
// empty lookup, HTTP 404, or ONTAP's code 4.
var ErrNotFound = errors.New("not found")

// ONTAP error codes that callers act on (shared/docs/ontap-rest.md).
const (
	CodeDuplicate            = "1"        // an object with that identifier exists
	CodeInvalidField         = "2"        // invalid, missing or extra field
	CodeNotSupported         = "3"        // operation not supported
	CodeNotFound             = "4"        // entry doesn't exist
	CodePermissionDenied     = "6"        // permission denied
	CodeInUse                = "8"        // resource in use
	CodeVolumeDuplicate      = "917526"   // a volume of that name exists in the SVM
	CodeVolumeInRelationship = "917858"   // delete: the volume is a SnapMirror source or destination
	CodeSnapshotDuplicate    = "525059"   // a snapshot of that name exists
	CodeSnapshotOnDP         = "1638461"  // snapshots can only be created on RW volumes
	CodeRelationshipExists   = "6619637"  // a relationship with that destination exists
	CodeTransferInProgress   = "13303812" // a transfer is already in progress (initialize, update)
	CodeAnotherTransfer      = "13303808" // another transfer is in progress (quiesce, break)
	CodeUpdateFailed         = "13303844" // update failed, e.g. the relationship is quiesced or broken
	CodeNoActiveTransfer     = "13303849" // abort: no active transfer
	CodeNoCommonSnapshot     = "13303890" // resync: no common snapshot (UNCONFIRMED code; see IsNoCommonSnapshot)
	CodeScheduleNotFound     = "6619699"  // create relationship: schedule not found
	CodePolicyNotFound       = "13303819" // create relationship: policy lookup failed
	CodeModifyInProgress     = "6619715"  // a modification of the relationship is in progress
	CodePropagating          = "6619720"  // the relationship was updated and is propagating
	CodeStateUnreadable      = "13303816" // the relationship's state could not be read
	CodeStateUnreadable2     = "13304159" // the relationship's status could not be read

	// SAN (shared/docs/ontap-rest.md section 11).
	CodeLUNDuplicate       = "5374242" // a LUN exists at that path
	CodeLUNNamespaceDup    = "5440688" // a LUN or NVMe namespace exists at that path
	CodeLUNBeingCreated    = "5702832" // a LUN of that name is being created
	CodeLUNNotFound        = "5374875" // the LUN does not exist
	CodeLUNNotFound2       = "5374876" // the LUN does not exist
	CodeLUNMapped          = "1254197" // delete: the LUN is mapped
	CodeLUNSameSize        = "1254226" // resize: the LUN has that size already
	CodeLUNShrink          = "5374892" // resize: a LUN cannot shrink
	CodeLUNAttributeExists = "5374930" // the LUN has an attribute of that name
	CodeIgroupDuplicate    = "5374023" // an igroup of that name exists
	CodeIgroupNotFound     = "5374852" // the igroup does not exist
	CodeIgroupNotFound2    = "5374878" // unmap: the igroup does not exist
	CodeIgroupMapped       = "1254213" // delete: the igroup maps LUNs
	CodeInitiatorInIgroup  = "5374035" // the initiator is in the igroup already
	CodeAlreadyMapped      = "1254207" // the LUN is mapped to that igroup already
	CodeLUNMissingForMap   = "1254201" // map: the LUN does not exist
	CodeMapNotFound        = "5374922" // unmap: the LUN is not mapped to that igroup
	CodeIdenticalRule      = "1704070" // an identical export rule exists in the policy
	CodeNoISCSIService     = "5374078" // the SVM has no iSCSI service
)

// APIError is an error that ONTAP returned: an HTTP error with ONTAP's error envelope, or a job
// that ended in failure (Status 0, Job set).
type APIError struct {
	// Status is the HTTP status, or 0 for a failed job.
	Status int
	// Code is ONTAP's error code, a string of digits; empty when ONTAP gave none.
	Code string
	// Message is ONTAP's message.
	Message string
	// Target names the input the error is about, when ONTAP says.
	Target string
	// Job is the UUID of the failed job, for job failures.
	Job string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := "ONTAP"
	if e.Job != "" {
		s += " job " + e.Job
	}
	if e.Status != 0 {
		s += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Code != "" {
		s += ": code " + e.Code
	}
	s += ": " + msg
	if e.Target != "" {
		s += " (target " + e.Target + ")"
	}
	return s
}

// notFoundCodes say that the object asked for does not exist, whatever the HTTP status (which
// shared/docs/ontap-rest.md leaves UNCONFIRMED for the SAN codes).
var notFoundCodes = []string{CodeNotFound, CodeLUNNotFound, CodeLUNNotFound2, CodeIgroupNotFound, CodeIgroupNotFound2, CodeLUNMissingForMap, CodeMapNotFound}

// Is makes errors.Is(err, ErrNotFound) true for HTTP 404, ONTAP code 4 and the SAN codes that
// say an object does not exist (a LUN, an igroup, a LUN map).
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && (e.Status == http.StatusNotFound || slices.Contains(notFoundCodes, e.Code))
}

// HasCode reports whether err is an *APIError with one of the codes.
func HasCode(err error, codes ...string) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, c := range codes {
		if apiErr.Code == c {
			return true
		}
	}
	return false
}

// IsTransferInProgress reports whether ONTAP refused because a transfer is running.
func IsTransferInProgress(err error) bool {
	return HasCode(err, CodeTransferInProgress, CodeAnotherTransfer)
}

// IsBusy reports whether ONTAP answered "busy, try again": another transfer or operation on
// the relationship is in progress (on a break after an abort, until the abort has ended), its
// state is being propagated or cannot be read yet, or a LUN of that name is being created. The
// same request passes a few seconds later, so it is retried soon, not treated as a refusal.
func IsBusy(err error) bool {
	return HasCode(err, CodeAnotherTransfer, CodeModifyInProgress, CodePropagating, CodeStateUnreadable, CodeStateUnreadable2, CodeLUNBeingCreated)
}

// IsAlreadyExists reports whether ONTAP refused to create a duplicate: a volume, snapshot,
// relationship, LUN, LUN attribute or igroup of that name (AddInitiator answers an initiator
// already in the igroup as done).
func IsAlreadyExists(err error) bool {
	return HasCode(err, CodeDuplicate, CodeVolumeDuplicate, CodeSnapshotDuplicate, CodeRelationshipExists,
		CodeLUNDuplicate, CodeLUNNamespaceDup, CodeLUNAttributeExists, CodeIgroupDuplicate)
}

// IsAlreadyMapped reports whether ONTAP refused to map a LUN to an igroup it is mapped to.
func IsAlreadyMapped(err error) bool { return HasCode(err, CodeAlreadyMapped) }

// IsMapped reports whether ONTAP refused to delete a LUN or an igroup because it is mapped.
func IsMapped(err error) bool { return HasCode(err, CodeLUNMapped, CodeIgroupMapped) }

// IsInRelationship reports whether a volume delete failed because the volume is still a
// SnapMirror source or destination.
func IsInRelationship(err error) bool { return HasCode(err, CodeVolumeInRelationship) }

// IsNoCommonSnapshot reports whether a resync failed for want of a common snapshot. ONTAP's
// exact code is UNCONFIRMED in shared/docs/ontap-rest.md; the client and the simulator agree on
// CodeNoCommonSnapshot.
func IsNoCommonSnapshot(err error) bool { return HasCode(err, CodeNoCommonSnapshot) }

// ontapResponse is what go-swagger generates for a response with ONTAP's error envelope.
type ontapResponse interface {
	Code() int
	GetPayload() *models.ErrorResponse
}

// apiError turns what the generated client returned into an *APIError when it is one of
// ONTAP's answers; transport errors are returned as they are.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	var resp ontapResponse
	if errors.As(err, &resp) {
		e := &APIError{Status: resp.Code()}
		if p := resp.GetPayload(); p != nil && p.Error != nil {
			e.Code, e.Message, e.Target = p.Error.Code, p.Error.Message, p.Error.Target
		}
		return e
	}
	var rtErr *runtime.APIError
	if errors.As(err, &rtErr) {
		return &APIError{Status: rtErr.Code, Message: "unexpected response to " + rtErr.OperationName}
	}
	return err
}

// IsRefusal reports whether ONTAP considered the request and refused it (HTTP 4xx other than
// 408 and 429, or a job that failed): asking again unchanged gives the same answer. Anything
// else (network errors, timeouts, 5xx, a busy cluster) may pass on a retry.
func IsRefusal(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	if apiErr.Status == 0 {
		return apiErr.Job != ""
	}
	return apiErr.Status >= 400 && apiErr.Status < 500 && apiErr.Status != http.StatusRequestTimeout && apiErr.Status != http.StatusTooManyRequests
}
