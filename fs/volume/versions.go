package volume

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/network"
)

// A removed file or folder goes on the ledger as a delete event: its last
// version and, sealed with its key domain's meta key and DeletedAAD, the
// folder it was in and its name, so that versions and restore find it
// again under its last path and nobody outside the volume learns either.

// gone is a file or folder that lost its last name in an operation: its
// delete event waits until the tree lock is released.
type gone struct {
	n    *Node
	dir  format.ID
	name string
}

// removed notes that n, which had a name in dir, has none now. Called with
// v.mu held.
func removed(n *Node, dir *Node, name string) []gone {
	if len(n.parents) > 0 || n.typ != format.TypeFile && n.typ != format.TypeDir || n.typ == format.TypeFile && n.version == 0 {
		return nil
	}
	return []gone{{n: n, dir: dir.id, name: name}}
}

// recordGone puts the delete events of what an operation removed on the ledger.
func (v *Volume) recordGone(gs []gone) {
	for _, g := range gs {
		mk, ok := g.n.dom.metaKey(v, g.n.dom.epoch())
		if !ok {
			v.logf("file %s: no key to seal its delete event with; it is not recorded", g.n.id)
			continue
		}
		// The folder's id and the name: at most 16 + 255 bytes, so that the
		// sealed place (base64) stays within a ledger detail.
		place := append(g.dir[:len(g.dir):len(g.dir)], g.name...)
		detail := map[string]string{
			"place": base64.StdEncoding.EncodeToString(format.Seal(mk, format.DeletedAAD(v.id, g.n.id), place)),
			"type":  g.n.typ,
		}
		if g.n.typ == format.TypeFile {
			v.mu.Lock()
			detail["version"] = strconv.FormatUint(g.n.version, 10)
			v.mu.Unlock()
		}
		if d := g.n.dom.ledgerID(); d != "" {
			detail["domain"] = d
		}
		v.Record("delete", g.n, detail)
	}
}

// DeletedFile is a file no longer in the tree whose versions the ledger
// keeps, under the path it had when it was removed.
type DeletedFile struct {
	Path    string    `json:"path"`
	File    string    `json:"file"`
	Version uint64    `json:"version"` // the last one
	Time    time.Time `json:"deletedAt"`
	Actor   string    `json:"deletedBy"`

	dom *domain
	id  format.ID
}

// removal is one delete event, opened.
type removal struct {
	id      format.ID
	typ     string
	dir     string
	name    string
	version uint64
	dom     *domain
	ev      network.Event
}

// removals reads the volume's delete events the caller can open, the
// newest of each file or folder.
func (v *Volume) removals(ctx context.Context) (map[string]removal, error) {
	if v.opt.Ledger == nil {
		return nil, errors.New("the volume has no ledger, which keeps deleted files' versions")
	}
	evs, err := v.opt.Ledger.Audit(ctx, network.AuditQuery{Volume: v.id.String(), Action: "delete"})
	if err != nil {
		return nil, fmt.Errorf("reading delete events from the ledger: %w", err)
	}
	out := map[string]removal{}
	for _, ev := range evs {
		id, err := format.ParseID(ev.File)
		if err != nil {
			continue
		}
		if ev.Detail["domain"] == "" && ev.Actor != v.opt.Ledger.Actor() && v.rootKey != nil {
			continue // outside shared folders only the owner removes files
		}
		dom := v.domainByLedgerID(ev.Detail["domain"])
		if dom == nil {
			continue // a shared folder this user holds no keys of
		}
		sealed, err := base64.StdEncoding.DecodeString(ev.Detail["place"])
		if err != nil {
			continue
		}
		pt, _, err := dom.open(v, format.DeletedAAD(v.id, id), sealed)
		if err != nil {
			continue // not sealed by a member: not the volume's
		}
		if len(pt) <= len(format.ID{}) || !validName(string(pt[len(format.ID{}):])) {
			continue
		}
		r := removal{id: id, typ: ev.Detail["type"], dir: format.ID(pt[:len(format.ID{})]).String(), name: string(pt[len(format.ID{}):]), dom: dom, ev: ev}
		r.version, _ = strconv.ParseUint(ev.Detail["version"], 10, 64)
		out[ev.File] = r // events come oldest first: the newest stays
	}
	return out, nil
}

// removedPath is the path removed file or folder id had: its folder's
// path (in the tree, by paths, or removed too) and its name.
func removedPath(rs map[string]removal, paths map[string]string, id string) (string, bool) {
	var walk func(id string, depth int) (string, bool)
	walk = func(id string, depth int) (string, bool) {
		if p, ok := paths[id]; ok {
			return p, true
		}
		r, ok := rs[id]
		if !ok || depth > 256 {
			return "", false
		}
		parent, ok := walk(r.dir, depth+1)
		return path.Join(parent, r.name), ok
	}
	return walk(id, 0)
}

// domainByLedgerID is the key domain a ledger record names ("" for the
// volume's own), nil when this user holds none of its keys.
func (v *Volume) domainByLedgerID(ledgerID string) *domain {
	if ledgerID == "" {
		if v.rootKey == nil {
			return nil
		}
		return v.rootDom
	}
	id, err := format.ParseID(ledgerID)
	if err != nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if d, ok := v.domains[id]; ok {
		return d
	}
	if v.rootKey != nil {
		return v.ownerDomain(id, 0)
	}
	return nil
}

// Deleted lists the files removed from below folder dir ("/" for all)
// that are in the tree no more, by path, with their last version.
func (v *Volume) Deleted(ctx context.Context, dir string) ([]DeletedFile, error) {
	if err := v.Sync(ctx, nil); err != nil { // this writer's removals on the ledger
		return nil, err
	}
	return v.deleted(ctx, dir)
}

// deleted is Deleted without the sync.
func (v *Volume) deleted(ctx context.Context, dir string) ([]DeletedFile, error) {
	rs, err := v.removals(ctx)
	if err != nil {
		return nil, err
	}
	paths, err := v.Paths(ctx)
	if err != nil {
		return nil, err
	}
	dir = cleanPath(dir)
	var out []DeletedFile
	for id, r := range rs {
		if _, ok := paths[id]; ok || r.typ != format.TypeFile {
			continue
		}
		p, ok := removedPath(rs, paths, id)
		if !ok || (dir != "/" && p != dir && !strings.HasPrefix(p, dir+"/")) {
			continue
		}
		out = append(out, DeletedFile{Path: p, File: id, Version: r.version, Time: r.ev.Time, Actor: r.ev.Actor, dom: r.dom, id: r.id})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Time.After(out[j].Time)
	})
	return out, nil
}

// FileVersion is one anchored version of a file.
type FileVersion struct {
	Version uint64    `json:"version"`
	Size    int64     `json:"size"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	TxID    string    `json:"txId"`
	// Current is the version the tree holds now.
	Current bool `json:"current"`
	// Restorable is a version whose objects are still on the remote.
	Restorable bool `json:"restorable"`

	manifest string
}

// FileHistory is a file's versions, oldest first.
type FileHistory struct {
	Path     string        `json:"path"`
	File     string        `json:"file"`
	Deleted  bool          `json:"deleted"`
	Versions []FileVersion `json:"versions"`

	n   *Node // nil for a deleted file
	id  format.ID
	dom *domain
}

// Versions lists every anchored version of the file at p (in the tree, or
// removed from it: the newest removal at that path), from the ledger.
func (v *Volume) Versions(ctx context.Context, p string) (*FileHistory, error) {
	if v.opt.Ledger == nil {
		return nil, errors.New("the volume has no ledger, which keeps the versions")
	}
	if err := v.Sync(ctx, nil); err != nil { // this writer's versions on the ledger
		return nil, err
	}
	h := &FileHistory{Path: cleanPath(p)}
	var current uint64
	n, err := v.resolve(p)
	var pe *PathError
	switch {
	case err == nil:
		if n.typ != format.TypeFile {
			return nil, &PathError{Path: p, Problem: "not a file: versions are a file's"}
		}
		h.n, h.id, h.dom, current = n, n.id, n.dom, v.Version(n)
	case errors.As(err, &pe):
		dels, derr := v.deleted(ctx, path.Dir(h.Path))
		if derr != nil {
			return nil, derr
		}
		i := slices.IndexFunc(dels, func(d DeletedFile) bool { return d.Path == h.Path })
		if i < 0 {
			return nil, &PathError{Path: p, Problem: "no such file in the volume, nor deleted from it (anchorfs versions --deleted lists those)"}
		}
		h.Deleted, h.id, h.dom = true, dels[i].id, dels[i].dom
	default:
		return nil, err
	}
	h.File = h.id.String()
	anchors, err := v.opt.Ledger.History(ctx, v.id.String(), h.File)
	if err != nil && !errors.Is(err, network.ErrNotFound) {
		return nil, fmt.Errorf("reading the file's versions from the ledger: %w", err)
	}
	for _, a := range anchors {
		fv := FileVersion{Version: a.Version, Size: a.Size, Time: a.Time, Actor: a.Actor, TxID: a.TxID,
			Current: !h.Deleted && a.Version == current, manifest: a.ManifestHash}
		// On the remote now, past the caches: gc may have removed it.
		_, err := v.openManifest(objects.FromRemote(ctx), h.dom, h.id, a.Version, a.ManifestHash)
		fv.Restorable = err == nil
		h.Versions = append(h.Versions, fv)
	}
	return h, nil
}

// RestoreOptions say which version Restore brings back, and where.
type RestoreOptions struct {
	// Version is the version to bring back; 0 for the newest one before
	// the current (a deleted file's last).
	Version uint64
	// To is a file outside the volume to write it to (made anew, never
	// written over); "" makes it the file's new version in the volume.
	To string
}

// Restored is what Restore did.
type Restored struct {
	Path    string `json:"path"`
	Version uint64 `json:"version"` // the version brought back
	// NewVersion is the version it became in the volume (0 for --to).
	NewVersion uint64 `json:"newVersion,omitempty"`
	To         string `json:"to,omitempty"`
	Size       int64  `json:"size"`
}

// Restore brings back an anchored version of the file at p: as its new
// version (a deleted file comes back at its path as a new file, its
// folders made again where they went too), or into a file outside.
func (v *Volume) Restore(ctx context.Context, p string, opt RestoreOptions) (*Restored, error) {
	h, err := v.Versions(ctx, p)
	if err != nil {
		return nil, err
	}
	want := opt.Version
	if want == 0 {
		for _, fv := range h.Versions {
			if !fv.Current && fv.Version > want && (h.Deleted || fv.Version < v.Version(h.n)) {
				want = fv.Version
			}
		}
		if want == 0 {
			return nil, fmt.Errorf("%s: the ledger knows no version before the current one", h.Path)
		}
	}
	i := slices.IndexFunc(h.Versions, func(fv FileVersion) bool { return fv.Version == want })
	if i < 0 {
		return nil, fmt.Errorf("%s: the ledger knows no version %d of it (anchorfs versions %s lists them)", h.Path, want, h.Path)
	}
	fv := h.Versions[i]
	if !fv.Restorable {
		return nil, fmt.Errorf("%s: version %d is anchored but its objects are no longer on the remote (gc removed them); the ledger still proves what it was", h.Path, want)
	}
	if opt.To == "" && v.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	m, err := v.readManifest(ctx, h.dom, h.id, want, fv.manifest)
	if err != nil {
		return nil, v.integrity(err)
	}
	src := &Node{id: h.id, dom: h.dom, typ: format.TypeFile}
	if h.n != nil {
		src = h.n
	}
	out := &Restored{Path: h.Path, Version: want, Size: m.Size}
	switch {
	case opt.To != "":
		out.To = opt.To
		err = v.restoreOutside(ctx, src, m, opt.To)
		if err == nil {
			v.Record("download", src, map[string]string{"version": strconv.FormatUint(want, 10), "bytes": strconv.FormatInt(m.Size, 10)})
		}
	case h.n != nil:
		// Every chunk is there and authentic before the version is made.
		if err = v.eachChunk(ctx, src, m, func(int64, []byte) error { return nil }); err == nil {
			out.NewVersion, err = v.restoreInPlace(h.n, m)
		}
	default:
		out.NewVersion, err = v.restoreDeleted(h.Path, src, m)
	}
	if err != nil {
		return nil, err
	}
	if opt.To == "" {
		v.changed() // the kernel's pages of the file are another version's
	}
	return out, nil
}

// eachChunk hands fn the plaintext of version m of file src, chunk by
// chunk, skipping holes.
func (v *Volume) eachChunk(ctx context.Context, src *Node, m *format.Manifest, fn func(off int64, b []byte) error) error {
	key, ok := src.dom.fileKey(v, src.id, m.Epoch)
	if !ok {
		return syscall.EACCES
	}
	for i, c := range m.Chunks {
		if c.Hash == "" && c.Data == nil {
			continue
		}
		b, release, err := v.plain(ctx, src, key, int64(i), c)
		if err != nil {
			return v.integrity(err)
		}
		err = fn(int64(i)*int64(v.chunkSize), b)
		release()
		if err != nil {
			return err
		}
	}
	return nil
}

// restoreOutside writes version m of src to a new file at dest; on failure
// nothing stays there.
func (v *Volume) restoreOutside(ctx context.Context, src *Node, m *format.Manifest, dest string) (err error) {
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dest)
		}
	}()
	if err := v.eachChunk(ctx, src, m, func(off int64, b []byte) error {
		_, err := f.WriteAt(b, off)
		return err
	}); err != nil {
		return err
	}
	if err := f.Truncate(m.Size); err != nil {
		return err
	}
	return f.Sync()
}

// restoreInPlace makes version m of file n its new version, in one step:
// the new version's manifest lists m's chunks (chunks are bound to their
// file, the version they were sealed in and their index, not to the
// manifest that lists them; a version in another key epoch has them sealed
// again in the current one). A file being written through another handle
// is left alone (EBUSY): its unsaved writes are not thrown away.
func (v *Volume) restoreInPlace(n *Node, m *format.Manifest) (uint64, error) {
	h, err := v.Open(n)
	if err != nil {
		return 0, err
	}
	f := h.f
	f.lock(v)
	if f.modified {
		f.mu.Unlock()
		h.Release()
		return 0, fmt.Errorf("the file is being written: close it first (%w)", syscall.EBUSY)
	}
	err = h.begin()
	if err == nil {
		key, ok := n.dom.fileKey(v, n.id, m.Epoch)
		if !ok {
			err = syscall.EACCES
		} else {
			f.chunks, f.size, f.dirty = slices.Clone(m.Chunks), m.Size, map[int64][]byte{}
			f.key, f.epoch = key, m.Epoch
		}
	}
	if err != nil {
		f.modified = false // nothing of the version begun was changed
	}
	f.mu.Unlock()
	if err != nil {
		h.Release()
		return 0, err
	}
	if err := h.Flush(); err != nil {
		h.Release()
		return 0, err
	}
	return v.Version(n), h.Release()
}

// restoreDeleted brings version m of removed file src back at path p as a
// new file (version 1 of its own id, made whole before it gets its name),
// making the folders on the way that are gone.
func (v *Volume) restoreDeleted(p string, src *Node, m *format.Manifest) (uint64, error) {
	dir := v.root
	for _, name := range strings.Split(strings.Trim(path.Dir(p), "/"), "/") {
		if name == "" {
			continue
		}
		next, err := v.Lookup(dir, name)
		if err == syscall.ENOENT {
			a := v.Attr(dir)
			next, err = v.Mkdir(dir, name, 0o755, a.UID, a.GID)
		}
		if err != nil {
			return 0, fmt.Errorf("making folder %s again: %w", name, err)
		}
		if !next.IsDir() {
			return 0, fmt.Errorf("%s: %s is not a folder now; restore with --to", p, name)
		}
		dir = next
	}
	a := v.Attr(dir)
	_, err := v.addCopy(dir, src, m, 0o644, a.UID, a.GID, func() string { return path.Base(p) })
	if errors.Is(err, syscall.EEXIST) {
		return 0, fmt.Errorf("%s: another file has that name now; restore with --to", p)
	}
	if err != nil {
		return 0, err
	}
	return 1, nil
}
