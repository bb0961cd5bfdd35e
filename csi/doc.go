// Package csi is the CSI plugin, controller and node, over one error mapping.
//
// The controller side (Driver) is the Identity and Controller services of the
// container-storage-interface spec, one file per service, over one server struct. It provisions
// ONTAP FlexVols (read-write ones, and DP SnapMirror destinations for a PVC annotated with
// trident.netapp.io/mirrorRelationship), snapshots and resizes them, parses StorageClass
// parameters, selects backends, and maps ontap errors to gRPC codes in one place.
//
// The node side (Node) is the Identity and Node services: it mounts what the controller
// publishes, NFS exports and iSCSI LUNs (formatted on first use), bind mounts them into pods,
// grows and reports on them. How the node reaches storage is its one seam, Fabric: the host's
// mount.nfs and iscsiadm in production, the simulator's directories and LUN images on loop
// devices in tests; everything above it is real. Registration serves kubelet's plugin
// registration for it.
//
// It never imports controller-runtime: what the controller needs from Kubernetes (the PVC
// annotation and the TridentMirrorRelationship it names) comes through a small interface that
// package frontend implements; the node needs nothing from it.
package csi
