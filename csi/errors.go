package csi

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// grpcError maps an error to its gRPC status: the one place where ONTAP's answers become CSI
// codes. Errors that already carry a status keep it.
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
	case errors.As(err, &unavailable):
		// Before the context's errors: an attempt that timed out is a backend that is down.
		return status.Error(codes.Unavailable, err.Error())
	case errors.As(err, &mirror):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, ontap.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case ontap.IsAlreadyExists(err):
		return status.Error(codes.AlreadyExists, err.Error())
	case ontap.IsTransferInProgress(err):
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
		}
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	// No answer from ONTAP at all: the network or the cluster is down.
	return status.Error(codes.Unavailable, err.Error())
}
