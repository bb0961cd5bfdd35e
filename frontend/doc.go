// Package frontend holds the controller-runtime reconcilers of the trident.netapp.io custom
// resources (TridentMirrorRelationship, TridentActionMirrorUpdate, SnapshotInfo and
// TridentSnapshotInfo), thin over package mirror, and the Kubernetes lookups they and package
// csi need (PVC to PV to ONTAP volume, VolumeSnapshot to VolumeSnapshotContent).
package frontend
