package volume

import (
	"slices"
	"sort"
	"sync"
	"syscall"

	"github.com/anchorfs/anchorfs/fs/format"
)

// A key domain is a part of the tree sealed under one folder key: the whole
// volume under the root key (the root domain), or a shared folder and
// everything under it. A shared folder's key changes when a grant is
// revoked: each key is an epoch, new objects are sealed in the current one,
// and older objects keep the epoch they were sealed in until re-keyed. The
// owner derives every epoch's key from the root key; a grantee holds the
// keys its grant wrapped for it, and nothing of the rest of the volume.
type domain struct {
	id       format.ID // zero for the root domain
	shared   bool
	root     *Node      // the shared folder (nil for the root domain)
	readOnly bool       // a grantee's read-only share
	mu       sync.Mutex // guards current, keys and metas (also read under v.mu)
	current  uint32
	keys     map[uint32][]byte // folder key by epoch
	metas    map[uint32][]byte // meta key by epoch, derived when first used
	derive   func(epoch uint32) []byte

	// Heads of a shared folder (its own commits, under domains/<id>/).
	headSeq  uint64
	headHash string
	baseTree string // the folder's tree in the last head written or merged
	headTree string // the folder's tree in the last head written
	lin      lineage
	name     string // a grantee's mount shows the folder under this path
	showErr  string // why a grantee's mount could not show it, as last reported
}

// ledgerID is the domain as anchors name it: "" for the root domain.
func (d *domain) ledgerID() string {
	if !d.shared {
		return ""
	}
	return d.id.String()
}

// DomainKeys are a shared folder's keys, to wrap for a grantee.
type DomainKeys struct {
	Domain string
	Epoch  uint32            // the current epoch
	Keys   map[uint32][]byte // every epoch's folder key
}

// folderKey returns the folder key of an epoch, if this user holds it.
func (d *domain) folderKey(epoch uint32) ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.folderKeyLocked(epoch)
}

func (d *domain) folderKeyLocked(epoch uint32) ([]byte, bool) {
	if k, ok := d.keys[epoch]; ok {
		return k, true
	}
	if d.derive != nil && epoch >= 1 && epoch <= d.current {
		k := d.derive(epoch)
		d.keys[epoch] = k
		return k, true
	}
	return nil, false
}

// metaKey returns the meta key of an epoch.
func (d *domain) metaKey(v *Volume, epoch uint32) ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if k, ok := d.metas[epoch]; ok {
		return k, true
	}
	fk, ok := d.folderKeyLocked(epoch)
	if !ok {
		return nil, false
	}
	k := format.MetaKey(fk, v.id)
	d.metas[epoch] = k
	return k, true
}

// fileKey returns the key sealing a file's chunks in an epoch.
func (d *domain) fileKey(v *Volume, file format.ID, epoch uint32) ([]byte, bool) {
	fk, ok := d.folderKey(epoch)
	if !ok {
		return nil, false
	}
	return format.FileKey(fk, v.id, file), true
}

// epoch is the current epoch.
func (d *domain) epoch() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current
}

// epochs lists the epochs whose keys this user holds, newest first.
func (d *domain) epochs() []uint32 {
	if !d.shared {
		return []uint32{0}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []uint32
	if d.derive != nil {
		for e := d.current; e >= 1; e-- {
			out = append(out, e)
		}
		return out
	}
	for e := range d.keys {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] > out[j] })
	return out
}

// open opens a metadata object sealed in any epoch this user holds, and
// says which.
func (d *domain) open(v *Volume, aad, obj []byte) ([]byte, uint32, error) {
	for _, e := range d.epochs() {
		k, _ := d.metaKey(v, e)
		if pt, err := format.Open(k, aad, obj); err == nil {
			return pt, e, nil
		}
	}
	return nil, 0, format.ErrAuth
}

// seal seals a metadata object in the current epoch.
func (d *domain) seal(v *Volume, aad, pt []byte) []byte {
	k, ok := d.metaKey(v, d.epoch())
	if !ok {
		panic("volume: sealing in a key epoch this user does not hold")
	}
	return format.Seal(k, aad, pt)
}

// dirAAD binds a folder object; domains share the volume's folder AAD (the
// folder id is unique, the key tells domains apart).
func (v *Volume) dirAAD(d *Node) []byte { return format.DirAAD(v.id, d.id) }

// headAAD is the AAD of a domain's heads.
func (v *Volume) headAAD(d *domain) []byte {
	if !d.shared {
		return format.HeadAAD(v.id)
	}
	return format.DomainHeadAAD(v.id, d.id)
}

// headsDir is where a domain's heads live.
func (d *domain) headsDir() string {
	if !d.shared {
		return format.HeadsDir
	}
	return format.DomainHeadsDir(d.id)
}

// headName is where a domain's head with hash h (hex) lives.
func (d *domain) headName(h string) string { return d.headsDir() + "/" + h }

// ownerDomain makes the domain of a shared folder for the volume's owner,
// whose keys derive from the root key. Called with v.mu held.
func (v *Volume) ownerDomain(id format.ID, epoch uint32) *domain {
	if d, ok := v.domains[id]; ok {
		d.mu.Lock()
		d.current = max(d.current, epoch)
		d.mu.Unlock()
		return d
	}
	d := &domain{id: id, shared: true, current: epoch, keys: map[uint32][]byte{}, metas: map[uint32][]byte{}}
	root := v.rootKey
	d.derive = func(e uint32) []byte { return format.DomainKey(root, v.id, id, e) }
	v.domains[id] = d
	return d
}

// writableAt tells whether n may be changed: EROFS on a read-only volume,
// EACCES in a read-only share or in the folders a grantee's mount makes up
// to hold its shares.
func (v *Volume) writableAt(n *Node) error {
	if v.opt.ReadOnly {
		return syscall.EROFS
	}
	if n != nil && (n.synthetic || n.dom.readOnly) {
		v.recordDenied(n)
		return syscall.EACCES
	}
	return nil
}

// recordDenied puts a "denied" event on the ledger for a write refused in
// a grantee's mount, once per node and mount, in the background.
func (v *Volume) recordDenied(n *Node) {
	if v.opt.Ledger == nil {
		return
	}
	v.deniedMu.Lock()
	if v.denied == nil {
		v.denied = map[format.ID]bool{}
	}
	seen := v.denied[n.id]
	v.denied[n.id] = true
	v.deniedMu.Unlock()
	if seen {
		return
	}
	reason := "a write into a read-only share"
	if n.synthetic {
		reason = "a write outside the folders shared with this user"
	}
	v.Record("denied", n, map[string]string{"reason": reason, "domain": n.dom.ledgerID()})
}

// Writable tells whether n may be changed (checked when a file is opened
// for writing, so that a read-only share fails at open, not at close).
func (v *Volume) Writable(n *Node) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.writableAt(n)
}

// sharedDomains lists the shared folders, by id.
func (v *Volume) sharedDomains() []*domain {
	out := make([]*domain, 0, len(v.domains))
	for _, d := range v.domains {
		if d.root != nil {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *domain) int { return slices.Compare(a.id[:], b.id[:]) })
	return out
}

// maxAncestors bounds the ancestry a head carries, and the trees of its own
// recent heads a writer remembers.
const maxAncestors = 32

// lineage is what a writer knows of its heads' history in one key domain:
// the ancestry of its current head (which it writes into its next head, so
// that others can tell a head that follows theirs), and the trees of its
// own recent heads (common ancestors for merging a head that follows one
// of them).
type lineage struct {
	ancestors []string
	trees     map[string]string
	order     []string
}

// note records head hash (with root tree and ancestry) as the current one.
func (l *lineage) note(hash, tree string, ancestry []string) {
	if l.trees == nil {
		l.trees = map[string]string{}
	}
	if _, ok := l.trees[hash]; !ok {
		l.order = append(l.order, hash)
		if len(l.order) > maxAncestors {
			delete(l.trees, l.order[0])
			l.order = l.order[1:]
		}
	}
	l.trees[hash] = tree
	l.ancestors = capped(ancestry)
}

// next is the ancestry of a head that replaces own and merges heads.
func (l *lineage) next(own string, merged []*format.Head, mergedNames []string) []string {
	var out []string
	if own != "" {
		out = append(out, own)
	}
	out = append(out, l.ancestors...)
	for i, h := range merged {
		out = append(out, mergedNames[i])
		out = append(out, h.Parents...)
		out = append(out, h.Ancestors...)
	}
	return capped(out)
}

// base is the tree to merge head h against: this writer's own when h
// follows it, else the tree of the nearest of h's ancestors this writer had
// as a head, else "" (unknown: a union).
func (l *lineage) base(own, ownTree string, h *format.Head) string {
	anc := append(append([]string{}, h.Parents...), h.Ancestors...)
	if own != "" && slices.Contains(anc, own) {
		return ownTree
	}
	for _, a := range anc {
		if t, ok := l.trees[a]; ok {
			return t
		}
	}
	return ""
}

// capped drops repeats and keeps the first maxAncestors.
func capped(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if n != "" && !seen[n] && len(out) < maxAncestors {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// ancestry is a head's parents and ancestors, nearest first.
func ancestry(h *format.Head) []string {
	return capped(append(append([]string{}, h.Parents...), h.Ancestors...))
}
