package objects

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/remote/remotetest"
)

func object(s string) (string, format.Hash, []byte) {
	b := []byte(s)
	h := format.HashOf(b)
	return format.ObjectName(h), h, b
}

func TestPutWaitGet(t *testing.T) {
	ctx := context.Background()
	m := remotetest.NewMemory()
	o := New(m, t.TempDir(), 0, t.Logf)
	defer o.Close()
	name, h, b := object("a sealed object")
	o.Put(name, b)
	if got, err := o.Get(ctx, name, h); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("a queued object: %q %v", got, err)
	}
	if err := o.Wait(ctx, o.Barrier()); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.Stats(); n != 0 || !m.Has(name) {
		t.Fatalf("after the wait: %d queued, on the backend: %v", n, m.Has(name))
	}
	m.Set(name, []byte("altered"))
	var ie *IntegrityError
	if _, err := o.Get(ctx, name, h); !errors.As(err, &ie) {
		t.Fatalf("an altered object: %v", err)
	}
	missing, mh, _ := object("never put")
	if _, err := o.Get(ctx, missing, mh); !errors.As(err, &ie) || !ie.Missing {
		t.Fatalf("a missing object: %v", err)
	}
}

// TestOneFetchHoweverManyAsk: concurrent readers of one object, of one
// chunk, make one fetch (and one decryption).
func TestOneFetchHoweverManyAsk(t *testing.T) {
	ctx := context.Background()
	m := remotetest.NewMemory()
	m.Slow = 50 * time.Millisecond
	o := New(m, t.TempDir(), 0, t.Logf)
	defer o.Close()
	name, h, b := object("shared")
	m.Set(name, b)
	var opens atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pt, err := o.Chunk(ctx, h, true, func(obj []byte) ([]byte, error) {
				opens.Add(1)
				return bytes.ToUpper(obj), nil
			})
			if err != nil || string(pt) != "SHARED" {
				t.Errorf("chunk: %q %v", pt, err)
			}
		}()
	}
	wg.Wait()
	if m.Gets.Load() != 1 || opens.Load() != 1 {
		t.Fatalf("%d fetches and %d opens for one chunk", m.Gets.Load(), opens.Load())
	}
	if _, err := o.Chunk(ctx, h, true, func([]byte) ([]byte, error) { return nil, errors.New("opened again") }); err != nil {
		t.Fatalf("a cached chunk: %v", err)
	}
}

func TestChunkCacheStaysInItsBudget(t *testing.T) {
	c := newChunkCache(3 << 10)
	for i := range 10 {
		c.add(format.HashOf([]byte{byte(i)}), make([]byte, 1<<10))
	}
	if c.size > 3<<10 || c.lru.Len() != 3 {
		t.Fatalf("%d bytes in %d chunks, budget 3 KiB", c.size, c.lru.Len())
	}
	if _, ok := c.get(format.HashOf([]byte{9})); !ok {
		t.Fatal("the newest chunk went")
	}
	if _, ok := c.get(format.HashOf([]byte{0})); ok {
		t.Fatal("the oldest chunk stayed")
	}
}

func TestMetadataCache(t *testing.T) {
	ctx := context.Background()
	m := remotetest.NewMemory()
	o := New(m, t.TempDir(), 0, t.Logf)
	defer o.Close()
	name, h, b := object("a folder object")
	m.Set(name, b)
	for range 3 {
		if got, err := o.GetMeta(ctx, name, h); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("GetMeta: %q %v", got, err)
		}
	}
	if m.Gets.Load() != 1 {
		t.Fatalf("%d fetches of a cached metadata object", m.Gets.Load())
	}
	m.Set(name, nil) // verify asks the remote itself
	if _, err := o.GetMeta(FromRemote(ctx), name, h); err == nil {
		t.Fatal("a read past the cache was served from it")
	}
}

// TestAFailingRemoteSpillsAndDrops: past the memory budget, objects a
// failing remote will not take wait on local disk; a file's objects are
// dropped from the queue when the file goes.
func TestAFailingRemoteSpillsAndDrops(t *testing.T) {
	m := remotetest.NewMemory()
	m.Fail = errors.New("remote down")
	spill := t.TempDir()
	o := New(m, spill, 1<<10, t.Logf)
	file := format.NewID()
	var names []string
	for i := range 8 {
		name, _, b := object(string(bytes.Repeat([]byte{byte('a' + i)}, 600)))
		o.PutFor(file, name, b)
		names = append(names, name)
	}
	if n, _ := o.Stats(); n != 8 {
		t.Fatalf("%d queued, want 8", n)
	}
	if entries, _ := os.ReadDir(spill); len(entries) == 0 {
		t.Fatal("nothing waits on local disk past the budget")
	}
	dropped := o.Drop(file)
	if len(dropped) == 0 {
		t.Fatal("the gone file's objects were not dropped")
	}
	m.Fail = nil
	o.RetrySoon()
	o.Close()
	for _, name := range names {
		if dropped[name] && m.Has(name) {
			t.Fatalf("dropped object %s was uploaded", name)
		}
	}
}
