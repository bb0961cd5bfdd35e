package mirror

import (
	"testing"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

func TestDecide(t *testing.T) {
	const src, other = "svm1:v", "svm9:v"
	rel := func(state ontap.RelationshipState, transfer ontap.TransferState) *ontap.Relationship {
		r := &ontap.Relationship{UUID: "u", Source: src, Destination: "svm2:v", State: state, Policy: "MirrorAllSnapshots"}
		if transfer != "" {
			r.Transfer = &ontap.Transfer{UUID: "t", State: transfer, Type: "update"}
		}
		return r
	}
	resyncedThenBroken := rel(ontap.BrokenOff, ontap.TransferSuccess)
	resyncedThenBroken.Transfer.Type = "resync"
	cases := []struct {
		name string
		// desired, snapshot and remote make the request; rel and arrived the observation.
		desired          State
		snapshot, remote string
		rel              *ontap.Relationship
		arrived          bool
		// want is the action, state the status state.
		want  Action
		state State
		// settled says the request was carried out before; started lists the steps the open
		// request started; drift says the decision must report drift.
		settled bool
		started []Action
		drift   bool
	}{
		{"establish: none yet", Established, "", src, nil, false, Create, Establishing, false, nil, false},
		{"establish: uninitialized", Established, "", src, rel(ontap.Uninitialized, ""), false, Initialize, Establishing, false, nil, false},
		{"establish: baseline running", Established, "", src, rel(ontap.Uninitialized, ontap.TransferTransferring), false, Wait, Establishing, false, nil, false},
		{"establish: baseline failed, retried", Established, "", src, rel(ontap.Uninitialized, ontap.TransferFailed), false, Initialize, Establishing, false, nil, false},
		{"establish: mirrored", Established, "", src, rel(ontap.Snapmirrored, ""), false, Done, Established, false, nil, false},
		{"establish: an update running changes nothing", Established, "", src, rel(ontap.Snapmirrored, ontap.TransferTransferring), false, Done, Established, false, nil, false},
		{"establish: quiesced while the request is open", Established, "", src, rel(ontap.Paused, ""), false, Resume, Establishing, false, nil, false},
		{"establish: broken while the request is open is reported, not resynced", Established, "", src, rel(ontap.BrokenOff, ""), false, Done, Promoted, false, nil, true},
		{"establish: another source", Established, "", other, rel(ontap.Snapmirrored, ""), false, Fail, Failed, false, nil, false},
		{"establish: no remote", Established, "", "", nil, false, Fail, Failed, false, nil, false},
		{"promote: source side", Promoted, "", "", nil, false, Done, Promoted, false, nil, false},
		{"promote: mirrored", Promoted, "", src, rel(ontap.Snapmirrored, ""), false, Quiesce, Promoting, false, nil, false},
		{"promote: quiesced with a transfer", Promoted, "", src, rel(ontap.Paused, ontap.TransferTransferring), false, Abort, Promoting, false, nil, false},
		{"promote: mirrored with a transfer", Promoted, "", src, rel(ontap.Snapmirrored, ontap.TransferTransferring), false, Quiesce, Promoting, false, nil, false},
		{"promote: quiescing (this request quiesced, the transfer runs on)", Promoted, "", src, rel(ontap.Snapmirrored, ontap.TransferTransferring), false, Abort, Promoting, false, []Action{Quiesce}, false},
		{"promote: quiescing while a transfer is queued", Promoted, "", src, rel(ontap.Snapmirrored, ontap.TransferQueued), false, Abort, Promoting, false, []Action{Quiesce}, false},
		{"promote: quiesced", Promoted, "", src, rel(ontap.Paused, ""), false, Break, Promoting, false, nil, false},
		{"promote: broken", Promoted, "", src, rel(ontap.BrokenOff, ""), false, Done, Promoted, false, nil, false},
		{"promote: baseline running", Promoted, "", src, rel(ontap.Uninitialized, ontap.TransferTransferring), false, Wait, Promoting, false, nil, false},
		{"promote: never initialized", Promoted, "", src, rel(ontap.Uninitialized, ""), false, Fail, Failed, false, nil, false},
		{"promote to a snapshot not there yet", Promoted, "snap1", src, rel(ontap.Snapmirrored, ""), false, Update, Promoting, false, nil, false},
		{"promote to a snapshot in transfer", Promoted, "snap1", src, rel(ontap.Snapmirrored, ontap.TransferTransferring), false, Wait, Promoting, false, nil, false},
		{"promote to a snapshot while quiesced", Promoted, "snap1", src, rel(ontap.Paused, ""), false, Resume, Promoting, false, nil, false},
		{"promote to a snapshot that arrived", Promoted, "snap1", src, rel(ontap.Snapmirrored, ""), true, Quiesce, Promoting, false, nil, false},
		{"reestablish: none yet", Reestablished, "", src, nil, false, Create, Reestablishing, false, nil, false},
		{"reestablish: broken", Reestablished, "", src, rel(ontap.BrokenOff, ""), false, Resync, Reestablishing, false, nil, false},
		{"reestablish: broken again after this request's resync is not resynced twice", Reestablished, "", src, resyncedThenBroken, false, Done, Promoted, false, []Action{Resync}, true},
		{"reestablish: a resync sent without effect is sent again", Reestablished, "", src, rel(ontap.BrokenOff, ""), false, Resync, Reestablishing, false, []Action{Resync}, false},
		{"promote to a snapshot: broken by someone else, not restored", Promoted, "snap1", src, rel(ontap.BrokenOff, ""), false, Fail, Failed, false, nil, false},
		{"promote to a snapshot: no relationship, not restored", Promoted, "snap1", src, nil, false, Fail, Failed, false, nil, false},
		{"promote to a snapshot: broken and restored by this request", Promoted, "snap1", src, rel(ontap.BrokenOff, ""), false, Done, Promoted, false, []Action{Quiesce, Break}, false},
		// Settled: what ONTAP shows is reported; only the spec's own policy is applied.
		{"settled reestablished, broken out of band: drift, no resync", Reestablished, "", src, rel(ontap.BrokenOff, ""), false, Done, Promoted, true, nil, true},
		{"settled established, broken out of band: drift", Established, "", src, rel(ontap.BrokenOff, ""), false, Done, Promoted, true, nil, true},
		{"settled established, quiesced out of band: drift, not resumed", Established, "", src, rel(ontap.Paused, ""), false, Done, Established, true, nil, true},
		{"settled reestablished, relationship deleted out of band: drift, not re-created", Reestablished, "", src, nil, false, Done, Failed, true, nil, true},
		{"settled established, re-created uninitialized: drift, not initialized", Established, "", src, rel(ontap.Uninitialized, ""), false, Done, Failed, true, nil, true},
		{"settled established, another source: drift", Established, "", other, rel(ontap.Snapmirrored, ""), false, Done, Failed, true, nil, true},
		{"settled established, mirrored", Established, "", src, rel(ontap.Snapmirrored, ontap.TransferTransferring), false, Done, Established, true, nil, false},
		{"settled promoted, resynced out of band: drift, not broken", Promoted, "", src, rel(ontap.Snapmirrored, ""), false, Done, Established, true, nil, true},
		{"settled promoted, quiesced out of band: drift, not broken", Promoted, "", src, rel(ontap.Paused, ""), false, Done, Established, true, nil, true},
		{"settled promoted", Promoted, "", src, rel(ontap.BrokenOff, ""), false, Done, Promoted, true, nil, false},
		{"reestablish: resync running", Reestablished, "", src, rel(ontap.BrokenOff, ontap.TransferTransferring), false, Wait, Reestablishing, false, nil, false},
		{"reestablish: mirrored", Reestablished, "", src, rel(ontap.Snapmirrored, ""), false, Done, Reestablished, false, nil, false},
		{"reestablish from the other side: forget the old one", Reestablished, "", other, rel(ontap.BrokenOff, ""), false, Forget, Reestablishing, false, nil, false},
		{"reestablish from a live mirror's other side", Reestablished, "", other, rel(ontap.Snapmirrored, ""), false, Fail, Failed, false, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: tc.remote, Desired: tc.desired, PromotedSnapshot: tc.snapshot, Settled: tc.settled, Started: tc.started},
				Observation{Relationship: tc.rel, SnapshotArrived: tc.arrived})
			if d.Action != tc.want || d.State != tc.state || (d.Drift != "") != tc.drift {
				t.Errorf("got %s/%s (message %q, drift %q), want %s/%s, drift %v", d.Action, d.State, d.Message, d.Drift, tc.want, tc.state, tc.drift)
			}
		})
	}
	// The policy follows the request, open or settled.
	for _, settled := range []bool{false, true} {
		d := Decide(Request{Local: ontap.Path{SVM: "svm2", Volume: "v"}, Remote: src, Desired: Established, Policy: "MirrorLatest", Settled: settled}, Observation{Relationship: rel(ontap.Snapmirrored, "")})
		if d.Action != SetPolicy {
			t.Errorf("policy change (settled %v): %s", settled, d.Action)
		}
	}
}
