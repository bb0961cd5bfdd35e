// Package ontap is the ONTAP simulator: a stateful, multi-cluster ONTAP REST server that the
// real generated client talks to over HTTPS. Its state is in memory; its volumes' content,
// files and LUN images, is on disk in a data directory (content.go), so tests can prove what
// replicated and a node plugin's tests can mount it. A side API under /sim/ writes and reads
// content, advances the clock, injects faults, counts requests and answers a node plugin's
// mounts and logins (node.go). cmd/ontap-sim runs it standalone.
package ontap
