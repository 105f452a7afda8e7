package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
)

// Node is a file, folder or symlink of the volume. Its fields are guarded by
// the volume's lock; file content has its own (see fileData).
type Node struct {
	id           format.ID
	ino          uint64
	typ          string
	mode         uint32 // permission bits, 07777
	uid, gid     uint32
	mtime, ctime int64 // ns since the epoch
	atime        int64 // ns since the epoch; 0 reads as mtime
	xattrs       map[string][]byte

	rdev   uint64 // device nodes
	target string // symlinks

	// Files.
	size    int64 // size of the committed version
	live    int64 // size with changes not yet made a version, when liveSet
	liveSet bool
	version uint64
	checked uint64 // the version last found to match the ledger
	asked   uint64 // the version last asked about in a batch (checkAlong), matched or not
	// asking is closed when the batch asking about this file's version
	// has its answer; nil when none is in flight.
	asking chan struct{}
	// checkingAhead: a folder whose files are being asked about in the
	// background (checkAhead).
	checkingAhead bool
	fetched       uint64 // the version whose manifest (and small content) was fetched ahead of an open
	// fetchMark: opening this file fetches ahead again (it is halfway
	// through what was fetched ahead).
	fetchMark bool
	manifest  string    // hash of this version's manifest, "" for version 0
	nlink     uint32    // names the file has
	parents   []*Node   // folders holding a name for this node (a folder has one)
	data      *fileData // content state while open
	opens     int

	// Folders.
	tree    string // hash of the committed folder object, "" if never committed
	entries map[string]*Node
	dirty   bool

	dom       *domain // the key domain the node is sealed in
	synthetic bool    // a folder a grantee's mount makes up to hold its shares
}

// Attr is what stat(2) reports of a node.
type Attr struct {
	Ino          uint64
	Mode         uint32 // with the file type bits (syscall.S_IF*)
	Nlink        uint32
	UID, GID     uint32
	Size         int64
	Rdev         uint64 // device nodes
	Mtime, Ctime time.Time
	Atime        time.Time
}

// DirEntry is one name of a folder listing.
type DirEntry struct {
	Name string
	Ino  uint64
	Mode uint32 // file type bits only
}

// Ino is the node's inode number, stable while the volume is open.
func (n *Node) Ino() uint64 { return n.ino }

// IsDir reports whether the node is a folder.
func (n *Node) IsDir() bool { return n.typ == format.TypeDir }

// typeModes are the file type bits (syscall.S_IF*) of each node type.
var typeModes = map[string]uint32{
	format.TypeFile: syscall.S_IFREG, format.TypeDir: syscall.S_IFDIR, format.TypeSymlink: syscall.S_IFLNK,
	format.TypeFifo: syscall.S_IFIFO, format.TypeSocket: syscall.S_IFSOCK,
	format.TypeCharDev: syscall.S_IFCHR, format.TypeBlockDev: syscall.S_IFBLK,
}

func typeBits(typ string) uint32 {
	if bits, ok := typeModes[typ]; ok {
		return bits
	}
	return syscall.S_IFREG
}

// SpecialType is the node type of a special file of mode's type bits
// (S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK), or "".
func SpecialType(mode uint32) string {
	for _, typ := range []string{format.TypeFifo, format.TypeSocket, format.TypeCharDev, format.TypeBlockDev} {
		if typeModes[typ] == mode&syscall.S_IFMT {
			return typ
		}
	}
	return ""
}

// Version is a file's content version as of its last close; a newer one
// means the kernel's cached pages of the file are stale.
func (v *Volume) Version(n *Node) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return n.version
}

// Root is the volume's top folder.
func (v *Volume) Root() *Node { return v.root }

// Attr returns a node's attributes.
func (v *Volume) Attr(n *Node) Attr {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.attrLocked(n)
}

func (v *Volume) attrLocked(n *Node) Attr {
	a := Attr{Ino: n.ino, Mode: typeBits(n.typ) | n.mode, Nlink: n.nlink, UID: n.uid, GID: n.gid,
		Mtime: time.Unix(0, n.mtime), Ctime: time.Unix(0, n.ctime), Atime: time.Unix(0, n.accessed())}
	switch n.typ {
	case format.TypeFile:
		a.Size = n.size
		if n.liveSet {
			a.Size = n.live
		}
	case format.TypeSymlink:
		a.Size = int64(len(n.target))
	case format.TypeCharDev, format.TypeBlockDev:
		a.Rdev = n.rdev
	case format.TypeDir:
		a.Size, a.Nlink = 4096, v.dirLinks(n)
	}
	if n.synthetic || n.dom.readOnly {
		// What this user may not change shows so: a read-only share, and a
		// grantee's folders above its shares.
		a.Mode &^= 0o222
	}
	return a
}

// dirLinks is a folder's link count: 2 plus its subfolders, counted when
// its entries are in memory, else as its entry recorded; 1 (unknown, as
// find(1) reads it) for a folder of an older volume not loaded yet.
// Called with v.mu held.
func (v *Volume) dirLinks(n *Node) uint32 {
	if n.entries == nil {
		return max(n.nlink, 1)
	}
	links := uint32(2)
	for _, c := range n.entries {
		if c.typ == format.TypeDir {
			links++
		}
	}
	return links
}

func (v *Volume) newNode(dir *Node, typ string, mode, uid, gid uint32) *Node {
	now := time.Now().UnixNano()
	n := &Node{id: format.NewID(), typ: typ, mode: mode & 0o7777, uid: uid, gid: gid, mtime: now, ctime: now, atime: now, nlink: 1, dom: dir.dom}
	v.assignIno(n)
	if typ == format.TypeDir {
		n.entries = map[string]*Node{}
		n.dirty = true
	}
	return n
}

func (v *Volume) assignIno(n *Node) {
	n.ino = v.nextIno
	v.nextIno++
}

// nodeFromEntry builds a node of domain dom from a folder entry; linked
// files come from the link table; a shared folder's entry starts its domain.
func (v *Volume) nodeFromEntry(e *format.Entry, links map[format.ID]*Node, dom *domain) (*Node, error) {
	id, err := format.ParseID(e.ID)
	if err != nil {
		return nil, err
	}
	if e.Link {
		n, ok := links[id]
		if !ok {
			return nil, fmt.Errorf("linked file %s is not in the link table", id)
		}
		return n, nil
	}
	n := &Node{id: id, typ: e.Type, mode: e.Mode & 0o7777, uid: e.UID, gid: e.GID, mtime: e.Mtime, ctime: e.Ctime, atime: e.Atime,
		xattrs: e.Xattrs, target: e.Target, size: e.Size, version: e.Version, manifest: e.Manifest, tree: e.Tree, nlink: 1, dom: dom,
		rdev: e.Rdev}
	if e.Domain != "" {
		did, err := format.ParseID(e.Domain)
		if err != nil || e.Type != format.TypeDir || did != id || e.Epoch == 0 || dom.shared {
			return nil, fmt.Errorf("folder %s has a bad shared-folder entry", id)
		}
		d := v.domains[did]
		if d == nil {
			if v.rootKey == nil {
				return nil, fmt.Errorf("shared folder %s is not among this user's grants", id)
			}
			d = v.ownerDomain(did, e.Epoch)
		}
		d.root, n.dom = n, d
	}
	switch e.Type {
	case format.TypeFile, format.TypeSymlink, format.TypeFifo, format.TypeSocket, format.TypeCharDev, format.TypeBlockDev:
	case format.TypeDir:
		if e.Tree == "" {
			return nil, fmt.Errorf("folder %s has no tree", id)
		}
	default:
		return nil, fmt.Errorf("unknown node type %q", e.Type)
	}
	if e.Type == format.TypeFile && e.Version > 0 && e.Manifest == "" {
		return nil, fmt.Errorf("file %s has no manifest", id)
	}
	if e.Link || (e.Type == format.TypeDir && e.Nlink >= 2) {
		n.nlink = e.Nlink
	}
	v.assignIno(n)
	return n, nil
}

func (v *Volume) entryOf(n *Node, name string) format.Entry {
	e := format.Entry{Name: name, ID: n.id.String(), Type: n.typ, Mode: n.mode, UID: n.uid, GID: n.gid,
		Mtime: n.mtime, Ctime: n.ctime, Atime: n.atime, Xattrs: n.xattrs}
	switch n.typ {
	case format.TypeFile:
		e.Size, e.Version, e.Manifest = n.size, n.version, n.manifest
	case format.TypeDir:
		e.Tree, e.Nlink = n.tree, v.dirLinks(n)
		if n.dom.shared && n.dom.root == n {
			e.Domain, e.Epoch = n.id.String(), n.dom.epoch()
		}
	case format.TypeSymlink:
		e.Target = n.target
	case format.TypeCharDev, format.TypeBlockDev:
		e.Rdev = n.rdev
	}
	return e
}

// loaded makes sure folder n's entries are in memory, fetching its object
// while the caller holds the tree lock: for opening a volume, where nothing
// else runs. Operations and merges use need, under withTree or the commit's
// merge loop, instead.
func (v *Volume) loaded(n *Node) error {
	if n.typ != format.TypeDir {
		return syscall.ENOTDIR
	}
	if n.entries != nil {
		return nil
	}
	d, err := v.dirObject(context.Background(), n.tree, n.dom, v.dirAAD(n), n.id)
	if err != nil {
		return err
	}
	return v.install(n, d)
}

// unloadedError is need's answer for a folder whose entries are not in
// memory: withTree fetches it without the tree lock and runs again.
type unloadedError struct{ n *Node }

func (e *unloadedError) Error() string { return "folder " + e.n.id.String() + " is not loaded" }

// need is loaded for an operation run by withTree: it never fetches, so
// the tree lock is never held across remote I/O. Called with v.mu held.
func (v *Volume) need(n *Node) error {
	if n.typ != format.TypeDir {
		return syscall.ENOTDIR
	}
	if n.entries != nil {
		return nil
	}
	return &unloadedError{n}
}

// withTree runs op under the tree lock. When op needs a folder that is not
// in memory (need), the lock is dropped while the folder's object is
// fetched and opened, and op runs again from the start: an op changes
// nothing before its needs are met.
func (v *Volume) withTree(op func() error) error {
	return v.withTreeCtx(context.Background(), op)
}

// withTreeCtx is withTree whose fetches go with ctx.
func (v *Volume) withTreeCtx(ctx context.Context, op func() error) error {
	_, err := treeOpCtx(ctx, v, func() (struct{}, error) { return struct{}{}, op() })
	return err
}

// treeOp is withTree for an op with a result.
func treeOp[T any](v *Volume, op func() (T, error)) (T, error) {
	return treeOpCtx(context.Background(), v, op)
}

// treeOpCtx is treeOp whose fetches go with ctx.
func treeOpCtx[T any](ctx context.Context, v *Volume, op func() (T, error)) (T, error) {
	for {
		v.mu.Lock()
		out, err := op()
		var u *unloadedError
		if !errors.As(err, &u) {
			v.mu.Unlock()
			return out, err
		}
		c := v.cold(u.n)
		v.mu.Unlock()
		if err := v.fetchIn(ctx, c); err != nil {
			var zero T
			return zero, err
		}
	}
}

// coldDir is a folder not in memory as it was under the tree lock: what
// fetching it takes, and what tells whether it changed meanwhile.
type coldDir struct {
	n    *Node
	tree string
	dom  *domain
	aad  []byte
}

// cold notes folder n for fetchIn. Called with v.mu held.
func (v *Volume) cold(n *Node) coldDir { return coldDir{n, n.tree, n.dom, v.dirAAD(n)} }

// fetchIn fetches and opens c's folder object without the tree lock, then
// makes it the folder's entries unless the folder changed meanwhile.
// Called without v.mu.
func (v *Volume) fetchIn(ctx context.Context, c coldDir) error {
	d, err := v.dirObject(ctx, c.tree, c.dom, c.aad, c.n.id)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c.n.entries == nil && c.n.tree == c.tree {
		return v.install(c.n, d)
	}
	return nil
}

// dirObject fetches, checks and opens the folder object tree of folder id;
// it needs no lock. A failure is logged as an integrity problem and is EIO.
func (v *Volume) dirObject(ctx context.Context, tree string, dom *domain, aad []byte, id format.ID) (*format.Dir, error) {
	d, err := v.openDir(ctx, tree, dom, aad, id)
	if err != nil {
		return nil, v.integrity(fmt.Errorf("folder %s: %w", id, err))
	}
	return d, nil
}

// openDir is dirObject that says what went wrong.
func (v *Volume) openDir(ctx context.Context, tree string, dom *domain, aad []byte, id format.ID) (*format.Dir, error) {
	h, err := format.ParseHash(tree)
	if err != nil {
		return nil, err
	}
	obj, err := v.obj.GetMeta(ctx, format.ObjectName(h), h)
	if err != nil {
		return nil, err
	}
	pt, _, err := dom.open(v, aad, obj)
	if err != nil {
		return nil, fmt.Errorf("folder object %s: %w", h, err)
	}
	var d format.Dir
	if err := format.Decode(pt, &d); err != nil || d.Dir != id.String() {
		return nil, fmt.Errorf("folder object %s is malformed", h)
	}
	return &d, nil
}

// install makes folder object d folder n's entries. Called with v.mu held.
func (v *Volume) install(n *Node, d *format.Dir) error {
	entries := make(map[string]*Node, len(d.Entries))
	for i := range d.Entries {
		e := &d.Entries[i]
		if !validName(e.Name) || entries[e.Name] != nil {
			return v.integrity(fmt.Errorf("folder object %s has a bad entry", n.tree))
		}
		c, err := v.nodeFromEntry(e, v.links, n.dom)
		if err != nil {
			return v.integrity(fmt.Errorf("folder object %s: %w", n.tree, err))
		}
		c.parents = append(c.parents, n)
		entries[e.Name] = c
	}
	n.entries = entries
	return nil
}

func validName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00") && len(s) <= maxNameLen
}

// maxNameLen is the longest name in bytes, as on Linux file systems (NAME_MAX).
const maxNameLen = 255

// checkName is nil for a name a folder may hold: ENAMETOOLONG past 255
// bytes, EINVAL for the rest of what validName refuses.
func checkName(s string) error {
	if len(s) > maxNameLen {
		return syscall.ENAMETOOLONG
	}
	if !validName(s) {
		return syscall.EINVAL
	}
	return nil
}

// integrity logs an integrity failure and turns it into EIO for the caller.
func (v *Volume) integrity(err error) error {
	v.logf("integrity: %v", err)
	return syscall.EIO
}

// markDirty records that folder d must be written at the next commit, and
// so must every folder above it.
func (v *Volume) markDirty(d *Node) {
	for d != nil && !d.dirty {
		d.dirty = true
		if len(d.parents) == 0 {
			break
		}
		d = d.parents[0]
	}
	v.dirty = true
}

// touchParents marks every folder naming n dirty (its entry changed).
func (v *Volume) touchParents(n *Node) {
	if n.nlink > 1 {
		v.linksDirty = true
		v.dirty = true
		return
	}
	for _, p := range n.parents {
		v.markDirty(p)
	}
	if n == v.root {
		v.dirty = true
	}
}

// Lookup finds name in folder dir.
func (v *Volume) Lookup(dir *Node, name string) (*Node, error) {
	if len(name) > maxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	return treeOp(v, func() (*Node, error) {
		if err := v.need(dir); err != nil {
			return nil, err
		}
		c, ok := dir.entries[name]
		if !ok {
			return nil, syscall.ENOENT
		}
		return c, nil
	})
}

// ReadDir lists a folder, sorted by name.
func (v *Volume) ReadDir(dir *Node) ([]DirEntry, error) {
	return treeOp(v, func() ([]DirEntry, error) {
		if err := v.need(dir); err != nil {
			return nil, err
		}
		out := make([]DirEntry, 0, len(dir.entries))
		for name, c := range dir.entries {
			out = append(out, DirEntry{Name: name, Ino: c.ino, Mode: typeBits(c.typ)})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	})
}

// add puts a new node under dir. Called with v.mu held, under withTree.
func (v *Volume) add(dir *Node, name string, n *Node) error {
	if err := v.writableAt(dir); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	if err := v.need(dir); err != nil {
		return err
	}
	if _, exists := dir.entries[name]; exists {
		return syscall.EEXIST
	}
	dir.entries[name] = n
	n.parents = append(n.parents, dir)
	v.touchDir(dir)
	return nil
}

// touchDir updates a folder's times after its entries changed.
func (v *Volume) touchDir(dir *Node) {
	now := time.Now().UnixNano()
	dir.mtime, dir.ctime = now, now
	v.markDirty(dir)
	if len(dir.parents) > 0 {
		v.markDirty(dir.parents[0])
	}
}

// Create makes an empty file.
func (v *Volume) Create(dir *Node, name string, mode, uid, gid uint32) (*Node, error) {
	return treeOp(v, func() (*Node, error) {
		n := v.newNode(dir, format.TypeFile, mode, uid, gid)
		return n, v.add(dir, name, n)
	})
}

// Mkdir makes an empty folder.
func (v *Volume) Mkdir(dir *Node, name string, mode, uid, gid uint32) (*Node, error) {
	return treeOp(v, func() (*Node, error) {
		n := v.newNode(dir, format.TypeDir, mode, uid, gid)
		return n, v.add(dir, name, n)
	})
}

// Symlink makes a symbolic link to target.
func (v *Volume) Symlink(dir *Node, name, target string, uid, gid uint32) (*Node, error) {
	return treeOp(v, func() (*Node, error) {
		if len(target) == 0 || len(target) > 4095 {
			return nil, syscall.EINVAL
		}
		n := v.newNode(dir, format.TypeSymlink, 0o777, uid, gid)
		n.target = target
		return n, v.add(dir, name, n)
	})
}

// Mknod makes a special file: typ is one of format's fifo, socket, char or
// block types; rdev is a device node's number.
func (v *Volume) Mknod(dir *Node, name, typ string, mode uint32, rdev uint64, uid, gid uint32) (*Node, error) {
	switch typ {
	case format.TypeFifo, format.TypeSocket:
		rdev = 0
	case format.TypeCharDev, format.TypeBlockDev:
	default:
		return nil, syscall.EINVAL
	}
	return treeOp(v, func() (*Node, error) {
		n := v.newNode(dir, typ, mode, uid, gid)
		n.rdev = rdev
		return n, v.add(dir, name, n)
	})
}

// Readlink returns a symlink's target.
func (v *Volume) Readlink(n *Node) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n.typ != format.TypeSymlink {
		return "", syscall.EINVAL
	}
	return n.target, nil
}

// Link gives file n another name in dir.
func (v *Volume) Link(dir *Node, name string, n *Node) error {
	return v.withTree(func() error {
		if n.typ == format.TypeDir {
			return syscall.EPERM
		}
		if n.nlink == 0 {
			return syscall.ENOENT
		}
		if n.dom.shared || dir.dom.shared {
			return syscall.EXDEV // the link table is the root domain's: no hard links in shared folders
		}
		if err := v.add(dir, name, n); err != nil {
			return err
		}
		if n.nlink == 1 {
			// It becomes a linked file: the folder that held its only name now
			// refers to the link table.
			for _, p := range n.parents {
				v.markDirty(p)
			}
			v.links[n.id] = n
		}
		n.nlink++
		n.ctime = time.Now().UnixNano()
		v.linksDirty = true
		return nil
	})
}

// removeName drops dir's entry name for n, and tells whether n is gone
// with it. Called with v.mu held.
func (v *Volume) removeName(dir *Node, name string, n *Node) []gone {
	delete(dir.entries, name)
	for i, p := range n.parents {
		if p == dir {
			n.parents = append(n.parents[:i], n.parents[i+1:]...)
			break
		}
	}
	v.touchDir(dir)
	if n.typ == format.TypeDir {
		return removed(n, dir, name)
	}
	n.nlink--
	n.ctime = time.Now().UnixNano()
	v.forgetIfGone(n)
	if n.nlink <= 1 && v.links[n.id] != nil {
		delete(v.links, n.id)
		v.linksDirty = true
		for _, p := range n.parents {
			v.markDirty(p)
		}
	}
	return removed(n, dir, name)
}

// removable is what name holds in dir, where this writer may remove it.
// Called with v.mu held, under withTree.
func (v *Volume) removable(dir *Node, name string) (*Node, error) {
	if err := v.writableAt(dir); err != nil {
		return nil, err
	}
	if err := v.need(dir); err != nil {
		return nil, err
	}
	n, ok := dir.entries[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	return n, nil
}

// Unlink removes a name of a file or symlink.
func (v *Volume) Unlink(dir *Node, name string) error {
	var gs []gone
	err := v.withTree(func() error {
		n, err := v.removable(dir, name)
		if err != nil {
			return err
		}
		if n.typ == format.TypeDir {
			return syscall.EISDIR
		}
		gs = v.removeName(dir, name, n)
		return nil
	})
	v.recordGone(gs)
	return err
}

// Rmdir removes an empty folder.
func (v *Volume) Rmdir(dir *Node, name string) error {
	var gs []gone
	err := v.withTree(func() error {
		n, err := v.removable(dir, name)
		if err != nil {
			return err
		}
		if n.typ != format.TypeDir {
			return syscall.ENOTDIR
		}
		if n.dom.root == n {
			return syscall.EBUSY // a shared folder stays while it has grants
		}
		if err := v.need(n); err != nil {
			return err
		}
		if len(n.entries) > 0 {
			return syscall.ENOTEMPTY
		}
		gs = v.removeName(dir, name, n)
		return nil
	})
	v.recordGone(gs)
	return err
}

// Rename flags, as renameat2(2) has them.
const (
	RenameNoReplace = 1
	RenameExchange  = 2
)

// Rename moves a name, replacing what the new name held.
func (v *Volume) Rename(dir *Node, name string, newDir *Node, newName string, flags uint32) error {
	var gs []gone
	defer func() { v.recordGone(gs) }()
	return v.withTree(func() error {
		if err := v.writableAt(dir); err != nil {
			return err
		}
		if err := v.writableAt(newDir); err != nil {
			return err
		}
		if err := checkName(newName); err != nil {
			return err
		}
		if err := v.need(dir); err != nil {
			return err
		}
		if err := v.need(newDir); err != nil {
			return err
		}
		n, ok := dir.entries[name]
		if !ok {
			return syscall.ENOENT
		}
		if n.typ == format.TypeDir && v.isAncestor(n, newDir) {
			return syscall.EINVAL
		}
		old, exists := newDir.entries[newName]
		if old == n {
			return nil
		}
		if err := v.crossesDomains(n, dir, newDir); err != nil {
			return err
		}
		if exists && (old.dom.root == old || v.crossesDomains(old, newDir, dir) != nil) {
			return syscall.EBUSY
		}
		switch {
		case flags&RenameExchange != 0:
			if !exists {
				return syscall.ENOENT
			}
			if old.typ == format.TypeDir && v.isAncestor(old, dir) {
				return syscall.EINVAL
			}
			dir.entries[name], newDir.entries[newName] = old, n
			v.reparent(n, dir, newDir)
			v.reparent(old, newDir, dir)
			v.touchDir(dir)
			v.touchDir(newDir)
			return nil
		case flags&RenameNoReplace != 0 && exists:
			return syscall.EEXIST
		}
		if exists {
			if n.typ == format.TypeDir {
				if old.typ != format.TypeDir {
					return syscall.ENOTDIR
				}
				if err := v.need(old); err != nil {
					return err
				}
				if len(old.entries) > 0 {
					return syscall.ENOTEMPTY
				}
			} else if old.typ == format.TypeDir {
				return syscall.EISDIR
			}
			gs = v.removeName(newDir, newName, old)
		}
		delete(dir.entries, name)
		newDir.entries[newName] = n
		v.reparent(n, dir, newDir)
		n.ctime = time.Now().UnixNano()
		v.touchDir(dir)
		v.touchDir(newDir)
		return nil
	})
}

// crossesDomains refuses a move that would take n into or out of a shared
// folder (its objects are sealed in one key domain: mv copies instead), or
// would nest shared folders.
func (v *Volume) crossesDomains(n, from, to *Node) error {
	if n.dom.root == n {
		if to.dom.shared || to.synthetic {
			return syscall.EXDEV
		}
		return nil
	}
	if from.dom != to.dom {
		return syscall.EXDEV
	}
	if n.typ == format.TypeDir && to.dom.shared {
		for _, d := range v.sharedDomains() {
			if v.isAncestor(n, d.root) {
				return syscall.EXDEV
			}
		}
	}
	return nil
}

func (v *Volume) reparent(n, from, to *Node) {
	for i, p := range n.parents {
		if p == from {
			n.parents[i] = to
			return
		}
	}
}

// isAncestor reports whether a is d or above it.
func (v *Volume) isAncestor(a, d *Node) bool {
	for d != nil {
		if d == a {
			return true
		}
		if len(d.parents) == 0 {
			return false
		}
		d = d.parents[0]
	}
	return false
}

// SetAttr changes what is set in the request; Size truncates or extends.
type SetAttr struct {
	Mode     *uint32
	UID, GID *uint32
	Size     *int64
	Mtime    *time.Time
	Atime    *time.Time
}

// SetAttr applies a. Truncation goes through the file's content state.
func (v *Volume) SetAttr(n *Node, a SetAttr) (Attr, error) {
	if err := v.Writable(n); err != nil {
		return Attr{}, err
	}
	if a.Size != nil {
		if n.typ != format.TypeFile {
			return Attr{}, syscall.EISDIR
		}
		if err := v.truncate(n, *a.Size); err != nil {
			return Attr{}, err
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now().UnixNano()
	if a.Mode != nil {
		n.mode = *a.Mode & 0o7777
	}
	if a.UID != nil {
		n.uid = *a.UID
	}
	if a.GID != nil {
		n.gid = *a.GID
	}
	if a.Mtime != nil {
		n.mtime = a.Mtime.UnixNano()
	}
	if a.Atime != nil {
		n.atime = a.Atime.UnixNano()
	}
	n.ctime = now
	v.touchParents(n)
	return v.attrLocked(n), nil
}

// accessed is n's access time (mtime when none was recorded). Called with v.mu held.
func (n *Node) accessed() int64 {
	if n.atime == 0 {
		return n.mtime
	}
	return n.atime
}

// relatimeDay is how old an access time may grow before a read renews it
// although it is newer than the last change (Linux's relatime).
const relatimeDay = 24 * time.Hour

// touchAtime records a read of n with relatime's rule: the access time
// moves when it is not newer than the last change, or a day old; so a file
// read often costs a commit once a day, not per read. Off with NoAtime.
func (v *Volume) touchAtime(n *Node) {
	if v.opt.NoAtime || v.opt.ReadOnly {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	at := n.accessed()
	if at > n.mtime && at > n.ctime && now.Sub(time.Unix(0, at)) < relatimeDay {
		return
	}
	if v.writableAt(n) != nil {
		return // a read-only share: the access is the owner's to record
	}
	n.atime = now.UnixNano()
	v.touchParents(n)
}

// Extended attributes: only the user.* namespace is stored.
func xattrAllowed(name string) bool { return strings.HasPrefix(name, "user.") && len(name) > 5 }

// GetXattr returns an extended attribute.
func (v *Volume) GetXattr(n *Node, name string) ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	val, ok := n.xattrs[name]
	if !ok {
		return nil, syscall.ENODATA
	}
	return val, nil
}

// Xattr flags, as setxattr(2) has them.
const (
	XattrCreate  = 1
	XattrReplace = 2
)

// SetXattr sets an extended attribute in the user.* namespace.
func (v *Volume) SetXattr(n *Node, name string, val []byte, flags uint32) error {
	if err := v.Writable(n); err != nil {
		return err
	}
	if !xattrAllowed(name) {
		return syscall.EOPNOTSUPP
	}
	if len(val) > 64<<10 {
		return syscall.E2BIG
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	_, exists := n.xattrs[name]
	if flags&XattrCreate != 0 && exists {
		return syscall.EEXIST
	}
	if flags&XattrReplace != 0 && !exists {
		return syscall.ENODATA
	}
	if n.xattrs == nil {
		n.xattrs = map[string][]byte{}
	}
	n.xattrs[name] = append([]byte(nil), val...)
	n.ctime = time.Now().UnixNano()
	v.touchParents(n)
	return nil
}

// RemoveXattr deletes an extended attribute.
func (v *Volume) RemoveXattr(n *Node, name string) error {
	if err := v.Writable(n); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := n.xattrs[name]; !ok {
		return syscall.ENODATA
	}
	delete(n.xattrs, name)
	n.ctime = time.Now().UnixNano()
	v.touchParents(n)
	return nil
}

// ListXattr lists a node's extended attribute names.
func (v *Volume) ListXattr(n *Node) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	names := make([]string, 0, len(n.xattrs))
	for k := range n.xattrs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// nameIn is a name folder d gives node n ("" for none). Called with v.mu held.
func nameIn(d *Node, n *Node) string {
	for name, c := range d.entries {
		if c == n {
			return name
		}
	}
	return ""
}

// namesAfter lists, in order, the first limit names of folder d after
// after whose entries keep: by insertion, with no sort of a folder of
// many names. Called with v.mu held.
func namesAfter(d *Node, after string, limit int, keep func(*Node) bool) []string {
	var names []string
	for name, c := range d.entries {
		if name <= after || !keep(c) || (len(names) == limit && name >= names[len(names)-1]) {
			continue
		}
		at, _ := slices.BinarySearch(names, name)
		names = slices.Insert(names, at, name)
		if len(names) > limit {
			names = names[:limit]
		}
	}
	return names
}

// errNotFound tells whether a store error is a missing object.
func errNotFound(err error) bool { return errors.Is(err, fs.ErrNotExist) }
