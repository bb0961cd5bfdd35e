// Package mirror is the replication engine. It knows nothing of Kubernetes: it takes a
// relationship request (local and remote volume handles, desired state, policy, schedule,
// promoted snapshot), observes the relationship on ONTAP, and a pure decision function picks
// the next step (establish, promote, reestablish, update, release). The I/O goes through the
// package ontap interfaces, and no step ever blocks a worker on an ONTAP job.
package mirror
