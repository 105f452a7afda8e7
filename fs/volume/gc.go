package volume

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
)

// GC deletes objects that the volume's tree no longer references: old file
// versions, replaced folder objects, chunks of deleted files. It commits
// first, and keeps what open files are building. Another process writing
// the same volume at the same time may lose objects it has not committed
// yet; run it where one writer is active.
func (v *Volume) GC(ctx context.Context, progress func(Progress)) (removed int, freed int64, err error) {
	if v.opt.ReadOnly {
		return 0, 0, ErrReadOnly
	}
	if v.rootKey == nil {
		return 0, 0, errors.New("gc needs the volume's owner: a share does not see what else the volume holds")
	}
	// Objects queued from here on belong to writes the walk may not see.
	v.obj.Track(true)
	defer v.obj.Track(false)
	keep := map[string]bool{}
	if err := v.Sync(ctx, nil); err != nil {
		if !objects.IsNoSpace(err) {
			return 0, 0, err
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
			return 0, 0, fmt.Errorf("gc on a full remote: reading the last commit: %w (nothing was deleted)", err)
		}
		if err := v.committedLinkRefs(ctx, links, keep); err != nil {
			return 0, 0, fmt.Errorf("gc on a full remote: reading the last link table: %w (nothing was deleted)", err)
		}
		defer v.obj.RetrySoon() // the uploads that wait for room try again at once
	}
	var problems []string
	err = v.walk(ctx, "/", func(vi visit) error {
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
		}
		return nil
	}, func(p string, err error) { problems = append(problems, p+": "+err.Error()) })
	if err != nil {
		return 0, 0, err
	}
	if len(problems) > 0 {
		return 0, 0, fmt.Errorf("gc stopped, the tree is damaged (run verify): %s", strings.Join(problems, "; "))
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
		keepChunks(keep, f.snapshotChunks())
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
		return 0, 0, fmt.Errorf("listing objects: %w", err)
	}
	for i, name := range doomed {
		if err := v.store.Delete(ctx, name); err != nil {
			return removed, freed, fmt.Errorf("deleting %s: %w", name, err)
		}
		removed++
		freed += sizes[i]
		if progress != nil {
			progress(Progress{Phase: "deleting", Done: int64(i + 1), Total: int64(len(doomed))})
		}
	}
	return removed, freed, nil
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

// snapshotChunks copies the chunk list under the file's lock.
func (f *fileData) snapshotChunks() []format.Chunk {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]format.Chunk(nil), f.chunks...)
}
