package volume

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/remote/shards"
)

// sealChunk seals plaintext pt as chunk i of file, in version, under the
// file key: segmented in a format-2 volume, one sealed object in a format-1
// one. It returns the object, its shards (on several storage nodes) and its
// manifest entry; a small segmented chunk's entry holds the object (Data),
// which is then not stored apart.
func (v *Volume) sealChunk(key []byte, file format.ID, version uint64, i int64, pt []byte) ([]byte, [][]byte, format.Chunk) {
	c := format.Chunk{Size: len(pt), Version: version}
	var obj []byte
	if v.writeFormat() >= format.Version {
		seal := format.NewSealID()
		obj = format.NewChunkSealer(key, v.id, file, seal, version, uint64(i)).Seal(make([]byte, 0, format.SegmentedSize(len(pt))), pt)
		c.Seal = seal.String()
	} else {
		obj = format.Seal(key, format.ChunkAAD(v.id, file, version, uint64(i)), pt)
	}
	if c.Seal != "" && len(pt) <= format.InlineMax {
		c.Hash = format.HashOf(obj).String()
		c.Data = obj
		return obj, nil, c
	}
	if c.Seal == "" || v.shards.N() == 0 {
		c.Hash = format.HashOf(obj).String()
		return obj, nil, c
	}
	// Cut into shards: the chunk's hash is that of its shards, so its bytes
	// are hashed once (docs/FORMAT.md, "Storage nodes and shards").
	parts, _ := v.shards.Split(obj, format.SealedSegmentSize) // fails only for a bad layout, refused at open
	hs := make([]format.Hash, len(parts))
	c.DataShards = v.shards.K
	for j, p := range parts {
		hs[j] = format.HashOf(p)
		c.Shards = append(c.Shards, hs[j].String())
	}
	c.Hash = format.ShardedHash(c.DataShards, hs).String()
	return obj, parts, c
}

// putChunk queues sealed chunk c's object obj (or its shards, parts) for
// upload for file, unless the manifest holds it (Data).
func (v *Volume) putChunk(file format.ID, c format.Chunk, obj []byte, parts [][]byte) {
	if c.Data != nil {
		return
	}
	if parts != nil {
		names := make([]string, len(parts))
		for j, h := range c.Shards {
			hh, _ := format.ParseHash(h)
			names[j] = format.ObjectName(hh)
		}
		v.obj.PutShards(file, names, parts)
		return
	}
	h, _ := format.ParseHash(c.Hash)
	v.obj.PutFor(file, format.ObjectName(h), obj)
}

// place is where chunk c's object is on the storage nodes.
func place(c format.Chunk) (objects.Place, error) {
	h, err := format.ParseHash(c.Hash)
	if err != nil {
		return objects.Place{}, err
	}
	p := objects.Place{Hash: h, Size: format.SegmentedSize(c.Size)}
	if len(c.Shards) > 0 {
		p.Layout = shards.Layout{K: c.DataShards, M: len(c.Shards) - c.DataShards}
		p.Shards = make([]format.Hash, len(c.Shards))
		for j, s := range c.Shards {
			if p.Shards[j], err = format.ParseHash(s); err != nil {
				return objects.Place{}, err
			}
		}
	}
	return p, nil
}

// sealerCacheSize bounds Volume.chunkSealers.
const sealerCacheSize = 1024

func newManifestCache() *lru.Cache[string, *format.Manifest] {
	c, _ := lru.New[string, *format.Manifest](manifestCacheEntries) // fails only for a size under 1
	return c
}

// sealerKey names the sealing of one chunk.
type sealerKey struct {
	seal    string
	file    format.ID
	version uint64
	index   int64
}

func newSealerCache() *lru.Cache[sealerKey, *format.ChunkSealer] {
	c, _ := lru.New[sealerKey, *format.ChunkSealer](sealerCacheSize) // fails only for a size under 1
	return c
}

// chunkSealer is the sealer of segmented chunk c, index i of file.
func (v *Volume) chunkSealer(key []byte, file format.ID, i int64, c format.Chunk) (*format.ChunkSealer, error) {
	name := sealerKey{c.Seal, file, c.Version, i}
	if s, ok := v.chunkSealers.Get(name); ok {
		return s, nil
	}
	seal, err := format.ParseSealID(c.Seal)
	if err != nil {
		return nil, err
	}
	s := format.NewChunkSealer(key, v.id, file, seal, c.Version, uint64(i))
	v.chunkSealers.Add(name, s)
	return s, nil
}

// openChunk opens the whole object obj of chunk c, index i of file; a
// segmented one is opened in obj's own memory (obj is the caller's to give).
func (v *Volume) openChunk(key []byte, file format.ID, i int64, c format.Chunk, obj []byte) ([]byte, error) {
	var pt []byte
	var err error
	if c.Segmented() {
		var s *format.ChunkSealer
		if s, err = v.chunkSealer(key, file, i, c); err == nil {
			if len(obj) != format.SegmentedSize(c.Size) {
				err = format.ErrAuth
			} else {
				pt, err = s.OpenInPlace(0, obj)
			}
		}
	} else {
		pt, err = format.Open(key, format.ChunkAAD(v.id, file, c.Version, uint64(i)), obj)
	}
	if err != nil || len(pt) != c.Size {
		h, _ := format.ParseHash(c.Hash)
		return nil, &objects.IntegrityError{Object: format.ObjectName(h), Problem: fmt.Sprintf("chunk %d of file %s failed authentication", i, file)}
	}
	return pt, nil
}

// plainRange returns plaintext bytes [off, off+n) of segmented chunk c
// (index i of file n), fetching and opening only the segments that hold
// them: a byte range of the object; held until release, as plain's.
func (v *Volume) plainRange(ctx context.Context, n *Node, key []byte, i int64, c format.Chunk, off, size int) (pt []byte, release func(), err error) {
	h, err := format.ParseHash(c.Hash)
	if err != nil {
		return nil, nil, err
	}
	if c.Data != nil {
		b, err := v.openChunk(key, n.id, i, c, bytes.Clone(c.Data))
		if err != nil {
			return nil, nil, err
		}
		return b[off : off+size], noRelease, nil
	}
	if b, release, ok := v.obj.CachedChunk(h); ok {
		return b[off : off+size], release, nil
	}
	s, err := v.chunkSealer(key, n.id, i, c)
	if err != nil {
		return nil, nil, err
	}
	p, err := place(c)
	if err != nil {
		return nil, nil, err
	}
	first, count, objOff, objLen := format.SegmentSpan(c.Size, off, size)
	start := off - first*format.SegmentSize
	buf := rangeBuffer(objLen)
	pt, err = v.obj.GetRange(ctx, p, int64(objOff), int64(objLen), *buf, func(sealed []byte) ([]byte, error) {
		got := len(sealed)
		pt, err := s.OpenInPlace(first, sealed)
		if err != nil || got != objLen || len(pt) < start+size {
			return nil, &objects.IntegrityError{Object: format.ObjectName(h), Problem: fmt.Sprintf("segments %d-%d of chunk %d of file %s failed authentication", first, first+count-1, i, n.id)}
		}
		return pt, nil
	})
	if err != nil {
		rangeBuffers.Put(buf)
		return nil, nil, err
	}
	return pt[start : start+size], func() { rangeBuffers.Put(buf) }, nil
}

// rangeBuffers holds the buffers ranged reads fetch sealed segments into,
// each back once the reader has copied its plaintext out: a random 4 KiB
// read used to make one, and garbage to collect, every time.
var rangeBuffers sync.Pool

// rangeBufferMin is the least a range buffer holds: a read of up to 32 KiB
// at any offset.
const rangeBufferMin = 9 * format.SealedSegmentSize

// rangeBuffer is a buffer of rangeBuffers that holds n bytes, or a new one.
func rangeBuffer(n int) *[]byte {
	if b, ok := rangeBuffers.Get().(*[]byte); ok && len(*b) >= n {
		return b
	}
	b := make([]byte, max(n, rangeBufferMin))
	return &b
}
