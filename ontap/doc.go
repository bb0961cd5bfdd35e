// Package ontap is the hand-written domain API over ONTAP's REST interface: small interfaces
// with the project's own types for volumes, snapshots, SnapMirror relationships and transfers,
// peers, policies, schedules and jobs, and typed errors (ErrNotFound, *APIError with ONTAP's
// code, message and target).
//
// It is built on the go-swagger client generated from the curated spec in ontap/rest, over the
// project's own http.Client: TLS verification on by default, basic auth from a credentials
// source, a per-cluster cap on concurrent requests, retries of transient failures, and metrics.
package ontap
