package volume

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/network"
)

// Several writers (two homes with the same keys, or two mounts) may commit
// heads to one volume. Before a writer commits, it merges every head it did
// not write into its own tree, three ways: the base is the tree of the last
// head this writer wrote or merged, when their head names it as a parent
// (otherwise a union, see mergeHead). A change only one side made is taken; a
// name both sides changed keeps both (theirs under a conflict name), except
// that a file both sides wrote keeps the higher version, and the ledger
// turns an equal version written twice into a conflict copy when it is
// anchored. The new head names every head it merged as a parent, and those
// heads are removed.

// foreignHead is a head another writer committed, of the volume or of a
// shared folder.
type foreignHead struct {
	name string
	head format.Head
	dom  *domain
}

// foreignHeads lists a key domain's heads on the store other than this
// writer's own (own).
func (v *Volume) foreignHeads(ctx context.Context, d *domain, own string) ([]foreignHead, error) {
	var out []foreignHead
	err := v.store.List(ctx, d.headsDir(), func(name string, size int64) error {
		if path.Base(name) == own {
			return nil
		}
		h, err := v.readHead(ctx, d, name)
		if err != nil {
			v.reportHead(name, err)
			return nil // a damaged head is reported, not merged
		}
		out = append(out, foreignHead{name: name, head: *h, dom: d})
		return nil
	})
	return out, err
}

// readHead fetches and opens one head of key domain d.
func (v *Volume) readHead(ctx context.Context, d *domain, name string) (*format.Head, error) {
	h, err := format.ParseHash(path.Base(name))
	if err != nil {
		return nil, fmt.Errorf("%s: not a head name", name)
	}
	obj, err := v.obj.GetMeta(ctx, name, h)
	if err != nil {
		return nil, err
	}
	pt, epoch, err := d.open(v, v.headAAD(d), obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var head format.Head
	if err := format.Decode(pt, &head); err != nil || head.Volume != v.id.String() || head.Epoch != epoch ||
		(d.shared && (head.Domain != d.id.String() || head.Root.ID != head.Domain)) || (!d.shared && head.Domain != "") {
		return nil, fmt.Errorf("%s: malformed head", name)
	}
	return &head, nil
}

// merger carries one head's merge.
type merger struct {
	v      *Volume
	links  map[format.ID]*Node // their link table, loaded when needed
	head   *format.Head
	copies []pendingCopy // conflict copies to write once the lock is released
	pre    *mergeFetched // objects fetched without the lock
}

// mergeFetched holds what a merge reads from the store, fetched without the
// tree lock: folder objects and link tables, by hash. The merge itself never
// fetches; meeting something not here, it stops with an unfetchedError, and
// the commit fetches it and merges that head again.
type mergeFetched struct {
	dirs  map[string]*format.Dir
	links map[string]*format.Links
}

func newMergeFetched() *mergeFetched {
	return &mergeFetched{dirs: map[string]*format.Dir{}, links: map[string]*format.Links{}}
}

// unfetchedError is a merge's answer when it needs an object not in
// mergeFetched: folder id's object tree in key domain dom, or (links set)
// the link table tree.
type unfetchedError struct {
	tree  string
	dom   *domain
	id    format.ID
	links bool
	base  bool // a merge's base, which gc may have removed: then it is empty
}

func (e *unfetchedError) Error() string { return "object " + e.tree + " is not fetched" }

// fetch gets what e names into pre. Called without v.mu.
func (v *Volume) fetchForMerge(ctx context.Context, e *unfetchedError, pre *mergeFetched) error {
	if e.links {
		l, err := v.fetchLinks(ctx, e.tree)
		if err != nil {
			return err
		}
		pre.links[e.tree] = l
		return nil
	}
	d, err := v.mergeDir(ctx, e.tree, e.dom, e.id, e.base)
	if err != nil {
		return err
	}
	pre.dirs[e.tree] = d
	return nil
}

// mergeDir fetches folder id's object tree for a merge; a base gc removed
// is an empty folder (the merge is a union there). Called without v.mu.
func (v *Volume) mergeDir(ctx context.Context, tree string, dom *domain, id format.ID, base bool) (*format.Dir, error) {
	d, err := v.openDir(ctx, tree, dom, format.DirAAD(v.id, id), id)
	var ie *objects.IntegrityError
	if err != nil && base && errors.As(err, &ie) && ie.Missing {
		return &format.Dir{}, nil
	}
	if err != nil {
		return nil, v.integrity(fmt.Errorf("folder %s: %w", id, err))
	}
	return d, nil
}

type pendingCopy struct {
	dir      *Node
	name     string
	id       format.ID
	version  uint64
	manifest string
	mode     uint32
	uid, gid uint32
}

// mergeHead merges another writer's head into the tree. Called with v.mu
// held; it never fetches: a folder of ours not in memory stops it with an
// unloadedError, an object not in pre with an unfetchedError, and it is run
// again once that is fetched. What a stopped merge changed is part of the
// merge (taking their side of a name is what merging again does too), and
// its conflict copies are kept.
//
// The base is this writer's last head when their head descends from it (names
// it among its parents or ancestors), else the tree of the nearest of their
// ancestors that this writer once had as its head (see lineage). Otherwise
// the common ancestor is unknown (several heads were there when this writer
// opened the volume, or their history is longer than heads carry), and the
// merge is a union against an empty base: what either side has is kept, so a
// removal may come back, but nothing one side added is lost because the
// other side lacks it.
func (v *Volume) mergeHead(f foreignHead, pre *mergeFetched) (*merger, error) {
	h := &f.head
	m := &merger{v: v, head: h, pre: pre}
	own, base, root := v.headHash, v.baseTree, v.root
	if f.dom.shared {
		own, base, root = f.dom.headHash, f.dom.baseTree, f.dom.root
	} else if h.Root.ID != v.root.id.String() {
		return nil, fmt.Errorf("head of another volume tree")
	}
	return m, m.dir(root, f.dom.lin.base(own, base, h), h.Root.Tree)
}

// entries are folder id's object with hash tree, sealed in key domain dom,
// by name ("" tree: empty), from pre (base: the merge's base).
func (m *merger) entries(dom *domain, id, tree string, base bool) (map[string]format.Entry, error) {
	out := map[string]format.Entry{}
	if tree == "" {
		return out, nil
	}
	d, ok := m.pre.dirs[tree]
	if !ok {
		dirID, err := format.ParseID(id)
		if err != nil {
			return nil, err
		}
		return nil, &unfetchedError{tree: tree, dom: dom, id: dirID, base: base}
	}
	for _, e := range d.Entries {
		out[e.Name] = e
	}
	return out, nil
}

// dir merges their version (tree) of folder ours, against base.
func (m *merger) dir(ours *Node, base, theirs string) error {
	if base == theirs {
		return nil
	}
	v := m.v
	if err := v.need(ours); err != nil {
		return err
	}
	b, err := m.entries(ours.dom, ours.id.String(), base, true)
	if err != nil {
		return fmt.Errorf("base of folder %s: %w", ours.id, err)
	}
	t, err := m.entries(ours.dom, ours.id.String(), theirs, false)
	if err != nil {
		return fmt.Errorf("their folder %s: %w", ours.id, err)
	}
	names := slices.Sorted(maps.Keys(t))
	for name := range b {
		if _, ok := t[name]; !ok {
			names = append(names, name)
		}
	}
	// Where each id is in our folder and in the base, to tell a move (the
	// other side renamed a node this folder holds) from a new node: adding
	// a second node of one id would fork that file.
	oursByID := map[string]string{}
	for name, n := range ours.entries {
		oursByID[n.id.String()] = name
	}
	baseByID := map[string]format.Entry{}
	for _, e := range b {
		baseByID[e.ID] = e
	}
	for _, name := range names {
		be, inBase := b[name]
		te, inTheirs := t[name]
		if inBase && inTheirs && sameEntry(be, te) {
			continue // they did not touch it
		}
		o := ours.entries[name]
		if o == nil && inTheirs && !te.Link {
			// (An index entry may be stale: a name this loop removed or
			// gave to another node is not a move.)
			if old, ok := oursByID[te.ID]; ok && old != name && ours.entries[old] != nil &&
				ours.entries[old].id.String() == te.ID && ours.entries[old].nlink <= 1 {
				// They moved a node we hold under another name (a rename, or a
				// name a merge gave it): it moves, and is reconciled as itself.
				o = ours.entries[old]
				delete(ours.entries, old)
				ours.entries[name] = o
				oursByID[te.ID] = name
				v.markDirty(ours)
				var bp *format.Entry
				if e, ok := baseByID[te.ID]; ok {
					bp = &e
				}
				if err := m.reconcile(ours, name, o, bp, te); err != nil {
					return err
				}
				continue
			}
		}
		switch {
		case !inTheirs: // they removed it
			if o != nil && v.unchangedSince(o, name, be) {
				v.removeName(ours, name, o)
			}
		case o == nil: // we have nothing there (never had it, or removed it while they changed it)
			if err := m.add(ours, name, te); err != nil {
				return err
			}
		case o.id.String() == te.ID:
			var bp *format.Entry
			if inBase && be.ID == te.ID {
				bp = &be
			}
			if err := m.reconcile(ours, name, o, bp, te); err != nil {
				return err
			}
		case inBase && o.id.String() == be.ID && v.unchangedSince(o, name, be):
			v.removeName(ours, name, o) // they replaced what we left alone
			if err := m.add(ours, name, te); err != nil {
				return err
			}
		default:
			// Both put something different under the name: keep both, and
			// the same way on every side, so that the trees agree after
			// each has merged the other: the smaller id keeps the name, the
			// other moves to a name made from its id.
			if te.ID < o.id.String() {
				v.moveAside(ours, name, o)
				if err := m.add(ours, name, te); err != nil {
					return err
				}
			} else if err := m.add(ours, mergeConflictName(ours, name, te.ID), te); err != nil {
				return err
			}
		}
	}
	return nil
}

// moveAside gives node o, under name in folder d, the name a merge gives
// the side that does not keep a name. Called with v.mu held.
func (v *Volume) moveAside(d *Node, name string, o *Node) {
	alt := mergeConflictName(d, name, o.id.String())
	delete(d.entries, name)
	d.entries[alt] = o
	v.markDirty(d)
}

// mergeConflictName is "name (conflict ID).ext" for the entry with id
// (its first 8 hex digits), or with " N" added where d already holds that
// name. Every writer that merges the same two entries picks the same name.
func mergeConflictName(d *Node, name, id string) string {
	short := id[:min(8, len(id))]
	ext := filepath.Ext(name)
	if ext == name {
		ext = ""
	}
	stem := name[:len(name)-len(ext)]
	c := fmt.Sprintf("%s (conflict %s)%s", stem, short, ext)
	for i := 2; ; i++ {
		if _, taken := d.entries[c]; !taken {
			return c
		}
		c = fmt.Sprintf("%s (conflict %s %d)%s", stem, short, i, ext)
	}
}

// add puts their entry under name in folder d.
func (m *merger) add(d *Node, name string, e format.Entry) error {
	v := m.v
	if e.Link && m.links == nil {
		if err := m.loadLinks(); err != nil {
			return err
		}
	}
	links := m.links
	if id, err := format.ParseID(e.ID); err == nil && v.links[id] != nil {
		links = v.links
	}
	n, err := v.nodeFromEntry(&e, links, d.dom)
	if err != nil {
		return err
	}
	if _, taken := d.entries[name]; taken {
		name = mergeConflictName(d, name, e.ID)
	}
	d.entries[name] = n
	n.parents = append(n.parents, d)
	v.markDirty(d)
	return nil
}

// loadLinks makes their link table's nodes, from pre.
func (m *merger) loadLinks() error {
	if m.head.Links == "" {
		m.links = map[format.ID]*Node{}
		return nil
	}
	l, ok := m.pre.links[m.head.Links]
	if !ok {
		return &unfetchedError{tree: m.head.Links, links: true}
	}
	links := map[format.ID]*Node{}
	if err := m.v.linkNodes(l, links); err != nil {
		return err
	}
	m.links = links
	return nil
}

// reconcile merges their entry for a node both sides have.
func (m *merger) reconcile(d *Node, name string, o *Node, base *format.Entry, t format.Entry) error {
	v := m.v
	metaOurs := base == nil || !sameMeta(v.entryOf(o, name), *base)
	switch o.typ {
	case format.TypeDir:
		bt := ""
		if base != nil {
			bt = base.Tree
		}
		if err := m.dir(o, bt, t.Tree); err != nil {
			return err
		}
	case format.TypeFile:
		oursChanged := base == nil || o.version != base.Version || o.manifest != base.Manifest
		theirsChanged := base == nil || t.Version != base.Version || t.Manifest != base.Manifest
		switch {
		case !theirsChanged || (t.Version == o.version && t.Manifest == o.manifest):
		case !oursChanged:
			o.version, o.manifest, o.size = t.Version, t.Manifest, t.Size
			v.touchParents(o)
		case base == nil && t.Version != o.version:
			// No common ancestor is known, and a file's versions follow one
			// another: the higher one is the newer state.
			if t.Version > o.version {
				o.version, o.manifest, o.size = t.Version, t.Manifest, t.Size
				v.touchParents(o)
			}
		default:
			// Both wrote the file. With a ledger, anchoring finds the loser
			// and keeps it as a conflict copy. Without one, the higher
			// version keeps the name and the other becomes the copy.
			if v.opt.Ledger != nil {
				break
			}
			loser := pendingCopy{dir: d, name: name, id: o.id, version: t.Version, manifest: t.Manifest,
				mode: t.Mode, uid: t.UID, gid: t.GID}
			if t.Version > o.version {
				loser.version, loser.manifest = o.version, o.manifest
				o.version, o.manifest, o.size = t.Version, t.Manifest, t.Size
				v.touchParents(o)
			}
			m.copies = append(m.copies, loser)
		}
	}
	if !metaOurs {
		o.mode, o.uid, o.gid, o.mtime, o.ctime, o.xattrs = t.Mode&0o7777, t.UID, t.GID, t.Mtime, t.Ctime, t.Xattrs
		if o.typ == format.TypeSymlink {
			o.target = t.Target
		}
		o.rdev = t.Rdev
		v.touchParents(o)
	}
	return nil
}

// writeCopies writes the conflict copies a merge asked for. Called without v.mu.
func (m *merger) writeCopies() {
	for _, c := range m.copies {
		m.v.mu.Lock()
		n := c.dir.entries[c.name]
		m.v.mu.Unlock()
		if n == nil || n.id != c.id {
			continue
		}
		theirs := network.Anchor{File: c.id.String(), Version: c.version, ManifestHash: c.manifest}
		if err := m.v.conflictCopy(n, theirs); err != nil {
			m.v.logf("merge: keeping a conflict copy of %s failed: %v", c.name, err)
		}
	}
}

// sameEntry reports whether two entries describe the same state.
func sameEntry(a, b format.Entry) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Version == b.Version && a.Manifest == b.Manifest &&
		a.Tree == b.Tree && a.Link == b.Link && sameMeta(a, b)
}

// sameMeta compares the metadata a user sets.
func sameMeta(a, b format.Entry) bool {
	return a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.Mtime == b.Mtime &&
		a.Target == b.Target && maps.EqualFunc(a.Xattrs, b.Xattrs, func(x, y []byte) bool { return string(x) == string(y) })
}

// unchangedSince reports whether our node still is what the base entry says.
func (v *Volume) unchangedSince(o *Node, name string, base format.Entry) bool {
	if o.id.String() != base.ID {
		return false
	}
	if o.typ == format.TypeDir {
		return !o.dirty && o.tree == base.Tree && sameMeta(v.entryOf(o, name), base)
	}
	if o.nlink > 1 || base.Link {
		return o.nlink > 1 && base.Link
	}
	return sameEntry(v.entryOf(o, name), base)
}

// mergePlan is a folder a merge will visit, by name from the top folder of
// the head's key domain, with the subfolders it will visit in turn.
type mergePlan struct {
	id   string // the folder's id: a folder of ours under another name (they moved it) is found by it
	kids map[string]*mergePlan
}

// prefetchMerge fetches, without the tree lock, the folder objects merging
// foreign heads will read: theirs and the base's wherever the two differ,
// and this writer's own folders along those paths. The merge, under the
// lock, then finds them in memory (pre, and its own folders loaded); what
// changed in between is fetched then.
func (v *Volume) prefetchMerge(ctx context.Context, foreign []foreignHead) *mergeFetched {
	pre := newMergeFetched()
	type job struct {
		f    foreignHead
		base string
		root *Node
	}
	var jobs []job
	v.mu.Lock()
	for _, f := range foreign {
		if v.headWay(f) != headMerged {
			continue
		}
		own, base, root := v.headHash, v.baseTree, v.root
		if f.dom.shared {
			own, base, root = f.dom.headHash, f.dom.baseTree, f.dom.root
		}
		if root != nil {
			jobs = append(jobs, job{f, f.dom.lin.base(own, base, &f.head), root})
		}
	}
	v.mu.Unlock()
	for _, j := range jobs {
		plan := v.planMerge(ctx, pre, j.f.dom, j.f.head.Root.ID, j.base, j.f.head.Root.Tree)
		if plan != nil {
			v.loadAlong(ctx, j.root, plan)
		}
	}
	return pre
}

// planMerge fetches the folder objects base and theirs of folder id into
// pre, and those of the subfolders where they differ; nil when they do not.
func (v *Volume) planMerge(ctx context.Context, pre *mergeFetched, dom *domain, id, base, theirs string) *mergePlan {
	if base == theirs {
		return nil
	}
	dirID, err := format.ParseID(id)
	if err != nil {
		return nil
	}
	get := func(tree string, isBase bool) *format.Dir {
		if tree == "" {
			return &format.Dir{}
		}
		if d, ok := pre.dirs[tree]; ok {
			return d
		}
		d, err := v.mergeDir(ctx, tree, dom, dirID, isBase)
		if err != nil {
			return nil // the merge meets it again, asks for it, and says so
		}
		pre.dirs[tree] = d
		return d
	}
	b, t := get(base, true), get(theirs, false)
	if b == nil || t == nil {
		return &mergePlan{id: id}
	}
	baseTrees := map[string]string{}
	for _, e := range b.Entries {
		if e.Type == format.TypeDir {
			baseTrees[e.ID] = e.Tree
		}
	}
	plan := &mergePlan{id: id, kids: map[string]*mergePlan{}}
	for _, e := range t.Entries {
		if e.Type != format.TypeDir || e.Domain != "" && e.Domain != dom.ledgerID() {
			continue // a shared folder is merged from its own heads
		}
		if kid := v.planMerge(ctx, pre, dom, e.ID, baseTrees[e.ID], e.Tree); kid != nil {
			plan.kids[e.Name] = kid
		}
	}
	return plan
}

// loadAlong loads this writer's folders on a merge's plan, from dir down,
// fetching each one without the tree lock.
func (v *Volume) loadAlong(ctx context.Context, dir *Node, plan *mergePlan) {
	for round := 0; round < 64; round++ {
		var cold []coldDir
		v.mu.Lock()
		var walk func(n *Node, p *mergePlan)
		walk = func(n *Node, p *mergePlan) {
			if n.typ != format.TypeDir {
				return
			}
			if n.entries == nil {
				cold = append(cold, v.cold(n))
				return
			}
			for name, kid := range p.kids {
				c := n.entries[name]
				if c == nil || c.id.String() != kid.id {
					c = nil
					for _, e := range n.entries { // moved within the folder by them
						if e.id.String() == kid.id {
							c = e
							break
						}
					}
				}
				if c != nil {
					walk(c, kid)
				}
			}
		}
		walk(dir, plan)
		v.mu.Unlock()
		if len(cold) == 0 {
			return
		}
		for _, c := range cold {
			if err := v.fetchIn(ctx, c); err != nil {
				return
			}
		}
	}
}
