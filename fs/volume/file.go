package volume

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
)

const (
	// readAhead is how many chunks past a sequential reader are fetched in
	// the background: 8 MiB keeps a remote busy while the reader decrypts.
	readAhead = 8
	// maxDirtyChunks bounds a file's unsealed chunks in memory; past it the
	// oldest are sealed early (a random writer over a large file).
	maxDirtyChunks = 64
)

// fileData is a file's content while it is open: its chunk list, the
// chunks changed since the last version (plaintext, in memory), and the
// version being built.
type fileData struct {
	mu        sync.Mutex
	loaded    bool
	key       []byte // seals the chunks of the loaded version (its key epoch)
	epoch     uint32
	sealKey   []byte // seals the chunks of the version being built
	sealEpoch uint32
	rekey     bool // the version being built re-seals every chunk
	chunks    []format.Chunk
	dirty     map[int64][]byte
	size      int64
	modified  bool
	next      uint64 // version being built while modified
	// base is the version the content was loaded from (0 and "" for none):
	// the version being built replaces it, which its anchor names.
	baseVersion  uint64
	baseManifest string
	readEnd      int64 // where the previous read ended
	nearReads    int   // reads in a row that began near where the one before ended
	// sealing is the chunk a sequential writer finished last, being sealed
	// and queued in the background while the next one arrives (nil: none).
	// Its plaintext stays in dirty, unchanged, until settle publishes it.
	sealing *pendingSeal
}

// pendingSeal is one chunk's sealing in the background.
type pendingSeal struct {
	i     int64
	plain []byte
	done  chan struct{} // closed once chunk and hash are set and the object is queued
	chunk format.Chunk
	hash  format.Hash
}

// lock takes the file's lock with no chunk left sealing in the background:
// what follows sees every sealed chunk in chunks and none in dirty.
func (f *fileData) lock(v *Volume) {
	f.mu.Lock()
	f.settle(v)
}

// settle waits for the chunk sealing in the background, if any, and puts
// it in the chunk list in place of its plaintext. Called with f.mu held.
func (f *fileData) settle(v *Volume) {
	p := f.sealing
	if p == nil {
		return
	}
	<-p.done
	f.sealing = nil
	f.publish(v, p.i, p.chunk, p.hash, p.plain)
}

// publish puts sealed chunk i, entry c of hash h, in the chunk list in
// place of its plaintext b, which the cache of decrypted chunks keeps.
// Called with f.mu held.
func (f *fileData) publish(v *Volume, i int64, c format.Chunk, h format.Hash, b []byte) {
	v.obj.Cached(h, b)
	f.chunks[i] = c
	delete(f.dirty, i)
}

// Handle is an open file.
type Handle struct {
	v *Volume
	n *Node
	f *fileData
	// read is set once a read through the handle has touched the access time.
	read atomic.Bool
	// served counts the bytes reads through the handle returned.
	served atomic.Int64
}

// Open opens file n for reading and writing.
func (v *Volume) Open(n *Node) (*Handle, error) {
	if n.typ != format.TypeFile {
		return nil, syscall.EISDIR
	}
	f := v.acquire(n)
	f.lock(v)
	var err error
	if !f.loaded {
		err = v.ledgerCheck(n)
	}
	if err == nil {
		err = v.load(n, f)
	} else {
		err = v.integrity(err)
	}
	f.mu.Unlock()
	if err != nil {
		v.release(n)
		return nil, err
	}
	v.fetchAhead(n)
	return &Handle{v: v, n: n, f: f}, nil
}

const (
	// fetchAheadFiles is how many files after one opened, in its folder's
	// name order, have their manifests (and a small file its content)
	// fetched in the background: a reader of a folder's files one after
	// another (cat *, cp -r, tar) finds them in memory.
	fetchAheadFiles = 64
	// fetchAheadBytes bounds the content of those files (counted up to a
	// chunk each), so that a folder of large files is not read far ahead.
	fetchAheadBytes = 8 << 20
	// fetchAheadWorkers bounds those fetches at once, for the volume.
	fetchAheadWorkers = 4
)

// fetchAhead fetches, in the background, the manifests of the files after
// n in its folder's name order, and the content of those that fit in one
// chunk, into the caches of metadata objects and decrypted chunks (both
// bounded). Like the kernel's read-ahead, it runs for a file not fetched
// ahead, and again at the file halfway through what it fetched; each
// version is fetched ahead once. Called without v.mu.
func (v *Volume) fetchAhead(n *Node) {
	type ahead struct {
		n        *Node
		version  uint64
		manifest string
		dom      *domain
	}
	var next []ahead
	v.mu.Lock()
	if len(n.parents) > 0 && n.parents[0].entries != nil && (n.fetched != n.version || n.fetchMark) {
		n.fetchMark = false
		d := n.parents[0]
		me := nameIn(d, n)
		names := namesAfter(d, me, fetchAheadFiles, func(c *Node) bool {
			return c.typ == format.TypeFile && c.version > 0 && c.fetched != c.version && c.data == nil
		})
		var content int64
		for k, name := range names {
			if content += min(d.entries[name].size, int64(v.chunkSize)); content > fetchAheadBytes && k > 0 {
				names = names[:k]
				break
			}
		}
		for k, name := range names {
			c := d.entries[name]
			c.fetched, c.fetchMark = c.version, k == len(names)/2
			next = append(next, ahead{n: c, version: c.version, manifest: c.manifest, dom: c.dom})
		}
	}
	v.mu.Unlock()
	if len(next) == 0 {
		return
	}
	v.bg.Add(1)
	go func() { // the open goes on at once
		defer v.bg.Done()
		var wg sync.WaitGroup
		for _, a := range next {
			v.aheadSlots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-v.aheadSlots; wg.Done() }()
				ctx := context.Background()
				m, err := v.readManifest(ctx, a.dom, a.n.id, a.version, a.manifest)
				if err != nil || len(m.Chunks) != 1 || m.Chunks[0].Hash == "" {
					return // its open fetches it again, and says what is wrong
				}
				if key, ok := a.dom.fileKey(v, a.n.id, m.Epoch); ok {
					v.prefetch(a.n, key, 0, m.Chunks[0]) // as above
				}
			}()
		}
		wg.Wait()
	}()
}

func (v *Volume) acquire(n *Node) *fileData {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n.data == nil {
		n.data = &fileData{dirty: map[int64][]byte{}}
		v.open[n] = struct{}{}
	}
	n.opens++
	return n.data
}

func (v *Volume) release(n *Node) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n.opens--; n.opens == 0 {
		n.data = nil
		delete(v.open, n)
		v.forgetIfGone(n)
	}
}

// forgetIfGone cancels the uploads and anchors of a file that has no name
// and no open handle left, for what of it has not reached the remote: it is
// gone, and a full remote must not keep waiting for it. Called with v.mu held.
func (v *Volume) forgetIfGone(n *Node) {
	if n.typ != format.TypeFile || len(n.parents) > 0 || n.opens > 0 {
		return
	}
	names := v.obj.Drop(n.id)
	if len(names) > 0 && v.outbox != nil {
		v.outbox.DropUnstored(n.id.String(), names)
	}
}

// load reads the file's manifest the first time. Called with f.mu held.
func (v *Volume) load(n *Node, f *fileData) error {
	if f.loaded {
		return nil
	}
	v.mu.Lock()
	version, manifest := n.version, n.manifest
	v.mu.Unlock()
	if version > 0 {
		m, err := v.readManifest(context.Background(), n.dom, n.id, version, manifest)
		if err != nil {
			return v.integrity(err)
		}
		f.chunks, f.size, f.epoch = m.Chunks, m.Size, m.Epoch
		f.key, _ = n.dom.fileKey(v, n.id, m.Epoch)
	} else {
		f.chunks, f.size = nil, 0
	}
	f.baseVersion, f.baseManifest = version, manifest
	f.loaded = true
	return nil
}

// keyFor is the key of chunk c: the version being built seals in its own
// epoch, which a key rotation may have made newer than the loaded one's.
func (f *fileData) keyFor(c format.Chunk) []byte {
	if f.modified && c.Version == f.next && f.sealKey != nil {
		return f.sealKey
	}
	return f.key
}

const (
	// manifestCacheEntries and manifestCacheChunks bound the cache of
	// opened manifests: those of small files (up to 64 chunks), 4096 of
	// them, by hash and key domain. Opening a file again, or one fetched
	// ahead, needs no decoding.
	manifestCacheEntries = 4096
	manifestCacheChunks  = 64
)

// readManifest fetches and opens a file version's manifest, sealed in key
// domain dom. The manifest is the caller's to change.
func (v *Volume) readManifest(ctx context.Context, dom *domain, file format.ID, version uint64, hash string) (*format.Manifest, error) {
	cached := hash + " " + dom.ledgerID() // opened with that domain's keys
	if m, ok := v.manifests.Get(cached); ok && m.File == file.String() && m.Version == version {
		return ownCopy(m), nil
	}
	// An open that meets a fetch ahead of the same manifest waits for it
	// rather than decoding it again; each caller gets its own copy of one
	// shared or cached (a large manifest is neither, and is not copied).
	got, err, shared := v.manifestFetches.Do(cached+" "+file.String()+" "+strconv.FormatUint(version, 10), func() (any, error) {
		m, err := v.openManifest(ctx, dom, file, version, hash)
		if err == nil && len(m.Chunks) <= manifestCacheChunks {
			v.manifests.Add(cached, m)
		}
		return m, err
	})
	if err != nil {
		return nil, err
	}
	m := got.(*format.Manifest)
	if !shared && len(m.Chunks) > manifestCacheChunks {
		return m, nil
	}
	return ownCopy(m), nil
}

// ownCopy is a copy of manifest m that its caller may change.
func ownCopy(m *format.Manifest) *format.Manifest {
	c := *m
	c.Chunks = slices.Clone(m.Chunks)
	return &c
}

// openManifest is readManifest from the store.
func (v *Volume) openManifest(ctx context.Context, dom *domain, file format.ID, version uint64, hash string) (*format.Manifest, error) {
	h, err := format.ParseHash(hash)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", file, err)
	}
	obj, err := v.obj.GetMeta(ctx, format.ObjectName(h), h)
	if err != nil {
		return nil, err
	}
	pt, epoch, err := dom.open(v, format.ManifestAAD(v.id, file, version), obj)
	if err != nil {
		return nil, fmt.Errorf("manifest %s of file %s: %w", h, file, err)
	}
	var m format.Manifest
	if err := format.Decode(pt, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", h, err)
	}
	if m.File != file.String() || m.Version != version || m.Epoch != epoch {
		return nil, fmt.Errorf("manifest %s belongs to another file version", h)
	}
	if err := m.Validate(v.chunkSize); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", h, err)
	}
	return &m, nil
}

// chunkLen is the plaintext length of chunk i of a file of the given size.
func (v *Volume) chunkLen(size, i int64) int {
	cs := int64(v.chunkSize)
	if rest := size - i*cs; rest < cs {
		return int(max(rest, 0))
	}
	return v.chunkSize
}

// plain returns chunk c (index i) of file n decrypted, from the cache or
// the store, held until release (its bytes are not to be changed, nor used
// after); concurrent callers for one chunk (a reader and its read-ahead)
// share one fetch and one decryption.
func (v *Volume) plain(ctx context.Context, n *Node, key []byte, i int64, c format.Chunk) (pt []byte, release func(), err error) {
	if c.Data != nil { // in the manifest, checked by its hash with it
		pt, err := v.openChunk(key, n.id, i, c, bytes.Clone(c.Data))
		return pt, noRelease, err
	}
	// A segmented chunk is checked segment by segment by its seal; a
	// format-1 chunk by its hash (see docs/FORMAT.md, "Reading").
	p, err := place(c)
	if err != nil {
		return nil, nil, err
	}
	return v.obj.Chunk(ctx, p, !c.Segmented(), func(obj []byte) ([]byte, error) {
		return v.openChunk(key, n.id, i, c, obj)
	})
}

// noRelease is the release of bytes nobody else holds.
func noRelease() {}

// prefetch brings chunk c (index i) of file n into the cache of decrypted
// chunks, for a read to come; a failure is the read's to find again.
func (v *Volume) prefetch(n *Node, key []byte, i int64, c format.Chunk) {
	if _, release, err := v.plain(context.Background(), n, key, i, c); err == nil {
		release()
	}
}

// sequentialSlack is how far from the end of the previous read a read may
// start and still count as sequential: whole chunks are fetched for it, and
// the next ones ahead of it. Other reads of a segmented chunk fetch only the
// segments they need.
const sequentialSlack = 256 << 10

// ReadAt reads from the file's current content.
func (h *Handle) ReadAt(p []byte, off int64) (int, error) {
	b, release, err := h.Read(p, off)
	if len(b) > 0 && &b[0] != &p[0] {
		copy(p, b)
	}
	release()
	return len(b), err
}

// Read is ReadAt that may answer with the plaintext the volume holds
// instead of a copy in p (a read within one chunk read whole), held until
// release: the bytes returned are not to be changed, nor used after.
func (h *Handle) Read(p []byte, off int64) (b []byte, release func(), err error) {
	v, f := h.v, h.f
	if !h.read.Swap(true) {
		v.touchAtime(h.n)
	}
	type want struct {
		i     int64
		c     format.Chunk
		key   []byte // taken under f.mu: a new version may change it
		dst   []byte
		start int
		// ranged: fetch only the segments dst needs, not the whole chunk
		// (a read that is not sequential, of a segmented chunk)
		ranged bool
	}
	var fetches []want
	f.lock(v)
	if err := v.load(h.n, f); err != nil {
		f.mu.Unlock()
		return nil, noRelease, err
	}
	if off >= f.size {
		f.mu.Unlock()
		return nil, noRelease, io.EOF
	}
	total := int(min(int64(len(p)), f.size-off))
	cs := int64(v.chunkSize)
	for done := 0; done < total; {
		pos := off + int64(done)
		i, in := pos/cs, int(pos%cs)
		n := min(total-done, v.chunkSize-in)
		dst := p[done : done+n]
		if b, ok := f.dirty[i]; ok {
			m := copy(dst, b[min(in, len(b)):])
			clear(dst[m:])
		} else if c := f.chunks[i]; c.Hash == "" {
			clear(dst)
		} else {
			fetches = append(fetches, want{i: i, c: c, key: f.keyFor(c), dst: dst, start: in})
		}
		done += n
	}
	last := (off + int64(total) - 1) / cs
	// The kernel's read-ahead may have a few reads in flight, out of order:
	// a reader is sequential from its second read in a row near the end of
	// the one before (or its first, from the start of the file).
	if off >= f.readEnd-sequentialSlack && off <= f.readEnd+sequentialSlack {
		f.nearReads++
	} else {
		f.nearReads = 0
	}
	sequential := f.nearReads >= 2 || (f.nearReads == 1 && f.readEnd == 0)
	f.readEnd = off + int64(total)
	for k := range fetches {
		fetches[k].ranged = !sequential && fetches[k].c.Segmented()
	}
	var ahead []want
	if sequential {
		for i := last + 1; i <= last+readAhead && i < int64(len(f.chunks)); i++ {
			if _, d := f.dirty[i]; !d && f.chunks[i].Hash != "" {
				ahead = append(ahead, want{i: i, c: f.chunks[i], key: f.keyFor(f.chunks[i])})
			}
		}
	}
	f.mu.Unlock()

	for _, w := range ahead {
		go v.prefetch(h.n, w.key, w.i, w.c)
	}
	var fill func(w want) error
	fill = func(w want) error {
		if w.ranged {
			b, release, err := v.plainRange(context.Background(), h.n, w.key, w.i, w.c, w.start, len(w.dst))
			if err == nil {
				copy(w.dst, b)
				release()
			}
			return err
		}
		b, release, err := v.plain(context.Background(), h.n, w.key, w.i, w.c)
		if err == nil {
			copy(w.dst, b[w.start:])
			release()
			return nil
		}
		var damaged *objects.IntegrityError
		if w.c.Segmented() && errors.As(err, &damaged) && !damaged.Missing {
			// A damaged segment fails the whole chunk; the bytes asked for
			// may be in others, each authenticated on its own.
			w.ranged = true
			return fill(w)
		}
		return err
	}
	if len(fetches) > 1 {
		var wg sync.WaitGroup
		errs := make([]error, len(fetches))
		for k, w := range fetches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[k] = fill(w)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, noRelease, v.integrity(err)
			}
		}
	} else if len(fetches) == 1 {
		w := fetches[0]
		if !w.ranged && len(w.dst) == total {
			// The whole read is in this chunk: its plaintext is the answer.
			if b, release, err := v.plain(context.Background(), h.n, w.key, w.i, w.c); err == nil {
				h.served.Add(int64(total))
				return b[w.start : w.start+total], release, nil
			}
		}
		if err := fill(w); err != nil {
			return nil, noRelease, v.integrity(err)
		}
	}
	h.served.Add(int64(total))
	return p[:total], noRelease, nil
}

// Served is how many bytes reads through the handle returned.
func (h *Handle) Served() int64 { return h.served.Load() }

// RecordRead puts a read of the file through the handle on the ledger (in
// a batch, later): who read it, and how many bytes.
func (h *Handle) RecordRead(bytes int64) {
	h.v.Record("read", h.n, map[string]string{"bytes": strconv.FormatInt(bytes, 10),
		"at": time.Now().UTC().Format(time.RFC3339Nano)})
}

// begin marks the file modified and fixes the version being built. Called with f.mu held.
func (h *Handle) begin() error {
	if err := h.v.writableAt(h.n); err != nil {
		return err
	}
	if !h.f.modified {
		// A new version starts from the file's current one: another
		// writer's, adopted since this content was loaded, is loaded first.
		h.v.mu.Lock()
		moved := h.n.version != h.f.baseVersion || h.n.manifest != h.f.baseManifest
		h.v.mu.Unlock()
		if moved {
			h.f.loaded = false
		}
	}
	if err := h.v.load(h.n, h.f); err != nil {
		return err
	}
	if !h.f.modified {
		v, f, dom := h.v, h.f, h.n.dom
		v.mu.Lock()
		f.next = f.baseVersion + 1
		f.sealEpoch = dom.epoch()
		key, ok := dom.fileKey(v, h.n.id, f.sealEpoch)
		v.mu.Unlock()
		if !ok {
			return syscall.EACCES // a grantee whose key was rotated away
		}
		f.sealKey = key
		f.modified = true
	}
	return nil
}

// smallChunk is the most a first chunk is given room for ahead of its
// writes: a small file (most of them) gets a buffer of its size, not a
// whole chunk's, zeroed and collected for each.
const smallChunk = 64 << 10

// dirtyChunk returns chunk i's plaintext for editing, loading it if needed,
// with room for need bytes. Called with f.mu held.
func (h *Handle) dirtyChunk(i int64, whole bool, need int) ([]byte, error) {
	f := h.f
	if b, ok := f.dirty[i]; ok {
		return b, nil
	}
	room := h.v.chunkSize
	if i == 0 && need < smallChunk && (len(f.chunks) == 0 || f.chunks[0].Size < smallChunk) {
		room = (max(need, 1) + 4095) &^ 4095
	}
	var b []byte
	if i < int64(len(f.chunks)) {
		c := f.chunks[i]
		b = make([]byte, c.Size, max(c.Size, room))
		if c.Hash != "" && !whole {
			pt, release, err := h.v.plain(context.Background(), h.n, f.keyFor(c), i, c)
			if err != nil {
				return nil, h.v.integrity(err)
			}
			copy(b, pt)
			release()
		}
	} else {
		b = make([]byte, 0, room)
	}
	f.dirty[i] = b
	return b, nil
}

// extend is b at length n (at most a chunk), in a larger buffer when its
// own has no room: what lies past the old length is the caller's to set.
func (v *Volume) extend(b []byte, n int) []byte {
	if n <= cap(b) {
		return b[:n]
	}
	grown := make([]byte, n, min(v.chunkSize, max(n, 2*cap(b))))
	copy(grown, b)
	return grown
}

// grow extends the file to size with zeros: the last chunk is filled out,
// whole new chunks are holes. Called with f.mu held.
func (h *Handle) grow(size int64) error {
	f, cs := h.f, int64(h.v.chunkSize)
	if size <= f.size {
		return nil
	}
	if size > h.v.MaxFileSize() {
		return syscall.EFBIG
	}
	if last := int64(len(f.chunks)) - 1; last >= 0 && f.chunks[last].Size < h.v.chunkSize {
		n := int(min(cs, size-last*cs))
		b, err := h.dirtyChunk(last, false, n)
		if err != nil {
			return err
		}
		old := len(b)
		b = h.v.extend(b, n)
		clear(b[old:]) // bytes past the old end may be left from a truncate
		f.dirty[last] = b
		f.chunks[last].Size = len(b)
	}
	for int64(len(f.chunks))*cs < size {
		i := int64(len(f.chunks))
		f.chunks = append(f.chunks, format.Chunk{Size: h.v.chunkLen(size, i)})
	}
	f.size = size
	return nil
}

// WriteAt writes p at off, extending the file as needed.
func (h *Handle) WriteAt(p []byte, off int64) (int, error) {
	if h.v.obj.Full() {
		return 0, syscall.ENOSPC
	}
	if err := h.v.overQuota(); err != nil {
		return 0, err
	}
	if off < 0 || off+int64(len(p)) > h.v.MaxFileSize() {
		return 0, syscall.EFBIG
	}
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if err := h.begin(); err != nil {
		return 0, err
	}
	return h.write(p, off)
}

// Append writes p at the end of the file's current content (O_APPEND):
// the end as this volume knows it, which another writer's version adopted
// since the kernel last asked may have moved.
func (h *Handle) Append(p []byte) (int, error) {
	if h.v.obj.Full() {
		return 0, syscall.ENOSPC
	}
	if err := h.v.overQuota(); err != nil {
		return 0, err
	}
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if h.f.size+int64(len(p)) > h.v.MaxFileSize() {
		return 0, syscall.EFBIG
	}
	if err := h.begin(); err != nil {
		return 0, err
	}
	return h.write(p, h.f.size)
}

// write is WriteAt with f.mu held and the version begun.
func (h *Handle) write(p []byte, off int64) (int, error) {
	v, f := h.v, h.f
	cs := int64(v.chunkSize)
	if s := f.sealing; s != nil {
		first, last := off/cs, (off+int64(len(p))-1)/cs
		if off > f.size || first <= s.i && s.i <= last {
			f.settle(v) // a write into the chunk being sealed, or past the end
		}
	}
	if off > f.size {
		if err := h.grow(off); err != nil {
			return 0, err
		}
	}
	for done := 0; done < len(p); {
		pos := off + int64(done)
		i, in := pos/cs, int(pos%cs)
		n := min(len(p)-done, v.chunkSize-in)
		whole := in == 0 && (n == v.chunkSize || pos+int64(n) >= f.size)
		var b []byte
		if _, dirty := f.dirty[i]; !dirty && n == v.chunkSize {
			// A whole chunk written at once: its buffer is the write's
			// copy, not a cleared 1 MiB copied into.
			b = append([]byte(nil), p[done:done+n]...)
		} else {
			var err error
			if b, err = h.dirtyChunk(i, whole, in+n); err != nil {
				return done, err
			}
			if end := in + n; end > len(b) {
				old := len(b)
				b = v.extend(b, end)
				if in > old {
					clear(b[old:in]) // a gap past the old end reads as zeros
				}
			}
			copy(b[in:], p[done:done+n])
		}
		f.dirty[i] = b
		if i == int64(len(f.chunks)) {
			f.chunks = append(f.chunks, format.Chunk{})
		}
		f.chunks[i].Size = len(b)
		done += n
		if end := pos + int64(n); end > f.size {
			f.size = end
		}
		if len(b) == v.chunkSize && in+n == v.chunkSize {
			h.sealBehind(i) // a sequential writer finished this chunk
		}
	}
	if len(f.dirty) > maxDirtyChunks {
		for i := range f.dirty {
			h.seal(i)
		}
	}
	h.touch(f.size)
	return len(p), nil
}

// touch publishes the live size and modification time.
func (h *Handle) touch(size int64) {
	h.v.mu.Lock()
	h.n.live = size
	h.n.liveSet = true
	h.n.mtime = time.Now().UnixNano()
	h.n.ctime = h.n.mtime
	h.v.mu.Unlock()
}

// seal encrypts dirty chunk i for the version being built and queues its
// upload. Called with f.mu held.
func (h *Handle) seal(i int64) {
	f, v := h.f, h.v
	f.settle(v)
	b, ok := f.dirty[i]
	if !ok {
		return // it was the one sealing in the background
	}
	c, hash := h.sealed(i, b)
	if cap(b) > len(b)+len(b)/4 {
		// A short chunk lives in a buffer made for a whole one: the cache
		// keeps a copy of its own size, not the 1 MiB buffer.
		b = append([]byte(nil), b...)
	}
	f.publish(v, i, c, hash, b)
}

// sealBehind seals whole chunk i in the background, after the chunk sealed
// before it settles: the next FUSE write arrives, and is copied, while AES-GCM
// and SHA-256 run on the other core. Called with f.mu held.
func (h *Handle) sealBehind(i int64) {
	f := h.f
	f.settle(h.v)
	p := &pendingSeal{i: i, plain: f.dirty[i], done: make(chan struct{})}
	f.sealing = p
	go func() {
		p.chunk, p.hash = h.sealed(i, p.plain)
		close(p.done)
	}()
}

// sealed is plaintext b of chunk i sealed for the version being built, its
// object queued for upload: the chunk's entry and hash. It reads only what
// stays fixed while the version is built.
func (h *Handle) sealed(i int64, b []byte) (format.Chunk, format.Hash) {
	f, v := h.f, h.v
	obj, parts, c := v.sealChunk(f.sealKey, h.n.id, f.next, i, b)
	hash, _ := format.ParseHash(c.Hash)
	v.putChunk(h.n.id, c, obj, parts)
	return c, hash
}

// Truncate sets the file's size.
func (h *Handle) Truncate(size int64) error {
	if size < 0 {
		return syscall.EINVAL
	}
	if size > h.v.MaxFileSize() {
		return syscall.EFBIG
	}
	f, cs := h.f, int64(h.v.chunkSize)
	f.lock(h.v)
	defer f.mu.Unlock()
	if err := h.begin(); err != nil {
		return err
	}
	if size >= f.size {
		if err := h.grow(size); err != nil {
			return err
		}
		h.touch(f.size)
		return nil
	}
	keep := (size + cs - 1) / cs
	for i := range f.dirty {
		if i >= keep {
			delete(f.dirty, i)
		}
	}
	f.chunks = f.chunks[:keep]
	if rest := int(size % cs); rest != 0 {
		b, err := h.dirtyChunk(keep-1, false, rest)
		if err != nil {
			return err
		}
		f.dirty[keep-1] = b[:rest]
		f.chunks[keep-1].Size = rest
	}
	f.size = size
	h.touch(size)
	return nil
}

// Flush turns the changes since the last version into a new version: the
// remaining chunks are sealed and the manifest is written.
func (h *Handle) Flush() error {
	v, f, n := h.v, h.f, h.n
	f.lock(v)
	defer f.mu.Unlock()
	if !f.modified {
		return nil
	}
	for i := range f.dirty {
		h.seal(i)
	}
	if f.rekey || f.sealEpoch != f.epoch {
		// A new key epoch: the chunks carried over are re-sealed in it.
		for i, c := range f.chunks {
			if c.Hash == "" || c.Version == f.next {
				continue
			}
			pt, release, err := v.plain(context.Background(), n, f.key, int64(i), c)
			if err != nil {
				return v.integrity(err)
			}
			// A copy: the cache takes the buffer it publishes, and keeps
			// the one it holds.
			f.dirty[int64(i)] = bytes.Clone(pt)
			release()
			h.seal(int64(i))
		}
	}
	m := format.Manifest{Format: v.writeFormat(), File: n.id.String(), Version: f.next, Size: f.size,
		ChunkSize: v.chunkSize, Chunks: append([]format.Chunk{}, f.chunks...), Epoch: f.sealEpoch}
	m.MerkleRoot = format.MerkleRoot(m.Chunks)
	mk, _ := n.dom.metaKey(v, f.sealEpoch)
	obj := format.Seal(mk, format.ManifestAAD(v.id, n.id, f.next), format.Encode(m))
	hash := format.HashOf(obj)
	v.obj.PutFor(n.id, format.ObjectName(hash), obj)

	prev := f.baseManifest
	v.mu.Lock()
	n.version, n.manifest, n.size = f.next, hash.String(), f.size
	n.liveSet = false
	v.touchParents(n)
	// In the outbox under the tree lock: a commit that seals the tree with
	// this version also tags it (outbox.mark).
	v.anchor(n, &m, hash.String(), prev)
	v.mu.Unlock()
	f.modified, f.rekey = false, false
	f.key, f.epoch = f.sealKey, f.sealEpoch
	f.baseVersion, f.baseManifest = f.next, hash.String()
	return nil
}

// MaxFileSize is the largest size a file may have (format.MaxChunks
// chunks); growing one past it gives EFBIG.
func (v *Volume) MaxFileSize() int64 { return int64(v.chunkSize) * format.MaxChunks }

// Fsync makes the file's content and the tree durable on the remote.
func (h *Handle) Fsync(ctx context.Context) error {
	if err := h.Flush(); err != nil {
		return err
	}
	return h.v.commit(ctx)
}

// Release closes the handle, making a version of any changes.
func (h *Handle) Release() error {
	err := h.Flush()
	h.v.release(h.n)
	return err
}

// truncate is SetAttr's size change for a file that may not be open. When
// the file is open elsewhere (open(O_TRUNC) then write), the change joins
// the version those handles make at close instead of making one of its own.
func (v *Volume) truncate(n *Node, size int64) error {
	h, err := v.Open(n)
	if err != nil {
		return err
	}
	if err := h.Truncate(size); err != nil {
		h.Release()
		return err
	}
	v.mu.Lock()
	shared := n.opens > 1
	v.mu.Unlock()
	if shared {
		v.release(n)
		return nil
	}
	return h.Release()
}

// flushOpenFiles makes a version of every open file with changes.
func (v *Volume) flushOpenFiles() error {
	v.mu.Lock()
	var hs []*Handle
	for n := range v.open {
		hs = append(hs, &Handle{v: v, n: n, f: n.data})
	}
	v.mu.Unlock()
	for _, h := range hs {
		if err := h.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// Grow extends the file to at least size, with zeros.
func (h *Handle) Grow(size int64) error {
	h.f.lock(h.v)
	defer h.f.mu.Unlock()
	if size <= h.f.size {
		return nil
	}
	if size > h.v.MaxFileSize() {
		return syscall.EFBIG
	}
	if err := h.begin(); err != nil {
		return err
	}
	if err := h.grow(size); err != nil {
		return err
	}
	h.touch(size)
	return nil
}
