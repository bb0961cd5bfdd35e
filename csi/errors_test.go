package csi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// TestGRPCError: every kind of error a handler returns maps to its gRPC code, with the error's
// own message, however deeply it is wrapped.
func TestGRPCError(t *testing.T) {
	passed := status.Error(codes.ResourceExhausted, "already a status")
	wrap := func(err error) error { return fmt.Errorf("create volume %q: %w", "pvc-1", err) }
	api := func(httpStatus int, code string) error {
		return wrap(&ontap.APIError{Status: httpStatus, Code: code, Message: "refused"})
	}
	down := &ontap.UnavailableError{Backend: "svm2", Err: fmt.Errorf("managementLIF does not answer: %w", context.DeadlineExceeded)}
	tests := []struct {
		name string
		// err is what the handler returned.
		err error
		// want is the code of the mapped error.
		want codes.Code
		// message is the mapped error's message, when it is not err's own.
		message string
	}{
		{name: "nil", err: nil, want: codes.OK},
		{name: "a status passes unchanged", err: passed, want: codes.ResourceExhausted, message: "already a status"},
		{name: "backend unavailable, though its attempt timed out", err: wrap(down), want: codes.Unavailable},
		{name: "no answer from the network", err: wrap(&net.OpError{Op: "dial", Err: errors.New("connection refused")}), want: codes.Unavailable},
		{name: "mirror the user must fix", err: &MirrorError{Message: "TridentMirrorRelationship x does not exist"}, want: codes.FailedPrecondition},
		{name: "refused: invalid", err: refuse(errInvalid, "name is required"), want: codes.InvalidArgument},
		{name: "refused: invalid parameter", err: wrap(refuse(errInvalid, "parameter %s is unknown", "x")), want: codes.InvalidArgument},
		{name: "refused: precondition", err: refuse(errPrecondition, "no backend can hold the volume"), want: codes.FailedPrecondition},
		{name: "refused: exists", err: refuse(errExists, "volume %s exists", "v"), want: codes.AlreadyExists},
		{name: "refused: pending", err: refuse(errPending, "an operation on volume v is in progress"), want: codes.Aborted},
		{name: "refused: out of range", err: refuse(errOutOfRange, "capacity_range"), want: codes.OutOfRange},
		{name: "refused: unavailable", err: refuse(errUnavailable, "volume v may be on a backend that does not answer: %s", down), want: codes.Unavailable},
		{name: "refused: not found", err: refuse(ontap.ErrNotFound, "volume %s does not exist", "v"), want: codes.NotFound},
		{name: "deadline", err: wrap(context.DeadlineExceeded), want: codes.DeadlineExceeded},
		{name: "canceled", err: wrap(context.Canceled), want: codes.Canceled},
		{name: "not found", err: wrap(ontap.ErrNotFound), want: codes.NotFound},
		{name: "HTTP 404", err: api(404, ""), want: codes.NotFound},
		{name: "ONTAP code 4", err: api(400, ontap.CodeNotFound), want: codes.NotFound},
		{name: "duplicate volume", err: api(409, ontap.CodeVolumeDuplicate), want: codes.AlreadyExists},
		{name: "transfer in progress", err: api(409, ontap.CodeTransferInProgress), want: codes.Aborted},
		{name: "volume in a relationship", err: api(409, ontap.CodeVolumeInRelationship), want: codes.FailedPrecondition},
		{name: "snapshot of a DP volume", err: api(400, ontap.CodeSnapshotOnDP), want: codes.FailedPrecondition},
		{name: "HTTP 503", err: api(503, ""), want: codes.Unavailable},
		{name: "HTTP 429", err: api(429, ""), want: codes.Unavailable},
		{name: "HTTP 401", err: api(401, ""), want: codes.FailedPrecondition,
			message: `ONTAP refused the backend's credentials: create volume "pvc-1": ONTAP: HTTP 401: refused`},
		{name: "HTTP 403", err: api(403, ontap.CodePermissionDenied), want: codes.FailedPrecondition,
			message: `ONTAP refused the backend's credentials: create volume "pvc-1": ONTAP: HTTP 403: code 6: refused`},
		{name: "invalid field", err: api(400, ontap.CodeInvalidField), want: codes.InvalidArgument},
		{name: "other refusal", err: api(400, ontap.CodeInUse), want: codes.FailedPrecondition},
		{name: "failed job", err: wrap(&ontap.APIError{Job: "j1", Code: "1", Message: "exists"}), want: codes.AlreadyExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := grpcError(tc.err)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("grpcError(nil) = %v", got)
				}
				return
			}
			s, ok := status.FromError(got)
			if !ok {
				t.Fatalf("grpcError(%v) = %v, which carries no status", tc.err, got)
			}
			want := tc.message
			if want == "" {
				want = tc.err.Error()
			}
			if s.Code() != tc.want || s.Message() != want {
				t.Errorf("grpcError(%v) = %s %q; want %s %q", tc.err, s.Code(), s.Message(), tc.want, want)
			}
		})
	}
	if got := grpcError(passed); got != passed {
		t.Errorf("a status error was replaced: %v", got)
	}
}
