package objects

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/remote"
)

// chunkCache keeps decrypted chunks by object hash, least recently used
// out first, within a budget of the bytes their buffers hold; and the
// fetches of chunks under way, so that concurrent readers of one chunk (a
// reader and its read-ahead) share one fetch and one open. A chunk handed
// out is held until its holder releases it: the buffer of a chunk nobody
// holds any more, the cache included, goes back to the remote's buffers
// (remote.Recycle) for the next fetch to read into, instead of being
// zeroed anew by the next one.
type chunkCache struct {
	mu      sync.Mutex
	max     int64
	size    int64
	lru     *simplelru.LRU[format.Hash, *heldChunk]
	flights map[format.Hash]*chunkFlight
	recycle func([]byte) // remote.Recycle
}

// heldChunk is a decrypted chunk and how many hold it: the cache while it
// keeps it, and every reader it went to until the reader releases it.
type heldChunk struct {
	plain []byte
	holds int // under chunkCache.mu
}

// chunkFlight is a fetch of a chunk under way: its readers besides the one
// fetching wait for done, and each is counted in the chunk's holds.
type chunkFlight struct {
	done    chan struct{}
	waiters int
	chunk   *heldChunk
	err     error
}

func newChunkCache(max int64) *chunkCache {
	c := &chunkCache{max: max, flights: map[format.Hash]*chunkFlight{}, recycle: remote.Recycle}
	// Bounded by bytes (keep), not by count: the count bound only has to
	// be out of the way. Called with c.mu held.
	c.lru, _ = simplelru.NewLRU(1<<30, func(_ format.Hash, e *heldChunk) {
		c.size -= int64(cap(e.plain))
		c.drop(e)
	})
	return c
}

// get is chunk h's plaintext if the cache has it, held until release.
func (c *chunkCache) get(h format.Hash) ([]byte, func(), bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.take(h)
}

// take is get, called with c.mu held.
func (c *chunkCache) take(h format.Hash) ([]byte, func(), bool) {
	e, ok := c.lru.Get(h)
	if !ok {
		return nil, nil, false
	}
	e.holds++
	return e.plain, c.releaser(e), true
}

// keep puts plain in the cache under h, which owns it from then on (one
// there already stays, and plain goes).
func (c *chunkCache) keep(h format.Hash, plain []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold(h, &heldChunk{plain: plain})
}

// hold makes the cache a holder of e under h, unless it has chunk h
// already, and keeps the cache within its budget. Called with c.mu held.
func (c *chunkCache) hold(h format.Hash, e *heldChunk) {
	if c.lru.Contains(h) {
		if e.holds == 0 {
			c.recycle(e.plain)
		}
		return
	}
	e.holds++
	c.lru.Add(h, e)
	c.size += int64(cap(e.plain)) // what the buffer holds, not what it shows
	for c.size > c.max && c.lru.Len() > 0 {
		c.lru.RemoveOldest()
	}
}

// drop ends one hold of e; the last gives its buffer back. Called with
// c.mu held.
func (c *chunkCache) drop(e *heldChunk) {
	e.holds--
	if e.holds == 0 {
		c.recycle(e.plain)
		e.plain = nil
	}
}

// releaser is the release of one hold of e: once, however often called.
func (c *chunkCache) releaser(e *heldChunk) func() {
	var released atomic.Bool
	return func() {
		if released.Swap(true) {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.drop(e)
	}
}

// fetch returns chunk h from the cache, or from a fetch under way, or
// fetches it with load and keeps it; the plaintext is held until release.
func (c *chunkCache) fetch(h format.Hash, load func() ([]byte, error)) (plain []byte, release func(), err error) {
	c.mu.Lock()
	if plain, release, ok := c.take(h); ok {
		c.mu.Unlock()
		return plain, release, nil
	}
	if f, ok := c.flights[h]; ok {
		f.waiters++
		c.mu.Unlock()
		<-f.done
		if f.err != nil {
			return nil, nil, f.err
		}
		return f.chunk.plain, c.releaser(f.chunk), nil // counted in its holds
	}
	f := &chunkFlight{done: make(chan struct{})}
	c.flights[h] = f
	c.mu.Unlock()
	// The flight lands however load ends: a panic leaves its waiters this
	// error, not waiting.
	err = fmt.Errorf("the fetch of chunk %s failed", h)
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.flights, h)
		if err == nil {
			e := &heldChunk{plain: plain, holds: 1 + f.waiters} // this reader and the waiting ones
			c.hold(h, e)
			f.chunk, release = e, c.releaser(e)
		}
		f.err = err
		close(f.done)
	}()
	plain, err = load()
	return plain, nil, err
}
