// Package mirror is the replication engine. It knows nothing of Kubernetes: it takes a
// Request (the local volume, the remote volume, the desired state, policy, schedule and the
// snapshot to promote to), observes the local volume's relationship on ONTAP, and the pure
// function Decide picks the next step. Run acts through the ONTAP interface until the desired
// state holds, ONTAP is busy, or a step fails, and never blocks on an ONTAP job. Release
// removes a volume's SnapMirror metadata when its TMR goes.
package mirror
