package remote_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/anchorfs/anchorfs/remote"
)

// directIO reports whether the file system of dir takes O_DIRECT.
func directIO(t *testing.T, dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_WRONLY|os.O_CREATE|syscall.O_DIRECT, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(filepath.Join(dir, "probe"))
	return true
}

// partials lists the files below dir that are not whole objects.
func partials(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".partial") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestAChunkPutOnALocalFolderSkipsThePageCache: a chunk written to a local
// folder goes to the disk with direct I/O, not through the page cache
// (where a buffered write cost ten times the CPU), whole under its name
// and nothing else left beside it.
func TestAChunkPutOnALocalFolderSkipsThePageCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if !directIO(t, dir) {
		t.Skip("SKIP: the test folder's file system refuses direct I/O")
	}
	s, err := remote.Open(ctx, dir, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{256 << 10, 1 << 20, 1<<20 + 4112*3 + 17} {
		buf := make([]byte, size+1)
		rand.Read(buf)
		data := buf[1:] // not aligned in memory either
		name := "objects/cd/cd" + strings.Repeat("0", size%7+1)
		if err := s.Put(ctx, name, data); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		for i, in := range resident(t, path) {
			if in {
				t.Fatalf("%d bytes: page %d of the object is in the page cache: it was written through it", size, i)
			}
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: %d read back, %v", size, len(got), err)
		}
	}
	if p := partials(t, dir); len(p) > 0 {
		t.Errorf("left behind: %v", p)
	}
}

// TestAChunkThatDoesNotFitLeavesNothing: a chunk put to a full local
// folder fails with ENOSPC and leaves no part of itself; one that fits
// then goes in.
func TestAChunkThatDoesNotFitLeavesNothing(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("SKIP: needs root to mount a small tmpfs")
	}
	ctx := context.Background()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount tmpfs: %s %v", out, err)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	s, err := remote.Open(ctx, dir, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 2<<20)
	if err := s.Put(ctx, "objects/ef/ef01", big); !errors.Is(err, syscall.ENOSPC) && (err == nil || !strings.Contains(err.Error(), "space")) {
		t.Fatalf("putting 2 MiB on a 1 MiB folder: %v, want no space left", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "objects/ef/ef01")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the object that did not fit is there: %v", err)
	}
	if p := partials(t, dir); len(p) > 0 {
		t.Errorf("left behind: %v", p)
	}
	small := make([]byte, 300<<10)
	if err := s.Put(ctx, "objects/ef/ef02", small); err != nil {
		t.Fatalf("a chunk that fits: %v", err)
	}
}

// TestAnObjectOfTheRightSizeButNotItsBytesIsPutAgain: what a power cut can
// leave of an object on a local folder, a file of its size without its
// bytes, does not pass for it: putting the object again writes it.
func TestAnObjectOfTheRightSizeButNotItsBytesIsPutAgain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := remote.Open(ctx, dir, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{3000, 1<<20 + 100} { // through rclone, and a chunk
		data := make([]byte, size)
		rand.Read(data)
		name := fmt.Sprintf("objects/ab/ab%x", size)
		if err := s.Put(ctx, name, data); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, name, data); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, name); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%d bytes: the torn copy stayed (%v)", size, err)
		}
	}
}
