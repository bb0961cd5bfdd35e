package csi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// The RPC handlers return plain Go errors: ontap's typed ones (ontap.ErrNotFound,
// *ontap.APIError, *ontap.UnavailableError), the context's, *MirrorError, and the driver's own
// refusals, whose kinds are these. grpcError alone turns them into gRPC codes.
var (
	// errInvalid: the request is malformed (InvalidArgument).
	errInvalid = errors.New("invalid argument")
	// errPrecondition: the request is sound, but the system is not in a state to serve it
	// (FailedPrecondition).
	errPrecondition = errors.New("failed precondition")
	// errExists: an object of that name exists and does not fit the request (AlreadyExists).
	errExists = errors.New("already exists")
	// errPending: another call on the same object is in progress (Aborted).
	errPending = errors.New("operation pending")
	// errOutOfRange: the requested size is outside what the driver can give (OutOfRange).
	errOutOfRange = errors.New("out of range")
	// errUnavailable: the backends that might serve the request do not answer (Unavailable).
	errUnavailable = errors.New("unavailable")
	// errInternal: the node's host failed at something the request cannot change (a mount,
	// a format) (Internal).
	errInternal = errors.New("internal")
)

// refusal is the driver's own answer to a call it cannot serve: its message is the caller's,
// and it matches (errors.Is) its kind, one of the err* kinds above or ontap.ErrNotFound.
type refusal struct {
	kind error
	err  error
}

func (r *refusal) Error() string   { return r.err.Error() }
func (r *refusal) Unwrap() []error { return []error{r.kind, r.err} }

// refuse makes a refusal of a kind, its message formatted as by fmt.Errorf.
func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, err: fmt.Errorf(format, args...)}
}

// grpcError maps an error to its gRPC status: the one place where errors become CSI codes (see
// rpc). Errors that already carry a status keep it.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var mirror *MirrorError
	var apiErr *ontap.APIError
	var unavailable *ontap.UnavailableError
	switch {
	case errors.As(err, &unavailable), errors.Is(err, errUnavailable):
		// Before the context's errors: an attempt that timed out is a backend that is down.
		return status.Error(codes.Unavailable, err.Error())
	case errors.As(err, &mirror), errors.Is(err, errPrecondition):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, errInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, errExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, errPending):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, errInternal):
		return status.Error(codes.Internal, err.Error())
	case errors.Is(err, errOutOfRange):
		return status.Error(codes.OutOfRange, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, ontap.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case ontap.IsAlreadyExists(err):
		return status.Error(codes.AlreadyExists, err.Error())
	case ontap.IsTransferInProgress(err), ontap.IsBusy(err):
		// Another operation on the object is in progress: the same call passes once it ends.
		return status.Error(codes.Aborted, err.Error())
	case ontap.IsInRelationship(err), ontap.HasCode(err, ontap.CodeSnapshotOnDP, "1638543", "1638521"):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.As(err, &apiErr):
		switch {
		case apiErr.Status == http.StatusTooManyRequests || apiErr.Status >= 500:
			return status.Error(codes.Unavailable, err.Error())
		case apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden:
			return status.Error(codes.FailedPrecondition, "ONTAP refused the backend's credentials: "+err.Error())
		case apiErr.Code == ontap.CodeInvalidField:
			return status.Error(codes.InvalidArgument, err.Error())
		case apiErr.Status == 0 && apiErr.Job != "":
			// A job that failed for a reason not recognised above: ONTAP took the request and
			// could not carry it out, which says nothing of the request (Internal; retried).
			return status.Error(codes.Internal, err.Error())
		}
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	// No answer from ONTAP at all: the network or the cluster is down.
	return status.Error(codes.Unavailable, err.Error())
}
