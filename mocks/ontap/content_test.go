package ontap_test

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	sim "github.com/snapmirror-csi/snapmirror-csi/mocks/ontap"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// allocated is how many bytes of a file are on disk: a sparse image takes what was written.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Blocks * 512
}

// sameInode fails the test unless path is still the file or directory before was.
func sameInode(t *testing.T, what string, before os.FileInfo, path string) {
	t.Helper()
	after, err := os.Stat(path)
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("%s is no longer the same inode (%v): a mount of it would be stale", what, err)
	}
}

// readAt reads n bytes at off through a file descriptor opened earlier, as a mounted client
// or a loop device reads.
func readAt(t *testing.T, f *os.File, off int64, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestContentInPlace checks that a volume's content is on disk and that what replaces a
// destination's content (a transfer, a resync) or a volume's (a snapshot restore) does it in
// place: a client that has the fs/ directory mounted, or a LUN image attached, goes on seeing
// the volume, with its new bytes. Changes made on disk behind the simulator's back count.
func TestContentInPlace(t *testing.T) {
	f, primary, secondary := pair(t, sim.Options{})
	ctx := t.Context()
	rel := mirror(t, primary, secondary, "m", ontap.RelationshipSpec{Policy: "MirrorAllSnapshots"})
	src, _ := primary.api.GetVolume(ctx, "svm1", "m")
	dst, _ := secondary.api.GetVolume(ctx, "svm2", "m")
	srcRoot := filepath.Join(f.DataDir(), "primary", src.UUID)
	dstRoot := filepath.Join(f.DataDir(), "secondary", dst.UUID)
	n := newNodeSide(t, f, primary)
	n.call(t, "POST", "/api/storage/luns?return_timeout=10", `{"svm":{"name":"svm1"},"name":"/vol/m/lun0","os_type":"linux","space":{"size":1073741824,"guarantee":{"requested":false}}}`)
	write(t, primary, "svm1", "m", map[string]string{"a.txt": "v1", "dir/b.txt": "b"})
	for off, data := range map[int64]string{0: "hello", 512 << 20: "world"} {
		if err := primary.WriteLUN("svm1", "m", "lun0", off, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	update := func(what string) {
		t.Helper()
		if _, err := secondary.api.StartTransfer(ctx, rel.UUID, ""); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		same(t, what, primary, secondary, "m")
	}
	start := time.Now()
	update("first transfer of a 1 GiB LUN")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a transfer of a 1 GiB LUN with 8 KiB written took %v: copies are not sparse", d)
	}
	fsDir, image := filepath.Join(dstRoot, "active", "fs"), filepath.Join(dstRoot, "active", "luns", "lun0")
	// A host logged in at the DR site sees the destination's LUN read-only, in that image.
	dr := newNodeSide(t, f, secondary)
	dr.call(t, "POST", "/api/protocols/san/igroups", `{"svm":{"name":"svm2"},"name":"dr","os_type":"linux","protocol":"iscsi","initiators":[{"name":"iqn.1994-05.com.redhat:dr"}]}`)
	dr.call(t, "POST", "/api/protocols/san/lun-maps", `{"svm":{"name":"svm2"},"lun":{"name":"/vol/m/lun0"},"igroup":{"name":"dr"}}`)
	svc := dr.call(t, "GET", "/api/protocols/san/iscsi/services?svm.name=svm2&fields=target.name", "")
	target := svc["records"].([]any)[0].(map[string]any)["target"].(map[string]any)["name"].(string)
	var session struct {
		LUNs []struct {
			Image    string
			ReadOnly bool
		}
	}
	if status := dr.get(t, "/sim/iscsi/session?portal=127.2.1.2&initiator=iqn.1994-05.com.redhat:dr&target="+url.QueryEscape(target), &session); status != 200 ||
		len(session.LUNs) != 1 || !session.LUNs[0].ReadOnly || session.LUNs[0].Image != image {
		t.Errorf("login at the DR site: %d %+v, want the destination's LUN read-only in %s", status, session, image)
	}
	if got := allocated(t, image); got > 1<<20 {
		t.Errorf("the destination's image of 1 GiB takes %d bytes on disk, want only what was written", got)
	}
	dirBefore, err := os.Stat(fsDir)
	if err != nil {
		t.Fatal(err)
	}
	imageBefore, err := os.Stat(image)
	if err != nil {
		t.Fatal(err)
	}
	attached, err := os.Open(image) // as a loop device holds it
	if err != nil {
		t.Fatal(err)
	}
	defer attached.Close()

	// Behind the simulator's back, as a mounted client: a file removed, one added.
	srcFS := filepath.Join(srcRoot, "active", "fs")
	if err := os.Remove(filepath.Join(srcFS, "dir", "b.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(srcFS, "c.txt"), []byte("from a client"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, primary, "svm1", "m", map[string]string{"a.txt": "v2"})
	if err := primary.WriteLUN("svm1", "m", "lun0", 4096, []byte("again")); err != nil {
		t.Fatal(err)
	}
	update("update")
	sameInode(t, "the destination's fs/ after an update", dirBefore, fsDir)
	sameInode(t, "the destination's LUN image after an update", imageBefore, image)
	if got := readAt(t, attached, 4096, 5); got != "again" {
		t.Errorf("the attached image reads %q after the update, want again", got)
	}
	if got := files(t, secondary, "svm2", "m"); len(got) != 2 || got["c.txt"] != "from a client" || got["a.txt"] != "v2" || got["dir/b.txt"] != "" {
		t.Errorf("destination files after the update: %v", got)
	}

	// Break, write at the DR site, resync: the writes are rolled back in place.
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.BrokenOff}))
	write(t, secondary, "svm2", "m", map[string]string{"after-break": "lost on resync"})
	if err := secondary.WriteLUN("svm2", "m", "lun0", 0, []byte("XXXXX")); err != nil {
		t.Fatal(err)
	}
	if got := readAt(t, attached, 0, 5); got != "XXXXX" {
		t.Errorf("the attached image reads %q after a write at the DR site", got)
	}
	must(t, secondary.api)(secondary.api.ModifyRelationship(ctx, rel.UUID, ontap.RelationshipChange{State: ontap.Snapmirrored}))
	same(t, "resync", primary, secondary, "m")
	sameInode(t, "the destination's fs/ after a resync", dirBefore, fsDir)
	sameInode(t, "the destination's LUN image after a resync", imageBefore, image)
	if got := readAt(t, attached, 0, 5); got != "hello" {
		t.Errorf("the attached image reads %q after the resync, want hello", got)
	}

	// A snapshot restore of the source, in place.
	srcDir, _ := os.Stat(srcFS)
	srcImage := filepath.Join(srcRoot, "active", "luns", "lun0")
	srcImageBefore, _ := os.Stat(srcImage)
	must(t, primary.api)(primary.api.CreateSnapshot(ctx, src.UUID, "before"))
	snaps, err := primary.api.ListSnapshots(ctx, src.UUID)
	if err != nil {
		t.Fatal(err)
	}
	snapDir := filepath.Join(srcRoot, "snapshots", snaps[len(snaps)-1].UUID)
	if got := allocated(t, filepath.Join(snapDir, "luns", "lun0")); got > 1<<20 {
		t.Errorf("a snapshot's image of 1 GiB takes %d bytes on disk, want only what was written", got)
	}
	write(t, primary, "svm1", "m", map[string]string{"a.txt": "v3"})
	if err := primary.WriteLUN("svm1", "m", "lun0", 0, []byte("bye!!")); err != nil {
		t.Fatal(err)
	}
	must(t, primary.api)(primary.api.RestoreVolume(ctx, src.UUID, "before"))
	sameInode(t, "the source's fs/ after a restore", srcDir, srcFS)
	sameInode(t, "the source's LUN image after a restore", srcImageBefore, srcImage)
	if got := files(t, primary, "svm1", "m"); got["a.txt"] != "v2" {
		t.Errorf("source files after the restore: %v", got)
	}
	if got, err := primary.ReadLUN("svm1", "m", "lun0", 0, 5); err != nil || string(got) != "hello" {
		t.Errorf("source LUN after the restore: %q, %v", got, err)
	}

	// A deleted snapshot's copy goes.
	must(t, primary.api)(primary.api.DeleteSnapshot(ctx, src.UUID, snaps[len(snaps)-1].UUID))
	if _, err := os.Stat(snapDir); !os.IsNotExist(err) {
		t.Errorf("the deleted snapshot's copy is still there: %v", err)
	}
}

// same fails the test unless the two volumes have the same files and LUN bytes.
func same(t *testing.T, what string, a, b site, vol string) {
	t.Helper()
	sa, err1 := a.Checksum("svm1", vol)
	sb, err2 := b.Checksum("svm2", vol)
	la, err3 := a.LUNChecksum("svm1", vol, "lun0")
	lb, err4 := b.LUNChecksum("svm2", vol, "lun0")
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || sa != sb || la != lb {
		t.Errorf("%s: checksums %s/%s, LUNs %s/%s (%v %v %v %v), want equal", what, sa, sb, la, lb, err1, err2, err3, err4)
	}
}

// TestContentLifetime checks where content lives and when it goes: a volume's directory with
// the volume, a fabric's own data directory with the fabric, and a given one never.
func TestContentLifetime(t *testing.T) {
	f, primary, _ := pair(t, sim.Options{})
	v := volume(t, primary, "svm1", "gone", ontap.VolumeRW)
	write(t, primary, "svm1", "gone", map[string]string{"a": "b"})
	dir := filepath.Join(f.DataDir(), "primary", v.UUID)
	if _, err := os.Stat(filepath.Join(dir, "active", "fs", "a")); err != nil {
		t.Fatalf("the volume's file is not on disk: %v", err)
	}
	must(t, primary.api)(primary.api.DeleteVolume(t.Context(), v.UUID))
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the deleted volume's directory is still there: %v", err)
	}

	for _, given := range []bool{false, true} {
		opts := sim.Options{}
		if given {
			opts.DataDir = filepath.Join(t.TempDir(), "data")
		}
		g := sim.NewFabric(opts)
		if _, err := g.AddCluster(sim.ClusterSpec{Name: "c", SVMs: []string{"s"}, Aggregates: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		data := g.DataDir()
		if _, err := os.Stat(filepath.Join(data, "c")); err != nil || (given && data != opts.DataDir) {
			t.Fatalf("data directory %s: %v", data, err)
		}
		g.Close()
		if _, err := os.Stat(data); os.IsNotExist(err) == given {
			t.Errorf("data directory given %v: after Close, stat says %v", given, err)
		}
	}
}

// TestSnapshotOfAFileSystemImage formats a 1 GiB LUN's image with ext4, as a node plugin does
// through a loop device, and checks that a snapshot and a transfer of it copy what mkfs
// wrote, not a gigabyte: they take milliseconds, and the copies are as sparse as the image.
func TestSnapshotOfAFileSystemImage(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("no mkfs.ext4:", err)
	}
	f, primary, secondary := pair(t, sim.Options{})
	ctx := t.Context()
	rel := mirror(t, primary, secondary, "fs", ontap.RelationshipSpec{Policy: "MirrorAllSnapshots"})
	src, _ := primary.api.GetVolume(ctx, "svm1", "fs")
	n := newNodeSide(t, f, primary)
	n.call(t, "POST", "/api/storage/luns?return_timeout=10", `{"svm":{"name":"svm1"},"name":"/vol/fs/lun0","os_type":"linux","space":{"size":1073741824,"guarantee":{"requested":false}}}`)
	image := filepath.Join(f.DataDir(), "primary", src.UUID, "active", "luns", "lun0")
	if out, err := exec.Command(mkfs, "-q", "-F", image).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v: %s", err, out)
	}
	// What mkfs wrote: data extents (it may allocate more, as unwritten extents that read as
	// zeros and are holes to SEEK_DATA, which copies leave as holes).
	info, err := primary.LUN("svm1", "fs", "lun0")
	if err != nil {
		t.Fatal(err)
	}
	written := info.Written
	if written == 0 || written > allocated(t, image) {
		t.Fatalf("mkfs wrote %d bytes of data, %d allocated", written, allocated(t, image))
	}

	start := time.Now()
	must(t, primary.api)(primary.api.CreateSnapshot(ctx, src.UUID, "formatted"))
	snapshot := time.Since(start)
	start = time.Now()
	if _, err := secondary.api.StartTransfer(ctx, rel.UUID, ""); err != nil {
		t.Fatal(err)
	}
	transfer := time.Since(start)
	t.Logf("mkfs wrote %d KiB of data in 1 GiB; snapshot %v, transfer %v", written>>10, snapshot, transfer)
	// Generous bounds for a loaded machine: reading a gigabyte of zeros takes far longer.
	if snapshot > time.Second || transfer > 2*time.Second {
		t.Errorf("snapshot %v, transfer %v of a formatted 1 GiB LUN: copies are not sparse", snapshot, transfer)
	}
	snaps, err := primary.api.ListSnapshots(ctx, src.UUID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if s.Name == "formatted" {
			if got := allocated(t, filepath.Join(f.DataDir(), "primary", src.UUID, "snapshots", s.UUID, "luns", "lun0")); got != written {
				t.Errorf("the snapshot's image takes %d bytes, the formatted image's data %d", got, written)
			}
		}
	}
	dst, _ := secondary.api.GetVolume(ctx, "svm2", "fs")
	if got := allocated(t, filepath.Join(f.DataDir(), "secondary", dst.UUID, "active", "luns", "lun0")); got != written {
		t.Errorf("the destination's image takes %d bytes, the formatted image's data %d", got, written)
	}
	a, err1 := primary.LUNChecksum("svm1", "fs", "lun0")
	b, err2 := secondary.LUNChecksum("svm2", "fs", "lun0")
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("checksums %s, %s (%v, %v), want equal", a, b, err1, err2)
	}
}
