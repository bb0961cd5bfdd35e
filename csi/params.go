package csi

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// StorageClass parameter keys.
const (
	ParamBackendType  = "backendType"
	ParamFsType       = "fsType"
	ParamReplication  = "trident.netapp.io/replication"
	ParamPVCName      = "csi.storage.k8s.io/pvc/name"
	ParamPVCNamespace = "csi.storage.k8s.io/pvc/namespace"
	ParamPVName       = "csi.storage.k8s.io/pv/name"
	// MirrorAnnotation on a PVC names the TridentMirrorRelationship its volume is the
	// destination of.
	MirrorAnnotation = "trident.netapp.io/mirrorRelationship"
)

// params are a CreateVolume's StorageClass parameters.
type params struct {
	backendType, fsType   string
	replication           bool
	pvcName, pvcNamespace string
}

var known = []string{ParamBackendType, ParamFsType, ParamReplication, ParamPVCName, ParamPVCNamespace, ParamPVName}

// parseParams reads StorageClass parameters, refusing bad ones as errInvalid. Every key must be
// known: a misspelt one would otherwise be ignored silently, and a volume made without what the
// user asked for.
func parseParams(in map[string]string) (params, error) {
	var p params
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := in[k]
		switch k {
		case ParamBackendType:
			if v != ontap.DriverNAS {
				if v == ontap.DriverSAN {
					return p, refuse(errInvalid, "parameter %s: %q is not supported yet: use %q", k, v, ontap.DriverNAS)
				}
				return p, refuse(errInvalid, "parameter %s: %q is unknown: use %q", k, v, ontap.DriverNAS)
			}
			p.backendType = v
		case ParamFsType:
			if v != "" && v != "nfs" {
				return p, refuse(errInvalid, "parameter %s: %q is not served by ontap-nas: use \"nfs\"", k, v)
			}
			p.fsType = v
		case ParamReplication:
			switch strings.ToLower(v) {
			case "true":
				p.replication = true
			case "false", "":
			default:
				return p, refuse(errInvalid, "parameter %s: %q is not a boolean: write \"true\" or \"false\"", k, v)
			}
		case ParamPVCName:
			p.pvcName = v
		case ParamPVCNamespace:
			p.pvcNamespace = v
		case ParamPVName:
		default:
			return p, refuse(errInvalid, "parameter %s is unknown: remove it from the StorageClass; the known ones are %s", k, strings.Join(known[:3], ", "))
		}
	}
	return p, nil
}

var (
	snapshotName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`)
	// volumeID is what this driver accepts as a CSI volume name (and so ID): a PV name, or
	// any name of letters, digits, '_', '-' and '.'.
	volumeID = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
)

// flexvolName is the FlexVol of a volume ID: the backend's prefix and the ID with '-' and '.'
// replaced by '_' (Trident's rule). It refuses (errInvalid) a result that is no valid FlexVol
// name.
func flexvolName(prefix, pv string) (string, error) {
	if !volumeID.MatchString(pv) {
		return "", refuse(errInvalid, "name %q: want a PV name: letters, digits, '_', '-' and '.'", pv)
	}
	name := prefix + strings.NewReplacer("-", "_", ".", "_").Replace(pv)
	if len(name) > 203 {
		return "", refuse(errInvalid, "name %q: its FlexVol name %s is longer than ONTAP's 203 characters", pv, name)
	}
	if name[0] >= '0' && name[0] <= '9' {
		return "", refuse(errInvalid, "name %q: its FlexVol name %s starts with a digit, which ONTAP refuses: set a storage prefix", pv, name)
	}
	return name, nil
}

// volumeComment records a volume's ID and PVC in its ONTAP comment, so that listing can give
// the exact ID back (flexvolName is not reversible) and an administrator sees whose it is.
func volumeComment(id, namespace, pvc string) string {
	return fmt.Sprintf("pv=%s pvc=%s/%s", id, namespace, pvc)
}

// idOf returns the volume ID recorded in a volume's comment.
func idOf(v ontap.Volume) (string, bool) {
	for _, field := range strings.Fields(v.Comment) {
		if id, ok := strings.CutPrefix(field, "pv="); ok && volumeID.MatchString(id) {
			return id, true
		}
	}
	return "", false
}

// snapshotID is the CSI snapshot ID: <pv-name>/<snapshot-name>.
func snapshotID(pv, snap string) string { return pv + "/" + snap }

// ParseSnapshotID reads a snapshot handle, <pv-name>/<snapshot-name>, as the CSI snapshot ID,
// a SnapshotInfo's status and a TMR's promotedSnapshotHandle give it; ok is false unless both
// parts are names this driver could have made.
func ParseSnapshotID(id string) (pv, snap string, ok bool) {
	pv, snap, ok = strings.Cut(id, "/")
	return pv, snap, ok && volumeID.MatchString(pv) && snapshotName.MatchString(snap)
}
