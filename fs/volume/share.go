package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
)

// Sharing. The owner turns a folder into a key domain (Share): everything
// under it is re-sealed with keys derived from the folder's own key, and
// the folder gets heads of its own under domains/<id>/, so that a grantee
// holding only that key can read it, write it and commit. Revoking a grant
// starts a new key epoch (Rotate); with rekey the folder's existing content
// is re-sealed in it as well.

// ErrNotOwner means an operation needs the volume's root key.
var ErrNotOwner = errors.New("only the volume's owner can do this")

// Share makes the folder at p a shared folder, if it is not one yet, and
// returns its keys to wrap for a grantee. Making it re-seals every object
// under it, and is committed before Share returns.
func (v *Volume) Share(ctx context.Context, p string, progress func(Progress)) (DomainKeys, error) {
	if err := v.ownerWritable(); err != nil {
		return DomainKeys{}, err
	}
	n, err := v.resolve(p)
	if err != nil {
		return DomainKeys{}, err
	}
	v.mu.Lock()
	switch {
	case n.typ != format.TypeDir:
		err = fmt.Errorf("%s is not a folder: share folders", p)
	case n == v.root:
		err = errors.New("the top folder cannot be shared: share a folder in it")
	case n.dom.root == n:
		keys := v.keysOf(n.dom)
		v.mu.Unlock()
		return keys, nil
	case n.dom.shared:
		err = fmt.Errorf("%s is inside the shared folder %s: share that one, or nothing above or below it", p, v.pathOf(n.dom.root))
	}
	if err == nil {
		for _, d := range v.sharedDomains() {
			if v.isAncestor(n, d.root) {
				err = fmt.Errorf("%s holds the shared folder %s: shared folders cannot nest", p, v.pathOf(d.root))
			}
		}
	}
	v.mu.Unlock()
	if err != nil {
		return DomainKeys{}, err
	}
	nodes, err := v.subtree(ctx, p)
	if err != nil {
		return DomainKeys{}, err
	}
	for _, c := range nodes {
		if c.typ == format.TypeFile && c.nlink > 1 {
			return DomainKeys{}, fmt.Errorf("%s holds files with several names (hard links), which a shared folder cannot: remove the extra names first", p)
		}
	}
	v.mu.Lock()
	d := v.ownerDomain(n.id, 1)
	v.mu.Unlock()
	if err := v.reseal(ctx, d, n, nodes, progress); err != nil {
		return DomainKeys{}, err
	}
	return v.commitKeys(ctx, d)
}

// commitKeys commits and returns a shared folder's keys.
func (v *Volume) commitKeys(ctx context.Context, d *domain) (DomainKeys, error) {
	if err := v.commit(ctx); err != nil {
		return DomainKeys{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.keysOf(d), nil
}

// Rotate starts a new key epoch in the shared folder at p: everything
// written from now on is sealed in it. With rekey, what the folder already
// holds is re-sealed in it too, so that nobody holding only older keys can
// read any of it. It returns the folder's keys, every epoch's.
func (v *Volume) Rotate(ctx context.Context, p string, rekey bool, progress func(Progress)) (DomainKeys, error) {
	if err := v.ownerWritable(); err != nil {
		return DomainKeys{}, err
	}
	n, err := v.resolve(p)
	if err != nil {
		return DomainKeys{}, err
	}
	v.mu.Lock()
	d := n.dom
	if d.root != n {
		v.mu.Unlock()
		return DomainKeys{}, fmt.Errorf("%s is not a shared folder", p)
	}
	v.mu.Unlock()
	if err := v.flushOpenFiles(); err != nil {
		return DomainKeys{}, err
	}
	v.mu.Lock()
	d.mu.Lock()
	d.current++
	d.mu.Unlock()
	v.markDirty(n) // the folder and its head move to the new epoch at once
	v.mu.Unlock()
	if rekey {
		nodes, err := v.subtree(ctx, p)
		if err != nil {
			return DomainKeys{}, err
		}
		if err := v.reseal(ctx, d, n, nodes, progress); err != nil {
			return DomainKeys{}, err
		}
	}
	return v.commitKeys(ctx, d)
}

// SharedFolder returns the keys of the shared folder at p; ok is false if
// p is not one.
func (v *Volume) SharedFolder(p string) (keys DomainKeys, ok bool, err error) {
	if v.rootKey == nil {
		return DomainKeys{}, false, ErrNotOwner
	}
	n, err := v.resolve(p)
	if err != nil {
		return DomainKeys{}, false, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if n.dom.root != n {
		return DomainKeys{}, false, nil
	}
	return v.keysOf(n.dom), true, nil
}

func (v *Volume) ownerWritable() error {
	if v.opt.ReadOnly {
		return ErrReadOnly
	}
	if v.rootKey == nil {
		return ErrNotOwner
	}
	return nil
}

// keysOf lists every epoch's key of a shared folder. Called with v.mu held.
func (v *Volume) keysOf(d *domain) DomainKeys {
	k := DomainKeys{Domain: d.id.String(), Epoch: d.epoch(), Keys: map[uint32][]byte{}}
	for e := uint32(1); e <= k.Epoch; e++ {
		k.Keys[e], _ = d.folderKey(e)
	}
	return k
}

// pathOf is a node's path, by its first parents. Called with v.mu held.
func (v *Volume) pathOf(n *Node) string {
	var parts []string
	for c := n; len(c.parents) > 0; c = c.parents[0] {
		p := c.parents[0]
		for name, e := range p.entries {
			if e == c {
				parts = append(parts, name)
				break
			}
		}
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return "/" + strings.Join(parts, "/")
}

// subtree loads and lists every node under the folder at p, p's own first.
func (v *Volume) subtree(ctx context.Context, p string) ([]*Node, error) {
	var nodes []*Node
	var problems []string
	err := v.walk(ctx, p, func(vi visit) error {
		nodes = append(nodes, vi.n)
		return nil
	}, func(p string, err error) { problems = append(problems, p+": "+err.Error()) })
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the folder cannot be read whole (run verify): %s", strings.Join(problems, "; "))
	}
	return nodes, nil
}

// reseal moves the nodes under top into domain d's current epoch: every
// file gets a new version whose chunks are all sealed in it (anchored like
// any other version), and every folder is marked for sealing at the next
// commit. Nothing old is deleted: gc removes what no head names any more.
func (v *Volume) reseal(ctx context.Context, d *domain, top *Node, nodes []*Node, progress func(Progress)) error {
	if err := v.flushOpenFiles(); err != nil {
		return err
	}
	var files []*Node
	for _, n := range nodes {
		if n.typ == format.TypeFile {
			files = append(files, n)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].ino < files[j].ino })
	for i, n := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := v.resealFile(n, d); err != nil {
			return fmt.Errorf("re-sealing %s: %w", v.pathOfLocked(n), err)
		}
		if progress != nil {
			progress(Progress{Phase: "re-sealing", Done: int64(i + 1), Total: int64(len(files))})
		}
	}
	v.mu.Lock()
	for _, n := range nodes {
		n.dom = d
		if n.typ == format.TypeDir {
			n.dirty = true
		}
	}
	d.root = top
	v.markDirty(top)
	if len(top.parents) > 0 {
		v.markDirty(top.parents[0]) // its entry now names the domain
	}
	v.mu.Unlock()
	return nil
}

func (v *Volume) pathOfLocked(n *Node) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.pathOf(n)
}

// resealFile makes a new version of file n with every chunk sealed anew,
// in the volume's format and domain d's current epoch (nil: the domain n
// is in); its current version is read with the keys of the domain it is in
// now.
func (v *Volume) resealFile(n *Node, d *domain) error {
	h, err := v.Open(n) // loads the manifest with n's present keys
	if err != nil {
		return err
	}
	v.mu.Lock()
	if d != nil {
		n.dom = d
	}
	version := n.version
	v.mu.Unlock()
	if version == 0 {
		return h.Release()
	}
	h.f.lock(v)
	err = h.begin()
	h.f.rekey = true
	h.f.mu.Unlock()
	if err != nil {
		h.Release()
		return err
	}
	return h.Release()
}

// Shared is a folder shared with this user, as its grant says.
type Shared struct {
	Domain   string // the folder's id
	Path     string // where it shows in the mount, like /projects/acme
	ReadOnly bool
	Keys     map[uint32][]byte // the folder keys the grant wrapped, by epoch
}

// OpenShared opens the folders of a volume that were shared with this user:
// the tree shows each at its path, under made-up read-only folders, and
// nothing else of the volume exists for it. A folder whose newest head this
// user cannot open (its key was rotated away) is left out and reported.
func OpenShared(ctx context.Context, store ObjectStore, shares []Shared, opt Options) (*Volume, error) {
	c, err := readConfig(ctx, store)
	if err != nil {
		return nil, err
	}
	if err := checkLedger(c, opt); err != nil {
		return nil, err
	}
	id, _ := format.ParseID(c.Volume)
	if len(shares) == 0 {
		return nil, errors.New("nothing of this volume is shared with you")
	}
	v := newVolume(id, c, nil, store, opt)
	for _, s := range shares {
		did, err := format.ParseID(s.Domain)
		if err != nil {
			return nil, fmt.Errorf("share %s: %w", s.Path, err)
		}
		d, err := shareDomain(did, s)
		if err != nil {
			return nil, err
		}
		v.domains[did] = d
	}
	if err := v.start(ctx, v.loadShares); err != nil {
		return nil, err
	}
	return v, nil
}

// loadShares builds a grantee's tree: made-up folders down to each share.
func (v *Volume) loadShares(ctx context.Context) error {
	v.root = v.synthDir()
	v.root.ino = 1
	var problems []string
	shown := 0
	doms := make([]*domain, 0, len(v.domains))
	for _, d := range v.domains {
		doms = append(doms, d)
	}
	sort.Slice(doms, func(i, j int) bool { return doms[i].name < doms[j].name })
	for _, d := range doms {
		if err := v.attachShare(ctx, d); err != nil {
			var rb *RollbackError
			if errors.As(err, &rb) {
				return fmt.Errorf("shared folder %s: %w", d.name, err) // not shown as if it were current
			}
			problems = append(problems, fmt.Sprintf("%s: %v", d.name, err))
			continue
		}
		shown++
	}
	for _, p := range problems {
		v.logf("shared folder %s", p)
	}
	if shown == 0 {
		return fmt.Errorf("none of the folders shared with you can be opened: %s", strings.Join(problems, "; "))
	}
	return nil
}

// synthDir makes a read-only folder of a grantee's tree that holds shares.
func (v *Volume) synthDir() *Node {
	now := time.Now().UnixNano()
	return &Node{id: format.NewID(), typ: format.TypeDir, mode: 0o555, uid: uint32(os.Getuid()), gid: uint32(os.Getgid()),
		mtime: now, ctime: now, nlink: 1, entries: map[string]*Node{}, dom: v.rootDom, synthetic: true}
}

// shareDomain makes the domain of a share from its grant.
func shareDomain(id format.ID, s Shared) (*domain, error) {
	d := &domain{id: id, shared: true, readOnly: s.ReadOnly, keys: map[uint32][]byte{}, metas: map[uint32][]byte{}, name: s.Path}
	for e, k := range s.Keys {
		if len(k) != format.KeySize || e == 0 {
			return nil, fmt.Errorf("share %s: a malformed key", s.Path)
		}
		d.keys[e] = k
		d.current = max(d.current, e)
	}
	return d, nil
}

// attachShare reads a share's newest head and shows its folder at its path
// in a grantee's tree. Called before the volume is shared.
func (v *Volume) attachShare(ctx context.Context, d *domain) error {
	head, name, top, err := v.shareTop(ctx, d)
	if err != nil {
		return err
	}
	return v.showShare(d, head, name, top)
}

// shareTop reads a share's newest head and the folder object of its top
// folder; it needs no lock.
func (v *Volume) shareTop(ctx context.Context, d *domain) (*format.Head, string, *format.Dir, error) {
	head, name, err := v.newestHead(ctx, d)
	if err != nil {
		return nil, "", nil, err
	}
	id, err := format.ParseID(head.Root.ID)
	if err != nil {
		return nil, "", nil, fmt.Errorf("head %s: %w", name, err)
	}
	top, err := v.dirObject(ctx, head.Root.Tree, d, format.DirAAD(v.id, id), id)
	return head, name, top, err
}

// showShare puts the folder a share's head names, whose folder object is
// top, at its path in a grantee's tree. Called with v.mu held (or before
// the volume is shared).
func (v *Volume) showShare(d *domain, head *format.Head, name string, top *format.Dir) error {
	n, err := v.nodeFromEntry(&head.Root, nil, v.rootDom)
	if err == nil && n.dom != d {
		err = errors.New("its head names another folder")
	}
	if err == nil {
		err = v.install(n, top)
	}
	if err != nil {
		d.root = nil
		return err
	}
	parts := strings.Split(strings.Trim(path.Clean("/"+d.name), "/"), "/")
	dir := v.root
	for _, part := range parts[:len(parts)-1] {
		next := dir.entries[part]
		if next == nil {
			next = v.synthDir()
			v.assignIno(next)
			next.parents = []*Node{dir}
			dir.entries[part] = next
		}
		dir = next
	}
	last := parts[len(parts)-1]
	if !validName(last) || dir.entries[last] != nil || !dir.synthetic {
		d.root = nil
		return errors.New("a path that cannot be shown")
	}
	d.headSeq, d.headHash, d.baseTree, d.headTree = head.Seq, name, head.Root.Tree, head.Root.Tree
	d.lin.note(name, head.Root.Tree, ancestry(head))
	dir.entries[last] = n
	n.parents = []*Node{dir}
	return nil
}

// refreshGrants asks again which folders are shared with this grantee: a
// new key epoch (after a revocation of someone else) is taken, so new
// writes are sealed in it; a new share appears; a revoked one leaves the
// mount, and its files refuse writes. The remote is read without the tree's
// lock.
func (v *Volume) refreshGrants(ctx context.Context) {
	shares, err := v.opt.Shares(ctx)
	if err != nil {
		v.logf("asking which folders are shared with you: %v", err)
		return
	}
	v.mu.Lock()
	listed := map[format.ID]bool{}
	var show []*domain // shares to put in the tree: new, shared again, or unreadable so far
	for _, s := range shares {
		id, err := format.ParseID(s.Domain)
		if err != nil {
			continue
		}
		listed[id] = true
		d := v.domains[id]
		if d == nil {
			if d, err = shareDomain(id, s); err != nil {
				v.logf("shared folder %s: %v", s.Path, err)
				continue
			}
			v.domains[id] = d
		}
		d.mu.Lock()
		for e, k := range s.Keys {
			if _, ok := d.keys[e]; !ok && len(k) == format.KeySize {
				d.keys[e] = k
				d.current = max(d.current, e)
			}
		}
		d.mu.Unlock()
		d.readOnly = s.ReadOnly
		if d.root == nil {
			show = append(show, d)
		}
	}
	hidden := false
	for id, d := range v.domains {
		if listed[id] || d.root == nil {
			continue
		}
		v.logf("the grant on %s was revoked: it leaves the mount", d.name)
		d.readOnly = true
		for _, p := range d.root.parents {
			for name, c := range p.entries {
				if c == d.root {
					delete(p.entries, name)
				}
			}
		}
		d.root = nil
		hidden = true
	}
	v.mu.Unlock()
	if hidden {
		v.changed()
	}
	for _, d := range show {
		head, name, top, err := v.shareTop(ctx, d)
		v.mu.Lock()
		if err == nil && d.root == nil {
			err = v.showShare(d, head, name, top)
		}
		v.mu.Unlock()
		if err == nil {
			v.changed()
		}
		if err != nil && err.Error() != d.showErr {
			v.logf("shared folder %s: %v", d.name, err)
		}
		if err != nil {
			d.showErr = err.Error() // reported once, tried again at each refresh
		}
	}
}

// refreshReadOnlyShares takes the newest head of each read-only share, so
// that a grantee who never writes sees the owner's changes while mounted.
func (v *Volume) refreshReadOnlyShares(ctx context.Context) {
	v.mu.Lock()
	var ro []*domain
	var own []string
	for _, d := range v.sharedDomains() {
		if d.readOnly {
			ro, own = append(ro, d), append(own, d.headHash)
		}
	}
	v.mu.Unlock()
	for i, d := range ro {
		// Only heads other than the one taken last are read.
		heads, err := v.foreignHeads(ctx, d, own[i])
		if err != nil {
			v.logf("shared folder %s: %v", d.name, err)
			continue
		}
		took := false
		v.mu.Lock()
		for _, f := range heads {
			if f.head.Seq > d.headSeq {
				v.adoptDomainHead(d, f)
				took = true
			}
		}
		v.mu.Unlock()
		if took {
			v.changed()
		}
	}
}

// sharesWritable reports whether a shared folder others may write is open
// here: then every commit interval looks for their heads, so that their
// changes show up without waiting for a write or a sync of this side.
// Called with v.mu held.
func (v *Volume) sharesWritable() bool {
	for _, d := range v.sharedDomains() {
		if !d.readOnly {
			return true
		}
	}
	return false
}
