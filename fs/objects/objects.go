// Package objects moves sealed objects between a volume and its remote: uploads queued in the background within a memory budget and spilled to local disk past it, fetches checked against their hash and made once however many ask at a time, and bounded caches of decrypted chunks and of metadata objects.
package objects

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/retry"
)

const (
	// uploadWorkers is how many objects upload at once: remotes are latency
	// bound, so more than the core count pays off.
	uploadWorkers = 8
	// uploadBudget bounds the bytes sealed but not yet uploaded that stay in
	// memory. Beyond it a writer waits for uploads while the remote takes
	// them; when the remote fails or stalls, objects wait on local disk
	// instead (the write-back cache, ciphertext only), and writers wait only
	// when that disk is full.
	uploadBudget = 64 << 20
	// uploadStall is how long the remote may go without finishing an upload
	// before writers stop waiting for it and spill to local disk.
	uploadStall = 2 * time.Second
	// chunkCacheSize bounds the decrypted chunks kept in memory for readers.
	chunkCacheSize = 64 << 20
	// metaCacheEntries and metaCacheMax bound the cache of metadata objects
	// (folder objects, manifests, heads): at most 512 of up to 64 KiB each,
	// 32 MiB in all. Objects are immutable, named by their hash: a cached
	// one is what the remote served.
	metaCacheEntries = 512
	metaCacheMax     = 64 << 10
)

// Backend is the remote the objects live on.
type Backend interface {
	Put(ctx context.Context, name string, data []byte) error
	Get(ctx context.Context, name string) ([]byte, error)
	// GetRange returns n bytes of the object from offset off (fewer where
	// the object ends first).
	GetRange(ctx context.Context, name string, off, n int64) ([]byte, error)
}

// Store is the objects of one volume on its remote: uploads in the
// background with a byte budget, fetches with hash checks, a cache of
// plaintext chunks and one fetch per object at a time.
type Store struct {
	store  Backend
	logf   func(string, ...any)
	spill  string // write-back folder for objects past the budget; "" keeps all in memory
	budget int64  // bytes of queued objects kept in memory

	mu       sync.Mutex
	cond     *sync.Cond
	pending  map[string][]byte // name -> object, until uploaded (nil: waiting on disk in spill)
	inflight int64             // bytes in pending
	gen      uint64            // generation of the newest queued upload
	open     map[uint64]int    // generation -> uploads not yet done
	failures int               // uploads that failed and are being retried
	lastErr  error
	lastDone time.Time // when an upload last finished
	queue    chan upload
	wg       sync.WaitGroup
	closed   bool

	tracking map[string]bool // names put while gc runs, nil otherwise

	owners  map[string]format.ID // file whose chunk or manifest a queued object is
	dropped map[string]bool      // queued objects nothing needs any more: not uploaded
	wake    chan struct{}        // closed to end the waits of failed uploads early

	fetches singleflight.Group // object fetches under way, by name
	chunks  singleflight.Group // chunk fetches and opens under way, by hash
	cache   *chunkCache
	meta    *lru.Cache[string, []byte]
}

type upload struct {
	name string
	gen  uint64
}

func New(store Backend, spill string, budget int64, logf func(string, ...any)) *Store {
	if budget <= 0 {
		budget = uploadBudget
	}
	o := &Store{
		store:    store,
		logf:     logf,
		spill:    spill,
		budget:   budget,
		pending:  map[string][]byte{},
		open:     map[uint64]int{},
		queue:    make(chan upload, 1<<16),
		cache:    newChunkCache(chunkCacheSize),
		meta:     newMetaCache(),
		lastDone: time.Now(),
		owners:   map[string]format.ID{},
		dropped:  map[string]bool{},
		wake:     make(chan struct{}),
	}
	o.cond = sync.NewCond(&o.mu)
	for range uploadWorkers {
		o.wg.Add(1)
		go o.uploader()
	}
	o.recoverSpill()
	return o
}

// spillPath is where object name waits on local disk.
func (o *Store) spillPath(name string) string {
	return filepath.Join(o.spill, strings.ReplaceAll(name, "/", "_"))
}

// recoverSpill queues the objects a previous run left on local disk.
func (o *Store) recoverSpill() {
	if o.spill == "" {
		return
	}
	entries, _ := os.ReadDir(o.spill)
	for _, e := range entries {
		name := strings.ReplaceAll(e.Name(), "_", "/")
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(o.spill, e.Name()))
			continue
		}
		o.mu.Lock()
		o.pending[name] = nil
		o.gen++
		g := o.gen
		o.open[g]++
		o.mu.Unlock()
		o.queue <- upload{name: name, gen: g}
	}
}

// spillObject writes obj to local disk, reporting whether it could.
func (o *Store) spillObject(name string, obj []byte) bool {
	if o.spill == "" {
		return false
	}
	if err := os.MkdirAll(o.spill, 0o700); err != nil {
		return false
	}
	p := o.spillPath(name)
	if err := os.WriteFile(p+".tmp", obj, 0o600); err != nil {
		os.Remove(p + ".tmp")
		return false
	}
	return os.Rename(p+".tmp", p) == nil
}

// Put queues obj for upload under name and returns at once (or once the
// upload budget has room). Reads see the object while it is queued.
func (o *Store) Put(name string, obj []byte) { o.PutFor(format.ID{}, name, obj) }

// PutFor is put for a chunk or manifest of file owner: when the file goes
// away before the object is uploaded, drop(owner) cancels the upload.
func (o *Store) PutFor(owner format.ID, name string, obj []byte) {
	o.mu.Lock()
	if _, dup := o.pending[name]; dup {
		o.mu.Unlock()
		return
	}
	if owner != (format.ID{}) {
		o.owners[name] = owner
	}
	if o.inflight > o.budget {
		o.waitForRoom()
	}
	if o.inflight > o.budget {
		o.mu.Unlock()
		spilled := o.spillObject(name, obj)
		o.mu.Lock()
		if spilled {
			obj = nil
		}
		for obj != nil && o.inflight > o.budget && !o.closed {
			o.cond.Wait()
		}
	}
	o.pending[name] = obj
	if o.tracking != nil {
		o.tracking[name] = true
	}
	o.inflight += int64(len(obj))
	o.gen++
	g := o.gen
	o.open[g]++
	o.mu.Unlock()
	o.queue <- upload{name: name, gen: g}
}

// waitForRoom waits while the memory budget is full and the remote keeps
// taking uploads: writing the objects to local disk first would write
// everything twice. It gives up when an upload fails or none finishes for
// uploadStall (the caller then spills). Called with o.mu held.
func (o *Store) waitForRoom() {
	stop := make(chan struct{})
	defer close(stop)
	go func() { // wakes the wait below to look at the clock
		t := time.NewTicker(uploadStall / 8)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				o.mu.Lock()
				o.cond.Broadcast()
				o.mu.Unlock()
			}
		}
	}()
	for o.inflight > o.budget && !o.closed && o.failures == 0 && time.Since(o.lastDone) < uploadStall {
		o.cond.Wait()
	}
}

func (o *Store) uploader() {
	defer o.wg.Done()
	for u := range o.queue {
		o.mu.Lock()
		obj, inMemory := o.pending[u.name], o.pending[u.name] != nil
		o.mu.Unlock()
		if !inMemory {
			var err error
			if obj, err = os.ReadFile(o.spillPath(u.name)); err != nil {
				o.logf("write-back object %s is gone: %v", u.name, err)
				o.finish(u, 0)
				continue
			}
		}
		waits := retry.Upload.Backoff()
		for {
			if o.takeDropped(u.name) {
				break
			}
			err := o.store.Put(context.Background(), u.name, obj)
			if err == nil {
				break
			}
			// The store already retried transient errors; keep the object
			// queued and try again later rather than lose an acknowledged
			// write, until the volume closes (no head names it then).
			o.mu.Lock()
			o.failures++
			o.lastErr = err
			o.cond.Broadcast()
			closed := o.closed
			o.mu.Unlock()
			if closed {
				o.logf("upload of %s abandoned at close: %v", u.name, err)
				o.mu.Lock()
				o.failures--
				o.mu.Unlock()
				break
			}
			wait := waits.NextBackOff()
			o.logf("upload of %s failed, retrying in %v: %v", u.name, wait.Round(time.Millisecond), err)
			o.mu.Lock()
			wake := o.wake
			o.mu.Unlock()
			// The wait of retry.Upload, or less: made room or a close ends it.
			select {
			case <-time.After(wait):
			case <-wake:
			}
			o.mu.Lock()
			o.failures--
			o.mu.Unlock()
		}
		if inMemory {
			o.finish(u, int64(len(obj)))
		} else {
			os.Remove(o.spillPath(u.name))
			o.finish(u, 0)
		}
	}
}

// takeDropped reports whether the upload of name was dropped, forgetting it.
func (o *Store) takeDropped(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.dropped[name] {
		return false
	}
	delete(o.dropped, name)
	return true
}

// Drop cancels the uploads of file's objects still queued (the file is
// gone, and no head names an object before it is uploaded) and returns
// their names. Failed uploads are retried at once: the room they leave on a
// full remote may be what the others wait for.
func (o *Store) Drop(file format.ID) map[string]bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	names := map[string]bool{}
	for name, owner := range o.owners {
		if _, queued := o.pending[name]; queued && owner == file {
			o.dropped[name] = true
			names[name] = true
		}
	}
	if len(names) > 0 {
		o.retryNow()
	}
	return names
}

// RetrySoon ends the waits of failed uploads (room was made).
func (o *Store) RetrySoon() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retryNow()
}

// retryNow ends the waits of failed uploads. Called with o.mu held.
func (o *Store) retryNow() {
	close(o.wake)
	o.wake = make(chan struct{})
}

// finish marks an upload done; size is what it held in memory.
func (o *Store) finish(u upload, size int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.pending, u.name)
	delete(o.owners, u.name)
	o.inflight -= size
	o.lastDone = time.Now()
	if o.open[u.gen]--; o.open[u.gen] == 0 {
		delete(o.open, u.gen)
	}
	o.cond.Broadcast()
}

// Track starts or stops recording the names of queued objects.
func (o *Store) Track(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if on {
		o.tracking = map[string]bool{}
	} else {
		o.tracking = nil
	}
}

// Tracked reports whether name was queued since track(true).
func (o *Store) Tracked(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tracking[name]
}

// Barrier returns the generation that covers every upload queued so far.
func (o *Store) Barrier() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gen
}

// Wait returns once every upload up to generation g is on the store.
func (o *Store) Wait(ctx context.Context, g uint64) error {
	stop := context.AfterFunc(ctx, func() {
		o.mu.Lock()
		o.cond.Broadcast()
		o.mu.Unlock()
	})
	defer stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		done := true
		for og := range o.open {
			if og <= g {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.failures > 0 {
			// The objects stay queued and are retried; the caller learns now.
			if IsNoSpace(o.lastErr) {
				return fmt.Errorf("uploading to the remote: %w", errors.Join(syscall.ENOSPC, o.lastErr))
			}
			return fmt.Errorf("uploading to the remote: %w", o.lastErr)
		}
		o.cond.Wait()
	}
}

// Full reports whether uploads are failing because the remote has no room;
// writers get ENOSPC until they succeed again.
func (o *Store) Full() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failures > 0 && IsNoSpace(o.lastErr)
}

func IsNoSpace(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), "no space left on device") ||
		strings.Contains(err.Error(), "too big for remaining disk space"))
}

// SpillAll writes every queued object held in memory to the write-back
// folder too, so that a volume closed while uploads cannot proceed keeps
// them for its next open (which queues them again). It reports how many
// objects, and bytes, stay queued.
func (o *Store) SpillAll() (n int, bytes int64, err error) {
	if o.spill == "" {
		return 0, 0, errors.New("no write-back folder")
	}
	o.mu.Lock()
	inMemory := map[string][]byte{}
	for name, obj := range o.pending {
		if obj != nil && !o.dropped[name] {
			inMemory[name] = obj
		}
		n++
	}
	o.mu.Unlock()
	for name, obj := range inMemory {
		if !o.spillObject(name, obj) {
			return 0, 0, fmt.Errorf("writing %s to the write-back folder %s failed", name, o.spill)
		}
		bytes += int64(len(obj))
	}
	if d, err := os.Open(o.spill); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return 0, 0, err
		}
	}
	return n, bytes, nil
}

// Stats reports uploads not yet on the store.
func (o *Store) Stats() (n int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending), o.inflight
}

// Close waits for every queued upload and stops the workers.
func (o *Store) Close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	o.cond.Broadcast()
	o.mu.Unlock()
	close(o.queue)
	o.wg.Wait()
}

// Get returns the object named by h, checking its hash: a queued upload, or
// a fetch from the store (one at a time per object).
func (o *Store) Get(ctx context.Context, name string, h format.Hash) ([]byte, error) {
	return o.get(ctx, name, h, true)
}

// get is Get, checking a fetched object's hash only with check.
func (o *Store) get(ctx context.Context, name string, h format.Hash, check bool) ([]byte, error) {
	o.mu.Lock()
	obj, queued := o.pending[name]
	o.mu.Unlock()
	if queued && obj != nil {
		return obj, nil
	}
	if queued {
		// Waiting on local disk, unless it was uploaded a moment ago.
		if b, err := os.ReadFile(o.spillPath(name)); err == nil && format.HashOf(b) == h {
			return b, nil
		}
	}
	return o.fetchChecked(ctx, name, h, check)
}

// GetRange returns n bytes of the object from offset off, unchecked (its
// reader authenticates them): from a queued upload, or a ranged fetch.
func (o *Store) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	o.mu.Lock()
	obj, queued := o.pending[name]
	o.mu.Unlock()
	if queued && obj == nil {
		if f, err := os.Open(o.spillPath(name)); err == nil {
			defer f.Close()
			b := make([]byte, n)
			k, err := f.ReadAt(b, off)
			if err == nil || (errors.Is(err, io.EOF) && k > 0) {
				return b[:k], nil
			}
		}
	}
	if queued && obj != nil {
		return obj[min(off, int64(len(obj))):min(off+n, int64(len(obj)))], nil
	}
	b, err := o.store.GetRange(ctx, name, off, n)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &IntegrityError{Object: name, Problem: "object is missing from the remote", Missing: true}
	}
	return b, err
}

func newMetaCache() *lru.Cache[string, []byte] {
	c, _ := lru.New[string, []byte](metaCacheEntries) // fails only for a size under 1
	return c
}

// fromRemoteKey marks a context whose reads go to the remote, past the
// cache of metadata objects: verify's.
type fromRemoteKey struct{}

// FromRemote makes ctx's metadata reads fetch from the remote.
func FromRemote(ctx context.Context) context.Context {
	return context.WithValue(ctx, fromRemoteKey{}, true)
}

// GetMeta is get for a metadata object (a folder object, manifest, head or
// link table): recent small ones are kept, so that reopening a file or
// listing a folder again does not wait on the remote.
func (o *Store) GetMeta(ctx context.Context, name string, h format.Hash) ([]byte, error) {
	if ctx.Value(fromRemoteKey{}) == nil {
		if b, ok := o.meta.Get(name); ok {
			return b, nil
		}
	}
	b, err := o.Get(ctx, name, h)
	if err == nil && len(b) <= metaCacheMax {
		o.meta.Add(name, b)
	}
	return b, err
}

// fetchChecked fetches an object from the store (one fetch per object at a
// time, however many ask) and, with check, checks it against its hash.
func (o *Store) fetchChecked(ctx context.Context, name string, h format.Hash, check bool) ([]byte, error) {
	key := name
	if !check {
		key += " unchecked" // a checking caller never shares an unchecked fetch
	}
	data, err, _ := o.fetches.Do(key, func() (any, error) {
		data, err := o.store.Get(ctx, name)
		if err == nil && !check {
			return data, nil
		}
		if err == nil {
			sum := sha256.Sum256(data)
			if subtle.ConstantTimeCompare(sum[:], h[:]) != 1 {
				return nil, &IntegrityError{Object: name, Problem: "content does not match its hash"}
			}
			return data, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &IntegrityError{Object: name, Problem: "object is missing from the remote", Missing: true}
		}
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	return data.([]byte), nil
}

// Cached puts a decrypted chunk just written in the cache of decrypted
// chunks, under the hash of its object.
func (o *Store) Cached(h format.Hash, plain []byte) { o.cache.add(h, plain) }

// CachedChunk is chunk h's plaintext if the cache has it.
func (o *Store) CachedChunk(h format.Hash) ([]byte, bool) { return o.cache.get(h) }

// Chunk returns the chunk object named by h opened (decrypted and checked)
// by open, from the cache of decrypted chunks or the store; concurrent
// callers for one chunk (a reader and its read-ahead) share one fetch and
// one open. checkHash checks the object against its hash first; a chunk
// whose open authenticates every byte for its place needs no such check.
// open is given memory of its own, which it may decrypt into.
func (o *Store) Chunk(ctx context.Context, h format.Hash, checkHash bool, open func(obj []byte) ([]byte, error)) ([]byte, error) {
	if b, ok := o.cache.get(h); ok {
		return b, nil
	}
	pt, err, _ := o.chunks.Do(h.String(), func() (any, error) {
		if b, ok := o.cache.get(h); ok {
			return b, nil
		}
		obj, err := o.get(ctx, format.ObjectName(h), h, checkHash)
		if err != nil {
			return nil, err
		}
		o.mu.Lock()
		queued, shared := o.pending[format.ObjectName(h)]
		o.mu.Unlock()
		if shared && queued != nil {
			obj = bytes.Clone(obj) // open may use the object's memory; a queued upload's is not ours
		}
		pt, err := open(obj)
		if err != nil {
			return nil, err
		}
		o.cache.add(h, pt)
		return pt, nil
	})
	if err != nil {
		return nil, err
	}
	return pt.([]byte), nil
}

// IntegrityError is an object that is missing, altered or does not belong
// where the volume found it. Reads turn it into EIO.
type IntegrityError struct {
	Object  string
	Problem string
	Missing bool // the remote does not have the object
}

func (e *IntegrityError) Error() string { return fmt.Sprintf("%s: %s", e.Object, e.Problem) }

// chunkCache keeps decrypted chunks by object hash, least recently used
// out first, within a budget of the bytes their buffers hold.
type chunkCache struct {
	mu   sync.Mutex
	max  int64
	size int64
	lru  *simplelru.LRU[format.Hash, []byte]
}

func newChunkCache(max int64) *chunkCache {
	c := &chunkCache{max: max}
	// Bounded by bytes (add), not by count: the count bound only has to be
	// out of the way.
	c.lru, _ = simplelru.NewLRU(1<<30, func(_ format.Hash, data []byte) { c.size -= int64(cap(data)) })
	return c
}

func (c *chunkCache) get(h format.Hash) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Get(h)
}

func (c *chunkCache) add(h format.Hash, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Contains(h) {
		return
	}
	c.lru.Add(h, data)
	c.size += int64(cap(data)) // what the buffer holds, not what it shows
	for c.size > c.max && c.lru.Len() > 0 {
		c.lru.RemoveOldest()
	}
}
