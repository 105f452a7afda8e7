package objects

import (
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/anchorfs/anchorfs/fs/format"
)

// recycling is a chunk cache of one 1 KiB chunk whose given-back buffers
// are counted by their first byte.
func recycling(t *testing.T) (*chunkCache, map[byte]int) {
	c := newChunkCache(1 << 10)
	back := map[byte]int{}
	c.recycle = func(b []byte) { back[b[0]]++ } // called with c.mu held
	return c, back
}

func chunkOf(b byte) (format.Hash, func() ([]byte, error)) {
	return format.HashOf([]byte{b}), func() ([]byte, error) {
		p := make([]byte, 1<<10)
		p[0] = b
		return p, nil
	}
}

func TestAChunkGoesBackOnlyOnceNobodyHoldsIt(t *testing.T) {
	c, back := recycling(t)
	ha, loadA := chunkOf('a')
	a, releaseA, err := c.fetch(ha, loadA)
	if err != nil || a[0] != 'a' {
		t.Fatal(a, err)
	}
	hb, loadB := chunkOf('b')
	_, releaseB, _ := c.fetch(hb, loadB) // the cache lets a go: its reader still holds it
	if back['a'] != 0 {
		t.Fatal("a chunk a reader holds went back when the cache let it go")
	}
	releaseA()
	releaseA()
	if back['a'] != 1 {
		t.Fatalf("chunk a went back %d times, want once", back['a'])
	}
	releaseB() // the cache still holds b
	if back['b'] != 0 {
		t.Fatal("a chunk the cache keeps went back")
	}
	b, releaseB, ok := c.get(hb)
	if !ok || b[0] != 'b' {
		t.Fatal("chunk b is not in the cache")
	}
	hc, loadC := chunkOf('c')
	_, releaseC, _ := c.fetch(hc, loadC)
	if back['b'] != 0 {
		t.Fatal("chunk b went back while held")
	}
	releaseB()
	releaseC()
	if back['b'] != 1 || back['c'] != 0 {
		t.Fatalf("went back: %v", back)
	}
}

func TestReadersOfOneFetchEachHoldTheChunk(t *testing.T) {
	c, back := recycling(t)
	h, load := chunkOf('a')
	started, finish := make(chan struct{}), make(chan struct{})
	releases := make(chan func(), 3)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, release, err := c.fetch(h, func() ([]byte, error) { close(started); <-finish; return load() })
		if err != nil {
			t.Error(err)
		}
		releases <- release
	}()
	<-started
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, release, err := c.fetch(h, func() ([]byte, error) { return nil, errors.New("fetched twice") })
			if err != nil || p[0] != 'a' {
				t.Error(p, err)
			}
			releases <- release
		}()
	}
	for {
		c.mu.Lock()
		waiting := c.flights[h].waiters
		c.mu.Unlock()
		if waiting == 2 {
			break
		}
		runtime.Gosched()
	}
	close(finish)
	wg.Wait()
	c.keep(format.HashOf([]byte("other")), make([]byte, 1<<10)) // the cache lets a go
	for range 3 {
		if back['a'] != 0 {
			t.Fatal("the chunk went back while a reader held it")
		}
		(<-releases)()
	}
	if back['a'] != 1 {
		t.Fatalf("the chunk went back %d times, want once", back['a'])
	}
}

func TestAFailedFetchIsNoChunk(t *testing.T) {
	c, back := recycling(t)
	h, _ := chunkOf('a')
	if _, _, err := c.fetch(h, func() ([]byte, error) { return nil, errors.New("gone") }); err == nil {
		t.Fatal("no error")
	}
	if _, _, ok := c.get(h); ok || len(back) != 0 || len(c.flights) != 0 {
		t.Fatal("a failed fetch left something behind")
	}
}
