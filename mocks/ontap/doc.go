// Package ontap is the ONTAP simulator: a stateful, in-memory, multi-cluster ONTAP REST server
// that the real generated client talks to over HTTPS. Its volumes carry content, so tests can
// prove what replicated, and a side API under /sim/ writes and reads content, advances the
// clock, injects faults and counts requests. cmd/ontap-sim runs it standalone.
package ontap
