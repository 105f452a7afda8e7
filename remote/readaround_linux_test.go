package remote_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/anchorfs/anchorfs/remote"
)

// resident reports, for each page of the file at path, whether it is in
// the page cache.
func resident(t *testing.T, path string) []bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	out := make([]bool, len(vec))
	for i, b := range vec {
		out[i] = b&1 != 0
	}
	return out
}

// residentIn counts the pages [first, end) of the file at path that are
// in the page cache.
func residentIn(t *testing.T, path string, first, end int) int {
	in := 0
	for _, r := range resident(t, path)[first:end] {
		if r {
			in++
		}
	}
	return in
}

// dropPages takes the file at path out of the page cache.
func dropPages(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Sync()
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// TestARangedReadBringsItsWindowIntoThePageCache: a small ranged read of a
// local folder's object reads the aligned window around it into the page
// cache in the same request (as gocryptfs's reads of its blocks bring
// their neighbours), so that the next small reads near it need no disk.
func TestARangedReadBringsItsWindowIntoThePageCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := remote.Open(ctx, dir, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const name = "objects/ab/ab02"
	data := make([]byte, 1<<20)
	if err := s.Put(ctx, name, data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	dropPages(t, path)
	for i, in := range resident(t, path) {
		if in {
			t.Skipf("page %d stays in the page cache: this file system's cannot be dropped", i)
		}
	}
	const off = 200000
	if got, err := s.GetRange(ctx, name, off, 100); err != nil || len(got) != 100 {
		t.Fatalf("ranged read: %d bytes, %v", len(got), err)
	}
	// The window's pages come in with the read's, or just after it.
	page := os.Getpagesize()
	const window = 64 << 10
	first, end := (off&^(window-1))/page, (off&^(window-1)+window)/page
	var missing []int
	for try := 0; try == 0 || len(missing) > 0 && try < 100; try++ {
		if try > 0 {
			time.Sleep(10 * time.Millisecond)
		}
		pages := resident(t, path)
		missing = nil
		for p := first; p < end; p++ {
			if !pages[p] {
				missing = append(missing, p)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("pages %v, in the window of the read at %d, are not in the page cache", missing, off)
	}
}

// TestAWindowIsAskedForOncePerOpenObject: the kernel is asked to read a
// window of an open object once, not at every small read in it (the ask
// cost a random read as much as the read itself); a window the page cache
// dropped since is read by the reads that need it, page by page.
func TestAWindowIsAskedForOncePerOpenObject(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := remote.Open(ctx, dir, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const name = "objects/ab/ab03"
	if err := s.Put(ctx, name, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	dropPages(t, path)
	const window = 64 << 10
	page := os.Getpagesize()
	first, end := (3*window)/page, (4*window)/page
	if _, err := s.GetRange(ctx, name, 3*window+100, 100); err != nil {
		t.Fatal(err)
	}
	for try := 0; try < 100 && residentIn(t, path, first, end) < end-first; try++ { // the window comes in with the read, or just after
		time.Sleep(10 * time.Millisecond)
	}
	dropPages(t, path)
	if r := resident(t, path); r[first] || r[end-1] {
		t.Skip("this file system's page cache cannot be dropped")
	}
	if _, err := s.GetRange(ctx, name, int64(3*window+window-page+10), 100); err != nil { // the window's last page
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if in := residentIn(t, path, first, end); in > (end-first)/2 {
		t.Fatalf("%d of the window's %d pages were read again: the window was asked for a second time", in, end-first)
	}
}
