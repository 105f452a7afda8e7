// Package anchoring is the way file versions, heads and audit events reach the ledger: the durable outbox a commit writes versions and heads to before its heads go up, the durable queue of audit events, and the loops that send what is ready in batches and try again while the ledger is down.
package anchoring

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/fs/format"
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
type Outbox struct {
	mu      sync.Mutex
	cond    *sync.Cond
	file    *os.File
	w       *bufio.Writer
	pending []Entry
	added   uint64 // versions added so far: each entry's place, for mark
	marked  uint64 // the newest mark a commit took
	commit  uint64 // the newest commit tag given out
	kick    chan struct{}
	lastErr error
}

type Entry struct {
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
func Open(dir string, headExists func(name string) bool, logf func(string, ...any)) (*Outbox, error) {
	path := filepath.Join(dir, "outbox")
	ob := &Outbox{kick: make(chan struct{}, 1)}
	ob.cond = sync.NewCond(&ob.mu)
	if b, err := os.ReadFile(path); err == nil {
		done := map[string]bool{}
		heads := map[uint64][]string{}
		committed := map[uint64]bool{}
		var adds []Entry
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e Entry
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
		writeEntry(w, Entry{Op: e.Op, Anchor: e.Anchor, Head: e.Head})
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

// anchorKey names a file's version in the outbox: what Done takes.
func anchorKey(a network.Anchor) string { return fmt.Sprintf("%s/%d", a.File, a.Version) }

// key names what an entry anchors: a file's version, or a head.
func (e Entry) key() string {
	if e.Head != nil {
		return "head " + e.Head.Hash
	}
	return anchorKey(e.Anchor)
}

func writeEntry(w *bufio.Writer, e Entry) {
	b, _ := json.Marshal(e)
	w.Write(b)
	w.WriteByte('\n')
}

// Add queues a version; it is written to the log, and may go to the ledger,
// with the commit that names it. It returns how many versions added so far
// no commit has taken yet.
func (ob *Outbox) Add(a network.Anchor, gen uint64) (uncommitted uint64) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	ob.added++
	ob.pending = append(ob.pending, Entry{Op: "add", Anchor: a, gen: gen, place: ob.added})
	return ob.added - ob.marked
}

// Mark is the place of the newest version added: a commit takes it while
// it seals the tree, so that it tags only versions that tree has.
func (ob *Outbox) Mark() uint64 {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return ob.added
}

// Durable writes the versions up to mark not yet in the log, tagged with a
// new commit, the anchors of the heads that commit is about to write and
// their names, and fsyncs the log. It returns the commit's tag, for
// committed. Versions added after mark wait for the next commit: the heads
// do not name them.
func (ob *Outbox) Durable(mark uint64, heads []string, anchors ...network.Head) (uint64, error) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	ob.commit++
	t := ob.commit
	ob.marked = max(ob.marked, mark)
	for i := range ob.pending {
		if e := &ob.pending[i]; e.Commit == 0 && !e.ready && e.place <= mark {
			e.Commit = t
			writeEntry(ob.w, Entry{Op: "add", Anchor: e.Anchor, Commit: t})
		}
	}
	for i := range anchors {
		e := Entry{Op: "head", Head: &anchors[i], Commit: t}
		ob.pending = append(ob.pending, e)
		writeEntry(ob.w, e)
	}
	writeEntry(ob.w, Entry{Op: "heads", Commit: t, Heads: heads})
	if err := ob.w.Flush(); err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	if err := ob.file.Sync(); err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	return t, nil
}

// Committed records that the heads of commit t are on the remote: its
// versions, and those of earlier commits, may go to the ledger.
func (ob *Outbox) Committed(t uint64) {
	ob.mu.Lock()
	for i := range ob.pending {
		if e := &ob.pending[i]; e.Commit != 0 && e.Commit <= t {
			e.ready = true
		}
	}
	writeEntry(ob.w, Entry{Op: "committed", Commit: t})
	ob.w.Flush()
	ob.mu.Unlock()
	ob.Poke()
}

// Poke wakes the anchorer: something may be ready to go.
func (ob *Outbox) Poke() {
	select {
	case ob.kick <- struct{}{}:
	default:
	}
}

// Batch returns up to max pending entries, at most one per file (a file's
// next version names this one, so it waits for the next batch), and no
// head that held (one still parked in the cache) reports.
func (ob *Outbox) Batch(max int, held func(*network.Head) bool) []Entry {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	seen := map[string]bool{}
	var out []Entry
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

// Done removes anchored entries.
func (ob *Outbox) Done(keys map[string]bool) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	kept := ob.pending[:0]
	for _, e := range ob.pending {
		switch {
		case !keys[e.key()]:
			kept = append(kept, e)
		case e.Head != nil:
			writeEntry(ob.w, Entry{Op: "done", Head: &network.Head{Hash: e.Head.Hash}})
		default:
			writeEntry(ob.w, Entry{Op: "done", Anchor: network.Anchor{File: e.Anchor.File, Version: e.Anchor.Version}})
		}
	}
	ob.pending = kept
	ob.w.Flush() // a process killed now does not send them again
	ob.cond.Broadcast()
}

// DropUnstored forgets the versions of file whose manifests were never
// uploaded (their object names are in names): the file is gone.
func (ob *Outbox) DropUnstored(file string, names map[string]bool) {
	done := map[string]bool{}
	ob.mu.Lock()
	for _, e := range ob.pending {
		if h, err := format.ParseHash(e.Anchor.ManifestHash); err == nil && e.Anchor.File == file && names[format.ObjectName(h)] {
			done[anchorKey(e.Anchor)] = true
		}
	}
	ob.mu.Unlock()
	if len(done) > 0 {
		ob.Done(done)
	}
}

// HasSuccessor reports whether a version made on a waits in the outbox.
func (ob *Outbox) HasSuccessor(a network.Anchor) bool {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	for _, e := range ob.pending {
		if e.Anchor.File == a.File && e.Anchor.PrevManifestHash == a.ManifestHash {
			return true
		}
	}
	return false
}

// Holds reports whether version of file, with manifest, waits in the outbox.
func (ob *Outbox) Holds(file string, version uint64, manifest string) bool {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	for _, e := range ob.pending {
		if e.Anchor.File == file && e.Anchor.Version == version && e.Anchor.ManifestHash == manifest {
			return true
		}
	}
	return false
}

func (ob *Outbox) Len() int {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return len(ob.pending)
}

// Wait returns once the outbox is empty.
func (ob *Outbox) Wait(ctx context.Context, progress func(done, total int64)) error {
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
			progress(int64(total-len(ob.pending)), int64(total))
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

func (ob *Outbox) Close() {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	ob.w.Flush()
	ob.file.Sync()
	ob.file.Close()
}

// sortedPending is for tests and info: the versions in the outbox, in order.
func (ob *Outbox) sortedPending() []network.Anchor {
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

// Pending counts the versions and heads an outbox in cacheDir still
// holds, for reports while no mount has the volume open.
func Pending(cacheDir string) int {
	b, err := os.ReadFile(filepath.Join(cacheDir, "outbox"))
	if err != nil {
		return 0
	}
	done := map[string]bool{}
	var adds []string
	for _, line := range bytes.Split(b, []byte("\n")) {
		var e Entry
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

// setErr records the ledger's last answer, for Wait to report.
func (ob *Outbox) setErr(err error) {
	ob.mu.Lock()
	ob.lastErr = err
	ob.mu.Unlock()
}

// Run sends what is ready in the outbox to the ledger with submit, in
// batches of wire.BatchSize, until ctx ends; held tells of heads not to
// send yet. A failed batch is tried again (retry.Ledger), with the outbox
// as it is then: a ledger that is down delays anchoring for as long as it
// is down.
func Run(ctx context.Context, ob *Outbox, held func(*network.Head) bool, submit func([]Entry) error, logf func(string, ...any)) {
	for {
		if len(ob.Batch(wire.BatchSize, held)) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-ob.kick:
				continue
			}
		}
		retry.Do(ctx, retry.Ledger, nil, func(err error, wait time.Duration) {
			logf("anchoring: %v (retrying in %v)", err, wait.Round(time.Millisecond))
		}, func() error {
			batch := ob.Batch(wire.BatchSize, held)
			if len(batch) == 0 {
				return nil
			}
			err := submit(batch)
			ob.setErr(err)
			return err
		})
		if ctx.Err() != nil {
			return
		}
	}
}
