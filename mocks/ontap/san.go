package ontap

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
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
// and side-API LUN call starts with it; callers hold fabric.mu. It reads the disk only for the
// volumes whose content the simulator replaced since (volume.lunsStale), so that it stays
// cheap with thousands of volumes.
func (c *Cluster) syncSAN() {
	alive := map[string]bool{}
	for _, v := range c.volumes {
		if v.lunsStale {
			c.readLUNs(v)
		}
		for _, l := range v.luns {
			alive[l.uuid] = true
		}
	}
	for _, m := range slices.Clone(c.lunMaps) {
		if !alive[m.lun] {
			c.unmap(m)
		}
	}
}

// readLUNs reads which LUNs a volume's content holds. A volume whose LUNs cannot be read (its
// data directory is damaged) keeps the identities it had, and is read again next time.
func (c *Cluster) readLUNs(v *volume) {
	t := v.active()
	names, err := t.lunNames()
	if err != nil {
		return
	}
	metas := make(map[string]lunMeta, len(names))
	for _, name := range names {
		m, err := t.readMeta(name)
		if err != nil {
			return
		}
		metas[name] = m
	}
	seen := map[string]bool{}
	for name, m := range metas {
		if v.luns == nil {
			v.luns = map[string]*lun{}
		}
		l := v.luns[m.ID]
		if l == nil {
			l = &lun{uuid: c.fabric.newUUID(), serial: c.fabric.newSerial(), enabled: true}
			v.luns[m.ID] = l
		}
		l.vol, l.name, l.meta = v, name, m
		seen[m.ID] = true
	}
	for id := range v.luns {
		if !seen[id] {
			delete(v.luns, id)
		}
	}
	v.lunsStale = false
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

// image is the path of the LUN's image: a sparse file of exactly its size.
func (l *lun) image() string { return l.vol.active().image(l.name) }

// store writes changed metadata of the LUN (a resize grows its image).
func (l *lun) store(m lunMeta) error {
	if err := l.vol.active().writeMeta(l.name, m); err != nil {
		return err
	}
	l.meta = m
	return nil
}

// written is what was written to the LUN: its image's data extents.
func (l *lun) written() int64 {
	n, _ := dataSize(l.image()) // an image that cannot be read shows nothing written
	return n
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
	return LUNInfo{UUID: l.uuid, Serial: l.serial, Size: l.meta.Size, Written: l.written(),
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
	f, err := os.OpenFile(l.image(), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, offset)
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("write LUN %s: %w", l.path(), err)
	}
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
	f, err := os.Open(l.image())
	if err != nil {
		return nil, err
	}
	defer closeReader(f)
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, offset); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read LUN %s: %w", l.path(), err)
	}
	return buf, nil
}

// LUNChecksum is a SHA-256 over a LUN's size and its image's data extents, offsets and bytes
// in order: two LUNs with the same writes have the same checksum, whatever their identities.
// (A range written with zeros counts as written: it differs from one never written. Extents
// are whole blocks of the data directory's file system.)
func (c *Cluster) LUNChecksum(svmName, volName, name string) (string, error) {
	c.fabric.mu.Lock()
	defer c.fabric.mu.Unlock()
	l, err := c.lunAt(svmName, volName, name)
	if err != nil {
		return "", err
	}
	f, err := os.Open(l.image())
	if err != nil {
		return "", err
	}
	defer closeReader(f)
	h := sha256.New()
	_, _ = fmt.Fprintf(h, "size %d\n", l.meta.Size) // a hash takes every write
	err = eachSegment(f, l.meta.Size, func(start, end int64, data bool) error {
		if !data {
			return nil
		}
		_, _ = fmt.Fprintf(h, "%d %d\n", start, end-start)
		_, err := io.Copy(h, io.NewSectionReader(f, start, end-start))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read LUN %s: %w", l.path(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
