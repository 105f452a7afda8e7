package volume

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
)

// loadHead finds the newest head on the store and makes its root the tree.
func (v *Volume) loadHead(ctx context.Context) error {
	var names []string
	err := v.store.List(ctx, format.HeadsDir, func(name string, size int64) error {
		names = append(names, name)
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing heads: %w", err)
	}
	var best *format.Head
	var bestName string
	var problems []string
	for _, name := range names {
		h, err := format.ParseHash(strings.TrimPrefix(name, format.HeadsDir+"/"))
		if err != nil {
			continue
		}
		obj, err := v.obj.get(ctx, name, h)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		pt, err := format.Open(v.metaKey, format.HeadAAD(v.id), obj)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		var head format.Head
		if err := format.Decode(pt, &head); err != nil || head.Volume != v.id.String() {
			problems = append(problems, fmt.Sprintf("%s: malformed head", name))
			continue
		}
		if best == nil || head.Seq > best.Seq || (head.Seq == best.Seq && name > bestName) {
			best, bestName = &head, name
		}
	}
	for _, p := range problems {
		v.logf("integrity: %s", p)
	}
	if best == nil {
		return fmt.Errorf("volume %s has no readable head (%d found, %d damaged)", v.id, len(names), len(problems))
	}
	v.linksHash = best.Links
	if best.Links != "" {
		if err := v.loadLinks(ctx, best.Links); err != nil {
			return err
		}
	}
	root, err := v.nodeFromEntry(&best.Root, nil)
	if err != nil || root.typ != format.TypeDir {
		return fmt.Errorf("head %s has a bad root: %v", bestName, err)
	}
	root.ino = 1
	v.nextIno--
	v.root = root
	// The top folder now: a volume whose remote cannot serve it fails to
	// open, rather than at the first lookup.
	if err := v.loaded(root); err != nil {
		return fmt.Errorf("the top folder of volume %s cannot be read from the remote", v.id)
	}
	v.baseTree = best.Root.Tree
	v.headSeq = best.Seq
	v.headHash = strings.TrimPrefix(bestName, format.HeadsDir+"/")
	return nil
}

func (v *Volume) loadLinks(ctx context.Context, hash string) error {
	h, err := format.ParseHash(hash)
	if err != nil {
		return fmt.Errorf("link table: %w", err)
	}
	obj, err := v.obj.get(ctx, format.ObjectName(h), h)
	if err != nil {
		return fmt.Errorf("link table: %w", err)
	}
	pt, err := format.Open(v.metaKey, format.LinksAAD(v.id), obj)
	if err != nil {
		return fmt.Errorf("link table: %w", err)
	}
	var l format.Links
	if err := format.Decode(pt, &l); err != nil {
		return fmt.Errorf("link table: %w", err)
	}
	for i := range l.Entries {
		e := l.Entries[i]
		e.Link = false
		n, err := v.nodeFromEntry(&e, nil)
		if err != nil {
			return fmt.Errorf("link table: %w", err)
		}
		n.nlink = l.Entries[i].Nlink
		v.links[n.id] = n
	}
	return nil
}

// commit writes every dirty folder, the link table and a new head, once the
// objects they name are on the store.
func (v *Volume) commit(ctx context.Context) error {
	v.commitMu.Lock()
	defer v.commitMu.Unlock()

	foreign, err := v.foreignHeads(ctx)
	if err != nil {
		return fmt.Errorf("listing heads: %w", err)
	}
	v.mu.Lock()
	var mergers []*merger
	seq := v.headSeq
	for _, f := range foreign {
		m, err := v.mergeHead(ctx, &f.head)
		if err != nil {
			v.mu.Unlock()
			return fmt.Errorf("merging the head %s of another writer: %w", f.name, err)
		}
		mergers = append(mergers, m)
		seq = max(seq, f.head.Seq)
		v.dirty = true
	}
	if !v.dirty {
		v.mu.Unlock()
		return v.obj.wait(ctx, v.obj.barrier())
	}
	v.sealDir(v.root)
	head := format.Head{Format: format.Version, Volume: v.id.String(), Seq: seq + 1,
		Time: time.Now().UnixNano(), Root: v.entryOf(v.root, "")}
	if v.headHash != "" {
		head.Parents = []string{v.headHash}
	}
	for _, f := range foreign {
		head.Parents = append(head.Parents, strings.TrimPrefix(f.name, format.HeadsDir+"/"))
	}
	if len(v.links) > 0 {
		head.Links = v.sealLinks()
	}
	v.linksHash = head.Links
	v.dirty, v.linksDirty = false, false
	v.mu.Unlock()

	if err := v.obj.wait(ctx, v.obj.barrier()); err != nil {
		v.redirty()
		return err
	}
	if v.outbox != nil {
		// Every version the head names is in the durable outbox first.
		if err := v.outbox.durable(); err != nil {
			v.redirty()
			return err
		}
	}
	obj := format.Seal(v.metaKey, format.HeadAAD(v.id), format.Encode(head))
	hash := format.HashOf(obj)
	if err := v.store.Put(ctx, format.HeadName(hash), obj); err != nil {
		v.redirty()
		return fmt.Errorf("writing head: %w", err)
	}
	for _, f := range foreign {
		if err := v.store.Delete(ctx, f.name); err != nil {
			v.logf("removing a merged head: %v", err)
		}
	}
	for _, m := range mergers {
		m.writeCopies()
	}
	prev := v.headHash
	v.mu.Lock()
	v.headSeq, v.headHash, v.baseTree = head.Seq, hash.String(), head.Root.Tree
	v.mu.Unlock()
	if prev != "" {
		if err := v.store.Delete(ctx, format.HeadsDir+"/"+prev); err != nil {
			v.logf("removing superseded head: %v", err)
		}
	}
	return nil
}

func (v *Volume) redirty() {
	v.mu.Lock()
	v.dirty = true
	v.mu.Unlock()
}

// sealDir writes folder d (after its dirty subfolders) and records its new
// tree hash. Called with v.mu held.
func (v *Volume) sealDir(d *Node) {
	if !d.dirty || d.entries == nil {
		d.dirty = false
		return
	}
	entries := make([]format.Entry, 0, len(d.entries))
	for name, c := range d.entries {
		if c.typ == format.TypeDir {
			v.sealDir(c)
		}
		if c.nlink > 1 && c.typ == format.TypeFile {
			entries = append(entries, format.Entry{Name: name, ID: c.id.String(), Type: c.typ, Link: true})
			continue
		}
		entries = append(entries, v.entryOf(c, name))
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	obj := format.Seal(v.metaKey, format.DirAAD(v.id, d.id),
		format.Encode(format.Dir{Format: format.Version, Dir: d.id.String(), Entries: entries}))
	h := format.HashOf(obj)
	v.obj.put(format.ObjectName(h), obj)
	d.tree = h.String()
	d.dirty = false
}

// sealLinks writes the link table and returns its hash. Called with v.mu held.
func (v *Volume) sealLinks() string {
	entries := make([]format.Entry, 0, len(v.links))
	for _, n := range v.links {
		e := v.entryOf(n, "")
		e.Nlink = n.nlink
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].ID < entries[j].ID })
	obj := format.Seal(v.metaKey, format.LinksAAD(v.id), format.Encode(format.Links{Format: format.Version, Entries: entries}))
	h := format.HashOf(obj)
	v.obj.put(format.ObjectName(h), obj)
	return h.String()
}
