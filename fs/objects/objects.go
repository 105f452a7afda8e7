// Package objects moves sealed objects between a volume and its storage nodes: uploads queued in the background within a memory budget and spilled to local disk past it (and while a node is down), chunks cut into shards across nodes and read back around a missing, slow or corrupt one, fetches checked and made once however many ask at a time, and bounded caches of decrypted chunks and of metadata objects.
package objects

import (
	"context"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/anchorfs/anchorfs/fs/format"
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

// Cached puts a decrypted chunk just written in the cache of decrypted
// chunks, under the hash of its object; the cache owns plain from then on
// (nothing else may keep it).
func (o *Store) Cached(h format.Hash, plain []byte) { o.cache.keep(h, plain) }

// CachedChunk is chunk h's plaintext if the cache has it, held until
// release (its bytes stay as they are until then).
func (o *Store) CachedChunk(h format.Hash) (plain []byte, release func(), ok bool) {
	return o.cache.get(h)
}

// IntegrityError is an object that is missing, altered or does not belong
// where the volume found it. Reads turn it into EIO.
type IntegrityError struct {
	Object  string
	Problem string
	Missing bool // the remote does not have the object
}

func (e *IntegrityError) Error() string { return fmt.Sprintf("%s: %s", e.Object, e.Problem) }
