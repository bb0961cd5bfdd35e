package ontap

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// SAN state: LUN identities, igroups and LUN maps (docs/ontap-rest.md §11). A LUN's image,
// its metadata and bytes, is part of its volume's content (lun_content.go); what belongs to
// one copy of a LUN is here: its uuid and serial number, whether it is online, its QoS policy,
// and the maps that present it to igroups. A copy that appears in a volume's content (a
// transfer brought it, a FlexClone holds it) gets an identity of its own the first time the
// SAN state is looked at (syncSAN); one that disappeared (its volume was deleted, a restore
// went back before it was created) loses its identity and its maps.
//
// UNCONFIRMED (docs/ontap-rest.md §11.2, documented for SnapVault destinations only): that a
// mirror destination's LUN is read-only (status.read_only follows the volume's type), online,
// unmapped, with a serial of its own; and that it keeps its uuid, serial and maps across later
// transfers, a break and a resync, as the identity here is keyed by the image's ID, which the
// copies share.

// lun is one copy of a LUN: its identity on this cluster.
type lun struct {
	uuid, serial string
	// enabled is false while an administrator has taken the LUN offline.
	enabled bool
	qos     string
	// vol, name and meta are where the LUN is and what its image says, as of the last syncSAN.
	vol  *volume
	name string
	meta lunMeta
}

// path is the LUN's name as ONTAP writes it: /vol/<volume>/<lun>.
func (l *lun) path() string { return "/vol/" + l.vol.name + "/" + l.name }

type igroup struct {
	uuid, name, svm  string
	osType, protocol string
	comment          string
	deleteOnUnmap    bool
	initiators       []initiator
}

type initiator struct{ name, comment string }

func (g *igroup) initiator(name string) int {
	return slices.IndexFunc(g.initiators, func(i initiator) bool { return strings.EqualFold(i.name, name) })
}

// lunMap presents a LUN to an igroup with a LUN number.
type lunMap struct {
	lun, igroup string // uuids
	number      int64
}

// newSerial makes a LUN serial number: 12 printable characters, as ONTAP's (e.g.
// "wf0Iq+N4uck3"), unique in the fabric (the fabric's sequence is in the first six, scrambled).
func (f *Fabric) newSerial() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+]"
	f.seq++
	out := make([]byte, 12)
	// The sequence times an odd number, modulo 64^6, is still unique, and looks random.
	for i, n := 0, (uint64(f.seq)*0x5DEECE66D)%(1<<36); i < 6; i, n = i+1, n/64 {
		out[5-i] = alphabet[n%64]
	}
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd) // crypto/rand does not fail
	for i, b := range rnd {
		out[6+i] = alphabet[int(b)%64]
	}
	return string(out)
}

// syncSAN brings the LUN identities up to the volumes' content, and drops the maps of LUNs
// that are gone (and the delete_on_unmap igroups they leave without a map). Every SAN request
// and side-API LUN call starts with it; callers hold fabric.mu.
func (c *Cluster) syncSAN() {
	alive := map[string]bool{}
	for _, v := range c.volumes {
		seen := map[string]bool{}
		for key, content := range v.files {
			if !isLUNKey(key) {
				continue
			}
			img, err := decodeImage(content, false)
			if err != nil {
				panic(fmt.Sprintf("LUN image %s of volume %s: %v", key, v.name, err))
			}
			if v.luns == nil {
				v.luns = map[string]*lun{}
			}
			l := v.luns[img.meta.ID]
			if l == nil {
				l = &lun{uuid: c.fabric.newUUID(), serial: c.fabric.newSerial(), enabled: true}
				v.luns[img.meta.ID] = l
			}
			l.vol, l.name, l.meta = v, strings.TrimPrefix(key, lunPrefix), img.meta
			seen[img.meta.ID] = true
			alive[l.uuid] = true
		}
		for id := range v.luns {
			if !seen[id] {
				delete(v.luns, id)
			}
		}
	}
	for _, m := range slices.Clone(c.lunMaps) {
		if !alive[m.lun] {
			c.unmap(m)
		}
	}
}

// luns returns every LUN of the cluster in path order; callers ran syncSAN.
func (c *Cluster) luns() []*lun {
	var out []*lun
	for _, v := range c.volumes {
		for _, l := range v.luns {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b *lun) int {
		if a.vol.svm != b.vol.svm {
			return strings.Compare(a.vol.svm, b.vol.svm)
		}
		return strings.Compare(a.path(), b.path())
	})
	return out
}

func (c *Cluster) lunByUUID(uuid string) *lun {
	for _, v := range c.volumes {
		for _, l := range v.luns {
			if l.uuid == uuid {
				return l
			}
		}
	}
	return nil
}

// lunByPath finds a LUN of an SVM by its path, /vol/<volume>/<lun>.
func (c *Cluster) lunByPath(svmName, path string) *lun {
	volName, name, ok := splitLUNPath(path)
	if !ok {
		return nil
	}
	v := c.volumeByName(svmName, volName)
	if v == nil {
		return nil
	}
	for _, l := range v.luns {
		if l.name == name {
			return l
		}
	}
	return nil
}

// splitLUNPath reads /vol/<volume>/<lun>. Qtrees are not simulated: a path with more
// segments is not a LUN path here.
func splitLUNPath(path string) (volName, name string, ok bool) {
	rest, found := strings.CutPrefix(path, "/vol/")
	if !found {
		return "", "", false
	}
	volName, name, found = strings.Cut(rest, "/")
	if !found || volName == "" || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return volName, name, true
}

// image decodes a LUN's whole image from its volume's content.
func (l *lun) image() *lunImage {
	img, err := decodeImage(l.vol.files[lunKey(l.name)], true)
	if err != nil {
		// Images come only from encode: one that does not decode is the simulator's bug,
		// and an empty image stored back would erase the LUN's bytes.
		panic(fmt.Sprintf("LUN %s: %v", l.name, err))
	}
	return img
}

// store writes a changed image back to the LUN's volume.
func (l *lun) store(img *lunImage) {
	l.vol.files[lunKey(l.name)] = img.encode()
	l.meta = img.meta
}

func (c *Cluster) mapsOfLUN(uuid string) []*lunMap {
	var out []*lunMap
	for _, m := range c.lunMaps {
		if m.lun == uuid {
			out = append(out, m)
		}
	}
	return out
}

func (c *Cluster) mapsOfIgroup(uuid string) []*lunMap {
	var out []*lunMap
	for _, m := range c.lunMaps {
		if m.igroup == uuid {
			out = append(out, m)
		}
	}
	return out
}

func (c *Cluster) lunMap(lunUUID, igroupUUID string) *lunMap {
	for _, m := range c.lunMaps {
		if m.lun == lunUUID && m.igroup == igroupUUID {
			return m
		}
	}
	return nil
}

// unmap removes a map; an igroup with delete_on_unmap goes with its last map.
func (c *Cluster) unmap(m *lunMap) {
	c.lunMaps = slices.DeleteFunc(c.lunMaps, func(x *lunMap) bool { return x == m })
	if g := c.igroups[m.igroup]; g != nil && g.deleteOnUnmap && len(c.mapsOfIgroup(g.uuid)) == 0 {
		delete(c.igroups, g.uuid)
	}
}

func (c *Cluster) igroupByName(svmName, name string) *igroup {
	for _, g := range c.igroups {
		if g.svm == svmName && g.name == name {
			return g
		}
	}
	return nil
}

// lunNode is the node that serves a LUN: the one that owns its volume's aggregate.
func (c *Cluster) lunNode(l *lun) *node { return c.disc.aggrNode[l.vol.aggregate] }

// iscsiLIF reports whether the SVM has an iSCSI data LIF on the node.
func (c *Cluster) iscsiLIF(svmName string, n *node) bool {
	for _, l := range c.disc.lifs {
		if l.svm == svmName && l.node == n && slices.Contains(l.services, "data_iscsi") {
			return true
		}
	}
	return false
}

// LUNInfo is what tests read of a LUN through the side API.
type LUNInfo struct {
	UUID     string `json:"uuid"`
	Serial   string `json:"serial_number"`
	Size     int64  `json:"size"`
	Written  int64  `json:"written"`
	ReadOnly bool   `json:"read_only"`
	Mapped   bool   `json:"mapped"`
}

// lunAt finds a LUN by SVM, volume and LUN name for the Go helpers; callers hold fabric.mu.
func (c *Cluster) lunAt(svmName, volName, name string) (*lun, error) {
	c.syncSAN()
	v := c.volumeByName(svmName, volName)
	if v == nil {
		return nil, fmt.Errorf("volume %s:%s: %w", svmName, volName, errNoVolume)
	}
	for _, l := range v.luns {
		if l.name == name {
			return l, nil
		}
	}
	return nil, fmt.Errorf("LUN /vol/%s/%s in SVM %s: no such LUN", volName, name, svmName)
}

// LUN returns a LUN's identity and state.
func (c *Cluster) LUN(svmName, volName, name string) (LUNInfo, error) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	l, err := c.lunAt(svmName, volName, name)
	if err != nil {
		return LUNInfo{}, err
	}
	_, written := imageSizes(l.vol.files[lunKey(l.name)])
	return LUNInfo{UUID: l.uuid, Serial: l.serial, Size: l.meta.Size, Written: written,
		ReadOnly: l.vol.typ != "rw", Mapped: len(c.mapsOfLUN(l.uuid)) > 0}, nil
}

// WriteLUN writes data at offset into a LUN, as a host would through a map (no map is
// needed here). A LUN in a DP volume is read-only; a write must end within the LUN's size.
func (c *Cluster) WriteLUN(svmName, volName, name string, offset int64, data []byte) error {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	l, err := c.lunAt(svmName, volName, name)
	if err != nil {
		return err
	}
	switch {
	case l.vol.typ != "rw":
		return fmt.Errorf("LUN %s in SVM %s is read-only: its volume is a DP volume", l.path(), svmName)
	case !l.enabled:
		return fmt.Errorf("LUN %s in SVM %s is offline", l.path(), svmName)
	case offset < 0 || offset+int64(len(data)) > l.meta.Size:
		return fmt.Errorf("write of %d bytes at %d is beyond LUN %s of %d bytes", len(data), offset, l.path(), l.meta.Size)
	}
	img := l.image()
	img.write(offset, data)
	l.store(img)
	l.vol.writes++
	return nil
}

// ReadLUN reads length bytes of a LUN from offset; unwritten ranges read as zeros.
func (c *Cluster) ReadLUN(svmName, volName, name string, offset, length int64) ([]byte, error) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	l, err := c.lunAt(svmName, volName, name)
	if err != nil {
		return nil, err
	}
	if offset < 0 || length < 0 || offset+length > l.meta.Size {
		return nil, fmt.Errorf("read of %d bytes at %d is beyond LUN %s of %d bytes", length, offset, l.path(), l.meta.Size)
	}
	return l.image().read(offset, length), nil
}

// LUNChecksum is a SHA-256 over a LUN's size and written ranges, offsets and bytes in order:
// two LUNs with the same writes have the same checksum, whatever their identities. (A range
// written with zeros counts as written: it differs from one never written.)
func (c *Cluster) LUNChecksum(svmName, volName, name string) (string, error) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	l, err := c.lunAt(svmName, volName, name)
	if err != nil {
		return "", err
	}
	img := l.image()
	h := sha256.New()
	_, _ = fmt.Fprintf(h, "size %d\n", img.meta.Size) // a hash takes every write
	for _, e := range img.extents {
		_, _ = fmt.Fprintf(h, "%d %d\n", e.off, len(e.data))
		_, _ = h.Write(e.data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
