package fs_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"

	"github.com/anchorfs/anchorfs/fs/format"
)

// chunkObjects are the objects on a local-folder remote that are whole
// segmented 1 MiB chunks and not in before.
func chunkObjects(t *testing.T, root string, before map[string]bool) []string {
	t.Helper()
	var out []string
	for _, p := range objectFiles(t, root) {
		if st, err := os.Stat(p); err == nil && !before[p] && st.Size() == int64(format.SegmentedSize(1<<20)) {
			out = append(out, p)
		}
	}
	return out
}

func objectSet(t *testing.T, root string) map[string]bool {
	out := map[string]bool{}
	for _, p := range objectFiles(t, root) {
		out[p] = true
	}
	return out
}

// preadAt reads n bytes of file p at off through a fresh descriptor.
func preadAt(p string, off int64, n int) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	k, err := f.ReadAt(b, off)
	return b[:k], err
}

// TestRandomReadsOfASegmentedFile: reads at random offsets and lengths, on
// a mount whose cache is cold, return the file's bytes; they are served by
// ranged fetches of a few segments.
func TestRandomReadsOfASegmentedFile(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	data := make([]byte, 3<<20+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(m.path("f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m.unmount()
	m = mount(t, store, t.TempDir())
	f, err := os.Open(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 300 {
		off := rng.Int64N(int64(len(data)))
		n := 1 + rng.IntN(20000)
		b := make([]byte, n)
		k, err := f.ReadAt(b, off)
		want := data[off:min(off+int64(n), int64(len(data)))]
		if (err != nil && k != len(want)) || !bytes.Equal(b[:k], want) {
			t.Fatalf("read of %d at %d: %d bytes, %v; not the file's", n, off, k, err)
		}
	}
}

// TestEveryTamperingOfASegmentedChunkGivesEIO: a flipped byte, two segments
// swapped, a truncated object, a missing last segment, and an earlier
// sealing of the same chunk put back under the new one's name: a read of
// the bytes concerned fails with EIO, never returns other bytes, and the
// rest of the file still reads.
func TestEveryTamperingOfASegmentedChunkGivesEIO(t *testing.T) {
	store := newTestStore(t)
	root := store.root
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	before := objectSet(t, root)
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 13)
	}
	if err := os.WriteFile(m.path("f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.vol.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	first := chunkObjects(t, root, before)
	if len(first) != 1 {
		t.Fatalf("%d chunk objects for one chunk", len(first))
	}
	old, _ := os.ReadFile(first[0])
	// A second version of the chunk (a new sealing, a new object).
	before = objectSet(t, root)
	w, _ := os.OpenFile(m.path("f"), os.O_WRONLY, 0)
	w.WriteAt([]byte("x"), 5000)
	w.Close()
	data[5000] = 'x'
	if err := m.vol.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	m.unmount()
	second := chunkObjects(t, root, before)
	if len(second) != 1 {
		t.Fatalf("%d new chunk objects after rewriting one", len(second))
	}
	name := second[0]
	good, _ := os.ReadFile(name)

	const seg = format.SealedSegmentSize
	s := 100 // the segment tampered with: plaintext bytes [409600, 413696)
	for _, c := range []struct {
		what   string
		obj    func() []byte
		off    int64 // a read there fails
		intact int64 // a read there still succeeds (-1: nothing does)
	}{
		{"a flipped byte", func() []byte { b := bytes.Clone(good); b[s*seg+7] ^= 0x40; return b }, int64(s) * 4096, 0},
		{"two segments swapped", func() []byte {
			b := bytes.Clone(good)
			copy(b[s*seg:], good[(s+1)*seg:(s+2)*seg])
			copy(b[(s+1)*seg:], good[s*seg:(s+1)*seg])
			return b
		}, int64(s+1) * 4096, 0},
		{"a truncated object", func() []byte { return good[:len(good)-1] }, 1<<20 - 4096, int64(s) * 4096},
		{"a missing last segment", func() []byte { return good[:len(good)-seg] }, 1<<20 - 4096, int64(s) * 4096},
		{"an earlier sealing of the chunk", func() []byte { return old }, int64(s) * 4096, -1},
	} {
		t.Run(c.what, func(t *testing.T) {
			os.WriteFile(name, c.obj(), 0o644)
			defer os.WriteFile(name, good, 0o644)
			m := mount(t, store, t.TempDir())
			defer m.unmount()
			if b, err := preadAt(m.path("f"), c.off, 4096); !errors.Is(err, syscall.EIO) {
				t.Fatalf("reading the damaged segment: %d bytes, %v; want EIO", len(b), err)
			}
			if c.intact >= 0 {
				if b, err := preadAt(m.path("f"), c.intact, 4096); err != nil || !bytes.Equal(b, data[c.intact:c.intact+4096]) {
					t.Fatalf("reading an intact segment: %v", err)
				}
			}
			if _, err := os.ReadFile(m.path("f")); !errors.Is(err, syscall.EIO) {
				t.Fatalf("reading the whole file: %v; want EIO", err)
			}
		})
	}
}

// TestASmallFileIsOneObject: in a format-2 volume a file of one segment is
// stored inside its manifest: no chunk object of its own on the remote; it
// reads back from a mount with an empty cache, and verify finds it whole.
func TestASmallFileIsOneObject(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	before := objectSet(t, store.root)
	if err := os.WriteFile(m.path("small"), []byte("one object"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.vol.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	m.unmount()
	for p := range objectSet(t, store.root) {
		if st, _ := os.Stat(p); !before[p] && st.Size() == int64(format.SegmentedSize(len("one object"))) {
			t.Fatalf("the small file's chunk was stored apart: %s", p)
		}
	}
	m = mount(t, store, t.TempDir())
	if b, err := os.ReadFile(m.path("small")); err != nil || string(b) != "one object" {
		t.Fatalf("reading it back: %q %v", b, err)
	}
	if f, err := m.vol.Verify(context.Background(), "/", nil); err != nil || len(f) != 0 {
		t.Fatalf("verify: %+v %v", f, err)
	}
}
