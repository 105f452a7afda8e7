package volume

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/network"
)

// Retention says which versions older than a file's current one gc keeps:
// a version is kept while it is one of the file's newest Versions (the
// current one counted), or was current less than Within ago. A deleted
// file's versions are kept by Within alone, counted from its removal.
type Retention struct {
	Versions int
	Within   time.Duration
}

// GCOptions are what GC keeps and whether it deletes.
type GCOptions struct {
	Retention
	// DryRun finds what would go and deletes nothing.
	DryRun bool
}

// GCResult is what GC removed, or would remove on a dry run.
type GCResult struct {
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Versions are the old file versions whose objects went (or would).
	Versions []GoneVersion `json:"versions"`
	// Kept is how many old versions retention kept restorable.
	Kept   int  `json:"kept"`
	DryRun bool `json:"dryRun"`
}

// GoneVersion is a file version gc removes the objects of: the ledger
// still holds its anchor.
type GoneVersion struct {
	Path    string `json:"path"`
	Version uint64 `json:"version"`
}

// GC deletes objects that the volume's tree no longer references and
// retention does not keep: old file versions, replaced folder objects,
// chunks of deleted files. It commits first, and keeps what open files are
// building. Another process writing the same volume at the same time may
// lose objects it has not committed yet; run it where one writer is active.
func (v *Volume) GC(ctx context.Context, opt GCOptions, progress func(Progress)) (res GCResult, err error) {
	res.DryRun = opt.DryRun
	if v.opt.ReadOnly {
		return res, ErrReadOnly
	}
	if v.rootKey == nil {
		return res, errors.New("gc needs the volume's owner: a share does not see what else the volume holds")
	}
	// Objects queued from here on belong to writes the walk may not see.
	v.obj.Track(true)
	defer v.obj.Track(false)
	keep := map[string]bool{}
	if err := v.Sync(ctx, nil); err != nil {
		if !objects.IsNoSpace(err) {
			return res, err
		}
		// The remote is full, so the tree cannot be committed: the head on
		// the remote still names the objects of the last commit, which the
		// tree in memory may have left. They are kept too, and what neither
		// names goes, making the room the commit waits for.
		v.logf("gc: the remote is full; keeping what the last commit names as well")
		v.mu.Lock()
		rootTree, rootID, links := v.baseTree, v.root.id, v.linksHash
		v.mu.Unlock()
		if err := v.committedRefs(ctx, v.rootDom, rootID, rootTree, keep); err != nil {
			return res, fmt.Errorf("gc on a full remote: reading the last commit: %w (nothing was deleted)", err)
		}
		if err := v.committedLinkRefs(ctx, links, keep); err != nil {
			return res, fmt.Errorf("gc on a full remote: reading the last link table: %w (nothing was deleted)", err)
		}
		defer v.obj.RetrySoon() // the uploads that wait for room try again at once
	}
	var problems []string
	var old []oldVersions         // files whose older versions retention may keep
	inTree := map[string]string{} // path by id
	err = v.walk(ctx, "/", func(vi visit) error {
		if _, ok := inTree[vi.n.id.String()]; !ok {
			inTree[vi.n.id.String()] = vi.path
		}
		switch vi.typ {
		case format.TypeDir:
			keep[vi.tree] = true
		case format.TypeFile:
			if vi.version == 0 {
				return nil
			}
			keep[vi.manifest] = true
			m, err := v.readManifest(ctx, vi.n.dom, vi.n.id, vi.version, vi.manifest)
			if err != nil {
				return fmt.Errorf("%s: %w (nothing was deleted)", vi.path, err)
			}
			keepChunks(keep, m.Chunks)
			old = append(old, oldVersions{path: vi.path, id: vi.n.id, dom: vi.n.dom, current: vi.version})
		}
		return nil
	}, func(p string, err error) { problems = append(problems, p+": "+err.Error()) })
	if err != nil {
		return res, err
	}
	if len(problems) > 0 {
		return res, fmt.Errorf("gc stopped, the tree is damaged (run verify): %s", strings.Join(problems, "; "))
	}
	if v.events != nil {
		// This writer's delete events on the ledger first: retention reads
		// there which files went, and when (a full remote stopped the sync).
		if err := v.events.Flush(ctx, v.recordEvents, v.logf); err != nil {
			return res, fmt.Errorf("gc: recording the delete events first: %w (nothing was deleted)", err)
		}
	}
	gone, err := v.retain(ctx, opt.Retention, old, inTree, keep, &res, progress)
	if err != nil {
		return res, fmt.Errorf("gc: %w (nothing was deleted)", err)
	}
	v.mu.Lock()
	if len(v.links) > 0 {
		// The committed link table is named by the head; keep every object
		// listed in it by finding it again below (it is small).
		keep[v.linksHash] = true
	}
	var open []*fileData
	for n := range v.open {
		if n.data != nil {
			open = append(open, n.data)
		}
	}
	v.mu.Unlock()
	for _, f := range open {
		keepChunks(keep, f.snapshotChunks(v))
	}

	var doomed []string
	var sizes []int64
	err = v.store.List(ctx, format.ObjectsDir, func(name string, size int64) error {
		base := name[strings.LastIndex(name, "/")+1:]
		if !keep[base] && !v.obj.Tracked(name) {
			doomed = append(doomed, name)
			sizes = append(sizes, size)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("listing objects: %w", err)
	}
	listed := map[string]bool{}
	for _, name := range doomed {
		listed[name[strings.LastIndex(name, "/")+1:]] = true
	}
	for _, g := range gone {
		if listed[g.manifest] {
			res.Versions = append(res.Versions, GoneVersion{Path: g.path, Version: g.version})
		}
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	if opt.DryRun {
		res.Objects, res.Bytes = len(doomed), total
		return res, nil
	}
	for i, name := range doomed {
		if err := v.store.Delete(ctx, name); err != nil {
			return res, fmt.Errorf("deleting %s: %w", name, err)
		}
		res.Objects++
		res.Bytes += sizes[i]
		if progress != nil {
			progress(Progress{Phase: "deleting", Done: int64(i + 1), Total: int64(len(doomed)), Bytes: res.Bytes, TotalBytes: total})
		}
	}
	return res, nil
}

// oldVersions is a file whose versions before current retention may keep
// (current 0: a deleted file, removed at removedAt).
type oldVersions struct {
	path      string
	id        format.ID
	dom       *domain
	current   uint64
	removedAt time.Time
}

// goneVersion is an anchored version retention does not keep.
type goneVersion struct {
	path     string
	version  uint64
	manifest string
}

// retain adds to keep the objects of the older versions of files (those
// in the tree, and those deleted from it) that retention r keeps, from
// their anchors on the ledger, and returns the versions it does not keep.
func (v *Volume) retain(ctx context.Context, r Retention, files []oldVersions, inTree map[string]string, keep map[string]bool, res *GCResult, progress func(Progress)) ([]goneVersion, error) {
	if v.opt.Ledger == nil {
		return nil, nil
	}
	now := time.Now()
	rs, err := v.removals(ctx)
	if err != nil {
		return nil, err
	}
	for id, rm := range rs {
		if _, ok := inTree[id]; rm.typ == format.TypeFile && !ok {
			p, known := removedPath(rs, inTree, id)
			if !known {
				p = path.Join("(a deleted folder)", rm.name)
			}
			files = append(files, oldVersions{path: p + " (deleted)", id: rm.id, dom: rm.dom, removedAt: rm.ev.Time})
		}
	}
	var gone []goneVersion
	for i, f := range files {
		if progress != nil {
			progress(Progress{Phase: "retention", Done: int64(i + 1), Total: int64(len(files))})
		}
		if f.current == 1 {
			continue // nothing older
		}
		anchors, err := v.opt.Ledger.History(ctx, v.id.String(), f.id.String())
		if errors.Is(err, network.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading its versions from the ledger: %w", f.path, err)
		}
		// Newest first: rank counts versions from the current one back.
		rank := 0
		for j := len(anchors) - 1; j >= 0; j-- {
			a := anchors[j]
			replaced := f.removedAt
			if j+1 < len(anchors) {
				replaced = anchors[j+1].Time
			}
			if replaced.IsZero() {
				replaced = now // still current on the ledger (the tree's version is not anchored yet)
			}
			rank++
			kept := f.current != 0 && (rank <= r.Versions || a.Version >= f.current) || r.Within > 0 && now.Sub(replaced) <= r.Within
			if !kept {
				gone = append(gone, goneVersion{path: f.path, version: a.Version, manifest: a.ManifestHash})
				continue
			}
			if keep[a.ManifestHash] {
				continue
			}
			m, err := v.readManifest(ctx, f.dom, f.id, a.Version, a.ManifestHash)
			if err != nil {
				if errNotFound(err) {
					continue // removed by an earlier gc
				}
				if f.current == 0 && errors.Is(err, format.ErrAuth) {
					break // a delete event about a file not of the domain it names: not a file of ours
				}
				return nil, fmt.Errorf("%s: version %d: %w", f.path, a.Version, err)
			}
			keep[a.ManifestHash] = true
			keepChunks(keep, m.Chunks)
			res.Kept++
		}
	}
	return gone, nil
}

// keepChunks adds chunks' objects, and their shards, to keep.
func keepChunks(keep map[string]bool, chunks []format.Chunk) {
	for _, c := range chunks {
		keep[c.Hash] = true
		for _, s := range c.Shards {
			keep[s] = true
		}
	}
}

// committedRefs adds to keep every object the committed folder id (object
// tree, sealed in dom) reaches: folder objects, manifests and their chunks.
func (v *Volume) committedRefs(ctx context.Context, dom *domain, id format.ID, tree string, keep map[string]bool) error {
	if tree == "" || keep[tree] {
		return nil
	}
	keep[tree] = true
	d, err := v.openDir(ctx, tree, dom, format.DirAAD(v.id, id), id)
	if err != nil {
		return err
	}
	for _, e := range d.Entries {
		cid, err := format.ParseID(e.ID)
		if err != nil {
			return err
		}
		cdom := dom
		if e.Domain != "" {
			v.mu.Lock()
			cdom = v.ownerDomain(cid, e.Epoch)
			v.mu.Unlock()
		}
		switch {
		case e.Type == format.TypeDir:
			if err := v.committedRefs(ctx, cdom, cid, e.Tree, keep); err != nil {
				return err
			}
		case e.Type == format.TypeFile && e.Manifest != "":
			keep[e.Manifest] = true
			man, err := v.readManifest(ctx, cdom, cid, e.Version, e.Manifest)
			if err != nil {
				return err
			}
			keepChunks(keep, man.Chunks)
		}
	}
	return nil
}

// committedLinkRefs adds to keep the committed link table (hash links)
// and what its files' manifests name.
func (v *Volume) committedLinkRefs(ctx context.Context, links string, keep map[string]bool) error {
	if links == "" {
		return nil
	}
	keep[links] = true
	h, err := format.ParseHash(links)
	if err != nil {
		return err
	}
	obj, err := v.obj.Get(ctx, format.ObjectName(h), h)
	if err != nil {
		return err
	}
	pt, _, err := v.rootDom.open(v, format.LinksAAD(v.id), obj)
	if err != nil {
		return err
	}
	var l format.Links
	if err := format.Decode(pt, &l); err != nil {
		return err
	}
	for _, e := range l.Entries {
		if e.Type != format.TypeFile || e.Manifest == "" {
			continue
		}
		id, err := format.ParseID(e.ID)
		if err != nil {
			return err
		}
		keep[e.Manifest] = true
		man, err := v.readManifest(ctx, v.rootDom, id, e.Version, e.Manifest)
		if err != nil {
			return err
		}
		keepChunks(keep, man.Chunks)
	}
	return nil
}

// snapshotChunks copies the chunk list under the file's lock, the chunk
// sealing in the background included.
func (f *fileData) snapshotChunks(v *Volume) []format.Chunk {
	f.lock(v)
	defer f.mu.Unlock()
	return append([]format.Chunk(nil), f.chunks...)
}
