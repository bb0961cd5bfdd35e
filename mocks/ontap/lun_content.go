package ontap

import "time"

// A LUN lives inside its volume: the volume's content on disk (content.go) holds, beside the
// NFS tree, each LUN's image, a sparse file of exactly the LUN's size (luns/<name>), and its
// metadata (lunmeta/<name>): what ONTAP keeps in the volume of a LUN. So whatever copies a
// volume's content (a snapshot, a SnapMirror transfer, a break or resync, a snapshot restore,
// a FlexClone) copies its LUNs at that instant without knowing of them. A LUN's identity as the
// SAN protocols see it (uuid, serial number, maps, online state) belongs to one copy and is
// not in the content (san.go).
//
// What a LUN takes of its volume is its size with a space guarantee, else the data extents of
// its image: what was written, in whole blocks of the file system under the data directory
// (4 KiB on ext4), as ONTAP counts a LUN's used space in blocks.

// lunMeta is what an image holds of a LUN besides its bytes.
type lunMeta struct {
	// ID names the LUN across the copies of its volume: a destination's LUN is the same LUN
	// as the source's (and keeps its own identity there across transfers, as ONTAP does).
	ID        string `json:"id"`
	OSType    string `json:"os_type"`
	Size      int64  `json:"size"`
	Guarantee bool   `json:"guarantee"`
	Thin      bool   `json:"thin"`
	Comment   string `json:"comment,omitempty"`
	// Created travels with the image: a destination's or a clone's LUN shows the source LUN's
	// create_time (UNCONFIRMED).
	Created time.Time `json:"created"`
	// Attributes in the order they were added: ONTAP keeps them with the LUN.
	Attributes []lunAttribute `json:"attributes,omitempty"`
}

type lunAttribute struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
