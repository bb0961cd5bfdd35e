// Package csi is the CSI controller plugin: the Identity and Controller services of the
// container-storage-interface spec, one file per service, over one server struct. It provisions
// ONTAP FlexVols (read-write ones, and DP SnapMirror destinations for a PVC annotated with
// trident.netapp.io/mirrorRelationship), snapshots and resizes them, parses StorageClass
// parameters, selects backends, and maps ontap errors to gRPC codes in one place.
//
// It never imports controller-runtime: what it needs from Kubernetes (the PVC annotation and the
// TridentMirrorRelationship it names) comes through a small interface that package frontend
// implements.
package csi
