package volume

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/network"
)

// verifyWorkers is how many chunks verify fetches and checks at once.
const verifyWorkers = 8

// Verify checks every object below path ("" or "/" for all): each folder
// object, each manifest and each chunk is fetched from the remote (not the
// cache), its hash and authentication checked. It returns what it found;
// the error is for failures to run at all.
func (v *Volume) Verify(ctx context.Context, path string, progress func(Progress)) ([]Finding, error) {
	if err := v.Sync(ctx, nil); err != nil {
		return nil, err
	}
	ctx = objects.FromRemote(ctx) // past the cache of metadata objects
	var (
		mu       sync.Mutex
		findings []Finding
		done     atomic.Int64
		total    atomic.Int64
		bytes    atomic.Int64 // of the chunks checked
		sizes    atomic.Int64 // of the chunks found
	)
	report := func(p string, err error) {
		mu.Lock()
		findings = append(findings, Finding{Path: p, Problem: err.Error()})
		mu.Unlock()
	}
	type job struct {
		path  string
		n     *Node
		i     int64
		key   []byte
		chunk format.Chunk
	}
	v.verifyHeads(ctx, report)
	jobs := make(chan job, 64)
	var wg sync.WaitGroup
	for range verifyWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := v.checkChunk(ctx, j.n, j.key, j.i, j.chunk); err != nil {
					report(j.path, err)
				}
				d, b := done.Add(1), bytes.Add(int64(j.chunk.Size))
				if progress != nil {
					progress(Progress{Phase: "verifying", Done: d, Total: total.Load(), Bytes: b, TotalBytes: sizes.Load()})
				}
			}
		}()
	}
	err := v.walk(ctx, path, func(vi visit) error {
		if vi.typ == format.TypeDir && vi.tree != "" && !vi.n.synthetic {
			// The folder object itself, from the remote: the walk lists
			// a loaded folder from memory.
			if _, err := v.openDir(ctx, vi.tree, vi.n.dom, v.dirAAD(vi.n), vi.n.id); err != nil {
				report(vi.path, err)
			}
			return nil
		}
		if vi.typ != format.TypeFile || vi.version == 0 {
			return nil
		}
		m, err := v.readManifest(ctx, vi.n.dom, vi.n.id, vi.version, vi.manifest)
		if err != nil {
			report(vi.path, err)
			return nil
		}
		key, _ := vi.n.dom.fileKey(v, vi.n.id, m.Epoch)
		if err := v.checkAnchored(ctx, vi); err != nil {
			report(vi.path, err)
		}
		v.Record("download", vi.n, map[string]string{"bytes": strconv.FormatInt(m.Size, 10), "by": "verify"})
		for i, c := range m.Chunks {
			if c.Hash == "" {
				continue
			}
			total.Add(1)
			sizes.Add(int64(c.Size))
			jobs <- job{path: vi.path, n: vi.n, i: int64(i), key: key, chunk: c}
		}
		return nil
	}, report)
	close(jobs)
	wg.Wait()
	if err != nil {
		return findings, err
	}
	return findings, nil
}

// checkChunk fetches a chunk from the store and checks hash and authentication.
func (v *Volume) checkChunk(ctx context.Context, n *Node, key []byte, i int64, c format.Chunk) error {
	h, err := format.ParseHash(c.Hash)
	if err != nil {
		return err
	}
	obj := c.Data // in the manifest: its hash was checked with it
	var damaged []string
	switch {
	case obj != nil:
	case len(c.Shards) > 0:
		p, err := place(c)
		if err != nil {
			return err
		}
		var bad map[int]string
		obj, bad, err = v.obj.CheckShards(ctx, p)
		for j := range len(c.Shards) {
			if bad[j] != "" {
				damaged = append(damaged, fmt.Sprintf("node %d: %s", j+1, bad[j]))
			}
		}
		if err != nil {
			return fmt.Errorf("chunk %d: %w (%s)", i, err, strings.Join(damaged, "; "))
		}
	default:
		if obj, err = v.obj.Get(ctx, format.ObjectName(h), h); err != nil {
			return err
		}
	}
	if _, err := v.openChunk(key, n.id, i, c, bytes.Clone(obj)); err != nil {
		return fmt.Errorf("chunk %d (%s) failed authentication", i, h)
	}
	if len(damaged) > 0 {
		return fmt.Errorf("chunk %d is readable from its other shards (anchorfs repair rebuilds them): %s", i, strings.Join(damaged, "; "))
	}
	return nil
}

// checkAnchored compares a file's version and manifest with the ledger's.
func (v *Volume) checkAnchored(ctx context.Context, vi visit) error {
	if v.opt.Ledger == nil {
		return nil
	}
	latest, err := v.opt.Ledger.Latest(ctx, v.id.String(), vi.n.id.String())
	switch {
	case errors.Is(err, network.ErrNotFound):
		return fmt.Errorf("version %d is not anchored on the ledger (run anchorfs sync)", vi.version)
	case err != nil:
		return fmt.Errorf("ledger: %w", err)
	case latest.Version > vi.version:
		return fmt.Errorf("the remote serves version %d but the ledger has version %d (rolled back?)", vi.version, latest.Version)
	case latest.Version < vi.version:
		return fmt.Errorf("version %d is not anchored yet (the ledger has %d; run anchorfs sync)", vi.version, latest.Version)
	case latest.ManifestHash != vi.manifest:
		return fmt.Errorf("manifest %s differs from the anchored %s", vi.manifest, latest.ManifestHash)
	}
	return nil
}
