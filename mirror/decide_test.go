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
	cases := []struct {
		name string
		// desired, snapshot and remote make the request; rel and arrived the observation.
		desired, snapshot, remote string
		rel                       *ontap.Relationship
		arrived                   bool
		// want is the action, state the status state.
		want  Action
		state string
	}{
		{"establish: none yet", Established, "", src, nil, false, Create, Establishing},
		{"establish: uninitialized", Established, "", src, rel(ontap.Uninitialized, ""), false, Initialize, Establishing},
		{"establish: baseline running", Established, "", src, rel(ontap.Uninitialized, ontap.TransferTransferring), false, Wait, Establishing},
		{"establish: baseline failed, retried", Established, "", src, rel(ontap.Uninitialized, ontap.TransferFailed), false, Initialize, Establishing},
		{"establish: mirrored", Established, "", src, rel(ontap.Snapmirrored, ""), false, Done, Established},
		{"establish: an update running changes nothing", Established, "", src, rel(ontap.Snapmirrored, ontap.TransferTransferring), false, Done, Established},
		{"establish: quiesced out of band", Established, "", src, rel(ontap.Paused, ""), false, Resume, Establishing},
		{"establish: broken out of band is reported, not resynced", Established, "", src, rel(ontap.BrokenOff, ""), false, Done, Promoted},
		{"establish: another source", Established, "", other, rel(ontap.Snapmirrored, ""), false, Fail, Failed},
		{"establish: no remote", Established, "", "", nil, false, Fail, Failed},
		{"promote: source side", Promoted, "", "", nil, false, Done, Promoted},
		{"promote: mirrored", Promoted, "", src, rel(ontap.Snapmirrored, ""), false, Quiesce, Promoting},
		{"promote: quiesced with a transfer", Promoted, "", src, rel(ontap.Paused, ontap.TransferTransferring), false, Abort, Promoting},
		{"promote: mirrored with a transfer", Promoted, "", src, rel(ontap.Snapmirrored, ontap.TransferTransferring), false, Quiesce, Promoting},
		{"promote: quiesced", Promoted, "", src, rel(ontap.Paused, ""), false, Break, Promoting},
		{"promote: broken", Promoted, "", src, rel(ontap.BrokenOff, ""), false, Done, Promoted},
		{"promote: baseline running", Promoted, "", src, rel(ontap.Uninitialized, ontap.TransferTransferring), false, Wait, Promoting},
		{"promote: never initialized", Promoted, "", src, rel(ontap.Uninitialized, ""), false, Fail, Failed},
		{"promote to a snapshot not there yet", Promoted, "snap1", src, rel(ontap.Snapmirrored, ""), false, Update, Promoting},
		{"promote to a snapshot in transfer", Promoted, "snap1", src, rel(ontap.Snapmirrored, ontap.TransferTransferring), false, Wait, Promoting},
		{"promote to a snapshot while quiesced", Promoted, "snap1", src, rel(ontap.Paused, ""), false, Resume, Promoting},
		{"promote to a snapshot that arrived", Promoted, "snap1", src, rel(ontap.Snapmirrored, ""), true, Quiesce, Promoting},
		{"reestablish: none yet", Reestablished, "", src, nil, false, Create, Reestablishing},
		{"reestablish: broken", Reestablished, "", src, rel(ontap.BrokenOff, ""), false, Resync, Reestablishing},
		{"reestablish: resync running", Reestablished, "", src, rel(ontap.BrokenOff, ontap.TransferTransferring), false, Wait, Reestablishing},
		{"reestablish: mirrored", Reestablished, "", src, rel(ontap.Snapmirrored, ""), false, Done, Reestablished},
		{"reestablish from the other side: forget the old one", Reestablished, "", other, rel(ontap.BrokenOff, ""), false, Forget, Reestablishing},
		{"reestablish from a live mirror's other side", Reestablished, "", other, rel(ontap.Snapmirrored, ""), false, Fail, Failed},
	}
	for _, tc := range cases {
		d := Decide(Request{Local: "svm2:v", Remote: tc.remote, Desired: tc.desired, PromotedSnapshot: tc.snapshot},
			Observation{Relationship: tc.rel, SnapshotArrived: tc.arrived})
		if d.Action != tc.want || d.State != tc.state {
			t.Errorf("%s: got %s/%s (%s), want %s/%s", tc.name, d.Action, d.State, d.Message, tc.want, tc.state)
		}
	}
	// The policy follows the request.
	d := Decide(Request{Local: "svm2:v", Remote: src, Desired: Established, Policy: "MirrorLatest"}, Observation{Relationship: rel(ontap.Snapmirrored, "")})
	if d.Action != SetPolicy {
		t.Errorf("policy change: %s", d.Action)
	}
}
