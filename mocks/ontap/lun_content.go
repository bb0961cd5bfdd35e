package ontap

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A LUN lives inside its volume: the volume's content (volume.files) holds, beside the NFS
// files, one entry per LUN under the key lunPrefix+<LUN name>. The entry is the LUN's image:
// what ONTAP keeps in the volume of a LUN, its metadata (size, OS type, comment, attributes,
// ...) and its bytes. So whatever copies a volume's content (a snapshot, a SnapMirror
// transfer, a break or resync, a snapshot restore, a FlexClone) copies its LUNs at that instant
// without knowing of them. A LUN's identity as the SAN protocols see it (uuid, serial number,
// maps, online state) belongs to one copy and is not in the image (san.go).
//
// An image is a string, as every entry of the content is: immutable, so copies share it. Its
// bytes are sparse: only the written ranges are kept, so a 1 GiB LUN costs what was written.
// The encoding is ours:
//
//	<allocated> <written>\n<metadata JSON>\n(<offset> <length>\n<bytes>)*
//
// allocated is what the LUN takes of its volume (its size with a space guarantee, else what
// was written); the sizes are first so that the space a volume uses is read without decoding.

// lunPrefix starts the content key of a LUN image. A file name cannot hold a NUL byte, so no
// NFS write reaches it (WriteFile refuses one).
const lunPrefix = "\x00lun/"

func lunKey(name string) string { return lunPrefix + name }

func isLUNKey(key string) bool { return strings.HasPrefix(key, lunPrefix) }

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

// extent is one written range of a LUN.
type extent struct {
	off  int64
	data []byte
}

// lunImage is a decoded image.
type lunImage struct {
	meta    lunMeta
	extents []extent // sorted, neither overlapping nor touching
}

func (img *lunImage) written() int64 {
	var n int64
	for _, e := range img.extents {
		n += int64(len(e.data))
	}
	return n
}

func (img *lunImage) allocated() int64 {
	if img.meta.Guarantee {
		return max(img.meta.Size, img.written())
	}
	return img.written()
}

func (img *lunImage) encode() string {
	var b strings.Builder
	meta, _ := json.Marshal(img.meta) // a struct of strings, numbers and a time: cannot fail
	fmt.Fprintf(&b, "%d %d\n%s\n", img.allocated(), img.written(), meta)
	for _, e := range img.extents {
		fmt.Fprintf(&b, "%d %d\n", e.off, len(e.data))
		b.Write(e.data)
	}
	return b.String()
}

// decodeImage reads an image; with data false it stops after the metadata.
func decodeImage(s string, data bool) (*lunImage, error) {
	_, rest, ok := strings.Cut(s, "\n")
	if !ok {
		return nil, fmt.Errorf("LUN image without a header")
	}
	metaText, rest, ok := strings.Cut(rest, "\n")
	if !ok {
		return nil, fmt.Errorf("LUN image without metadata")
	}
	img := &lunImage{}
	if err := json.Unmarshal([]byte(metaText), &img.meta); err != nil {
		return nil, fmt.Errorf("LUN image metadata: %w", err)
	}
	for data && rest != "" {
		head, tail, ok := strings.Cut(rest, "\n")
		offText, lenText, ok2 := strings.Cut(head, " ")
		off, err1 := strconv.ParseInt(offText, 10, 64)
		n, err2 := strconv.Atoi(lenText)
		if !ok || !ok2 || err1 != nil || err2 != nil || n > len(tail) {
			return nil, fmt.Errorf("LUN image: bad extent %q", head)
		}
		img.extents = append(img.extents, extent{off: off, data: []byte(tail[:n])})
		rest = tail[n:]
	}
	return img, nil
}

// imageSizes reads the sizes at the head of an image: what the LUN takes of its volume and
// what was written to it.
func imageSizes(s string) (allocated, written int64) {
	head, _, _ := strings.Cut(s, "\n")
	a, w, _ := strings.Cut(head, " ")
	allocated, _ = strconv.ParseInt(a, 10, 64)
	written, _ = strconv.ParseInt(w, 10, 64)
	return allocated, written
}

// entrySize is the space an entry of a volume's content takes: a file's length, a LUN's
// allocation (its whole size when it has a space guarantee).
func entrySize(key, value string) int64 {
	if isLUNKey(key) {
		a, _ := imageSizes(value)
		return a
	}
	return int64(len(value))
}

// entryData is the data a transfer of the entry moves: a file's length, a LUN's written
// bytes (a transfer of a changed LUN is counted as all of them, as a changed file is).
func entryData(key, value string) int64 {
	if isLUNKey(key) {
		_, w := imageSizes(value)
		return w
	}
	return int64(len(value))
}

// write puts data at off, merging the ranges it overlaps or touches.
func (img *lunImage) write(off int64, data []byte) {
	if len(data) == 0 {
		return
	}
	start, end := off, off+int64(len(data))
	var kept []extent
	var merged []extent
	for _, e := range img.extents {
		eEnd := e.off + int64(len(e.data))
		if eEnd < start || e.off > end {
			kept = append(kept, e)
			continue
		}
		merged = append(merged, e)
		start, end = min(start, e.off), max(end, eEnd)
	}
	buf := make([]byte, end-start)
	for _, e := range merged {
		copy(buf[e.off-start:], e.data)
	}
	copy(buf[off-start:], data)
	kept = append(kept, extent{off: start, data: buf})
	slices.SortFunc(kept, func(a, b extent) int { return int(min(max(a.off-b.off, -1), 1)) })
	img.extents = kept
}

// read returns length bytes from off; what was never written reads as zeros.
func (img *lunImage) read(off, length int64) []byte {
	buf := make([]byte, length)
	for _, e := range img.extents {
		eEnd := e.off + int64(len(e.data))
		if eEnd <= off || e.off >= off+length {
			continue
		}
		from := max(e.off, off)
		to := min(eEnd, off+length)
		copy(buf[from-off:to-off], e.data[from-e.off:to-e.off])
	}
	return buf
}
