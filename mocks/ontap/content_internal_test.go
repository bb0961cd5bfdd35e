package ontap

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSyncTree checks the in-place sync on the cases a transfer meets: a file changed,
// shortened, grown, removed, added; a file that became a directory; a symbolic link; modes; and
// a sparse file whose holes moved. The destination ends with the source's files, bytes, data
// extents and modes, and keeps the inodes of what both sides hold.
func TestSyncTree(t *testing.T) {
	root := t.TempDir()
	src, dst := tree(filepath.Join(root, "src")), tree(filepath.Join(root, "dst"))
	for _, tr := range []tree{src, dst} {
		if err := ensureTree(tr); err != nil {
			t.Fatal(err)
		}
	}
	put := func(tr tree, name, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(tr.fs(), name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	// sparse writes data at each offset of a file of size bytes, the rest holes.
	sparse := func(tr tree, name string, size int64, at map[int64]string) {
		t.Helper()
		f, err := os.Create(filepath.Join(tr.fs(), name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		for off, data := range at {
			if _, err := f.WriteAt([]byte(data), off); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(src, "changed", "new content", 0o644)
	put(dst, "changed", "old content, longer", 0o644)
	put(src, "grown", "a longer content than before", 0o600)
	put(dst, "grown", "short", 0o644)
	put(dst, "removed", "x", 0o644)
	put(src, "added/deep/file", "y", 0o644)
	put(src, "was-a-file/now-a-dir", "z", 0o644)
	put(dst, "was-a-file", "file", 0o644)
	put(src, "readonly", "r2", 0o444)
	put(dst, "readonly", "r1", 0o444)
	if err := os.Symlink("changed", filepath.Join(src.fs(), "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("grown", filepath.Join(dst.fs(), "link")); err != nil {
		t.Fatal(err)
	}
	sparse(src, "disk", 1<<24, map[int64]string{0: "boot", 8 << 20: "data"})
	sparse(dst, "disk", 1<<23, map[int64]string{4 << 20: "stale", 4096: "old"})

	keep := map[string]os.FileInfo{}
	for _, name := range []string{"", "changed", "grown", "disk", "readonly"} {
		info, err := os.Stat(filepath.Join(dst.fs(), name))
		if err != nil {
			t.Fatal(err)
		}
		keep[name] = info
	}
	if err := syncTree(src, dst); err != nil {
		t.Fatal(err)
	}
	want, err := src.files()
	if err != nil {
		t.Fatal(err)
	}
	got, err := dst.files()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("files %v, want %v", got, want)
	}
	for name, content := range want {
		if got[name] != content {
			t.Errorf("%s: %q, want %q", name, got[name], content)
		}
		a, _ := os.Lstat(filepath.Join(src.fs(), name))
		b, _ := os.Lstat(filepath.Join(dst.fs(), name))
		if a.Mode() != b.Mode() {
			t.Errorf("%s: mode %v, want %v", name, b.Mode(), a.Mode())
		}
	}
	for name, before := range keep {
		if after, err := os.Stat(filepath.Join(dst.fs(), name)); err != nil || !os.SameFile(before, after) {
			t.Errorf("%q is another inode after the sync (%v)", name, err)
		}
	}
	if target, err := os.Readlink(filepath.Join(dst.fs(), "link")); err != nil || target != "changed" {
		t.Errorf("link -> %q, %v; want changed", target, err)
	}
	if same, err := sameBytes(filepath.Join(src.fs(), "disk"), filepath.Join(dst.fs(), "disk")); err != nil || !same {
		t.Errorf("the sparse file differs in bytes or extents after the sync: %v", err)
	}
	if n, err := dataSize(filepath.Join(dst.fs(), "disk")); err != nil || n > 64<<10 {
		t.Errorf("the synced sparse file has %d bytes of data (%v): holes were filled", n, err)
	}

	// An empty source empties the destination and keeps its fs/ directory.
	if err := syncTree(tree(filepath.Join(root, "none")), dst); err != nil {
		t.Fatal(err)
	}
	if got, err := dst.files(); err != nil || len(got) != 0 {
		t.Errorf("after a sync from nothing: %v, %v", got, err)
	}
	if after, err := os.Stat(dst.fs()); err != nil || !os.SameFile(keep[""], after) {
		t.Errorf("fs/ is another inode after a sync from nothing (%v)", err)
	}
}
