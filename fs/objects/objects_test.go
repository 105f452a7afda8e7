package objects

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/remote/remotetest"
	"github.com/anchorfs/anchorfs/remote/shards"
)

func object(s string) (string, format.Hash, []byte) {
	b := []byte(s)
	h := format.HashOf(b)
	return format.ObjectName(h), h, b
}

func TestPutWaitGet(t *testing.T) {
	ctx := context.Background()
	m := remotetest.NewMemory()
	o := New(Config{Spill: t.TempDir(), Budget: 0, Logf: t.Logf}, m)
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
	o := New(Config{Spill: t.TempDir(), Budget: 0, Logf: t.Logf}, m)
	defer o.Close()
	name, h, b := object("shared")
	m.Set(name, b)
	var opens atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pt, release, err := o.Chunk(ctx, Place{Hash: h}, true, func(obj []byte) ([]byte, error) {
				opens.Add(1)
				return bytes.ToUpper(obj), nil
			})
			if err != nil || string(pt) != "SHARED" {
				t.Errorf("chunk: %q %v", pt, err)
				return
			}
			release()
		}()
	}
	wg.Wait()
	if m.Gets.Load() != 1 || opens.Load() != 1 {
		t.Fatalf("%d fetches and %d opens for one chunk", m.Gets.Load(), opens.Load())
	}
	if _, _, err := o.Chunk(ctx, Place{Hash: h}, true, func([]byte) ([]byte, error) { return nil, errors.New("opened again") }); err != nil {
		t.Fatalf("a cached chunk: %v", err)
	}
}

func TestChunkCacheStaysInItsBudget(t *testing.T) {
	c := newChunkCache(3 << 10)
	for i := range 10 {
		c.keep(format.HashOf([]byte{byte(i)}), make([]byte, 1<<10))
	}
	if c.size > 3<<10 || c.lru.Len() != 3 {
		t.Fatalf("%d bytes in %d chunks, budget 3 KiB", c.size, c.lru.Len())
	}
	if _, _, ok := c.get(format.HashOf([]byte{9})); !ok {
		t.Fatal("the newest chunk went")
	}
	if _, _, ok := c.get(format.HashOf([]byte{0})); ok {
		t.Fatal("the oldest chunk stayed")
	}
}

func TestMetadataCache(t *testing.T) {
	ctx := context.Background()
	m := remotetest.NewMemory()
	o := New(Config{Spill: t.TempDir(), Budget: 0, Logf: t.Logf}, m)
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
	o := New(Config{Spill: spill, Budget: 1 << 10, Logf: t.Logf}, m)
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

// TestShardsAcrossNodes: a chunk cut 2+1 across three nodes reads back with
// any one node's shard gone or altered, not with two gone, and a node that
// is down at write time gets its shard from local disk when it returns.
func TestShardsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	l := shards.Layout{K: 2, M: 1}
	ms := []*remotetest.Memory{remotetest.NewMemory(), remotetest.NewMemory(), remotetest.NewMemory()}
	spill := t.TempDir()
	o := New(Config{Spill: spill, Layout: l, Stored: l.Stored(false), Logf: t.Logf}, ms[0], ms[1], ms[2])
	put := func(seed byte) (Place, []byte) {
		obj := bytes.Repeat([]byte{seed, seed + 1, seed + 2}, 10*unit/3+50)
		sh, err := l.Split(obj, unit)
		if err != nil {
			t.Fatal(err)
		}
		p := Place{Size: len(obj), Layout: l}
		var names []string
		for _, s := range sh {
			p.Shards = append(p.Shards, format.HashOf(s))
			names = append(names, format.ObjectName(format.HashOf(s)))
		}
		p.Hash = format.ShardedHash(l.K, p.Shards)
		o.PutShards(format.NewID(), names, sh)
		if err := o.Wait(ctx, o.Barrier()); err != nil {
			t.Fatal(err)
		}
		return p, obj
	}
	read := func(p Place, obj []byte, off, n int) error {
		got, err := o.GetRange(ctx, p, int64(off), int64(n), nil, func(b []byte) ([]byte, error) {
			if !bytes.Equal(b, obj[off:off+n]) {
				return nil, errors.New("wrong bytes")
			}
			return b, nil
		})
		if err == nil && !bytes.Equal(got, obj[off:off+n]) {
			return errors.New("wrong bytes returned")
		}
		return err
	}
	p, obj := put(1)
	shard := func(j int) string { return format.ObjectName(p.Shards[j]) }
	// Stored once on two nodes; the third gets its shard soon after.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if n, _ := o.Stats(); n == 0 {
			break
		}
	}
	for j := range 3 {
		if !ms[j].Has(shard(j)) {
			t.Fatalf("node %d lacks its shard", j)
		}
	}
	if err := read(p, obj, 100, 9000); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	ms[0].Set(shard(0), nil) // node 0 lost it
	if err := read(p, obj, 100, 9000); err != nil {
		t.Fatalf("node 0's shard gone: %v", err)
	}
	if st := o.NodeStats(); st[0].Missing == 0 || st[1].Missing != 0 {
		t.Fatalf("node records after node 0 lost a shard: %+v", st)
	}
	ms[0].Set(shard(0), bytes.Repeat([]byte{9}, l.Len(0, len(obj), unit))) // node 0 serves junk
	if err := read(p, obj, 5*unit, 2*unit); err != nil {
		t.Fatalf("node 0's shard altered: %v", err)
	}
	if pt, _, err := o.Chunk(ctx, p, false, func(b []byte) ([]byte, error) {
		if !bytes.Equal(b, obj) {
			return nil, errors.New("wrong bytes")
		}
		return b, nil
	}); err != nil || !bytes.Equal(pt, obj) {
		t.Fatalf("whole chunk, node 0's shard altered: %v", err)
	}
	ms[1].Set(shard(1), nil)
	var ie *IntegrityError
	if err := read(p, obj, 0, 100); !errors.As(err, &ie) {
		t.Fatalf("two shards of three gone: %v", err)
	}

	// Node 2 down while writing: stored on two, its shard waits on disk.
	ms[2].Fail = errors.New("node down")
	p2, obj2 := put(7)
	if ms[2].Has(format.ObjectName(p2.Shards[2])) {
		t.Fatal("a down node took a shard")
	}
	// Its shard goes to local disk once the node has failed it (or not
	// taken it for a while).
	var entries []os.DirEntry
	for deadline := time.Now().Add(10 * time.Second); len(entries) != 1 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		entries, _ = os.ReadDir(filepath.Join(spill, "node2"))
	}
	if len(entries) != 1 {
		t.Fatalf("%d shards wait on disk for the down node, want 1", len(entries))
	}
	if err := read(p2, obj2, 0, len(obj2)); err != nil {
		t.Fatalf("reading while a node is down: %v", err)
	}
	ms[2].Fail = nil
	o.RetrySoon()
	o.Close()
	if !ms[2].Has(format.ObjectName(p2.Shards[2])) {
		t.Fatal("the node that came back did not get its shard")
	}
}

// Reads that open the bytes they get in place (a ranged read, into new
// memory or the caller's buffer; a whole chunk) must not change an object
// still queued for upload (it would upload what the reader made of it).
func TestReadsOfAQueuedObjectLeaveItAlone(t *testing.T) {
	ctx := context.Background()
	m := remotetest.NewMemory()
	m.Fail = errors.New("remote down") // the object stays queued
	o := New(Config{Spill: t.TempDir(), Logf: t.Logf}, m)
	name, h, b := object("a queued sealed object")
	o.Put(name, b)
	want := bytes.Clone(b)
	inPlace := func(sealed []byte) ([]byte, error) {
		for i := range sealed {
			sealed[i] = 'x' // as an in-place decryption does
		}
		return sealed, nil
	}
	for _, buf := range [][]byte{nil, make([]byte, 64)} { // new memory, and the caller's
		if _, err := o.GetRange(ctx, Place{Hash: h}, 2, 10, buf, inPlace); err != nil {
			t.Fatal(err)
		}
	}
	_, release, err := o.Chunk(ctx, Place{Hash: h, Size: len(b)}, false, inPlace)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if got, err := o.Get(ctx, name, h); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the queued object after reads that open it in place: %q %v", got, err)
	}
	m.Fail = nil
	o.RetrySoon()
	o.Close()
}
