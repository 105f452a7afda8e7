package fs_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"unsafe"
)

// blockOf is the 4 KiB block j of file f: its number and file, over and over.
func blockOf(f, j int) []byte {
	b := make([]byte, 4096)
	for k := 0; k < len(b); k += 16 {
		binary.LittleEndian.PutUint64(b[k:], uint64(f))
		binary.LittleEndian.PutUint64(b[k+8:], uint64(j))
	}
	return b
}

// whichBlock says which file and block a 4 KiB block read holds.
func whichBlock(b []byte) (f, j int) {
	return int(binary.LittleEndian.Uint64(b)), int(binary.LittleEndian.Uint64(b[8:]))
}

// Readers of chunks the volume's cache lets go of, while other reads take
// their buffers for new chunks, each get the bytes they asked for: a chunk
// buffer goes back for reuse only once no reader (nor go-fuse writing a
// read's answer to the kernel) holds it. More than the cache holds is read
// by several readers at once, sequentially and at random, from a folder
// remote on a disk (whose chunks are read with direct I/O into reused
// buffers).
func TestReadersGetTheirOwnBytesWhileChunkBuffersAreReused(t *testing.T) {
	const files, blocks = 3, 40 << 8 // 40 MiB each: 120 MiB, past the 64 MiB cache
	dir, err := os.MkdirTemp("/var/tmp", "anchorfs-recycle-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	store := openLocal(t, dir)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	for f := range files {
		out, err := os.Create(m.path(fmt.Sprint(f)))
		if err != nil {
			t.Fatal(err)
		}
		for j := range blocks {
			if _, err := out.Write(blockOf(f, j)); err != nil {
				t.Fatal(err)
			}
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	m.unmount()
	m = mount(t, store, m.cache)

	check := func(b []byte, f, j int) error {
		for k := 0; k < len(b); k += 4096 {
			if gf, gj := whichBlock(b[k:]); gf != f || gj != j+k/4096 {
				return fmt.Errorf("file %d block %d read as file %d block %d", f, j+k/4096, gf, gj)
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pass := range files {
				f := (r + pass) % files
				in, err := os.Open(m.path(fmt.Sprint(f)))
				if err != nil {
					errs <- err
					return
				}
				defer in.Close()
				if r%2 == 0 { // sequential, 1 MiB at a time
					b := make([]byte, 1<<20)
					for j := 0; j < blocks; j += len(b) / 4096 {
						if _, err := io.ReadFull(in, b); err != nil {
							errs <- err
							return
						}
						if err := check(b, f, j); err != nil {
							errs <- err
							return
						}
					}
				} else { // 4 KiB at random
					b := make([]byte, 4096)
					for range 2000 {
						j := rand.IntN(blocks)
						if _, err := in.ReadAt(b, int64(j)*4096); err != nil {
							errs <- err
							return
						}
						if err := check(b, f, j); err != nil {
							errs <- err
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Readers reading 4 KiB at random with O_DIRECT (each a ranged read of the
// segments it needs, fetched into a buffer that goes back for the next
// read once the plaintext is copied out) each get the bytes they asked
// for, at once: a buffer another read takes or clears before its reader
// copied it out shows as another block's bytes.
func TestDirectRandomReadersGetTheirOwnBytes(t *testing.T) {
	const files, blocks = 2, 8 << 8 // 8 MiB each
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	for f := range files {
		var data []byte
		for j := range blocks {
			data = append(data, blockOf(f, j)...)
		}
		if err := os.WriteFile(m.path(fmt.Sprint(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m.unmount()
	m = mount(t, store, m.cache)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := range 4 {
		wg.Go(func() {
			in, err := os.OpenFile(m.path(fmt.Sprint(r%files)), os.O_RDONLY|syscall.O_DIRECT, 0)
			if err != nil {
				errs <- err
				return
			}
			defer in.Close()
			raw := make([]byte, 2*4096)
			b := raw[4096-int(uintptr(unsafe.Pointer(&raw[0]))%4096):][:4096] // aligned, as O_DIRECT wants
			for range 1500 {
				j := rand.IntN(blocks)
				if _, err := in.ReadAt(b, int64(j)*4096); err != nil {
					errs <- err
					return
				}
				if gf, gj := whichBlock(b); gf != r%files || gj != j {
					errs <- fmt.Errorf("file %d block %d read as file %d block %d", r%files, j, gf, gj)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
