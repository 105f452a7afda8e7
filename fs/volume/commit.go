package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/network"
)

// newestHead reads every head of a key domain and returns the one with the
// highest seq (ties: the greater name); damaged and unreadable heads are
// reported and skipped. With a ledger, the heads are checked against the
// newest head it anchored: a remote rolled back is a *RollbackError.
func (v *Volume) newestHead(ctx context.Context, d *domain) (*format.Head, string, error) {
	heads, found, err := v.readHeads(ctx, d)
	if err != nil {
		return nil, "", err
	}
	best, bestName := newest(heads)
	if err := v.checkRollback(ctx, d, heads); err != nil {
		if !v.opt.AcceptRollback {
			return nil, "", err
		}
		v.logf("%v", err)
	}
	if best == nil {
		return nil, "", fmt.Errorf("no readable head (%d found, %d damaged or sealed with a key this user does not hold)", found, found-len(heads))
	}
	return best, bestName, nil
}

// readHeads reads every head of a key domain on the store, by hash; found
// counts them all, damaged and unreadable ones (reported) included.
func (v *Volume) readHeads(ctx context.Context, d *domain) (heads map[string]*format.Head, found int, err error) {
	var names []string
	err = v.store.List(ctx, d.headsDir(), func(name string, size int64) error {
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing heads: %w", err)
	}
	heads = map[string]*format.Head{}
	for _, name := range names {
		head, err := v.readHead(ctx, d, name)
		if err != nil {
			v.reportHead(name, err)
			continue
		}
		heads[path.Base(name)] = head
	}
	return heads, len(names), nil
}

// newest is the head with the highest seq (ties: the greater hash).
func newest(heads map[string]*format.Head) (*format.Head, string) {
	var best *format.Head
	var bestName string
	for name, head := range heads {
		if best == nil || head.Seq > best.Seq || (head.Seq == best.Seq && name > bestName) {
			best, bestName = head, name
		}
	}
	return best, bestName
}

// loadHead finds the newest head on the store and makes its root the tree.
func (v *Volume) loadHead(ctx context.Context) error {
	best, bestName, err := v.newestHead(ctx, v.rootDom)
	var rb *RollbackError
	if errors.As(err, &rb) {
		return err // it names the volume
	}
	if err != nil {
		return fmt.Errorf("volume %s: %w", v.id, err)
	}
	v.linksHash = best.Links
	if best.Links != "" {
		if err := v.loadLinks(ctx, best.Links); err != nil {
			return err
		}
	}
	root, err := v.nodeFromEntry(&best.Root, nil, v.rootDom)
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
	v.headHash = bestName
	v.rootDom.lin.note(bestName, best.Root.Tree, ancestry(best))
	for _, hd := range best.Domains {
		if err := v.findDomain(hd); err != nil {
			v.logf("integrity: shared folder %s: %v", hd.ID, err)
		}
	}
	for _, d := range v.sharedDomains() {
		d.baseTree, d.headTree = d.root.tree, d.root.tree
		// Grantees' heads of the folder, not merged yet, count too.
		heads, _, err := v.readHeads(ctx, d)
		if err == nil {
			err = v.checkRollback(ctx, d, heads)
		}
		if err != nil && !v.opt.AcceptRollback {
			return err
		}
		if err != nil {
			v.logf("%v", err)
		}
	}
	return nil
}

// findDomain loads the folders down to a shared folder, which registers it.
func (v *Volume) findDomain(hd format.HeadDomain) error {
	cur := v.root
	for _, id := range append(hd.Path, hd.ID) {
		if err := v.loaded(cur); err != nil {
			return err
		}
		var next *Node
		for _, c := range cur.entries {
			if c.id.String() == id {
				next = c
				break
			}
		}
		if next == nil {
			return fmt.Errorf("not found where the head says")
		}
		cur = next
	}
	if cur.dom.root != cur {
		return fmt.Errorf("the folder is not marked shared")
	}
	return nil
}

// idsAbove lists the ids of the folders between the top folder and n, top first.
func (v *Volume) idsAbove(n *Node) []string {
	var ids []string
	for p := n; len(p.parents) > 0 && p.parents[0] != v.root; {
		p = p.parents[0]
		ids = append(ids, p.id.String())
	}
	for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
		ids[i], ids[j] = ids[j], ids[i]
	}
	return ids
}

func (v *Volume) loadLinks(ctx context.Context, hash string) error {
	l, err := v.fetchLinks(ctx, hash)
	if err != nil {
		return err
	}
	return v.linkNodes(l, v.links)
}

// fetchLinks fetches and opens link table hash; it needs no lock.
func (v *Volume) fetchLinks(ctx context.Context, hash string) (*format.Links, error) {
	h, err := format.ParseHash(hash)
	if err != nil {
		return nil, fmt.Errorf("link table: %w", err)
	}
	obj, err := v.obj.GetMeta(ctx, format.ObjectName(h), h)
	if err != nil {
		return nil, fmt.Errorf("link table: %w", err)
	}
	pt, _, err := v.rootDom.open(v, format.LinksAAD(v.id), obj)
	if err != nil {
		return nil, fmt.Errorf("link table: %w", err)
	}
	var l format.Links
	if err := format.Decode(pt, &l); err != nil {
		return nil, fmt.Errorf("link table: %w", err)
	}
	return &l, nil
}

// linkNodes makes link table l's nodes into links.
func (v *Volume) linkNodes(l *format.Links, links map[format.ID]*Node) error {
	for i := range l.Entries {
		e := l.Entries[i]
		e.Link = false
		n, err := v.nodeFromEntry(&e, nil, v.rootDom)
		if err != nil {
			return fmt.Errorf("link table: %w", err)
		}
		n.nlink = l.Entries[i].Nlink
		links[n.id] = n
	}
	return nil
}

// headWay is what a commit does with a foreign head.
type headWay int

const (
	// headMerged: merged into this writer's tree.
	headMerged headWay = iota
	// headAncestor: an ancestor of this writer's head, left behind when a
	// crash came between writing a head and removing the one it replaced.
	// Everything in it is merged already; it goes, unmerged.
	headAncestor
	// headStale: a shared folder's head sealed in an older key epoch, after
	// the rotation, by someone who lacks the current key (a revoked
	// grantee). It is not merged.
	headStale
	// headTaken: nothing to merge; a read-only share takes the newest head
	// as it is, and an owner's first look finds its own last head.
	headTaken
)

// headWay says what a commit does with foreign head f. Called with v.mu held.
func (v *Volume) headWay(f foreignHead) headWay {
	d := f.dom
	switch {
	case slices.Contains(d.lin.ancestors, path.Base(f.name)):
		return headAncestor
	case d.shared && f.head.Epoch < d.epoch() && !d.readOnly:
		return headStale
	case d.shared && (d.readOnly || (d.headHash == "" && f.head.Root.Tree == d.baseTree)):
		return headTaken
	}
	return headMerged
}

// maxMergeFetches bounds how often one commit's merges stop to fetch a
// folder: each fetch is of a folder another writer changed or this writer
// has not loaded, and a tree that keeps changing under the merge is merged
// at the next commit instead.
const maxMergeFetches = 1000

// pendingHead is a head sealed at commit, written once its objects are stored.
type pendingHead struct {
	dom  *domain
	head format.Head
	prev string // the head it replaces, deleted after it is written
}

// commit writes every dirty folder, the link table and new heads (the
// volume's, and each changed shared folder's), once the objects they name
// are on the store. Heads other writers committed are merged first.
func (v *Volume) commit(ctx context.Context) error { return v.commitTo(ctx, false) }

// commitTo is commit; with park, for a volume closing while its uploads
// cannot proceed, the objects stay in the write-back folder and the new
// heads in the parked folder of the cache instead of going to the store,
// and nothing is merged: the next open uploads them (unpark).
func (v *Volume) commitTo(ctx context.Context, park bool) error {
	v.commitMu.Lock()
	defer v.commitMu.Unlock()
	if !park {
		if err := v.unpark(ctx); err != nil {
			return err
		}
	}

	var foreign []foreignHead
	if v.rootKey != nil && !park {
		f, err := v.foreignHeads(ctx, v.rootDom, v.headHash)
		if err != nil {
			return fmt.Errorf("listing heads: %w", err)
		}
		foreign = f
	}
	v.mu.Lock()
	doms := v.sharedDomains()
	v.mu.Unlock()
	for _, d := range doms {
		if park {
			break
		}
		f, err := v.foreignHeads(ctx, d, d.headHash)
		if err != nil {
			return fmt.Errorf("listing the heads of shared folder %s: %w", d.id, err)
		}
		foreign = append(foreign, f...)
	}

	pre := newMergeFetched()
	if len(foreign) > 0 {
		pre = v.prefetchMerge(ctx, foreign)
	}
	foreignApplied := false // the tree took another writer's changes: the kernel is told
	defer func() {
		if foreignApplied {
			v.changed()
		}
	}()
	v.mu.Lock()
	var mergers []*merger
	var merged []foreignHead
	var superseded []string // our own heads that adopted heads replace
	localChanges := v.dirty
	seq := v.headSeq
	domSeq := map[*domain]uint64{}
	mergedIn := map[*domain][]string{}
	mergedHeads := map[*domain][]*format.Head{}
	var stopped []*merger // merges stopped to fetch: their conflict copies are kept
	fetches := 0
	for i := 0; i < len(foreign); i++ {
		f := foreign[i]
		d := f.dom
		switch v.headWay(f) {
		case headAncestor:
			superseded = append(superseded, f.name)
			continue
		case headStale:
			if !v.ignored[f.name] {
				v.ignored[f.name] = true
				v.logf("shared folder %s: ignoring head %s sealed in key epoch %d (the folder is at %d): its writer lacks the current key",
					d.id, path.Base(f.name), f.head.Epoch, d.epoch())
			}
			continue
		case headTaken:
			if f.head.Seq >= d.headSeq {
				v.adoptDomainHead(d, f)
				foreignApplied = true
			}
			continue
		}
		own := v.headHash
		if d.shared {
			own = d.headHash
		}
		m, err := v.mergeHead(f, pre)
		if err != nil && fetches < maxMergeFetches {
			// The merge needs something not in memory: it is fetched
			// without the lock, and this head is merged again.
			var cold *unloadedError
			var missing *unfetchedError
			switch {
			case errors.As(err, &cold):
				stopped = append(stopped, m)
				c := v.cold(cold.n)
				v.mu.Unlock()
				err = v.fetchIn(ctx, c)
			case errors.As(err, &missing):
				stopped = append(stopped, m)
				v.mu.Unlock()
				err = v.fetchForMerge(ctx, missing, pre)
			}
			if cold != nil || missing != nil {
				fetches++
				v.mu.Lock()
				if err == nil {
					i--
					continue
				}
			}
		}
		if err != nil {
			v.mu.Unlock()
			for _, m := range append(stopped, mergers...) {
				m.writeCopies()
			}
			return fmt.Errorf("merging the head %s of another writer: %w", f.name, err)
		}
		if !localChanges && !v.dirty && len(m.copies) == 0 && own != "" && slices.Contains(ancestry(&f.head), own) {
			// Their head follows ours and this writer has nothing of its
			// own: it becomes this writer's head as it is, and nobody
			// writes a head only to say so (two writers that poll would
			// otherwise answer each other for ever).
			v.adoptHead(f)
			superseded = append(superseded, d.headName(own))
			continue
		}
		foreignApplied = true
		mergers = append(mergers, m)
		merged = append(merged, f)
		if d.shared {
			domSeq[d] = max(domSeq[d], f.head.Seq)
		} else {
			seq = max(seq, f.head.Seq)
		}
		mergedIn[d] = append(mergedIn[d], path.Base(f.name))
		mergedHeads[d] = append(mergedHeads[d], &f.head)
		v.dirty = true
	}
	if !v.dirty && park {
		v.mu.Unlock()
		_, _, err := v.obj.SpillAll()
		return err
	}
	if !v.dirty {
		v.mu.Unlock()
		v.deleteHeads(ctx, superseded)
		return v.obj.Wait(ctx, v.obj.Barrier())
	}
	// The folder objects are sealed under the lock and put on the upload
	// queue after it (a full queue may wait).
	var sealed []sealedObject
	if v.rootKey != nil {
		v.sealDir(v.root, &sealed)
	} else {
		for _, d := range doms {
			if !d.readOnly {
				v.sealDir(d.root, &sealed)
			}
		}
	}
	var heads []pendingHead
	now := time.Now().UnixNano()
	for _, d := range doms {
		if d.readOnly || (d.root.tree == d.headTree && d.headHash != "" && len(mergedIn[d]) == 0) {
			continue
		}
		h := format.Head{Format: format.MetaVersion, Volume: v.id.String(), Domain: d.id.String(), Epoch: d.epoch(),
			Seq: max(d.headSeq, domSeq[d]) + 1, Time: now, Root: v.entryOf(d.root, "")}
		if d.headHash != "" {
			h.Parents = []string{d.headHash}
		}
		h.Parents = append(h.Parents, mergedIn[d]...)
		h.Ancestors = d.lin.next(d.headHash, mergedHeads[d], mergedIn[d])
		heads = append(heads, pendingHead{dom: d, head: h, prev: d.headHash})
	}
	if v.rootKey != nil {
		h := format.Head{Format: format.MetaVersion, Volume: v.id.String(), Seq: seq + 1, Time: now, Root: v.entryOf(v.root, "")}
		if v.headHash != "" {
			h.Parents = []string{v.headHash}
		}
		h.Parents = append(h.Parents, mergedIn[v.rootDom]...)
		h.Ancestors = v.rootDom.lin.next(v.headHash, mergedHeads[v.rootDom], mergedIn[v.rootDom])
		if len(v.links) > 0 {
			h.Links = v.sealLinks(&sealed)
		}
		for _, d := range doms {
			h.Domains = append(h.Domains, format.HeadDomain{ID: d.id.String(), Path: v.idsAbove(d.root)})
		}
		v.linksHash = h.Links
		heads = append(heads, pendingHead{dom: v.rootDom, head: h, prev: v.headHash})
	}
	v.dirty, v.linksDirty = false, false
	var mark uint64 // the versions the sealed tree has (Flush adds under v.mu)
	if v.outbox != nil {
		mark = v.outbox.Mark()
	}
	v.mu.Unlock()
	for _, o := range sealed {
		v.obj.Put(o.name, o.data)
	}

	if park {
		return v.parkHeads(heads, mark)
	}
	if err := v.obj.Wait(ctx, v.obj.Barrier()); err != nil {
		v.redirty()
		return err
	}
	objs, hashes, names := v.sealHeads(heads)
	var tag uint64
	if v.outbox != nil {
		// Every version the heads name is in the durable outbox first.
		var err error
		if tag, err = v.outbox.Durable(mark, names, v.headAnchors(heads, hashes)...); err != nil {
			v.redirty()
			return err
		}
	}
	// Shared folders' heads first: the volume's head names their trees too.
	for i := range heads {
		if err := v.putHead(ctx, names[i], objs[i]); err != nil {
			v.redirty()
			return fmt.Errorf("writing head: %w", err)
		}
	}
	// Durable before the heads they replace go.
	if err := objects.Flush(ctx, v.store); err != nil {
		v.redirty()
		return fmt.Errorf("writing head: %w", err)
	}
	if v.outbox != nil {
		v.outbox.Committed(tag)
	}
	for _, f := range merged {
		if err := v.store.Delete(ctx, f.name); err != nil {
			v.logf("removing a merged head: %v", err)
		}
	}
	for _, m := range append(stopped, mergers...) {
		m.writeCopies()
	}
	v.deleteHeads(ctx, superseded)
	v.mu.Lock()
	for i, p := range heads {
		if p.dom.shared {
			p.dom.headSeq, p.dom.headHash = p.head.Seq, hashes[i]
			p.dom.baseTree, p.dom.headTree = p.head.Root.Tree, p.head.Root.Tree
		} else {
			v.headSeq, v.headHash, v.baseTree = p.head.Seq, hashes[i], p.head.Root.Tree
		}
		p.dom.lin.note(hashes[i], p.head.Root.Tree, ancestry(&p.head))
	}
	v.mu.Unlock()
	for _, p := range heads {
		if p.prev == "" {
			continue
		}
		if err := v.store.Delete(ctx, p.dom.headName(p.prev)); err != nil {
			v.logf("removing superseded head: %v", err)
		}
	}
	return nil
}

// parkedDir holds heads sealed while the store could not take their
// objects; their objects wait in the write-back folder.
func (v *Volume) parkedDir() string { return filepath.Join(v.opt.CacheDir, "parked") }

// putHead writes a head to the store: on several storage nodes, once
// enough have it to count as stored, and queued for the others.
func (v *Volume) putHead(ctx context.Context, name string, obj []byte) error {
	if err := v.store.Put(ctx, name, obj); err != nil {
		return err
	}
	if v.shards.N() > 0 {
		v.obj.Put(name, obj) // the nodes that have it skip it
	}
	return nil
}

// sealHeads seals heads and names them on the store.
func (v *Volume) sealHeads(heads []pendingHead) (objs [][]byte, hashes, names []string) {
	for _, p := range heads {
		obj := p.dom.seal(v, v.headAAD(p.dom), format.Encode(p.head))
		hash := format.HashOf(obj).String()
		objs, hashes, names = append(objs, obj), append(hashes, hash), append(names, p.dom.headName(hash))
	}
	return objs, hashes, names
}

// headAnchors are the ledger's records of heads sealed as hashes (a merge
// of more heads than the ledger takes parents names the first of them).
func (v *Volume) headAnchors(heads []pendingHead, hashes []string) []network.Head {
	out := make([]network.Head, len(heads))
	for i, p := range heads {
		out[i] = network.Head{Volume: v.id.String(), Domain: p.dom.ledgerID(), Hash: hashes[i], Seq: p.head.Seq,
			Parents: p.head.Parents[:min(len(p.head.Parents), wire.MaxParents)]}
	}
	return out
}

// parkedHead reports whether a head waits in the parked folder: its anchor
// waits until it is on the remote.
func (v *Volume) parkedHead(h *network.Head) bool {
	name := format.HeadsDir + "/" + h.Hash
	if h.Domain != "" {
		id, err := format.ParseID(h.Domain)
		if err != nil {
			return false
		}
		name = format.DomainHeadsDir(id) + "/" + h.Hash
	}
	_, err := os.Stat(v.parkedPath(name))
	return err == nil
}

// parkedPath is where head name waits in the parked folder.
func (v *Volume) parkedPath(name string) string {
	return filepath.Join(v.parkedDir(), strings.ReplaceAll(name, "/", "_"))
}

// parkHeads keeps sealed heads in the parked folder, after the objects they
// name are in the write-back folder and the outbox is durable.
func (v *Volume) parkHeads(heads []pendingHead, mark uint64) error {
	n, bytes, err := v.obj.SpillAll()
	if err != nil {
		return err
	}
	objs, hashes, names := v.sealHeads(heads)
	if v.outbox != nil {
		if _, err := v.outbox.Durable(mark, names, v.headAnchors(heads, hashes)...); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(v.parkedDir(), 0o700); err != nil {
		return err
	}
	for i, name := range names {
		if err := writeFileSynced(v.parkedPath(name), objs[i]); err != nil {
			return fmt.Errorf("parking a head: %w", err)
		}
	}
	v.logf("the remote does not take uploads: %d objects (%d bytes) stay queued in %s and the last changes to the tree in %s; the next mount or sync uploads them",
		n, bytes, filepath.Join(v.opt.CacheDir, "writeback"), v.parkedDir())
	return nil
}

// unpark puts the heads a previous close parked on the store, once the
// objects they name are uploaded; they are then merged as any other
// writer's heads. Called with commitMu held.
func (v *Volume) unpark(ctx context.Context) error {
	entries, err := os.ReadDir(v.parkedDir())
	if err != nil || len(entries) == 0 {
		return nil
	}
	if err := v.obj.Wait(ctx, v.obj.Barrier()); err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(v.parkedDir(), e.Name())
		obj, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := v.putHead(ctx, strings.ReplaceAll(e.Name(), "_", "/"), obj); err != nil {
			return fmt.Errorf("uploading a parked head: %w", err)
		}
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	v.logf("uploaded %d parked heads", len(entries))
	if v.outbox != nil {
		v.outbox.Poke() // their anchors may go now
	}
	return nil
}

// hasParked reports whether a previous close left parked heads.
func (v *Volume) hasParked() bool {
	entries, _ := os.ReadDir(v.parkedDir())
	return len(entries) > 0
}

// writeFileSynced writes a file whole and durably (temporary name, fsync, rename).
func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		os.Remove(path + ".tmp")
	}
	return err
}

// adoptHead takes a head that follows this writer's own, whose tree the
// merge found nothing new in, as this writer's head. Called with v.mu held.
func (v *Volume) adoptHead(f foreignHead) {
	name := path.Base(f.name)
	f.dom.lin.note(name, f.head.Root.Tree, ancestry(&f.head))
	if d := f.dom; d.shared {
		d.headSeq, d.headHash, d.baseTree, d.headTree = f.head.Seq, name, f.head.Root.Tree, d.root.tree
		return
	}
	v.headSeq, v.headHash, v.baseTree, v.linksHash = f.head.Seq, name, f.head.Root.Tree, f.head.Links
}

// deleteHeads removes heads others' heads have replaced.
func (v *Volume) deleteHeads(ctx context.Context, names []string) {
	for _, name := range names {
		if err := v.store.Delete(ctx, name); err != nil && !errNotFound(err) {
			v.logf("removing a superseded head: %v", err)
		}
	}
}

// adoptDomainHead takes a shared folder's head as this writer's own without
// merging: its tree replaces ours. Called with v.mu held.
func (v *Volume) adoptDomainHead(d *domain, f foreignHead) {
	d.headSeq, d.headHash = f.head.Seq, path.Base(f.name)
	d.lin.note(d.headHash, f.head.Root.Tree, ancestry(&f.head))
	if d.root.tree != f.head.Root.Tree {
		d.root.tree, d.root.entries, d.root.dirty = f.head.Root.Tree, nil, false
		d.root.mtime, d.root.ctime = f.head.Root.Mtime, f.head.Root.Ctime
	}
	d.baseTree, d.headTree = f.head.Root.Tree, f.head.Root.Tree
}

func (v *Volume) redirty() {
	v.mu.Lock()
	v.dirty = true
	v.mu.Unlock()
}

// sealedObject is an object sealed under the tree lock, to upload after it.
type sealedObject struct {
	name string
	data []byte
}

// sealDir seals folder d (after its dirty subfolders) into out and records
// its new tree hash. Called with v.mu held.
func (v *Volume) sealDir(d *Node, out *[]sealedObject) {
	if !d.dirty || d.entries == nil {
		d.dirty = false
		return
	}
	entries := make([]format.Entry, 0, len(d.entries))
	for name, c := range d.entries {
		if c.typ == format.TypeDir {
			v.sealDir(c, out)
		}
		if c.nlink > 1 && c.typ != format.TypeDir {
			entries = append(entries, format.Entry{Name: name, ID: c.id.String(), Type: c.typ, Link: true})
			continue
		}
		entries = append(entries, v.entryOf(c, name))
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	obj := d.dom.seal(v, v.dirAAD(d), format.Encode(format.Dir{Format: format.MetaVersion, Dir: d.id.String(), Entries: entries}))
	h := format.HashOf(obj)
	*out = append(*out, sealedObject{format.ObjectName(h), obj})
	d.tree = h.String()
	d.dirty = false
}

// sealLinks seals the link table into out and returns its hash. Called
// with v.mu held.
func (v *Volume) sealLinks(out *[]sealedObject) string {
	entries := make([]format.Entry, 0, len(v.links))
	for _, n := range v.links {
		e := v.entryOf(n, "")
		e.Nlink = n.nlink
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].ID < entries[j].ID })
	obj := v.rootDom.seal(v, format.LinksAAD(v.id), format.Encode(format.Links{Format: format.MetaVersion, Entries: entries}))
	h := format.HashOf(obj)
	*out = append(*out, sealedObject{format.ObjectName(h), obj})
	return h.String()
}
