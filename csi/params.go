package csi

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

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
			if v != ontap.DriverNAS && v != ontap.DriverSAN {
				return p, refuse(errInvalid, "parameter %s: %q is unknown: use %q or %q", k, v, ontap.DriverNAS, ontap.DriverSAN)
			}
			p.backendType = v
		case ParamFsType:
			if _, ok := fsDriver[v]; !ok && v != "" {
				return p, refuse(errInvalid, "parameter %s: %q is not served: use ext4 or xfs (ontap-san), or nfs (ontap-nas)", k, v)
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

// fsDriver is the driver that serves each filesystem type: NFS is ontap-nas's; ext4 and xfs
// are made on ontap-san's LUNs by the node.
var fsDriver = map[string]string{"nfs": ontap.DriverNAS, "ext4": ontap.DriverSAN, "xfs": ontap.DriverSAN}

// defaultSANFsType is the filesystem of a SAN volume whose StorageClass and capabilities name
// none, as in Trident.
const defaultSANFsType = "ext4"

// access is what a request's parameters and capabilities ask of the backend.
type access struct {
	// driver is the backend driver that can serve the request; "" when either can. by says
	// what in the request needs it.
	driver, by string
	// fsType is the filesystem of a SAN volume, when the request names one.
	fsType string
}

// configured refuses (errInvalid) a request that none of the backends' drivers can serve.
func (a access) configured(backends []*ontap.Backend) error {
	for _, b := range backends {
		if a.serves(b.Driver) {
			return nil
		}
	}
	return refuse(errInvalid, "%s needs an %s backend, and none is configured", a.by, a.driver)
}

// serves reports whether a backend of driver can serve the request.
func (a access) serves(driver string) bool { return a.driver == "" || a.driver == driver }

// sanFsType is the filesystem of a SAN volume made for the request.
func (a access) sanFsType() string {
	if a.fsType == "" {
		return defaultSANFsType
	}
	return a.fsType
}

// accessOf works out which driver can serve the parameters and capabilities, and the
// filesystem of a SAN volume, refusing (errInvalid) what no backend can serve: two demands of
// different drivers, a filesystem no driver serves, or one filesystem written by several
// nodes at once on a LUN.
func accessOf(p params, caps []*csi.VolumeCapability) (access, error) {
	var a access
	demand := func(driver, by string) error {
		switch {
		case driver == "" || driver == a.driver:
		case a.driver == "":
			a.driver, a.by = driver, by
		default:
			return refuse(errInvalid, "%s needs %s, but %s needs %s: no backend serves both", a.by, a.driver, by, driver)
		}
		return nil
	}
	setFs := func(fs, by string) error {
		if fsDriver[fs] != ontap.DriverSAN {
			return nil
		}
		if a.fsType != "" && a.fsType != fs {
			return refuse(errInvalid, "%s asks for %s, but the volume is to be %s", by, fs, a.fsType)
		}
		a.fsType = fs
		return nil
	}
	if err := demand(p.backendType, "parameter "+ParamBackendType+"="+p.backendType); err != nil {
		return a, err
	}
	if by := "parameter " + ParamFsType + "=" + p.fsType; p.fsType != "" {
		if err := firstError(demand(fsDriver[p.fsType], by), setFs(p.fsType, by)); err != nil {
			return a, err
		}
	}
	for _, c := range caps {
		mount := c.GetMount()
		switch {
		case c.GetBlock() != nil:
			if err := demand(ontap.DriverSAN, "block access"); err != nil {
				return a, err
			}
		case mount == nil:
			return a, refuse(errInvalid, "volume_capabilities: give a mount or block access type")
		case mount.GetFsType() != "":
			fs, by := mount.GetFsType(), "volume_capabilities fs_type "+mount.GetFsType()
			driver, ok := fsDriver[fs]
			if !ok {
				return a, refuse(errInvalid, "volume_capabilities: fs_type %q is not served: use ext4 or xfs (ontap-san), or nfs (ontap-nas)", fs)
			}
			if err := firstError(demand(driver, by), setFs(fs, by)); err != nil {
				return a, err
			}
		}
		if mode := c.GetAccessMode().GetMode(); mount != nil && multiWriter(mode) {
			if err := demand(ontap.DriverNAS, "a filesystem written from several nodes ("+mode.String()+")"); err != nil {
				return a, err
			}
		}
	}
	return a, nil
}

// multiWriter reports whether an access mode lets several nodes write.
func multiWriter(mode csi.VolumeCapability_AccessMode_Mode) bool {
	return mode == csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER || mode == csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER
}

// firstError returns the first error that is not nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
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
