package fs_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
)

// TestWritesBesideTheChunkSealingBehind: a sequential writer's finished
// chunk is sealed in the background while the next write arrives. Writes
// into that chunk again, reads of it, a truncate and a gc-free remount all
// see the bytes written last, never the sealed ones of before or a mix.
func TestWritesBesideTheChunkSealingBehind(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	const mib = 1 << 20
	rng := rand.New(rand.NewPCG(7, 8))
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	want := make([]byte, 0, 6*mib)
	f, err := os.Create(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte, off int64) {
		t.Helper()
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		if end := int(off) + len(b); end > len(want) {
			want = want[:end]
		}
		copy(want[off:], b)
	}
	check := func(what string) {
		t.Helper()
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: the file reads other bytes than were written", what)
		}
	}
	write(fill(mib), 0)    // chunk 0 done: sealing behind
	write(fill(100), 1000) // into the chunk being sealed
	write(fill(mib), mib)  // chunk 1 done: chunk 0 settles
	check("after writing into a chunk being sealed")
	write(fill(mib), 2*mib) // chunk 2 sealing behind
	check("read while a chunk is sealing")
	write(fill(mib/2), 3*mib)                        // chunk 3 half written
	if err := f.Truncate(2*mib + 5000); err != nil { // into chunk 2, still sealing
		t.Fatal(err)
	}
	want = want[:2*mib+5000]
	check("after a truncate into the chunk being sealed")
	write(fill(mib-5000), 2*mib+5000) // chunk 2 whole again: sealing behind
	write(fill(2*mib), 3*mib)         // chunks 3 and 4 in one write
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	write(fill(mib), 5*mib) // a last chunk sealing when the file closes
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m.unmount()

	m = mount(t, store, t.TempDir())
	defer m.unmount()
	got, err := os.ReadFile(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("after a remount the file is %d bytes, not the %d written, or other bytes", len(got), len(want))
	}
}
