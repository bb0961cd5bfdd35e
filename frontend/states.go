package frontend

import (
	tridentv1 "github.com/snapmirror-csi/snapmirror-csi/crds/trident/v1"
	"github.com/snapmirror-csi/snapmirror-csi/mirror"
)

// tmrStates maps the engine's states to the TridentMirrorRelationship's: the one place where
// the two vocabularies meet.
var tmrStates = map[mirror.State]tridentv1.MirrorState{
	mirror.Established:    tridentv1.MirrorStateEstablished,
	mirror.Promoted:       tridentv1.MirrorStatePromoted,
	mirror.Reestablished:  tridentv1.MirrorStateReestablished,
	mirror.Establishing:   tridentv1.MirrorStateEstablishing,
	mirror.Promoting:      tridentv1.MirrorStatePromoting,
	mirror.Reestablishing: tridentv1.MirrorStateReestablishing,
	mirror.Failed:         tridentv1.MirrorStateFailed,
}

// desiredStates maps spec.state to the engine's desired states.
var desiredStates = map[tridentv1.MirrorState]mirror.State{
	tridentv1.MirrorStateEstablished:   mirror.Established,
	tridentv1.MirrorStatePromoted:      mirror.Promoted,
	tridentv1.MirrorStateReestablished: mirror.Reestablished,
}

// tmrState is the status spelling of an engine state.
func tmrState(s mirror.State) tridentv1.MirrorState { return tmrStates[s] }
