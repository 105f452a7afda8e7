package volume

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/retry"
)

// outbox holds file versions waiting to be anchored. A version goes to the
// ledger only once a head that names it is on the remote, so the ledger
// never anchors a state of a file that no tree has (a crash between the
// two would otherwise leave the ledger ahead of every head). The heads are
// anchored too, once they are on the remote. Each commit writes its
// versions and its heads to the log in the cache folder, then the names of
// the heads it is about to write, and fsyncs, before the heads go up; once
// they are up, a "committed" line follows. Entries are marked done once
// anchored. On reopen (after a crash), the versions of a commit whose heads
// never reached the remote are dropped: nothing acknowledged them.
type outbox struct {
	mu      sync.Mutex
	cond    *sync.Cond
	file    *os.File
	w       *bufio.Writer
	pending []outboxEntry
	added   uint64 // versions added so far: each entry's place, for mark
	commit  uint64 // the newest commit tag given out
	kick    chan struct{}
	lastErr error
}

type outboxEntry struct {
	// Op is "add" (a version), "head" (a head to anchor), "done" (the
	// version or head is anchored), "heads" (the names of the heads commit
	// Commit is about to write) or "committed" (they are written).
	Op     string         `json:"op"`
	Anchor network.Anchor `json:"anchor,omitzero"`
	Head   *network.Head  `json:"head,omitempty"`
	Commit uint64         `json:"commit,omitempty"` // 0: written before commit tags existed
	Heads  []string       `json:"heads,omitempty"`
	gen    uint64         // upload generation of the manifest
	place  uint64         // when it was added (outbox.added), for mark
	ready  bool           // a head naming it is on the remote: it may go to the ledger
}

// openOutbox reads the log in dir; headExists tells whether a head a commit
// named reached the remote (or waits parked in the cache).
func openOutbox(dir string, headExists func(name string) bool, logf func(string, ...any)) (*outbox, error) {
	path := filepath.Join(dir, "outbox")
	ob := &outbox{kick: make(chan struct{}, 1)}
	ob.cond = sync.NewCond(&ob.mu)
	if b, err := os.ReadFile(path); err == nil {
		done := map[string]bool{}
		heads := map[uint64][]string{}
		committed := map[uint64]bool{}
		var adds []outboxEntry
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e outboxEntry
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue // a torn last line from a crash
			}
			ob.commit = max(ob.commit, e.Commit)
			switch e.Op {
			case "done":
				done[e.key()] = true
			case "heads":
				heads[e.Commit] = e.Heads
			case "committed":
				committed[e.Commit] = true
			case "add", "head":
				if e.Op == "head" && e.Head == nil {
					continue
				}
				adds = append(adds, e)
			}
		}
		upTo := map[uint64]bool{} // commits whose heads are up, found on the remote
		dropped := 0
		for _, e := range adds {
			if done[e.key()] {
				continue
			}
			t := e.Commit
			if t != 0 && !committed[t] {
				if _, asked := upTo[t]; !asked {
					up := len(heads[t]) > 0
					for _, h := range heads[t] {
						up = up && headExists(h)
					}
					upTo[t] = up
				}
				if !upTo[t] {
					dropped++
					continue
				}
			}
			e.ready = true
			ob.pending = append(ob.pending, e)
		}
		if dropped > 0 {
			logf("outbox: %d versions of a commit that never reached the remote are dropped (nothing had acknowledged them)", dropped)
		}
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	// Rewrite the log with what is still pending, all of it committed.
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, e := range ob.pending {
		writeEntry(w, outboxEntry{Op: e.Op, Anchor: e.Anchor, Head: e.Head})
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	ob.file, ob.w = f, w
	return ob, nil
}

func anchorKey(a network.Anchor) string { return fmt.Sprintf("%s/%d", a.File, a.Version) }

// key names what an entry anchors: a file's version, or a head.
func (e outboxEntry) key() string {
	if e.Head != nil {
		return "head " + e.Head.Hash
	}
	return anchorKey(e.Anchor)
}

func writeEntry(w *bufio.Writer, e outboxEntry) {
	b, _ := json.Marshal(e)
	w.Write(b)
	w.WriteByte('\n')
}

// add queues a version; it is written to the log, and may go to the ledger,
// with the commit that names it.
func (ob *outbox) add(a network.Anchor, gen uint64) {
	ob.mu.Lock()
	ob.added++
	ob.pending = append(ob.pending, outboxEntry{Op: "add", Anchor: a, gen: gen, place: ob.added})
	ob.mu.Unlock()
}

// mark is the place of the newest version added: a commit takes it while
// it seals the tree, so that it tags only versions that tree has.
func (ob *outbox) mark() uint64 {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return ob.added
}

// durable writes the versions up to mark not yet in the log, tagged with a
// new commit, the anchors of the heads that commit is about to write and
// their names, and fsyncs the log. It returns the commit's tag, for
// committed. Versions added after mark wait for the next commit: the heads
// do not name them.
func (ob *outbox) durable(mark uint64, heads []string, anchors ...network.Head) (uint64, error) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	ob.commit++
	t := ob.commit
	for i := range ob.pending {
		if e := &ob.pending[i]; e.Commit == 0 && !e.ready && e.place <= mark {
			e.Commit = t
			writeEntry(ob.w, outboxEntry{Op: "add", Anchor: e.Anchor, Commit: t})
		}
	}
	for i := range anchors {
		e := outboxEntry{Op: "head", Head: &anchors[i], Commit: t}
		ob.pending = append(ob.pending, e)
		writeEntry(ob.w, e)
	}
	writeEntry(ob.w, outboxEntry{Op: "heads", Commit: t, Heads: heads})
	if err := ob.w.Flush(); err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	if err := ob.file.Sync(); err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	return t, nil
}

// committed records that the heads of commit t are on the remote: its
// versions, and those of earlier commits, may go to the ledger.
func (ob *outbox) committed(t uint64) {
	ob.mu.Lock()
	for i := range ob.pending {
		if e := &ob.pending[i]; e.Commit != 0 && e.Commit <= t {
			e.ready = true
		}
	}
	writeEntry(ob.w, outboxEntry{Op: "committed", Commit: t})
	ob.w.Flush()
	ob.mu.Unlock()
	ob.poke()
}

// poke wakes the anchorer: something may be ready to go.
func (ob *outbox) poke() {
	select {
	case ob.kick <- struct{}{}:
	default:
	}
}

// batch returns up to max pending entries, at most one per file (a file's
// next version names this one, so it waits for the next batch), and no
// head that held (one still parked in the cache) reports.
func (ob *outbox) batch(max int, held func(*network.Head) bool) []outboxEntry {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	seen := map[string]bool{}
	var out []outboxEntry
	for _, e := range ob.pending {
		if e.Head != nil {
			if e.ready && (held == nil || !held(e.Head)) {
				out = append(out, e)
			}
			if len(out) == max {
				break
			}
			continue
		}
		if seen[e.Anchor.File] {
			continue
		}
		seen[e.Anchor.File] = true // a later version waits for this one, ready or not
		if !e.ready {
			continue
		}
		out = append(out, e)
		if len(out) == max {
			break
		}
	}
	return out
}

// done removes anchored entries.
func (ob *outbox) done(keys map[string]bool) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	kept := ob.pending[:0]
	for _, e := range ob.pending {
		switch {
		case !keys[e.key()]:
			kept = append(kept, e)
		case e.Head != nil:
			writeEntry(ob.w, outboxEntry{Op: "done", Head: &network.Head{Hash: e.Head.Hash}})
		default:
			writeEntry(ob.w, outboxEntry{Op: "done", Anchor: network.Anchor{File: e.Anchor.File, Version: e.Anchor.Version}})
		}
	}
	ob.pending = kept
	ob.w.Flush() // a process killed now does not send them again
	ob.cond.Broadcast()
}

// dropUnstored forgets the versions of file whose manifests were never
// uploaded (their object names are in names): the file is gone.
func (ob *outbox) dropUnstored(file string, names map[string]bool) {
	done := map[string]bool{}
	ob.mu.Lock()
	for _, e := range ob.pending {
		if h, err := format.ParseHash(e.Anchor.ManifestHash); err == nil && e.Anchor.File == file && names[format.ObjectName(h)] {
			done[anchorKey(e.Anchor)] = true
		}
	}
	ob.mu.Unlock()
	if len(done) > 0 {
		ob.done(done)
	}
}

// hasSuccessor reports whether a version made on a waits in the outbox.
func (ob *outbox) hasSuccessor(a network.Anchor) bool {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	for _, e := range ob.pending {
		if e.Anchor.File == a.File && e.Anchor.PrevManifestHash == a.ManifestHash {
			return true
		}
	}
	return false
}

// holds reports whether version of file, with manifest, waits in the outbox.
func (ob *outbox) holds(file string, version uint64, manifest string) bool {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	for _, e := range ob.pending {
		if e.Anchor.File == file && e.Anchor.Version == version && e.Anchor.ManifestHash == manifest {
			return true
		}
	}
	return false
}

func (ob *outbox) len() int {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return len(ob.pending)
}

// wait returns once the outbox is empty.
func (ob *outbox) wait(ctx context.Context, progress func(Progress)) error {
	stop := context.AfterFunc(ctx, func() {
		ob.mu.Lock()
		ob.cond.Broadcast()
		ob.mu.Unlock()
	})
	defer stop()
	ob.mu.Lock()
	defer ob.mu.Unlock()
	total := len(ob.pending)
	for len(ob.pending) > 0 {
		if progress != nil {
			total = max(total, len(ob.pending))
			progress(Progress{Phase: "anchoring", Done: int64(total - len(ob.pending)), Total: int64(total)})
		}
		if err := ctx.Err(); err != nil {
			if ob.lastErr != nil {
				return fmt.Errorf("%w (ledger: %v)", err, ob.lastErr)
			}
			return err
		}
		ob.cond.Wait()
	}
	return nil
}

func (ob *outbox) close() {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	ob.w.Flush()
	ob.file.Sync()
	ob.file.Close()
}

// anchor queues a new file version for the ledger; prevManifest is the
// manifest of the version it replaces ("" for a first version).
func (v *Volume) anchor(n *Node, m *format.Manifest, manifestHash, prevManifest string) {
	if v.outbox == nil {
		return
	}
	v.outbox.add(network.Anchor{
		Volume: v.id.String(), File: n.id.String(), Version: m.Version, PrevVersion: m.Version - 1,
		PrevManifestHash: prevManifest, MerkleRoot: m.MerkleRoot, ManifestHash: manifestHash, Size: m.Size,
		Domain: n.dom.ledgerID(),
	}, v.obj.Barrier())
}

// anchorer submits outbox batches to the ledger until the volume closes.
func (v *Volume) anchorer() {
	defer v.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-v.stop
		cancel()
	}()
	for {
		if len(v.outbox.batch(wire.BatchSize, v.parkedHead)) == 0 {
			select {
			case <-v.stop:
				return
			case <-v.outbox.kick:
				continue
			}
		}
		// A ledger that is down delays anchoring for as long as it is
		// down (retry.Ledger); each try takes the outbox as it is then.
		retry.Do(ctx, retry.Ledger, nil, func(err error, wait time.Duration) {
			v.logf("anchoring: %v (retrying in %v)", err, wait.Round(time.Millisecond))
		}, func() error {
			batch := v.outbox.batch(wire.BatchSize, v.parkedHead)
			if len(batch) == 0 {
				return nil
			}
			err := v.submit(batch)
			v.outbox.mu.Lock()
			v.outbox.lastErr = err
			v.outbox.mu.Unlock()
			return err
		})
		if ctx.Err() != nil {
			return
		}
	}
}

// submit anchors one batch once its manifests are on the remote and handles
// each outcome: committed, already there, or stale (a conflict).
func (v *Volume) submit(batch []outboxEntry) error {
	ctx := context.Background()
	var gen uint64
	var anchors []network.Anchor
	var heads []network.Head
	for _, e := range batch {
		gen = max(gen, e.gen)
		if e.Head != nil {
			heads = append(heads, *e.Head)
		} else {
			anchors = append(anchors, e.Anchor)
		}
	}
	if err := v.obj.Wait(ctx, gen); err != nil {
		return err
	}
	results, err := v.opt.Ledger.AnchorBatch(ctx, anchors, heads...)
	if err != nil {
		return err
	}
	if len(results) != len(anchors)+len(heads) {
		return fmt.Errorf("ledger answered %d results for %d anchors and %d heads", len(results), len(anchors), len(heads))
	}
	done := map[string]bool{}
	for i, h := range heads {
		if err := results[len(anchors)+i].Err; err != nil {
			// Denied or malformed: it will not pass by retrying.
			v.logf("the ledger refused head %s: %v", h.Hash, err)
		}
		done[outboxEntry{Head: &heads[i]}.key()] = true
	}
	var later error
	for i, r := range results[:len(anchors)] {
		a := anchors[i]
		switch {
		case r.Err == nil:
			done[anchorKey(a)] = true
		case errors.Is(r.Err, network.ErrStale) && r.Current != nil &&
			r.Current.Version == a.Version && r.Current.ManifestHash == a.ManifestHash:
			done[anchorKey(a)] = true // committed by an earlier try
		case errors.Is(r.Err, network.ErrStale) && r.Current != nil && r.Current.Version > a.Version && v.anchoredBefore(ctx, a):
			done[anchorKey(a)] = true // committed by an earlier run, and followed since
		case errors.Is(r.Err, network.ErrStale):
			if err := v.conflict(a, r.Current); err != nil {
				later = err // kept, and tried again after the anchorer's wait
			} else {
				done[anchorKey(a)] = true
			}
		default:
			// Denied or malformed: it will not pass by retrying. Keep a record
			// and drop it so the rest of the outbox moves on.
			v.logf("the ledger refused version %d of file %s: %v", a.Version, a.File, r.Err)
			done[anchorKey(a)] = true
		}
	}
	v.outbox.done(done)
	return later
}

// anchoredBefore reports whether the ledger's history of a's file holds a
// itself: an earlier run anchored it, and stopped before the outbox said so.
func (v *Volume) anchoredBefore(ctx context.Context, a network.Anchor) bool {
	hist, err := v.opt.Ledger.History(ctx, a.Volume, a.File)
	if err != nil {
		return false
	}
	for _, h := range hist {
		if h.Version == a.Version && h.ManifestHash == a.ManifestHash {
			return true
		}
	}
	return false
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
	latest, err := v.opt.Ledger.Latest(ctx, v.id.String(), n.id.String())
	switch {
	case errors.Is(err, network.ErrNotFound):
		return nil // not anchored yet: the version is in an outbox
	case err != nil:
		// A ledger that is down delays checks as it delays anchors.
		v.logf("ledger check of file %s skipped: %v", n.id, err)
		return nil
	case latest.Version == version && latest.ManifestHash == manifest:
		v.mu.Lock()
		n.checked = version
		v.mu.Unlock()
		return nil
	case latest.Version == version && v.outbox != nil && v.outbox.holds(n.id.String(), version, manifest):
		return nil // ours lost to another writer's: the anchorer keeps it as a conflict copy
	case latest.Version < version:
		return nil // newer than the ledger's: waiting in an outbox
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
	return nil
}

// recordIntegrity puts an integrity event on the ledger, in the background.
func (v *Volume) recordIntegrity(n *Node, problem string) {
	v.logf("integrity: file %s: %s", n.id, problem)
	if v.opt.Ledger == nil {
		return
	}
	ev := network.Event{Time: time.Now().UTC(), Actor: v.opt.Actor, Action: "integrity", Volume: v.id.String(),
		File: n.id.String(), Detail: map[string]string{"problem": problem}}
	v.bg.Add(1) // Close waits for it
	go func() {
		defer v.bg.Done()
		if err := v.opt.Ledger.Record(context.Background(), []network.Event{ev}); err != nil {
			v.logf("recording an integrity event: %v", err)
		}
	}()
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
	if v.outbox.hasSuccessor(ours) {
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
		f.mu.Lock()
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
	var name string
	for k, c := range dir.entries {
		if c == n {
			name = k
			break
		}
	}
	uid, gid, mode := n.uid, n.gid, n.mode
	v.mu.Unlock()
	var c *Node
	var copyName string
	for tries := 0; ; tries++ {
		err := v.withTree(func() error {
			if err := v.need(dir); err != nil {
				return err
			}
			copyName = freeConflictName(dir, name, v.opt.Host, time.Now())
			return nil
		})
		if err != nil {
			return err
		}
		if c, err = v.Create(dir, copyName, mode, uid, gid); err == nil {
			break
		} else if !errors.Is(err, syscall.EEXIST) || tries == 10 {
			return err
		}
	}
	if err := v.fillCopy(c, n, m); err != nil {
		// A half-written copy is taken back; the conflict is tried again.
		v.mu.Lock()
		if dir.entries[copyName] == c {
			v.removeName(dir, copyName, c)
		}
		v.mu.Unlock()
		return err
	}
	v.logf("conflict: version %d of file %s kept as %q", ours.Version, n.id, copyName)
	return nil
}

// fillCopy writes the content of version m of n into the new file c.
func (v *Volume) fillCopy(c, n *Node, m *format.Manifest) error {
	ctx := context.Background()
	h, err := v.Open(c)
	if err != nil {
		return err
	}
	key, _ := n.dom.fileKey(v, n.id, m.Epoch)
	var off int64
	for i, ch := range m.Chunks {
		if ch.Hash != "" {
			pt, err := v.plain(ctx, n, key, int64(i), ch)
			if err != nil {
				h.Release()
				return err
			}
			if _, err := h.WriteAt(pt, off); err != nil {
				h.Release()
				return err
			}
		}
		off += int64(ch.Size)
	}
	if err := h.Truncate(m.Size); err != nil {
		h.Release()
		return err
	}
	return h.Release()
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

// sortedPending is for tests and info: the versions in the outbox, in order.
func (ob *outbox) sortedPending() []network.Anchor {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	var out []network.Anchor
	for _, e := range ob.pending {
		if e.Head == nil {
			out = append(out, e.Anchor)
		}
	}
	sort.Slice(out, func(i, j int) bool { return anchorKey(out[i]) < anchorKey(out[j]) })
	return out
}

// OutboxPending counts the versions and heads an outbox in cacheDir still
// holds, for reports while no mount has the volume open.
func OutboxPending(cacheDir string) int {
	b, err := os.ReadFile(filepath.Join(cacheDir, "outbox"))
	if err != nil {
		return 0
	}
	done := map[string]bool{}
	var adds []string
	for _, line := range bytes.Split(b, []byte("\n")) {
		var e outboxEntry
		if json.Unmarshal(line, &e) != nil {
			continue
		}
		switch e.Op {
		case "done":
			done[e.key()] = true
		case "add", "head":
			adds = append(adds, e.key())
		}
	}
	n := 0
	for _, k := range adds {
		if !done[k] {
			n++
		}
	}
	return n
}
