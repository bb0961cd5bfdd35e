package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of every kind in this package.
var GroupVersion = schema.GroupVersion{Group: "trident.netapp.io", Version: "v1"}

// AddToScheme registers every kind of this package with s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&TridentMirrorRelationship{}, &TridentMirrorRelationshipList{},
		&TridentActionMirrorUpdate{}, &TridentActionMirrorUpdateList{},
		&TridentSnapshotInfo{}, &TridentSnapshotInfoList{},
		&SnapshotInfo{}, &SnapshotInfoList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
