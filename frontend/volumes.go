package frontend

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snapmirror-csi/snapmirror-csi/mirror"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// Volumes resolves a PVC to its ONTAP volume: PVC -> bound PV of this driver -> backend and
// FlexVol from the PV's volume context.
type Volumes struct {
	Client client.Reader
	// Backends by name: a PV's volume context names its backend. Each has its Client even
	// while it is unavailable (ontap.OpenBackends keeps a backend that does not answer).
	Backends map[string]*ontap.Backend
	// Peers are the other site's SVMs, read to detect split brain.
	Peers []*ontap.Peer
	// DriverName is the CSI driver whose PVs are this controller's.
	DriverName string
}

// local is a TMR's local volume on ONTAP.
type local struct {
	backend *ontap.Backend
	path    ontap.Path
	kind    volumeKind
}

// volumeKind is what a PVC's volume is on ONTAP, the driver that made it: ontap-nas, a FlexVol
// that nodes mount over NFS at its junction path; or ontap-san, a FlexVol holding one LUN,
// reached over iSCSI, which has no junction path. Mirroring is the same for both (the LUN
// travels inside its FlexVol); only what makes a volume usable on a node differs.
type volumeKind string

// sanVolume is the kind of an ontap-san volume.
const sanVolume volumeKind = ontap.DriverSAN

// kindOf reads the kind from the PV's volume context (backendType, which the CSI driver
// writes), else from the volume's backend.
func kindOf(attrs map[string]string, b *ontap.Backend) volumeKind {
	if k := attrs["backendType"]; k != "" {
		return volumeKind(k)
	}
	return volumeKind(b.Driver)
}

// nfs reports whether nodes mount the volume over NFS: it then needs a junction path.
func (k volumeKind) nfs() bool { return k != sanVolume }

// errWaiting is a condition the controller waits out (the PVC is not there or not bound yet).
type errWaiting struct {
	msg string
	// unbound: the PVC exists and waits for its volume.
	unbound bool
}

func (e errWaiting) Error() string { return e.msg }

// errInvalid is a problem only the user can fix.
type errInvalid struct{ msg string }

func (e errInvalid) Error() string { return e.msg }

// errUnavailable is a PVC's backend that cannot be used now: its cluster does not answer, or
// has not since the process started (see ontap.Backend.Available). Nothing is wrong with the
// TMR: it is worked on again when the backend answers.
type errUnavailable struct {
	backend string
	err     error // the backend's *ontap.UnavailableError: why
}

func (e errUnavailable) Error() string {
	return fmt.Sprintf("%v; the mirror relationship is tried again when backend %s answers", e.err, e.backend)
}

func (e errUnavailable) Unwrap() error { return e.err }

// resolve follows PVC -> PV -> ONTAP volume. When the volume's backend is unavailable, it
// returns an errUnavailable.
func (v Volumes) resolve(ctx context.Context, namespace, pvcName string) (*local, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	err := v.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pvcName}, pvc)
	if apierrors.IsNotFound(err) {
		return nil, errWaiting{msg: fmt.Sprintf("waiting for PVC %s to exist", pvcName)}
	}
	if err != nil {
		return nil, err
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return nil, errWaiting{msg: fmt.Sprintf("waiting for PVC %s to be bound", pvcName), unbound: true}
	}
	pv := &corev1.PersistentVolume{}
	if err := v.Client.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, errWaiting{msg: fmt.Sprintf("waiting for PV %s of PVC %s", pvc.Spec.VolumeName, pvcName)}
		}
		return nil, err
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != v.DriverName {
		return nil, errInvalid{fmt.Sprintf("PVC %s is not provisioned by %s: mirror relationships need volumes of this driver", pvcName, v.DriverName)}
	}
	attrs := pv.Spec.CSI.VolumeAttributes
	b := v.Backends[attrs["backend"]]
	if b == nil {
		return nil, errInvalid{fmt.Sprintf("PV %s is on backend %q, which this driver does not have configured: add it to the backend file", pv.Name, attrs["backend"])}
	}
	if err := b.Available(); err != nil {
		return nil, errUnavailable{backend: b.Name, err: err}
	}
	return &local{backend: b, path: ontap.Path{SVM: attrs["svm"], Volume: attrs["internalName"]}, kind: kindOf(attrs, b)}, nil
}

// gone reports whether the volume at "svm:volume" is known to no longer exist: its SVM is
// readable from here (a backend or a peer) and has no such volume. mirror.Release removes
// what such a volume's relationships left.
func (v Volumes) gone(ctx context.Context, path string) bool {
	svm, name, ok := ontap.SplitPath(path)
	reader := v.readerOfSVM(svm)
	if !ok || reader == nil {
		return false
	}
	_, err := reader.GetVolume(ctx, svm, name)
	return errors.Is(err, ontap.ErrNotFound)
}

// reader reads the other site's cluster: for the split-brain check, the bytes a resync
// discards, whether a volume is gone, and a reestablish cycle.
type reader interface {
	mirror.Writes
	GetVolume(ctx context.Context, svm, name string) (*ontap.Volume, error)
	GetRelationship(ctx context.Context, destination string) (*ontap.Relationship, error)
}

// readerOfSVM returns a reader of the SVM's cluster, from a backend or a peer, or nil. While
// that cluster does not answer, reads fail at once with an *ontap.UnavailableError: a site
// outage must not hold the workers of the site that survives.
func (v Volumes) readerOfSVM(svm string) reader {
	for _, b := range v.Backends {
		if b.SVM == svm {
			if err := b.Available(); err != nil {
				return unavailable{err}
			}
			return b.Client
		}
	}
	for _, p := range v.Peers {
		if p.SVM == svm {
			return p
		}
	}
	return nil
}

// unavailable is the reader of a backend that does not answer now.
type unavailable struct{ err error }

func (u unavailable) FindSnapshots(context.Context, string, string, string) ([]ontap.Snapshot, error) {
	return nil, u.err
}
func (u unavailable) WrittenSince(context.Context, string, string) (int64, error) { return 0, u.err }
func (u unavailable) WriteCounts(context.Context, string) (map[string]int64, error) {
	return nil, u.err
}
func (u unavailable) GetVolume(context.Context, string, string) (*ontap.Volume, error) {
	return nil, u.err
}
func (u unavailable) GetRelationship(context.Context, string) (*ontap.Relationship, error) {
	return nil, u.err
}
