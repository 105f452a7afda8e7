package fs

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/anchorfs/anchorfs/fs/volume"
)

// node is the FUSE face of one volume node.
type node struct {
	gofs.Inode
	v *volume.Volume
	n *volume.Node

	// cachedVersion is the content version the kernel's page cache holds
	// (+1, so zero means none): an open of the same version keeps the cache.
	cachedVersion atomic.Uint64
	// toldVersion is the content version (+1) whose size the kernel was
	// last told in an attribute reply.
	toldVersion atomic.Uint64
}

var (
	_ gofs.NodeLookuper      = (*node)(nil)
	_ gofs.NodeGetattrer     = (*node)(nil)
	_ gofs.NodeSetattrer     = (*node)(nil)
	_ gofs.NodeReaddirer     = (*node)(nil)
	_ gofs.NodeMkdirer       = (*node)(nil)
	_ gofs.NodeCreater       = (*node)(nil)
	_ gofs.NodeOpener        = (*node)(nil)
	_ gofs.NodeUnlinker      = (*node)(nil)
	_ gofs.NodeRmdirer       = (*node)(nil)
	_ gofs.NodeRenamer       = (*node)(nil)
	_ gofs.NodeSymlinker     = (*node)(nil)
	_ gofs.NodeMknoder       = (*node)(nil)
	_ gofs.NodeReadlinker    = (*node)(nil)
	_ gofs.NodeLinker        = (*node)(nil)
	_ gofs.NodeStatfser      = (*node)(nil)
	_ gofs.NodeGetxattrer    = (*node)(nil)
	_ gofs.NodeSetxattrer    = (*node)(nil)
	_ gofs.NodeListxattrer   = (*node)(nil)
	_ gofs.NodeRemovexattrer = (*node)(nil)
)

// errno maps volume errors to what the kernel understands.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}

func fillAttr(a volume.Attr, out *fuse.Attr) {
	out.Ino = a.Ino
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	out.Owner = fuse.Owner{Uid: a.UID, Gid: a.GID}
	out.Size = uint64(a.Size)
	out.Rdev = uint32(a.Rdev)
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 4096
	at, mt, ct := a.Atime, a.Mtime, a.Ctime
	out.SetTimes(&at, &mt, &ct)
}

func caller(ctx context.Context) (uid, gid uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return 0, 0
}

// child wraps a volume node in an Inode, reusing the one the kernel knows.
func (d *node) child(ctx context.Context, c *volume.Node, out *fuse.EntryOut) *gofs.Inode {
	a := d.v.Attr(c)
	fillAttr(a, &out.Attr)
	ino := d.NewInode(ctx, &node{v: d.v, n: c}, gofs.StableAttr{Mode: a.Mode & syscall.S_IFMT, Ino: a.Ino})
	if cn, ok := ino.Operations().(*node); ok {
		cn.toldVersion.Store(d.v.Version(c) + 1)
	}
	return ino
}

func (d *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	c, err := d.v.Lookup(d.n, name)
	if err != nil {
		return nil, errno(err)
	}
	return d.child(ctx, c, out), 0
}

func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillAttr(n.v.Attr(n.n), &out.Attr)
	n.toldVersion.Store(n.v.Version(n.n) + 1)
	return 0
}

func (n *node) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var a volume.SetAttr
	if m, ok := in.GetMode(); ok {
		a.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		a.UID = &u
	}
	if g, ok := in.GetGID(); ok {
		a.GID = &g
	}
	if t, ok := in.GetATime(); ok {
		a.Atime = &t
	} else if in.Valid&fuse.FATTR_ATIME_NOW != 0 {
		now := time.Now()
		a.Atime = &now
	}
	if t, ok := in.GetMTime(); ok {
		a.Mtime = &t
	} else if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
		now := time.Now()
		a.Mtime = &now
	}
	if sz, ok := in.GetSize(); ok {
		s := int64(sz)
		if h, isOurs := f.(*handle); isOurs {
			if err := h.h.Truncate(s); err != nil {
				return errno(err)
			}
		} else {
			a.Size = &s
		}
	}
	attr, err := n.v.SetAttr(n.n, a)
	if err != nil {
		return errno(err)
	}
	fillAttr(attr, &out.Attr)
	return 0
}

func (d *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	list, err := d.v.ReadDir(d.n)
	if err != nil {
		return nil, errno(err)
	}
	out := make([]fuse.DirEntry, len(list))
	for i, e := range list {
		out[i] = fuse.DirEntry{Name: e.Name, Ino: e.Ino, Mode: e.Mode}
	}
	return gofs.NewListDirStream(out), 0
}

func (d *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if d.v.Full() {
		return nil, syscall.ENOSPC
	}
	uid, gid := caller(ctx)
	c, err := d.v.Mkdir(d.n, name, mode, uid, gid)
	if err != nil {
		return nil, errno(err)
	}
	return d.child(ctx, c, out), 0
}

func (d *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if d.v.Full() {
		// Refused whole: an empty file that could never be stored would
		// stay behind otherwise.
		return nil, nil, 0, syscall.ENOSPC
	}
	uid, gid := caller(ctx)
	c, err := d.v.Create(d.n, name, mode, uid, gid)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	h, err := d.v.Open(c)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	return d.child(ctx, c, out), &handle{h: h, appending: flags&syscall.O_APPEND != 0}, 0, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC) != 0 {
		// A read-only share refuses at open, not at close.
		if err := n.v.Writable(n.n); err != nil {
			return nil, 0, errno(err)
		}
	}
	h, err := n.v.Open(n.n)
	if err != nil {
		return nil, 0, errno(err)
	}
	if flags&syscall.O_TRUNC != 0 {
		if err := h.Truncate(0); err != nil {
			h.Release()
			return nil, 0, errno(err)
		}
	}
	var flagsOut uint32
	version := n.v.Version(n.n) + 1
	switch told := n.toldVersion.Load(); {
	case told != 0 && told != version:
		// The open took a newer version than the one whose size the
		// kernel holds (from the ledger, or another writer's head): this
		// handle reads around the page cache and that size, so it sees
		// the whole of what it opened.
		flagsOut = fuse.FOPEN_DIRECT_IO
		n.cachedVersion.Store(0)
	case n.cachedVersion.Swap(version) == version:
		flagsOut = fuse.FOPEN_KEEP_CACHE
	}
	return &handle{h: h, appending: flags&syscall.O_APPEND != 0, reading: flags&syscall.O_ACCMODE != syscall.O_WRONLY}, flagsOut, 0
}

func (d *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return errno(d.v.Unlink(d.n, name))
}

func (d *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return errno(d.v.Rmdir(d.n, name))
}

func (d *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	return errno(d.v.Rename(d.n, name, np.n, newName, flags))
}

func (d *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if d.v.Full() {
		return nil, syscall.ENOSPC
	}
	uid, gid := caller(ctx)
	c, err := d.v.Symlink(d.n, name, target, uid, gid)
	if err != nil {
		return nil, errno(err)
	}
	return d.child(ctx, c, out), 0
}

// Mknod makes fifos, unix-domain sockets and, for root, device nodes: the
// kernel serves what passes through them; the volume keeps the names.
func (d *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	typ := volume.SpecialType(mode)
	if typ == "" {
		return nil, syscall.EINVAL // regular files come through Create
	}
	if d.v.Full() {
		return nil, syscall.ENOSPC
	}
	uid, gid := caller(ctx)
	c, err := d.v.Mknod(d.n, name, typ, mode, uint64(dev), uid, gid)
	if err != nil {
		return nil, errno(err)
	}
	return d.child(ctx, c, out), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, err := n.v.Readlink(n.n)
	if err != nil {
		return nil, errno(err)
	}
	return []byte(t), 0
}

func (d *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	if err := d.v.Link(d.n, name, t.n); err != nil {
		return nil, errno(err)
	}
	return d.child(ctx, t.n, out), 0
}

// statfsBlock is the block size Statfs reports sizes in.
const statfsBlock = 4096

// Statfs reports the remote's space where its backend tells it, else the
// cache disk's (volume.Space).
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	sp, err := n.v.Space(ctx)
	if err != nil {
		return errno(err)
	}
	out.Bsize, out.Frsize = statfsBlock, statfsBlock
	out.Blocks = uint64(sp.Total) / statfsBlock
	out.Bfree = uint64(sp.Free) / statfsBlock
	out.Bavail = out.Bfree
	out.Files, out.Ffree = sp.Files, sp.FilesFree
	out.NameLen = 255
	return 0
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	val, err := n.v.GetXattr(n.n, attr)
	if err != nil {
		return 0, errno(err)
	}
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return errno(n.v.SetXattr(n.n, attr, data, flags))
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return errno(n.v.RemoveXattr(n.n, attr))
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var b []byte
	for _, name := range n.v.ListXattr(n.n) {
		b = append(append(b, name...), 0)
	}
	if len(dest) < len(b) {
		return uint32(len(b)), syscall.ERANGE
	}
	return uint32(copy(dest, b)), 0
}

// handle is an open file.
type handle struct {
	h *volume.Handle
	// appending is O_APPEND: writes go to the end of the content as the
	// volume knows it, not to the offset of the kernel's cached size.
	appending bool
	// wrote is set by a write through this handle since its last flush,
	// wroteAny by any write through it.
	wrote, wroteAny atomic.Bool
	// reading: the file was opened with read access (not created). The
	// first close puts a read on the ledger (flush is synchronous with
	// close(2): once close returns, the event is in the durable queue),
	// unless the handle only wrote; bytes read after it, through another
	// descriptor of the handle, are one more read at release.
	reading bool
	// recorded is set once the read is on its way, with the bytes it told.
	recorded      atomic.Bool
	recordedBytes atomic.Int64
}

// recordRead puts the handle's read, or what it read since the last one
// recorded, on the ledger.
func (h *handle) recordRead() {
	served := h.h.Served()
	if !h.recorded.Swap(true) {
		if h.reading && !h.wroteAny.Load() || served > 0 {
			h.recordedBytes.Store(served)
			h.h.RecordRead(served)
		}
		return
	}
	if prev := h.recordedBytes.Swap(served); served > prev {
		h.h.RecordRead(served - prev)
	}
}

var (
	_ gofs.FileReader   = (*handle)(nil)
	_ gofs.FileWriter   = (*handle)(nil)
	_ gofs.FileFlusher  = (*handle)(nil)
	_ gofs.FileFsyncer  = (*handle)(nil)
	_ gofs.FileReleaser = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	b, release, err := h.h.Read(dest, off)
	if err != nil && len(b) == 0 && !isEOF(err) {
		release()
		return nil, errno(err)
	}
	return &heldRead{data: b, release: release}, 0
}

// heldRead is the answer to a read: bytes the volume holds until go-fuse
// is done with them. go-fuse writes a result that gives its slices to the
// kernel from them, and calls Done after; where it wants the bytes in a
// buffer of its own instead, they are copied there.
type heldRead struct {
	data    []byte
	release func()
}

// A result with Slices is written as it is (fuse.ReadResultVector's path):
// Done comes after the write.
var _ interface {
	Slices() ([][]byte, fuse.Status)
} = (*heldRead)(nil)

func (r *heldRead) Size() int { return len(r.data) }

func (r *heldRead) Bytes(buf []byte) ([]byte, fuse.Status) {
	return append(buf[:0], r.data...), fuse.OK // used after Done, maybe
}

func (r *heldRead) Slices() ([][]byte, fuse.Status) { return [][]byte{r.data}, fuse.OK }

func (r *heldRead) Done() { r.release() }

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	var n int
	var err error
	if h.appending {
		n, err = h.h.Append(data)
	} else {
		n, err = h.h.WriteAt(data, off)
	}
	if n > 0 {
		h.wrote.Store(true)
		h.wroteAny.Store(true)
	}
	if err != nil {
		return uint32(n), errno(err)
	}
	return uint32(n), 0
}

// Flush comes with every close(2) of a descriptor of the handle. It makes
// a version when data was written through the handle since the last one,
// so that close(2) returns once the version is made (and reports its
// errors); a shell's "echo b > f" closes a descriptor after the truncating
// open and before it writes (open, dup2, close), which makes none: one
// open-write-close makes one version. Release makes the version of a change
// no write followed (a truncating open alone).
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	h.recordRead()
	if !h.wrote.Swap(false) {
		return 0
	}
	return errno(h.h.Flush())
}

// Fsync returns once the file and the tree are stored. The kernel
// interrupts a request whose caller receives any signal (Go programs'
// threads get SIGURG all the time), which cancels ctx: an fsync carries on
// regardless, since EIO or EINTR from fsync tells a program its data may be
// lost. Only one still waiting fsyncGrace after the interrupt (a stalled
// remote) gives up with EINTR: a killed caller waits in the kernel until
// the answer, and a Go program asks again.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	commit, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(fsyncGrace, cancel) })
	defer stop()
	err := h.h.Fsync(commit)
	if err != nil && commit.Err() != nil {
		return syscall.EINTR
	}
	return errno(err)
}

// fsyncGrace is how long an interrupted fsync goes on waiting for the
// remote.
const fsyncGrace = 10 * time.Second

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.recordRead()
	return errno(h.h.Release())
}

var _ gofs.FileAllocater = (*handle)(nil)

// fallocKeepSize is FALLOC_FL_KEEP_SIZE: reserve without growing.
const fallocKeepSize = 1

// Allocate grows the file (holes cost nothing on the remote); with
// FALLOC_FL_KEEP_SIZE it has nothing to do. Other modes are not offered.
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	switch mode {
	case 0:
		return errno(h.h.Grow(int64(off + size)))
	case fallocKeepSize:
		return 0
	}
	return syscall.EOPNOTSUPP
}
