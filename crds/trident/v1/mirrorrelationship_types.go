package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MirrorState is a state of a TridentMirrorRelationship. The desired states are
// MirrorStateEstablished, MirrorStatePromoted and MirrorStateReestablished; the status may also
// report a transition or a failure.
type MirrorState string

// Desired states (spec.state), also reported as actual states once reached.
const (
	// MirrorStateEstablished: the local PVC is the destination of a new mirror relationship.
	MirrorStateEstablished MirrorState = "established"
	// MirrorStatePromoted: the local PVC is read-write; no mirror relationship is in effect.
	MirrorStatePromoted MirrorState = "promoted"
	// MirrorStateReestablished: the local PVC is again the destination of a relationship it
	// was in before; its content is overwritten from the source.
	MirrorStateReestablished MirrorState = "reestablished"
)

// Actual states that only the status reports.
const (
	MirrorStateEstablishing   MirrorState = "establishing"
	MirrorStatePromoting      MirrorState = "promoting"
	MirrorStateReestablishing MirrorState = "reestablishing"
	// MirrorStateFailed: the last attempt failed; the controller retries with backoff.
	MirrorStateFailed MirrorState = "failed"
	// MirrorStateInvalid: the spec cannot be acted on until the user changes it.
	MirrorStateInvalid MirrorState = "invalid"
)

// MirrorStates are every state the status can report.
var MirrorStates = []MirrorState{
	MirrorStateEstablished, MirrorStatePromoted, MirrorStateReestablished,
	MirrorStateEstablishing, MirrorStatePromoting, MirrorStateReestablishing,
	MirrorStateFailed, MirrorStateInvalid,
}

// MirrorRelationshipFinalizer holds a TMR until its volume is promoted or released on ONTAP.
const MirrorRelationshipFinalizer = "trident.netapp.io/mirror-relationship"

// TridentMirrorRelationshipSpec is the desired state of a mirror relationship.
//
// +kubebuilder:validation:XValidation:rule="!has(self.volumeMappings) || size(self.volumeMappings) == 1",message="spec.volumeMappings must hold exactly one mapping: volume groups are not supported yet, so create one TridentMirrorRelationship per PVC"
// +kubebuilder:validation:XValidation:rule="!has(self.state) || !has(self.volumeMappings) || self.state == 'promoted' || self.volumeMappings.all(m, has(m.remoteVolumeHandle) && size(m.remoteVolumeHandle) > 0)",message="spec.volumeMappings[].remoteVolumeHandle is required when spec.state is established or reestablished: set it to the source volume's handle, <svm>:<volume>"
// +kubebuilder:validation:XValidation:rule="!has(self.state) || !has(self.volumeMappings) || self.state == 'promoted' || self.volumeMappings.all(m, !has(m.promotedSnapshotHandle))",message="spec.volumeMappings[].promotedSnapshotHandle is allowed only with spec.state: promoted; remove it, or set spec.state to promoted"
type TridentMirrorRelationshipSpec struct {
	// state is the desired state: established, promoted or reestablished.
	// +required
	// +kubebuilder:validation:Enum=established;promoted;reestablished
	State MirrorState `json:"state"`

	// volumeMappings maps the local PVC to the remote volume. Exactly one mapping for now.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	VolumeMappings []VolumeMapping `json:"volumeMappings"`

	// replicationPolicy is the ONTAP SnapMirror policy of the relationship. When empty, the
	// backend's default policy, else ONTAP's MirrorAllSnapshots.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ReplicationPolicy string `json:"replicationPolicy,omitempty"`

	// replicationSchedule is the ONTAP cron schedule of the relationship's updates. When
	// empty, the backend's default schedule, else the policy's.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ReplicationSchedule string `json:"replicationSchedule,omitempty"`

	// recoveryPointObjective is how far behind its source the destination may fall (a
	// duration such as 15m, at least 1m). It is not part of Trident's schema: Trident's YAML,
	// which has no such field, is accepted unchanged. When absent, the objective is derived
	// from the replication schedule in effect: twice its longest interval, so that one missed
	// transfer puts the objective at risk and a second one breaches it. It is evaluated while
	// the local volume is a destination (established or reestablished); a promoted volume has
	// no lag. status.conditions[0].rpoStatus reports it.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1m')",message="spec.recoveryPointObjective must be a duration of at least 1m, such as 15m or 1h30m; or remove it to derive the objective from the replication schedule"
	RecoveryPointObjective *metav1.Duration `json:"recoveryPointObjective,omitempty"`
}

// RPOStatus says how a destination's lag stands against its recovery point objective.
type RPOStatus string

// The RPO statuses. The thresholds are fractions of the objective: AtRisk leaves time to act
// before the objective is missed.
const (
	// RPOMet: the lag is below 80% of the objective.
	RPOMet RPOStatus = "Met"
	// RPOAtRisk: the lag is between 80% and 100% of the objective.
	RPOAtRisk RPOStatus = "AtRisk"
	// RPOBreached: the lag is at or beyond the objective.
	RPOBreached RPOStatus = "Breached"
)

// RPOStatuses are every RPO status, in order of severity.
var RPOStatuses = []RPOStatus{RPOMet, RPOAtRisk, RPOBreached}

// RPOAtRiskFraction is the fraction of the objective from which the lag puts it at risk.
const RPOAtRiskFraction = 0.8

// VolumeMapping maps a local PVC to a remote volume.
type VolumeMapping struct {
	// localPVCName names a PersistentVolumeClaim in the TMR's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="localPVCName must be the name of a PersistentVolumeClaim in this namespace: lowercase letters, digits, '-' and '.'"
	LocalPVCName string `json:"localPVCName"`

	// remoteVolumeHandle names the source volume, <svm>:<volume>, as the source side's TMR
	// status reports it in localVolumeHandle.
	// +optional
	// +kubebuilder:validation:MaxLength=251
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9_][A-Za-z0-9_.-]{0,46}:[A-Za-z_][A-Za-z0-9_]{0,202}$')",message="remoteVolumeHandle must be <svm>:<volume>, e.g. datavserver:trident_pvc_3bedd23c_46a8_4384_b12b_3c38b313c1e1: copy it from the source side's status.conditions[0].localVolumeHandle"
	RemoteVolumeHandle string `json:"remoteVolumeHandle,omitempty"`

	// promotedSnapshotHandle, with state promoted, names the snapshot to wait for and
	// restore to on promotion, <volume>/<snapshot>, as a SnapshotInfo status reports it.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[^/\\\\s]{1,255}$')",message="promotedSnapshotHandle must be <volume>/<snapshot>, e.g. pvc-1234/snapshot-1234: copy it from a SnapshotInfo's status.snapshotHandle"
	PromotedSnapshotHandle string `json:"promotedSnapshotHandle,omitempty"`
}

// TridentMirrorRelationshipStatus is the observed state of a mirror relationship.
type TridentMirrorRelationshipStatus struct {
	// conditions has one entry per volume mapping, in Trident's shape.
	// +optional
	// +listType=atomic
	Conditions []TridentMirrorRelationshipCondition `json:"conditions,omitempty"`

	// request is the user's request that the controller carries out, or carried out: a spec
	// change of state, remoteVolumeHandle or promotedSnapshotHandle, or a re-request made with
	// the RequestAnnotation. The controller acts on ONTAP only while a request is open; once
	// carried out (completedTime set), a change made on ONTAP is drift: reported in
	// conditions[].drift, with a Warning Event and a metric, never undone.
	// +optional
	Request *MirrorRequest `json:"request,omitempty"`
}

// MirrorRequest records one request of the user and what the controller did for it.
type MirrorRequest struct {
	// generation is the metadata.generation of the spec this request answers.
	Generation int64 `json:"generation"`
	// state, remoteVolumeHandle and promotedSnapshotHandle are what was asked.
	State                  MirrorState `json:"state"`
	RemoteVolumeHandle     string      `json:"remoteVolumeHandle,omitempty"`
	PromotedSnapshotHandle string      `json:"promotedSnapshotHandle,omitempty"`
	// reason is the value of the RequestAnnotation for a re-request; empty for a spec change.
	// +optional
	Reason string `json:"reason,omitempty"`
	// requestedTime is when the controller took the request.
	RequestedTime metav1.Time `json:"requestedTime"`
	// started lists the ONTAP steps the controller started for this request, each recorded
	// before it was sent, so that a later pass tells its own steps from someone else's.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Started []string `json:"started,omitempty"`
	// job is the ONTAP job of the last step while it runs; its failure is reported with
	// ONTAP's message.
	// +optional
	Job string `json:"job,omitempty"`
	// completedTime is when the desired state was reached.
	// +optional
	CompletedTime *metav1.Time `json:"completedTime,omitempty"`
}

// RequestAnnotation on a TMR asks the controller to carry out spec.state again although it
// was reached before, for example to resync a relationship that was broken on ONTAP after a
// reestablish. Its value is the reason, recorded in status.request.reason; the controller
// removes the annotation once it has taken the request.
const RequestAnnotation = "snapmirror-csi.io/request"

// TridentMirrorRelationshipCondition is the observed state of one volume mapping. Its first
// nine fields keep Trident's shape; the rest are read from ONTAP for observability.
type TridentMirrorRelationshipCondition struct {
	// state is the actual state: a desired state, a transition (establishing, promoting,
	// reestablishing), failed or invalid.
	// +optional
	State MirrorState `json:"state,omitempty"`
	// message explains the state, in particular why it is failed or invalid.
	// +optional
	Message string `json:"message,omitempty"`
	// lastTransitionTime is when state last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// observedGeneration is the metadata.generation this condition was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// localPVCName is the mapping's PVC.
	// +optional
	LocalPVCName string `json:"localPVCName,omitempty"`
	// localVolumeHandle is the local volume, <svm>:<volume>.
	// +optional
	LocalVolumeHandle string `json:"localVolumeHandle,omitempty"`
	// remoteVolumeHandle is the remote volume, <svm>:<volume>.
	// +optional
	RemoteVolumeHandle string `json:"remoteVolumeHandle,omitempty"`
	// replicationPolicy is the SnapMirror policy in effect.
	// +optional
	ReplicationPolicy string `json:"replicationPolicy,omitempty"`
	// replicationSchedule is the transfer schedule in effect.
	// +optional
	ReplicationSchedule string `json:"replicationSchedule,omitempty"`

	// lag is how far the destination is behind the source (ONTAP's lag_time).
	// +optional
	Lag *metav1.Duration `json:"lag,omitempty"`
	// healthy is ONTAP's view of the relationship's health.
	// +optional
	Healthy *bool `json:"healthy,omitempty"`
	// unhealthyReason is ONTAP's explanation when healthy is false.
	// +optional
	UnhealthyReason string `json:"unhealthyReason,omitempty"`
	// lastTransferTime is when the last transfer ended.
	// +optional
	LastTransferTime *metav1.Time `json:"lastTransferTime,omitempty"`
	// lastTransferBytes is the size of the last transfer.
	// +optional
	LastTransferBytes *int64 `json:"lastTransferBytes,omitempty"`
	// lastTransferDuration is how long the last transfer took.
	// +optional
	LastTransferDuration *metav1.Duration `json:"lastTransferDuration,omitempty"`
	// splitBrain is set while both ends of the broken-off relationship have been written
	// since their last common snapshot. It is reported, never repaired automatically.
	// +optional
	SplitBrain *SplitBrain `json:"splitBrain,omitempty"`
	// splitBrainCheck says why split brain is not checked for this volume, when it cannot be:
	// the other copy's SVM is not readable from this site.
	// +optional
	SplitBrainCheck string `json:"splitBrainCheck,omitempty"`
	// drift says what was changed on ONTAP outside of this TMR since its request was carried
	// out (a break, quiesce, resync or deletion of the relationship). It is reported, never
	// undone; the message says how to adopt or revert it.
	// +optional
	Drift string `json:"drift,omitempty"`
	// discarding is set while a resync the user asked for discards the writes made on this
	// volume since the common snapshot.
	// +optional
	Discarding *Discarding `json:"discarding,omitempty"`
	// recoveryPointObjective is the objective in effect for this destination: the spec's, or
	// the one derived from the replication schedule. Absent when there is none (see
	// recoveryPointObjectiveSource) or the volume is no destination.
	// +optional
	RecoveryPointObjective *metav1.Duration `json:"recoveryPointObjective,omitempty"`
	// recoveryPointObjectiveSource says where recoveryPointObjective comes from ("declared in
	// spec.recoveryPointObjective", "derived from schedule 5min: ..."), or why there is none.
	// +optional
	RecoveryPointObjectiveSource string `json:"recoveryPointObjectiveSource,omitempty"`
	// rpoStatus is Met while lag is below 80% of recoveryPointObjective, AtRisk while below
	// it, and Breached beyond. Absent without an objective or a lag.
	// +optional
	// +kubebuilder:validation:Enum=Met;AtRisk;Breached
	RPOStatus RPOStatus `json:"rpoStatus,omitempty"`
}

// Discarding is what a requested resync throws away.
type Discarding struct {
	// commonSnapshot is the snapshot the volume returns to.
	CommonSnapshot string `json:"commonSnapshot"`
	// bytes is how much was written on this volume since commonSnapshot.
	Bytes int64 `json:"bytes"`
}

// SplitBrain describes two read-write copies of a volume that hold different data.
type SplitBrain struct {
	// commonSnapshot is the newest snapshot both copies share.
	CommonSnapshot string `json:"commonSnapshot"`
	// localBytes and remoteBytes are how much each copy has changed since.
	LocalBytes  int64 `json:"localBytes"`
	RemoteBytes int64 `json:"remoteBytes"`
	// detectedTime is when it was first seen.
	// +optional
	DetectedTime *metav1.Time `json:"detectedTime,omitempty"`
}

// TridentMirrorRelationship mirrors a PVC to or from a volume on a peered ONTAP cluster.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName={tmr,tmrs},categories={trident}
// +kubebuilder:printcolumn:name="Desired State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Local PVC",type=string,JSONPath=`.spec.volumeMappings[0].localPVCName`
// +kubebuilder:printcolumn:name="Actual State",type=string,JSONPath=`.status.conditions[0].state`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[0].message`
// +kubebuilder:printcolumn:name="Lag",type=string,JSONPath=`.status.conditions[0].lag`,priority=1
// +kubebuilder:printcolumn:name="Healthy",type=boolean,JSONPath=`.status.conditions[0].healthy`,priority=1
// +kubebuilder:printcolumn:name="RPO",type=string,JSONPath=`.status.conditions[0].recoveryPointObjective`,priority=1
// +kubebuilder:printcolumn:name="RPO Status",type=string,JSONPath=`.status.conditions[0].rpoStatus`,priority=1
// +kubebuilder:printcolumn:name="Remote Handle",type=string,JSONPath=`.spec.volumeMappings[0].remoteVolumeHandle`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TridentMirrorRelationship struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec TridentMirrorRelationshipSpec `json:"spec"`
	// +optional
	Status TridentMirrorRelationshipStatus `json:"status,omitempty"`
}

// TridentMirrorRelationshipList is a list of TridentMirrorRelationship.
//
// +kubebuilder:object:root=true
type TridentMirrorRelationshipList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TridentMirrorRelationship `json:"items"`
}
