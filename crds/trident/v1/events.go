package v1

// Reasons of the Events recorded about TridentMirrorRelationships.
const (
	// ReasonTransition: the actual state changed.
	ReasonTransition = "StateChanged"
	// ReasonFailed: a step failed, or the request cannot be carried out as it stands.
	ReasonFailed = "Failed"
	// ReasonInvalid: the spec cannot be acted on until the user changes it.
	ReasonInvalid = "Invalid"
	// ReasonReleased: the TMR was deleted and its volume's SnapMirror metadata released.
	ReasonReleased = "Released"
	// ReasonSplitBrain: both copies were written since their last common snapshot.
	ReasonSplitBrain = "SplitBrain"
	// ReasonDrift: someone changed the relationship on ONTAP after the request was carried
	// out; reported, never undone.
	ReasonDrift = "Drift"
	// ReasonRequested: the user re-requested the desired state with RequestAnnotation.
	ReasonRequested = "Requested"
	// ReasonDiscarding: a requested resync is about to discard writes made on the volume.
	ReasonDiscarding = "Discarding"
)
