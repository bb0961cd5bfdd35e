package ontap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// A volume's content lives on disk, so that the node side of tests can mount it for real: a
// bind mount of its NFS tree, a loop device on a LUN's image. The layout, under the fabric's
// data directory (Options.DataDir):
//
//	<DataDir>/<cluster>/<volume uuid>/active/                  the active file system, a tree:
//	    fs/                                                    what an NFS client mounts
//	    luns/<lun name>                                        a LUN's image: a sparse file of exactly its size
//	    lunmeta/<lun name>                                     its metadata (lunMeta, JSON)
//	                                                           (luns/ and lunmeta/ once a LUN was made)
//	<DataDir>/<cluster>/<volume uuid>/snapshots/<snapshot uuid>/   a frozen copy, the same shape
//
// Whatever replaces a volume's active content (a transfer, a break, a resync, a restore) does
// it in place (syncTree): the fs/ directory and the image of a LUN on both sides keep their
// inodes, so a bind mount and a loop device stay valid and see the new bytes. Copies are
// sparse: only data extents are read and written, so an empty 1 GiB LUN copies in a few
// system calls. Nothing is cached: whatever reads content (files, checksums, used space,
// deltas, transfers) reads the disk, which a mounted client may have changed.

// tree is the root of one copy of a volume's content: its active file system or a snapshot.
type tree string

func (t tree) fs() string               { return filepath.Join(string(t), "fs") }
func (t tree) image(name string) string { return filepath.Join(string(t), "luns", name) }
func (t tree) meta(name string) string  { return filepath.Join(string(t), "lunmeta", name) }

// A tree that does not exist is empty: a volume gets its directories with its first content
// (ensureTree), so that creating thousands of empty volumes, snapshotting and transferring them
// costs a stat each, not directories on a journaled file system.

// ensureTree makes an active tree and its parent (the volume's directory) unless they exist.
// The volume's parent must exist: nothing is made again under a data directory that Close
// removed. luns/ and lunmeta/ come with the first LUN (writeMeta).
func ensureTree(t tree) error {
	return errors.Join(mkdirOnce(filepath.Dir(string(t))), mkdirOnce(string(t)), mkdirOnce(t.fs()))
}

// exists reports whether the tree was ever given content.
func (t tree) exists() bool {
	_, err := os.Lstat(string(t))
	return err == nil
}

// mkdirOnce makes a directory unless it exists; its parent must exist.
func mkdirOnce(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// copyTree makes dst, which must not exist, a copy of src: nothing if src is empty. It makes
// dst's parent if need be (a volume's snapshots/ directory), whose own parent must exist.
func copyTree(src, dst tree) error {
	if !src.exists() {
		return nil
	}
	parent := filepath.Dir(string(dst))
	if err := errors.Join(mkdirOnce(filepath.Dir(parent)), mkdirOnce(parent)); err != nil {
		return err
	}
	return copyEntry(string(src), string(dst))
}

// syncTree makes the active tree dst the same as src in place: what src lacks goes, what is
// new comes, a directory or file on both sides keeps its inode and gets src's bytes, mode and
// owner (a file is truncated to its new size and only its differing ranges are written). An
// empty src empties dst but keeps its fs/ directory, which a client may have mounted.
func syncTree(src, dst tree) error {
	switch {
	case !src.exists() && !dst.exists():
		return nil
	case !dst.exists():
		return copyTree(src, dst)
	case !src.exists():
		return emptyTree(dst)
	}
	return syncDir(string(src), string(dst))
}

// emptyTree removes a tree's content, keeping its fs/ directory, with the mode of a new one.
func emptyTree(t tree) error {
	entries, err := os.ReadDir(string(t))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != "fs" {
			if err := os.RemoveAll(filepath.Join(string(t), e.Name())); err != nil {
				return err
			}
		}
	}
	files, err := os.ReadDir(t.fs())
	if err != nil {
		return err
	}
	for _, e := range files {
		if err := os.RemoveAll(filepath.Join(t.fs(), e.Name())); err != nil {
			return err
		}
	}
	return os.Chmod(t.fs(), 0o755)
}

// copyEntry copies a directory, a regular file or a symbolic link to dst, which must not
// exist.
func copyEntry(src, dst string) error {
	info, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case info.IsDir():
		if err := os.Mkdir(dst, info.Mode().Perm()); err != nil {
			return err
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := copyEntry(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
	case info.Mode().IsRegular():
		if err := copyFile(src, dst, info); err != nil {
			return err
		}
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	default:
		return nil // devices, sockets and pipes a client made are not content
	}
	return syncAttrs(dst, info)
}

// syncAttrs gives dst the mode bits and owner of src (a client may have changed them), when
// they differ.
func syncAttrs(dst string, src fs.FileInfo) error {
	cur, err := os.Lstat(dst)
	if err != nil {
		return err
	}
	if cur.Mode()&fs.ModeSymlink == 0 && cur.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != src.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) {
		if err := os.Chmod(dst, src.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
	}
	s, ok1 := src.Sys().(*syscall.Stat_t)
	d, ok2 := cur.Sys().(*syscall.Stat_t)
	if ok1 && ok2 && (s.Uid != d.Uid || s.Gid != d.Gid) {
		// Only root may give a file away; a simulator run by a user keeps its own files.
		if err := os.Lchown(dst, int(s.Uid), int(s.Gid)); err != nil && !errors.Is(err, fs.ErrPermission) {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, info fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer closeReader(in)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	err = out.Truncate(info.Size())
	if err == nil {
		err = eachSegment(in, info.Size(), func(start, end int64, data bool) error {
			if !data {
				return nil
			}
			return copyRange(in, out, start, end)
		})
	}
	return errors.Join(err, out.Close())
}

// closeReader closes a file opened only for reading: nothing was written that its close could
// lose.
func closeReader(f *os.File) { _ = f.Close() }

// chunk is how much of a file a copy or a comparison holds in memory at once.
const chunk = 256 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, 2*chunk); return &b }}

func copyRange(in, out *os.File, start, end int64) error {
	bp := chunks.Get().(*[]byte)
	defer chunks.Put(bp)
	buf := (*bp)[:chunk]
	for off := start; off < end; {
		n := min(int64(chunk), end-off)
		if _, err := in.ReadAt(buf[:n], off); err != nil {
			return err
		}
		if _, err := out.WriteAt(buf[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// eachSegment calls fn for each data extent and each hole of f's first size bytes, in order,
// as SEEK_DATA and SEEK_HOLE report them. Where the file system cannot tell, the whole file
// is data.
func eachSegment(f *os.File, size int64, fn func(start, end int64, data bool) error) error {
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO):
			return fn(off, size, false) // only a hole is left
		case errors.Is(err, unix.EINVAL):
			return fn(off, size, true)
		case err != nil:
			return fmt.Errorf("seek data in %s: %w", f.Name(), err)
		}
		start = min(start, size)
		if start > off {
			if err := fn(off, start, false); err != nil {
				return err
			}
		}
		if start == size {
			return nil
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole in %s: %w", f.Name(), err)
		}
		end = min(end, size)
		if err := fn(start, end, true); err != nil {
			return err
		}
		off = end
	}
	return nil
}

// dataSize is the sum of a file's data extents: what it takes on disk, in whole blocks.
func dataSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer closeReader(f)
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var n int64
	err = eachSegment(f, info.Size(), func(start, end int64, data bool) error {
		if data {
			n += end - start
		}
		return nil
	})
	return n, err
}

// syncDir makes the directory dst the same as src, in place.
func syncDir(src, dst string) error {
	srcInfo, err := os.Lstat(src)
	if err != nil {
		return err
	}
	have, err := entriesByName(dst)
	if err != nil {
		return err
	}
	want, err := entriesByName(src)
	if err != nil {
		return err
	}
	for name, d := range have {
		if s, keep := want[name]; !keep || s.Type() != d.Type() {
			if err := os.RemoveAll(filepath.Join(dst, name)); err != nil {
				return err
			}
			delete(have, name)
		}
	}
	for name, s := range want {
		from, to := filepath.Join(src, name), filepath.Join(dst, name)
		if _, exists := have[name]; !exists {
			if err := copyEntry(from, to); err != nil {
				return err
			}
			continue
		}
		switch {
		case s.IsDir():
			err = syncDir(from, to)
		case s.Type().IsRegular():
			err = syncFile(from, to)
		case s.Type()&fs.ModeSymlink != 0:
			err = syncLink(from, to)
		}
		if err != nil {
			return err
		}
	}
	return syncAttrs(dst, srcInfo)
}

func entriesByName(dir string) (map[string]fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]fs.DirEntry, len(entries))
	for _, e := range entries {
		out[e.Name()] = e
	}
	return out, nil
}

func syncLink(src, dst string) error {
	want, err := os.Readlink(src)
	if err != nil {
		return err
	}
	if have, err := os.Readlink(dst); err == nil && have == want {
		return nil
	}
	if err := os.Remove(dst); err != nil {
		return err
	}
	return os.Symlink(want, dst)
}

// syncFile rewrites the regular file dst as src in its own inode: truncated to src's size,
// with src's data written where it differs or where dst has a hole, and holes punched where
// src has them, so that the two have the same bytes and the same data extents.
func syncFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer closeReader(in)
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrPermission) {
		// A read-only file of a simulator run by a user: writable for the sync, then given
		// src's mode by syncAttrs.
		if err := os.Chmod(dst, 0o600); err != nil {
			return err
		}
		out, err = os.OpenFile(dst, os.O_RDWR, 0)
	}
	if err != nil {
		return err
	}
	err = func() error {
		cur, err := out.Stat()
		if err != nil {
			return err
		}
		if cur.Size() != info.Size() {
			if err := out.Truncate(info.Size()); err != nil {
				return err
			}
		}
		var holes [][2]int64 // dst's, to know where it has data
		if err := eachSegment(out, info.Size(), func(start, end int64, data bool) error {
			if !data {
				holes = append(holes, [2]int64{start, end})
			}
			return nil
		}); err != nil {
			return err
		}
		inHole := func(start, end int64) bool {
			for _, h := range holes {
				if h[0] < end && start < h[1] {
					return true
				}
			}
			return false
		}
		return eachSegment(in, info.Size(), func(start, end int64, data bool) error {
			if !data {
				if coveredBy(holes, start, end) {
					return nil // a hole already
				}
				return punch(out, start, end)
			}
			return syncRange(in, out, start, end, inHole)
		})
	}()
	if err == nil {
		err = syncAttrs(dst, info)
	}
	return errors.Join(err, out.Close())
}

// coveredBy reports whether [start, end) lies within one of the ranges.
func coveredBy(ranges [][2]int64, start, end int64) bool {
	for _, r := range ranges {
		if r[0] <= start && end <= r[1] {
			return true
		}
	}
	return false
}

func punch(f *os.File, start, end int64) error {
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, start, end-start)
	if errors.Is(err, unix.EOPNOTSUPP) {
		// A file system without holes: zeros read the same.
		_, err = f.WriteAt(make([]byte, end-start), start)
	}
	return err
}

// syncRange writes src's bytes of [start, end) to dst where they differ, or where dst has a
// hole (a written range of zeros is data, not a hole).
func syncRange(in, out *os.File, start, end int64, inHole func(start, end int64) bool) error {
	bp := chunks.Get().(*[]byte)
	defer chunks.Put(bp)
	a, b := (*bp)[:chunk], (*bp)[chunk:]
	for off := start; off < end; {
		n := min(int64(chunk), end-off)
		if _, err := in.ReadAt(a[:n], off); err != nil {
			return err
		}
		write := inHole(off, off+n)
		if !write {
			if _, err := out.ReadAt(b[:n], off); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			write = !bytes.Equal(a[:n], b[:n])
		}
		if write {
			if _, err := out.WriteAt(a[:n], off); err != nil {
				return err
			}
		}
		off += n
	}
	return nil
}

// fileEntry is a regular file of a tree's fs/: its path, with / separators, and size.
type fileEntry struct {
	path string
	size int64
}

// listFiles lists the regular files of a tree's NFS side, in path order.
func (t tree) listFiles() ([]fileEntry, error) {
	root := t.fs()
	var out []fileEntry
	if !t.exists() {
		return nil, nil
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, fileEntry{path: filepath.ToSlash(rel), size: info.Size()})
		return nil
	})
	return out, err
}

// files reads the regular files of a tree's NFS side: path -> content.
func (t tree) files() (map[string]string, error) {
	list, err := t.listFiles()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list))
	for _, f := range list {
		b, err := os.ReadFile(filepath.Join(t.fs(), filepath.FromSlash(f.path)))
		if err != nil {
			return nil, err
		}
		out[f.path] = string(b)
	}
	return out, nil
}

// lunNames lists the LUNs of a tree, sorted.
func (t tree) lunNames() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(string(t), "lunmeta"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no LUN was ever made here
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), "~") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func (t tree) readMeta(name string) (lunMeta, error) {
	var m lunMeta
	b, err := os.ReadFile(t.meta(name))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("LUN %s metadata: %w", name, err)
	}
	return m, nil
}

// writeMeta writes a LUN's metadata and sizes its image to it (made, sparse, if new): a resize
// grows the image with a hole.
func (t tree) writeMeta(name string, m lunMeta) error {
	b, _ := json.Marshal(m) // strings, numbers and a time: cannot fail
	if err := errors.Join(ensureTree(t), mkdirOnce(filepath.Dir(t.image(name))), mkdirOnce(filepath.Dir(t.meta(name)))); err != nil {
		return err
	}
	f, err := os.OpenFile(t.image(name), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	err = f.Truncate(m.Size)
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	// Written whole to a new name and renamed, a reader never sees half of it; "~" is in no
	// LUN's name.
	tmp := t.meta(name) + "~"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, t.meta(name))
}

// hasLUN reports whether the tree holds a LUN of that name.
func (t tree) hasLUN(name string) bool {
	_, err := os.Lstat(t.meta(name))
	return err == nil
}

// errDisk answers a request whose content the simulator could not read or write: its data
// directory is damaged or full. The code is the simulator's own; ONTAP has no such failure.
func errDisk(err error) *apiErr {
	return &apiErr{status: http.StatusInternalServerError, code: codeSimulatorDisk, message: "The simulator could not store the volume's content: " + err.Error()}
}

// removeLUN removes a LUN's image and metadata.
func (t tree) removeLUN(name string) error {
	return errors.Join(os.Remove(t.image(name)), os.Remove(t.meta(name)))
}

// renameLUN renames a LUN: its image keeps its inode.
func (t tree) renameLUN(from, to string) error {
	if err := os.Rename(t.image(from), t.image(to)); err != nil {
		return err
	}
	return os.Rename(t.meta(from), t.meta(to))
}

// lunAllocated is what a LUN takes of its volume: its size with a space guarantee, else its
// data extents (what was written, in whole blocks).
func lunAllocated(m lunMeta, written int64) int64 {
	if m.Guarantee {
		return max(m.Size, written)
	}
	return written
}

// size is the space a tree's content takes: its files' lengths, and its LUNs' allocations.
func (t tree) size() (int64, error) {
	list, err := t.listFiles()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range list {
		n += f.size
	}
	names, err := t.lunNames()
	if err != nil {
		return 0, err
	}
	for _, name := range names {
		m, err := t.readMeta(name)
		if err != nil {
			return 0, err
		}
		w, err := dataSize(t.image(name))
		if err != nil {
			return 0, err
		}
		n += lunAllocated(m, w)
	}
	return n, nil
}

// delta is how many bytes differ from one version of a volume's content to the next: the
// size of every file added, changed or removed, and the written bytes of every LUN added,
// changed (its bytes or its metadata) or removed. An empty prev stands for no content.
func delta(prev, next tree) (int64, error) {
	var n int64
	var before, after []fileEntry
	var err error
	if prev != "" {
		if before, err = prev.listFiles(); err != nil {
			return 0, err
		}
	}
	if after, err = next.listFiles(); err != nil {
		return 0, err
	}
	old := map[string]int64{}
	for _, f := range before {
		old[f.path] = f.size
	}
	for _, f := range after {
		size, had := old[f.path]
		delete(old, f.path)
		if had && size == f.size {
			same, err := sameBytes(filepath.Join(prev.fs(), f.path), filepath.Join(next.fs(), f.path))
			if err != nil {
				return 0, err
			}
			if same {
				continue
			}
		}
		n += f.size
	}
	for _, size := range old {
		n += size
	}
	var oldLUNs []string
	if prev != "" {
		if oldLUNs, err = prev.lunNames(); err != nil {
			return 0, err
		}
	}
	newLUNs, err := next.lunNames()
	if err != nil {
		return 0, err
	}
	gone := map[string]bool{}
	for _, name := range oldLUNs {
		gone[name] = true
	}
	for _, name := range newLUNs {
		if gone[name] {
			delete(gone, name)
			same, err := sameLUN(prev, next, name)
			if err != nil {
				return 0, err
			}
			if same {
				continue
			}
		}
		w, err := dataSize(next.image(name))
		if err != nil {
			return 0, err
		}
		n += w
	}
	for name := range gone {
		w, err := dataSize(prev.image(name))
		if err != nil {
			return 0, err
		}
		n += w
	}
	return n, nil
}

func sameLUN(a, b tree, name string) (bool, error) {
	same, err := sameBytes(a.meta(name), b.meta(name))
	if err != nil || !same {
		return false, err
	}
	return sameBytes(a.image(name), b.image(name))
}

// sameBytes reports whether two files have the same size, data extents and bytes.
func sameBytes(p, q string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer closeReader(f)
	g, err := os.Open(q)
	if err != nil {
		return false, err
	}
	defer closeReader(g)
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	gi, err := g.Stat()
	if err != nil {
		return false, err
	}
	if fi.Size() != gi.Size() {
		return false, nil
	}
	fsegs, err := segments(f, fi.Size())
	if err != nil {
		return false, err
	}
	gsegs, err := segments(g, gi.Size())
	if err != nil {
		return false, err
	}
	if len(fsegs) != len(gsegs) {
		return false, nil
	}
	bp := chunks.Get().(*[]byte)
	defer chunks.Put(bp)
	a, b := (*bp)[:chunk], (*bp)[chunk:]
	for i, s := range fsegs {
		if s != gsegs[i] {
			return false, nil
		}
		for off := s[0]; off < s[1]; {
			n := min(int64(chunk), s[1]-off)
			if _, err := f.ReadAt(a[:n], off); err != nil {
				return false, err
			}
			if _, err := g.ReadAt(b[:n], off); err != nil {
				return false, err
			}
			if !bytes.Equal(a[:n], b[:n]) {
				return false, nil
			}
			off += n
		}
	}
	return true, nil
}

// segments lists a file's data extents.
func segments(f *os.File, size int64) ([][2]int64, error) {
	var out [][2]int64
	err := eachSegment(f, size, func(start, end int64, data bool) error {
		if data {
			out = append(out, [2]int64{start, end})
		}
		return nil
	})
	return out, err
}

// cleanFilePath reads the path of a file a client writes: relative to the volume's root,
// without "." or ".." segments, so that it stays inside the volume.
func cleanFilePath(p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%q is not a file name: it holds a NUL byte", p)
	}
	clean := strings.TrimPrefix(filepath.Clean("/"+p), "/")
	if clean == "" || clean != strings.Trim(p, "/") {
		return "", fmt.Errorf("%q is not a file path in a volume: want a/b/c, without . or .. segments", p)
	}
	return clean, nil
}

// stamp sums up the state of a tree's files and LUN images as the file system records it
// (each file's path, size, modification time and inode): it changes when a client writes
// through a mount, which the simulator does not see otherwise. Directories are left out: the
// simulator makes a volume's (empty) tree when it first needs it, which no client wrote.
// "" for a tree without files.
func (t tree) stamp() string {
	if !t.exists() {
		return ""
	}
	h, files := fnv.New64a(), 0
	_ = filepath.WalkDir(string(t), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone while walked: the next look sees the rest
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		files++
		var ino uint64
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		_, _ = fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\n", path, info.Size(), info.ModTime().UnixNano(), ino) // a hash takes every write
		return nil
	})
	if files == 0 {
		return ""
	}
	return strconv.FormatUint(h.Sum64(), 16)
}
