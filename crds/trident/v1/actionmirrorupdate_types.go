package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ActionState is the state of a TridentActionMirrorUpdate.
type ActionState string

// The states of a TridentActionMirrorUpdate, spelled as Trident spells them.
const (
	ActionStateSucceeded  ActionState = "Succeeded"
	ActionStateInProgress ActionState = "In progress"
	ActionStateFailed     ActionState = "Failed"
)

// ActionMirrorUpdateFinalizer holds a TAMU while its transfer is in progress.
const ActionMirrorUpdateFinalizer = "trident.netapp.io/action-mirror-update"

// TridentActionMirrorUpdateSpec names the relationship to update, and optionally the source
// snapshot to transfer. It cannot change after creation.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a TridentActionMirrorUpdate is a one-shot action; create a new one to run another update"
type TridentActionMirrorUpdateSpec struct {
	// tridentMirrorRelationshipName names the TridentMirrorRelationship, in the same
	// namespace, whose destination is updated. It must be established or reestablished.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="tridentMirrorRelationshipName must be the name of a TridentMirrorRelationship in this namespace: lowercase letters, digits, '-' and '.'"
	TridentMirrorRelationshipName string `json:"tridentMirrorRelationshipName"`

	// snapshotHandle names the source snapshot to transfer, <volume>/<snapshot>. When
	// empty, the newest source snapshot is transferred.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[^/\\\\s]{1,255}$')",message="snapshotHandle must be <volume>/<snapshot>, e.g. pvc-1234/snapshot-1234: copy it from a SnapshotInfo's status.snapshotHandle"
	SnapshotHandle string `json:"snapshotHandle,omitempty"`
}

// TridentActionMirrorUpdateStatus is the outcome of the update.
type TridentActionMirrorUpdateStatus struct {
	// state is Succeeded, In progress or Failed.
	// +optional
	State ActionState `json:"state,omitempty"`
	// message explains the state.
	// +optional
	Message string `json:"message,omitempty"`
	// observedGeneration is the metadata.generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// localVolumeHandle is the destination volume, <svm>:<volume>.
	// +optional
	LocalVolumeHandle string `json:"localVolumeHandle,omitempty"`
	// remoteVolumeHandle is the source volume, <svm>:<volume>.
	// +optional
	RemoteVolumeHandle string `json:"remoteVolumeHandle,omitempty"`
	// snapshotHandle is the snapshot that was requested, if any.
	// +optional
	SnapshotHandle string `json:"snapshotHandle,omitempty"`
	// previousTransferTime is the end of the last successful transfer before this update.
	// +optional
	PreviousTransferTime *metav1.Time `json:"previousTransferTime,omitempty"`
	// transferUUID is the ONTAP transfer this update started, followed until it ends.
	// +optional
	TransferUUID string `json:"transferUUID,omitempty"`
	// completionTime is when the update reached Succeeded or Failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// TridentActionMirrorUpdate triggers one SnapMirror update of an established relationship.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName={tamu,tamus},categories={trident}
// +kubebuilder:printcolumn:name="Mirror",type=string,JSONPath=`.spec.tridentMirrorRelationshipName`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Completed",type=date,JSONPath=`.status.completionTime`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`
// +kubebuilder:printcolumn:name="Snapshot",type=string,JSONPath=`.spec.snapshotHandle`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TridentActionMirrorUpdate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec TridentActionMirrorUpdateSpec `json:"spec"`
	// +optional
	Status TridentActionMirrorUpdateStatus `json:"status,omitempty"`
}

// TridentActionMirrorUpdateList is a list of TridentActionMirrorUpdate.
//
// +kubebuilder:object:root=true
type TridentActionMirrorUpdateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TridentActionMirrorUpdate `json:"items"`
}
