package fs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// wipedOnDone is a file whose reads answer with a heldRead whose release
// wipes the bytes: what a buffer reused too early would show.
type wipedOnDone struct {
	gofs.Inode
	content []byte
	done    atomic.Int64
}

func (f *wipedOnDone) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (f *wipedOnDone) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode, out.Size = 0o444, uint64(len(f.content))
	return 0
}

func (f *wipedOnDone) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	b := bytes.Clone(f.content[min(off, int64(len(f.content))):])
	b = b[:min(len(b), len(dest))]
	return &heldRead{data: b, release: func() { clear(b); f.done.Add(1) }}, 0
}

// go-fuse calls a read result's Done once its answer is written to the
// kernel, not before (it writes a result with Slices from them, as
// fuse.ReadResultVector's); the volume gives a chunk's buffer back for
// reuse at Done. Mounted as the volume is (splice off).
func TestAHeldReadIsReleasedAfterItsAnswerIsWritten(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting needs root (or fusermount3); run as root")
	}
	content := bytes.Repeat([]byte("anchorfs"), 64<<10) // 512 KiB
	file := &wipedOnDone{content: content}
	root := &gofs.Inode{}
	dir := t.TempDir()
	srv, err := gofs.Mount(dir, root, &gofs.Options{
		MountOptions: fuse.MountOptions{DirectMount: true, DisableSplice: true, MaxWrite: maxWrite},
		OnAdd: func(ctx context.Context) {
			root.AddChild("f", root.NewPersistentInode(ctx, file, gofs.StableAttr{}), false)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Unmount(); srv.Wait() })
	got, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("the reader got bytes released before their answer was written (%d of %d bytes right)", commonPrefix(got, content), len(content))
	}
	// Done follows the write, in go-fuse's goroutine: it may come after
	// the reader has its bytes.
	for try := 0; file.done.Load() == 0; try++ {
		if try == 500 {
			t.Fatal("no read was released")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
