package objects

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/remote/shards"
)

// Place is where a chunk object is: whole on every node (no Shards), or
// cut into Layout's shards, shard j on node j, Shards[j] its hash.
type Place struct {
	Hash   format.Hash
	Size   int // the object's bytes (for shards)
	Layout shards.Layout
	Shards []format.Hash
}

// sharded reports whether the object is stored as shards.
func (p Place) sharded() bool { return len(p.Shards) > 0 }

// unit is where shards are cut: segment boundaries, so that a range of
// segments is a range of one shard (or two).
const unit = format.SealedSegmentSize

// errMissing is an object a node does not have.
var errMissing = errors.New("missing")

// queued reports whether upload k is queued, with its object when that is
// in memory (nil while it waits in the spill folder).
func (o *Store) queued(k itemKey) ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if it, ok := o.pending[k]; ok {
		return it.data, true
	}
	return nil, false
}

// nodeGet is node j's copy of name: a queued upload's (copied: a reader
// may open it in place, as Chunk's do), or the backend's.
func (o *Store) nodeGet(ctx context.Context, j int, name string) ([]byte, error) {
	k := itemKey{j, name}
	data, queued := o.queued(k)
	if data != nil {
		return bytes.Clone(data), nil
	}
	if queued {
		if b, err := os.ReadFile(o.spillPath(k)); err == nil {
			return b, nil
		}
	}
	start := time.Now()
	b, err := o.nodes[j].b.Get(ctx, name)
	o.nodes[j].health.after(start, err)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errMissing
	}
	return b, err
}

// nodeRange is n bytes from off of node j's copy of name (fewer where it
// ends), in memory of the caller's: buf where it holds n bytes (the result
// then shares it), else new.
func (o *Store) nodeRange(ctx context.Context, j int, name string, off, n int64, buf []byte) ([]byte, error) {
	var dst []byte // buf as the n bytes to fill, nil where it is too small
	if int64(cap(buf)) >= n {
		dst = buf[:n]
	}
	k := itemKey{j, name}
	data, queued := o.queued(k)
	if data != nil {
		part := data[min(off, int64(len(data))):min(off+n, int64(len(data)))]
		if dst != nil {
			return dst[:copy(dst, part)], nil
		}
		return bytes.Clone(part), nil
	}
	if queued {
		if f, err := os.Open(o.spillPath(k)); err == nil {
			defer f.Close()
			b := dst
			if b == nil {
				b = make([]byte, n)
			}
			got, err := f.ReadAt(b, off)
			if err == nil || errors.Is(err, io.EOF) {
				return b[:got], nil
			}
		}
	}
	start := time.Now()
	var b []byte
	var err error
	if r, ok := o.nodes[j].b.(RangeReader); ok && dst != nil {
		var got int
		got, err = r.ReadRange(ctx, name, off, dst)
		b = dst[:got]
	} else {
		b, err = o.nodes[j].b.GetRange(ctx, name, off, n)
	}
	o.nodes[j].health.after(start, err)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errMissing
	}
	return b, err
}

// one is the order of a single node.
var one = []int{0}

// order is the nodes to ask for a whole object, the healthy first.
func (o *Store) order() []int {
	if len(o.nodes) == 1 {
		return one
	}
	js := make([]int, len(o.nodes))
	for j := range js {
		js[j] = j
	}
	now := time.Now()
	sort.SliceStable(js, func(a, b int) bool {
		return !o.nodes[js[a]].health.avoid(now) && o.nodes[js[b]].health.avoid(now)
	})
	return js
}

// hedged runs try on the candidates one after another, starting the next
// when one fails or has not answered within its node's hedge delay, and
// returns the first success; the others are cancelled. With every one
// failing it returns the error of each, missing ones as errMissing.
func (o *Store) hedged(ctx context.Context, candidates []int, try func(ctx context.Context, j int) ([]byte, error)) ([]byte, []error) {
	if len(candidates) == 1 { // one node: nothing to hedge with, no goroutine
		b, err := try(ctx, candidates[0])
		if err != nil {
			return nil, []error{err}
		}
		return b, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i   int
		b   []byte
		err error
	}
	results := make(chan result, len(candidates))
	errs := make([]error, len(candidates))
	start := func(i int) {
		go func() {
			b, err := try(ctx, candidates[i])
			results <- result{i, b, err}
		}()
	}
	next, running := 0, 0
	for {
		if next < len(candidates) && running == 0 {
			start(next)
			next++
			running++
		}
		var timer <-chan time.Time
		if next < len(candidates) && len(candidates) > 1 {
			timer = time.After(o.nodes[candidates[next-1]].health.hedgeDelay())
		}
		select {
		case r := <-results:
			running--
			if r.err == nil {
				return r.b, nil
			}
			errs[r.i] = r.err
			if running == 0 && next == len(candidates) {
				return nil, errs
			}
		case <-timer:
			o.nodes[candidates[next-1]].health.slow()
			start(next)
			next++
			running++
		case <-ctx.Done():
			for i := range errs {
				if errs[i] == nil {
					errs[i] = ctx.Err()
				}
			}
			return nil, errs
		}
	}
}

// Get returns the object named by h, checking its hash: a queued upload, or
// a fetch from its nodes (one at a time per object).
func (o *Store) Get(ctx context.Context, name string, h format.Hash) ([]byte, error) {
	return o.get(ctx, name, h, true, false)
}

// get is Get, checking a fetched object's hash only with check. A caller
// that changes the bytes and gives them back to the remote's buffers
// (Chunk: its own flights make one fetch per chunk) fetches alone: a fetch
// shared with other callers hands them all one buffer.
func (o *Store) get(ctx context.Context, name string, h format.Hash, check, alone bool) ([]byte, error) {
	key := name
	if !check {
		key += " unchecked" // a checking caller never shares an unchecked fetch
	}
	fetch := func() (any, error) {
		b, errs := o.hedged(ctx, o.order(), func(ctx context.Context, j int) ([]byte, error) {
			b, err := o.nodeGet(ctx, j, name)
			if err == nil && check {
				if sum := format.HashOf(b); subtle.ConstantTimeCompare(sum[:], h[:]) != 1 {
					o.integrity(j, name, "does not match its hash")
					return nil, &IntegrityError{Object: name, Problem: "content does not match its hash"}
				}
			}
			if errors.Is(err, errMissing) && len(o.nodes) > 1 {
				o.integrity(j, name, "is missing")
			}
			return b, err
		})
		if errs == nil {
			return b, nil
		}
		return nil, o.fetchError(name, errs)
	}
	var data any
	var err error
	if alone {
		data, err = fetch()
	} else {
		data, err, _ = o.fetches.Do(key, fetch)
	}
	if err != nil {
		return nil, err
	}
	return data.([]byte), nil
}

// integrity notes an object (or shard) that node j lacks or holds
// altered: in its health record, the log, and to Config.OnIntegrity.
func (o *Store) integrity(j int, name, problem string) {
	if problem == "is missing" {
		o.nodes[j].health.missing()
	} else {
		o.nodes[j].health.corrupt()
	}
	o.logf("integrity: %s %s%s", name, problem, o.nodeAt(j))
	if o.onIntegrity != nil {
		o.onIntegrity(j, name, problem)
	}
}

// nodeAt says which node, when there are several.
func (o *Store) nodeAt(j int) string {
	if len(o.nodes) < 2 {
		return ""
	}
	return fmt.Sprintf(" on node %d", j+1)
}

// fetchError is what a fetch that no node answered returns: the object
// missing everywhere, altered everywhere it was found, or the nodes' error.
func (o *Store) fetchError(name string, errs []error) error {
	missing, altered := 0, 0
	var other error
	for _, err := range errs {
		var ie *IntegrityError
		switch {
		case errors.Is(err, errMissing):
			missing++
		case errors.As(err, &ie):
			altered++
		case other == nil:
			other = err
		}
	}
	switch {
	case other != nil && missing+altered < len(errs):
		return other
	case altered > 0:
		return &IntegrityError{Object: name, Problem: "content does not match its hash"}
	default:
		return &IntegrityError{Object: name, Problem: "object is missing from the remote", Missing: true}
	}
}

// Chunk returns the chunk object at p opened (decrypted and checked) by
// open, from the cache of decrypted chunks or the nodes, held until
// release: its bytes stay as they are until then, and not after.
// Concurrent callers for one chunk (a reader and its read-ahead) share one
// fetch and one open. checkHash checks a whole object against its hash
// first; a chunk whose open authenticates every byte for its place needs
// no such check. open is given memory of its own, which it may decrypt
// into. A sharded chunk whose shards do not open is rebuilt from the
// shards that match their hashes.
func (o *Store) Chunk(ctx context.Context, p Place, checkHash bool, open func(obj []byte) ([]byte, error)) (plain []byte, release func(), err error) {
	return o.cache.fetch(p.Hash, func() ([]byte, error) {
		var obj []byte
		var err error
		if p.sharded() {
			obj, err = o.readShards(ctx, p, 0, p.Size)
		} else {
			obj, err = o.get(ctx, format.ObjectName(p.Hash), p.Hash, checkHash, true)
		}
		if err != nil && !p.sharded() {
			return nil, err
		}
		var pt []byte
		if err == nil {
			pt, err = open(obj)
		}
		if err != nil && p.sharded() {
			if obj, err = o.rebuild(ctx, p); err == nil {
				pt, err = open(obj)
			}
		}
		return pt, err
	})
}

// GetRange returns n bytes of the object at p from offset off opened by
// open (which authenticates them, and may decrypt in place): from a queued
// upload, a ranged fetch, or the shards that hold the range. Shards that
// do not open are replaced by the shards that match their hashes. The
// sealed bytes are read into buf where it holds n, one node is asked and
// that node reads into the caller's memory (RangeReader) or holds the
// object queued (the result then shares buf); else into new memory.
func (o *Store) GetRange(ctx context.Context, p Place, off, n int64, buf []byte, open func(sealed []byte) ([]byte, error)) ([]byte, error) {
	name := format.ObjectName(p.Hash)
	if p.sharded() {
		sealed, err := o.readShards(ctx, p, int(off), int(n))
		var pt []byte
		if err == nil {
			pt, err = open(sealed)
		}
		if err == nil {
			return pt, nil
		}
		obj, rerr := o.rebuild(ctx, p)
		if rerr != nil {
			return nil, rerr
		}
		end := min(off+n, int64(len(obj)))
		return open(obj[min(off, end):end])
	}
	order := o.order()
	if len(order) > 1 {
		buf = nil // hedged fetches run at once: each needs memory of its own
	}
	b, errs := o.hedged(ctx, order, func(ctx context.Context, j int) ([]byte, error) {
		return o.nodeRange(ctx, j, name, off, n, buf)
	})
	if errs != nil {
		return nil, o.fetchError(name, errs)
	}
	return open(b)
}

// readShards returns bytes [off, off+n) of a sharded object, each part
// from the data shard that holds it, or, when that shard's node fails or
// is slow, rebuilt from the same range of k others; in new memory.
func (o *Store) readShards(ctx context.Context, p Place, off, n int) ([]byte, error) {
	l := p.Layout
	if len(p.Shards) != l.N() || l.N() > len(o.nodes) {
		return nil, &IntegrityError{Object: format.ObjectName(p.Hash), Problem: fmt.Sprintf("%d shards, and %d storage nodes", len(p.Shards), len(o.nodes))}
	}
	n = max(min(n, p.Size-off), 0)
	out := make([]byte, n)
	pieces := l.Pieces(p.Size, unit, off, n)
	errs := make([]error, len(pieces))
	var wg sync.WaitGroup
	for i, pc := range pieces {
		wg.Go(func() {
			b, err := o.piece(ctx, p, pc)
			if err == nil && len(b) != pc.Len {
				err = &IntegrityError{Object: format.ObjectName(p.Hash), Problem: "a shard is shorter than its place says"}
			}
			if err == nil {
				copy(out[pc.At:], b)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// piece fetches one piece of a range: from its data shard, hedged with a
// rebuild from the same range of the other shards.
func (o *Store) piece(ctx context.Context, p Place, pc shards.Piece) ([]byte, error) {
	direct := func(ctx context.Context) ([]byte, error) {
		return o.nodeRange(ctx, pc.Shard, format.ObjectName(p.Shards[pc.Shard]), int64(pc.Off), int64(pc.Len), nil)
	}
	if o.nodes[pc.Shard].health.avoid(time.Now()) {
		if b, err := o.rebuildRange(ctx, p, pc); err == nil {
			return b, nil
		}
		return direct(ctx)
	}
	b, errs := o.hedged(ctx, []int{pc.Shard, -1}, func(ctx context.Context, j int) ([]byte, error) {
		if j < 0 {
			return o.rebuildRange(ctx, p, pc)
		}
		b, err := direct(ctx)
		if errors.Is(err, errMissing) {
			o.integrity(j, format.ObjectName(p.Shards[j]), "is missing")
		}
		return b, err
	})
	if errs != nil {
		return nil, o.fetchError(format.ObjectName(p.Hash), errs)
	}
	return b, nil
}

// rebuildRange rebuilds a piece from the same byte range of k other shards.
func (o *Store) rebuildRange(ctx context.Context, p Place, pc shards.Piece) ([]byte, error) {
	l := p.Layout
	have := make([][]byte, l.N())
	var mu sync.Mutex
	good := 0
	var wg sync.WaitGroup
	var candidates []int
	now := time.Now()
	for j := range l.N() {
		if j == pc.Shard {
			continue
		}
		if j < l.K && l.DataLen(j, p.Size, unit) <= pc.Off {
			have[j] = []byte{} // all zeros there, as encoded
			good++
			continue
		}
		candidates = append(candidates, j)
	}
	sort.SliceStable(candidates, func(a, b int) bool {
		return !o.nodes[candidates[a]].health.avoid(now) && o.nodes[candidates[b]].health.avoid(now)
	})
	for len(candidates) > 0 && good < l.K {
		want := min(l.K-good, len(candidates))
		batch := candidates[:want]
		candidates = candidates[want:]
		for _, j := range batch {
			wg.Go(func() {
				b, err := o.nodeRange(ctx, j, format.ObjectName(p.Shards[j]), int64(pc.Off), int64(pc.Len), nil)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					have[j] = b
					good++
				}
			})
		}
		wg.Wait()
	}
	if good < l.K {
		return nil, &IntegrityError{Object: format.ObjectName(p.Hash), Problem: fmt.Sprintf("fewer than %d of its %d shards can be read", l.K, l.N()), Missing: true}
	}
	return l.Rebuild(pc.Shard, have, p.Size, unit, pc.Off, pc.Len)
}

// rebuild fetches every shard of a sharded object whole, keeps those that
// match their hashes (noting the others as integrity events of their
// nodes), and joins the object from them, checked against its hash.
func (o *Store) rebuild(ctx context.Context, p Place) ([]byte, error) {
	obj, _, err := o.CheckShards(ctx, p)
	return obj, err
}

// CheckShards fetches every shard of a sharded object from its node and
// checks it against its hash; it returns the object joined from the good
// ones (checked against its own hash) and, by node, what was wrong with
// the others.
func (o *Store) CheckShards(ctx context.Context, p Place) ([]byte, map[int]string, error) {
	l := p.Layout
	name := format.ObjectName(p.Hash)
	if len(p.Shards) != l.N() {
		return nil, nil, &IntegrityError{Object: name, Problem: fmt.Sprintf("%d shards for layout %s", len(p.Shards), l)}
	}
	have := make([][]byte, l.N())
	problems := make([]string, l.N())
	var wg sync.WaitGroup
	for j := range l.N() {
		wg.Go(func() {
			shard := format.ObjectName(p.Shards[j])
			intact := func(b []byte) bool { return format.HashOf(b) == p.Shards[j] && len(b) == l.Len(j, p.Size, unit) }
			if j < len(o.nodes) {
				b, err := o.nodeGet(ctx, j, shard)
				switch {
				case errors.Is(err, errMissing):
					o.integrity(j, shard, "is missing")
					problems[j] = "shard missing"
				case err != nil:
					problems[j] = "shard unreadable: " + err.Error()
				case !intact(b):
					o.integrity(j, shard, "does not match its hash")
					problems[j] = "shard does not match its hash"
				default:
					have[j] = b
					return
				}
			}
			// Shard j is written to node j; one written in another layout
			// (a reshard under way) may be on any node.
			for i := range o.nodes {
				if i == j {
					continue
				}
				if b, err := o.nodeGet(ctx, i, shard); err == nil && intact(b) {
					have[j] = b
					if problems[j] == "shard missing" || j >= len(o.nodes) {
						problems[j] = ""
					}
					return
				}
			}
			if j >= len(o.nodes) {
				problems[j] = "shard missing"
			}
		})
	}
	wg.Wait()
	bad := map[int]string{}
	for j, pr := range problems {
		if pr != "" {
			bad[j] = pr
		}
	}
	obj, err := l.Join(have, p.Size, unit)
	if err != nil {
		return nil, bad, &IntegrityError{Object: name, Problem: fmt.Sprintf("fewer than %d of its %d shards are intact", l.K, l.N()), Missing: true}
	}
	// Intact shards make the object; a data shard rebuilt from parity is
	// checked against its hash too (parity that does not match the data).
	s := l.ShardSize(p.Size, unit)
	for j := range l.K {
		if have[j] != nil {
			continue
		}
		part := obj[min(j*s, len(obj)):min(j*s+l.DataLen(j, p.Size, unit), len(obj))]
		if sum := format.HashOf(part); subtle.ConstantTimeCompare(sum[:], p.Shards[j][:]) != 1 {
			return nil, bad, &IntegrityError{Object: name, Problem: "its shards do not make the object"}
		}
	}
	return obj, bad, nil
}
