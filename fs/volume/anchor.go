package volume

import (
	"context"
	"errors"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/anchorfs/anchorfs/fs/anchoring"
	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/network"
)

// anchor queues a new file version for the ledger; prevManifest is the
// manifest of the version it replaces ("" for a first version).
func (v *Volume) anchor(n *Node, m *format.Manifest, manifestHash, prevManifest string) {
	if v.outbox == nil {
		return
	}
	uncommitted := v.outbox.Add(network.Anchor{
		Volume: v.id.String(), File: n.id.String(), Version: m.Version, PrevVersion: m.Version - 1,
		PrevManifestHash: prevManifest, MerkleRoot: m.MerkleRoot, ManifestHash: manifestHash, Size: m.Size,
		Domain: n.dom.ledgerID(), Lane: v.lane,
	}, v.obj.Barrier())
	if uncommitted >= wire.BatchSize {
		// A full ledger batch waits for a commit: commit now rather than at
		// the next tick, so that anchoring runs beside the writes that go on.
		select {
		case v.commitSoon <- struct{}{}:
		default:
		}
	}
}

// anchorer submits outbox batches to the ledger until the volume closes.
func (v *Volume) anchorer() {
	defer v.bg.Done()
	ctx, cancel := v.untilClosed()
	defer cancel()
	tree := anchorTree{v}
	anchoring.Run(ctx, v.outbox, v.parkedHead, func(batch []anchoring.Entry) error {
		v.laneMu.Lock() // a reserve of the lane and an anchor by it would conflict
		defer v.laneMu.Unlock()
		return anchoring.Submit(ctx, v.outbox, v.opt.Ledger, tree, batch, v.logf)
	}, v.logf)
}

// anchorTree is what the anchorer needs of the volume.
type anchorTree struct{ v *Volume }

func (t anchorTree) Uploaded(ctx context.Context, gen uint64) error { return t.v.obj.Wait(ctx, gen) }

func (t anchorTree) Conflict(ours network.Anchor, theirs *network.Anchor) error {
	return t.v.conflict(ours, theirs)
}

// ledgerCheck compares a file's version with the ledger before its content
// is read: a newer anchored version is adopted (another writer, or a remote
// rolled back), a different manifest for the same version is an integrity
// failure.
func (v *Volume) ledgerCheck(n *Node) error {
	if v.opt.Ledger == nil {
		return nil
	}
	v.mu.Lock()
	version, manifest, checked := n.version, n.manifest, n.checked
	v.mu.Unlock()
	if version == 0 || checked == version {
		// A file never written has nothing anchored (its id is new); a
		// version checked once in this mount stays checked.
		return nil
	}
	ctx := context.Background()
	if v.checkAlong(ctx, n) {
		return nil
	}
	verdict, latest := anchoring.Check(ctx, v.opt.Ledger, v.outbox, v.id.String(), n.id.String(), version, manifest, v.logf)
	switch verdict {
	case anchoring.Anchored:
		v.mu.Lock()
		n.checked = version
		v.mu.Unlock()
		return nil
	case anchoring.Unknown, anchoring.Queued:
		return nil
	}
	// The ledger has a newer version, or another of the same number: a
	// concurrent writer's that was anchored first (the loser's writer keeps
	// its own as a conflict copy). The anchored one is what is read.
	m, err := v.readManifest(ctx, n.dom, n.id, latest.Version, latest.ManifestHash)
	if err != nil && v.opt.AcceptRollback {
		// Opened to look at an earlier state: the remote's version is
		// read, and not taken for current.
		v.logf("file %s: the remote serves version %d, the ledger has %d (rolled back): reading the remote's", n.id, version, latest.Version)
		v.mu.Lock()
		n.checked = version
		v.mu.Unlock()
		return nil
	}
	if err != nil {
		v.recordIntegrity(n, fmt.Sprintf("the remote lacks anchored version %d: %v", latest.Version, err))
		return fmt.Errorf("file %s: the remote does not have the anchored version %d (rolled back?): %w", n.id, latest.Version, err)
	}
	v.mu.Lock()
	if n.version == version && n.manifest == manifest {
		n.version, n.manifest, n.size = m.Version, latest.ManifestHash, m.Size
		n.checked = m.Version
		v.touchParents(n)
	}
	v.mu.Unlock()
	v.logf("file %s: took version %d from the ledger (had %d)", n.id, latest.Version, version)
	v.changed()
	return nil
}

const (
	// checkBatch bounds the files one query asks the ledger about.
	checkBatch = 512
	// checkAheadBatches bounds the queries checkAhead makes in the
	// background after one made for an open: 8,192 files of a folder
	// are asked about before a reader reaches them.
	checkAheadBatches = 16
)

// askedFile is a file version put in a batch question to the ledger.
type askedFile struct {
	n        *Node
	version  uint64
	manifest string
}

// checkAlong asks the ledger in one query about file n and the files after
// it in its folder's name order this mount has neither checked nor asked
// about (each version once), then goes on in the background (checkAhead),
// so that opening them next costs no round trip: each whose version and
// manifest are the ledger's latest is checked. It reports whether n is;
// anything else (a newer version on the ledger, one not anchored yet, a
// ledger that cannot answer) is left to the check of one file. An open of
// a file whose batch is in flight waits for that answer. Called without
// v.mu.
func (v *Volume) checkAlong(ctx context.Context, n *Node) bool {
	v.mu.Lock()
	version := n.version
	if n.asked == version {
		// Asked about already: in flight (its answer is n's), or not
		// matched then (the check of one file says what it is).
		wait := n.asking
		v.mu.Unlock()
		if wait == nil {
			return false
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return false
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		return n.checked == version && n.version == version
	}
	var dir *Node
	var batch []askedFile
	if len(n.parents) > 0 {
		dir = n.parents[0]
		batch = v.unaskedAfter(dir, nameIn(dir, n), checkBatch-1)
	}
	batch = append([]askedFile{{n, n.version, n.manifest}}, batch...)
	done := v.markAsked(batch)
	v.mu.Unlock()
	v.askLedger(ctx, batch, done)
	if dir != nil && len(batch) == checkBatch {
		v.checkAhead(dir, batch[len(batch)-1].n)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return n.checked == version && n.version == version
}

// checkAhead asks the ledger, in the background and one batch after
// another, about the files of folder dir after last in name order, up to
// checkAheadBatches batches; one such walk per folder at a time.
func (v *Volume) checkAhead(dir, last *Node) {
	v.mu.Lock()
	if dir.checkingAhead {
		v.mu.Unlock()
		return
	}
	dir.checkingAhead = true
	after := nameIn(dir, last)
	v.mu.Unlock()
	v.bg.Add(1)
	go func() {
		defer v.bg.Done()
		ctx, cancel := v.untilClosed()
		defer cancel()
		for range checkAheadBatches {
			v.mu.Lock()
			batch := v.unaskedAfter(dir, after, checkBatch)
			if len(batch) > 0 {
				after = nameIn(dir, batch[len(batch)-1].n)
			}
			done := v.markAsked(batch)
			v.mu.Unlock()
			if len(batch) == 0 || ctx.Err() != nil {
				close(done)
				break
			}
			v.askLedger(ctx, batch, done)
		}
		v.mu.Lock()
		dir.checkingAhead = false
		v.mu.Unlock()
	}()
}

// unaskedAfter lists, in name order, up to limit files of folder dir named
// after after (all, if after is "") whose version is neither checked nor
// asked about. Called with v.mu held.
func (v *Volume) unaskedAfter(dir *Node, after string, limit int) []askedFile {
	names := namesAfter(dir, after, limit, func(c *Node) bool {
		return c.typ == format.TypeFile && c.version > 0 && c.checked != c.version && c.asked != c.version
	})
	out := make([]askedFile, len(names))
	for i, name := range names {
		c := dir.entries[name]
		out[i] = askedFile{c, c.version, c.manifest}
	}
	return out
}

// markAsked marks each version of batch as asked about (in one batch at
// most) with the channel closed once the answer is in. Called with v.mu
// held.
func (v *Volume) markAsked(batch []askedFile) chan struct{} {
	done := make(chan struct{})
	for _, a := range batch {
		a.n.asked, a.n.asking = a.version, done
	}
	return done
}

// askLedger asks the ledger about batch in one query and checks each file
// whose version and manifest are the latest anchored; then closes done.
// Called without v.mu.
func (v *Volume) askLedger(ctx context.Context, batch []askedFile, done chan struct{}) {
	files := make([]string, len(batch))
	for i, a := range batch {
		files[i] = a.n.id.String()
	}
	got, err := v.opt.Ledger.LatestMany(ctx, v.id.String(), files)
	v.mu.Lock()
	defer v.mu.Unlock()
	defer close(done)
	for i, a := range batch {
		if a.n.asking == done {
			a.n.asking = nil
		}
		if err == nil && len(got) == len(batch) && got[i].File == files[i] && got[i].Version == a.version &&
			got[i].ManifestHash == a.manifest && a.n.version == a.version && a.n.manifest == a.manifest {
			a.n.checked = a.version
		}
	}
}

// untilClosed is a context that ends when the volume closes.
func (v *Volume) untilClosed() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-v.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// eventSender sends the queued audit events to the ledger until the
// volume closes.
func (v *Volume) eventSender() {
	defer v.bg.Done()
	ctx, cancel := v.untilClosed()
	defer cancel()
	anchoring.RunEvents(ctx, v.events, v.recordEvents, v.logf)
}

func (v *Volume) recordEvents(evs []network.Event) error {
	return v.opt.Ledger.Record(context.Background(), evs)
}

// Record puts an audit event about the volume (about n, unless nil) on the
// ledger: through the durable event queue; on a volume opened read-only
// (which writes nothing to the cache), in batches in the background and
// the last at Close.
func (v *Volume) Record(action string, n *Node, detail map[string]string) {
	if v.opt.Ledger == nil {
		return
	}
	ev := network.Event{Time: time.Now().UTC(), Actor: v.opt.Actor, Action: action, Volume: v.id.String(), Detail: detail}
	if n != nil {
		ev.File = n.id.String()
	}
	v.looseMu.Lock()
	if v.events != nil {
		v.looseMu.Unlock()
		v.events.Add(ev)
		return
	}
	v.loose = append(v.loose, ev)
	var full []network.Event
	if len(v.loose) == wire.MaxEvents {
		full, v.loose = v.loose, nil
	}
	v.looseMu.Unlock()
	if full != nil {
		v.bg.Add(1) // Close waits for it
		go func() {
			defer v.bg.Done()
			v.sendLoose(context.Background(), full)
		}()
	}
}

// sendLoose records the events of a read-only volume.
func (v *Volume) sendLoose(ctx context.Context, evs []network.Event) {
	if err := v.opt.Ledger.Record(ctx, evs); err != nil {
		v.logf("recording %d audit events: %v", len(evs), err)
	}
}

// flushLoose records the events of a read-only volume not sent yet.
func (v *Volume) flushLoose(ctx context.Context) {
	v.looseMu.Lock()
	evs := v.loose
	v.loose = nil
	v.looseMu.Unlock()
	if len(evs) > 0 {
		v.sendLoose(ctx, evs)
	}
}

// recordIntegrity puts an integrity event on the ledger.
func (v *Volume) recordIntegrity(n *Node, problem string) {
	v.logf("integrity: file %s: %s", n.id, problem)
	v.Record("integrity", n, map[string]string{"problem": problem})
}

// nodeEventEvery is how often one storage node's one kind of problem
// found by reads goes on the ledger: a node that lost everything would
// otherwise make an event per read (scrub records it all).
const nodeEventEvery = time.Hour

// nodeIntegrity puts on the ledger, in the background, an object or shard
// that storage node j lacks or holds altered, found by a read that went on
// from the other nodes.
func (v *Volume) nodeIntegrity(j int, object, problem string) {
	if v.opt.Ledger == nil || j >= len(v.nodeIDs) {
		return
	}
	key := v.nodeIDs[j] + " " + problem
	v.nodeEventsMu.Lock()
	if v.nodeEvents == nil {
		v.nodeEvents = map[string]time.Time{}
	}
	last, seen := v.nodeEvents[key]
	if seen && time.Since(last) < nodeEventEvery {
		v.nodeEventsMu.Unlock()
		return
	}
	v.nodeEvents[key] = time.Now()
	v.nodeEventsMu.Unlock()
	v.Record("integrity", nil, map[string]string{"node": v.nodeIDs[j], "object": object, "problem": "the node's copy " + problem})
}

// conflict handles a version the ledger rejected because another writer
// anchored first: our content is kept as a conflict copy beside the file,
// and the file takes the ledger's version. When a later version of ours,
// made on the rejected one, waits in the outbox, that one carries our
// content on: it is rejected in turn (it replaces a version the ledger never
// took) and its copy keeps the newest of our line.
//
// It fails, and the version stays in the outbox to be tried again, when the
// copy cannot be written for now (a full or unreachable remote).
func (v *Volume) conflict(ours network.Anchor, theirs *network.Anchor) error {
	id, err := format.ParseID(ours.File)
	if err != nil {
		return nil
	}
	v.mu.Lock()
	n := v.findLoaded(id)
	v.mu.Unlock()
	if n == nil {
		v.logf("conflict on file %s: it is no longer in the tree; version %d stays only on the remote", ours.File, ours.Version)
		return nil
	}
	if v.outbox.HasSuccessor(ours) {
		v.logf("conflict: version %d of file %s was not anchored; the version made on it keeps its content", ours.Version, n.id)
	} else if err := v.conflictCopy(n, ours); err != nil {
		var ie *objects.IntegrityError
		if errors.As(err, &ie) || errors.Is(err, errNoName) {
			v.logf("conflict on file %s: version %d cannot be kept: %v", ours.File, ours.Version, err)
		} else {
			v.logf("conflict on file %s: keeping a copy of version %d failed, trying again later: %v", ours.File, ours.Version, err)
			return err
		}
	}
	if theirs == nil {
		return nil
	}
	v.mu.Lock()
	atOurs := n.version == ours.Version && n.manifest == ours.ManifestHash
	v.mu.Unlock()
	if !atOurs {
		return nil // the file moved on since: a later version of ours, or theirs adopted
	}
	m, err := v.readManifest(context.Background(), n.dom, id, theirs.Version, theirs.ManifestHash)
	if err != nil {
		v.logf("conflict on file %s: the winning version %d is not readable: %v", ours.File, theirs.Version, err)
		return nil
	}
	// An open file rereads the winning version, unless it is building a
	// newer one of its own: that one replaces our rejected version and is
	// rejected and copied in turn.
	v.mu.Lock()
	f := n.data
	v.mu.Unlock()
	if f != nil {
		f.lock(v)
		defer f.mu.Unlock()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if n.version != ours.Version || n.manifest != ours.ManifestHash {
		return nil
	}
	n.version, n.manifest, n.size = m.Version, theirs.ManifestHash, m.Size
	if f == nil || !f.modified {
		n.liveSet = false
		if f != nil {
			f.loaded = false
		}
	}
	v.touchParents(n)
	return nil
}

// errNoName is a file that lost its last name while its conflict waited.
var errNoName = errors.New("the file has no name any more")

// findLoaded finds a loaded node by id. Called with v.mu held.
func (v *Volume) findLoaded(id format.ID) *Node {
	var found *Node
	v.eachLoaded(func(n *Node) bool {
		if n.id == id {
			found = n
		}
		return found == nil
	})
	return found
}

// eachLoaded calls fn for every node in memory (linked files first) until
// fn returns false. Called with v.mu held.
func (v *Volume) eachLoaded(fn func(*Node) bool) {
	for _, n := range v.links {
		if !fn(n) {
			return
		}
	}
	var visit func(d *Node) bool
	visit = func(d *Node) bool {
		for _, c := range d.entries {
			if !fn(c) || (c.entries != nil && !visit(c)) {
				return false
			}
		}
		return true
	}
	visit(v.root)
}

// conflictCopy writes the content of version ours of n as a new file named
// "name (conflict HOST DATE).ext" in n's folder.
func (v *Volume) conflictCopy(n *Node, ours network.Anchor) error {
	ctx := context.Background()
	m, err := v.readManifest(ctx, n.dom, n.id, ours.Version, ours.ManifestHash)
	if err != nil {
		return err
	}
	v.mu.Lock()
	if len(n.parents) == 0 {
		v.mu.Unlock()
		return errNoName
	}
	dir := n.parents[0]
	name := nameIn(dir, n)
	uid, gid, mode := n.uid, n.gid, n.mode
	v.mu.Unlock()
	copyName, err := v.addCopy(dir, n, m, mode, uid, gid, func() string { return freeConflictName(dir, name, v.opt.Host, time.Now()) })
	if err != nil {
		return err
	}
	v.logf("conflict: version %d of file %s kept as %q", ours.Version, n.id, copyName)
	v.changed()
	return nil
}

// addCopy makes version m of file n a new file in folder dir, under the
// name pick chooses (called under the tree lock), and returns that name.
// The copy is made whole before it gets a name: its chunks sealed again
// for its own id (their AAD binds the file), its manifest sealed; then one
// tree operation names it and queues its version for the ledger. A name
// that is taken gives EEXIST and nothing is made.
func (v *Volume) addCopy(dir, n *Node, m *format.Manifest, mode, uid, gid uint32, pick func() string) (string, error) {
	v.mu.Lock()
	c := v.newNode(dir, format.TypeFile, mode, uid, gid)
	v.mu.Unlock()
	cm, hash, err := v.copyVersion(c, n, m)
	if err != nil {
		v.obj.Drop(c.id)
		return "", err
	}
	var name string
	err = v.withTree(func() error {
		if err := v.need(dir); err != nil {
			return err
		}
		name = pick()
		c.version, c.manifest, c.size = cm.Version, hash, cm.Size
		if err := v.add(dir, name, c); err != nil {
			return err
		}
		v.anchor(c, cm, hash, "")
		return nil
	})
	if err != nil {
		v.obj.Drop(c.id)
		return "", err
	}
	return name, nil
}

// copyVersion makes version 1 of file c, not yet in any folder, from
// version m of file n: each chunk read, checked and sealed again for c,
// the manifest sealed, all of it queued for upload. It returns c's manifest
// and its hash.
func (v *Volume) copyVersion(c, n *Node, m *format.Manifest) (*format.Manifest, string, error) {
	ctx := context.Background()
	key, _ := n.dom.fileKey(v, n.id, m.Epoch)
	epoch := c.dom.epoch()
	ckey, ok := c.dom.fileKey(v, c.id, epoch)
	if !ok {
		return nil, "", syscall.EACCES // a grantee whose key was rotated away
	}
	chunks := make([]format.Chunk, len(m.Chunks))
	for i, ch := range m.Chunks {
		if ch.Hash == "" {
			chunks[i] = ch // a hole stays a hole
			continue
		}
		pt, release, err := v.plain(ctx, n, key, int64(i), ch)
		if err != nil {
			return nil, "", err
		}
		obj, parts, sealed := v.sealChunk(ckey, c.id, 1, int64(i), pt)
		release()
		v.putChunk(c.id, sealed, obj, parts)
		chunks[i] = sealed
	}
	cm := format.Manifest{Format: v.writeFormat(), File: c.id.String(), Version: 1, Size: m.Size,
		ChunkSize: v.chunkSize, Chunks: chunks, Epoch: epoch}
	cm.MerkleRoot = format.MerkleRoot(cm.Chunks)
	mk, _ := c.dom.metaKey(v, epoch)
	obj := format.Seal(mk, format.ManifestAAD(v.id, c.id, 1), format.Encode(cm))
	h := format.HashOf(obj)
	v.obj.PutFor(c.id, format.ObjectName(h), obj)
	return &cm, h.String(), nil
}

// freeConflictName is conflictName, or "name (conflict HOST DATE N).ext"
// with the smallest N from 2 up that folder dir does not hold yet: several
// conflicts of one file in one second each keep a copy. Called with v.mu
// held and dir loaded.
func freeConflictName(dir *Node, name, host string, t time.Time) string {
	c := conflictName(name, host, t)
	ext := filepath.Ext(name)
	if ext == name {
		ext = ""
	}
	for i := 2; ; i++ {
		if _, taken := dir.entries[c]; !taken {
			return c
		}
		c = strings.TrimSuffix(conflictName(name, host, t), ")"+ext) + fmt.Sprintf(" %d)", i) + ext
	}
}

// conflictName is "name (conflict HOST DATE).ext".
func conflictName(name, host string, t time.Time) string {
	ext := filepath.Ext(name)
	if ext == name {
		ext = ""
	}
	if host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s (conflict %s %s)%s", name[:len(name)-len(ext)], host, t.UTC().Format("2006-01-02 150405"), ext)
}
