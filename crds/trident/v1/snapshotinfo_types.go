package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SnapshotInfoStatus reports the internal handle of a VolumeSnapshot. TridentSnapshotInfo
// and SnapshotInfo share it.
type SnapshotInfoStatus struct {
	// snapshotHandle is <volume>/<snapshot>, for a TMR's promotedSnapshotHandle or a TAMU's
	// snapshotHandle.
	// +optional
	SnapshotHandle string `json:"snapshotHandle,omitempty"`
	// message says what is missing while the handle cannot be known yet.
	// +optional
	Message string `json:"message,omitempty"`
	// lastTransitionTime is when snapshotHandle last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// observedGeneration is the metadata.generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// TridentSnapshotInfoSpec names a VolumeSnapshot in the same namespace (Trident's spelling).
type TridentSnapshotInfoSpec struct {
	// snapshotName names a VolumeSnapshot in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="snapshotName must be the name of a VolumeSnapshot in this namespace: lowercase letters, digits, '-' and '.'"
	SnapshotName string `json:"snapshotName"`
}

// TridentSnapshotInfo reports the internal handle of a VolumeSnapshot.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=tridentsnapshotinfos,singular=tridentsnapshotinfo,scope=Namespaced,shortName={tsi,tsis},categories={trident}
// +kubebuilder:printcolumn:name="Snapshot",type=string,JSONPath=`.spec.snapshotName`
// +kubebuilder:printcolumn:name="Handle",type=string,JSONPath=`.status.snapshotHandle`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TridentSnapshotInfo struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec TridentSnapshotInfoSpec `json:"spec"`
	// +optional
	Status SnapshotInfoStatus `json:"status,omitempty"`
}

// TridentSnapshotInfoList is a list of TridentSnapshotInfo.
//
// +kubebuilder:object:root=true
type TridentSnapshotInfoList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TridentSnapshotInfo `json:"items"`
}

// SnapshotInfoSpec names a VolumeSnapshot in the same namespace (the documented spelling).
type SnapshotInfoSpec struct {
	// snapshot-name names a VolumeSnapshot in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="snapshot-name must be the name of a VolumeSnapshot in this namespace: lowercase letters, digits, '-' and '.'"
	SnapshotName string `json:"snapshot-name"`
}

// SnapshotInfo is the documented spelling of TridentSnapshotInfo: the same behaviour, with
// spec.snapshot-name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=snapshotinfos,singular=snapshotinfo,scope=Namespaced,shortName={si},categories={trident}
// +kubebuilder:printcolumn:name="Snapshot",type=string,JSONPath=`.spec.snapshot-name`
// +kubebuilder:printcolumn:name="Handle",type=string,JSONPath=`.status.snapshotHandle`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SnapshotInfo struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec SnapshotInfoSpec `json:"spec"`
	// +optional
	Status SnapshotInfoStatus `json:"status,omitempty"`
}

// SnapshotInfoList is a list of SnapshotInfo.
//
// +kubebuilder:object:root=true
type SnapshotInfoList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SnapshotInfo `json:"items"`
}
