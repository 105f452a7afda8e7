package objects

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/remote/shards"
	"github.com/anchorfs/anchorfs/retry"
)

// Backend is one remote the objects live on: a storage node.
type Backend interface {
	Put(ctx context.Context, name string, data []byte) error
	Get(ctx context.Context, name string) ([]byte, error)
	// GetRange returns n bytes of the object from offset off (fewer where
	// the object ends first).
	GetRange(ctx context.Context, name string, off, n int64) ([]byte, error)
}

// RangeReader is a backend that reads a byte range into the caller's
// buffer (len(buf) bytes from offset off, fewer where the object ends
// first), sparing a buffer per read.
type RangeReader interface {
	ReadRange(ctx context.Context, name string, off int64, buf []byte) (int, error)
}

// Flusher is a backend that makes durable what it took only when asked (a
// local folder, whose file system writes back later).
type Flusher interface {
	Flush(ctx context.Context) error
}

// Flush asks b to make what it took durable, where it is a Flusher.
func Flush(ctx context.Context, b any) error {
	if f, ok := b.(Flusher); ok {
		return f.Flush(ctx)
	}
	return nil
}

// Config shapes a Store.
type Config struct {
	// Spill is the write-back folder for objects past the budget, and for
	// those a node that is down has yet to take; "" keeps all in memory.
	Spill string
	// Budget bounds the bytes of queued objects kept in memory; 0 means
	// uploadBudget.
	Budget int64
	// Layout is how chunks are cut across several nodes (zero for one, or
	// for every chunk whole on every node).
	Layout shards.Layout
	// Stored is how many nodes must hold an object for it to count as
	// stored (0: every one).
	Stored int
	// OnIntegrity is told of each object or shard a node lacks or holds
	// altered, found while reading (the read goes on from the others).
	OnIntegrity func(node int, object, problem string)
	Logf        func(string, ...any)
}

// Store is the objects of one volume on its nodes: uploads in the
// background with a byte budget, fetches with hash checks, a cache of
// plaintext chunks and one fetch per object at a time. With several nodes
// a whole object goes to every node and a chunk's shards one to each; an
// object counts as stored once enough nodes have it (Layout.Stored), the
// rest waiting on local disk until their nodes take them.
type Store struct {
	nodes  []*node
	layout shards.Layout
	need   int // nodes an object must be on to count as stored
	logf   func(string, ...any)
	// onIntegrity is Config.OnIntegrity.
	onIntegrity func(node int, object, problem string)
	spill       string
	budget      int64

	mu       sync.Mutex
	cond     *sync.Cond
	pending  map[itemKey]*item // until uploaded
	inflight int64             // bytes queued objects hold in memory
	gen      uint64            // generation of the newest group
	open     map[uint64]int    // generation -> groups not yet stored
	lastDone time.Time         // when an upload last finished
	wg       sync.WaitGroup
	closed   bool

	tracking map[string]bool // names put while gc runs, nil otherwise
	wake     chan struct{}   // closed to end the waits of failed uploads early
	// uploadCtx is the uploads'; Close cancels it when a node keeps them
	// waiting past closeGrace (a stalled node: the objects stay on disk).
	uploadCtx    context.Context
	cancelUpload context.CancelFunc

	fetches singleflight.Group // object fetches under way, by name
	cache   *chunkCache
	meta    *lru.Cache[string, []byte]
}

// itemKey is one upload: an object to one node.
type itemKey struct {
	node int
	name string
}

// item is a queued upload; data is nil while it waits in the spill folder.
type item struct {
	key     itemKey
	data    []byte
	g       *group
	dropped bool
}

// group is the uploads of one object (to every node, or its shards one to
// each): it is stored once need of them are done and the rest wait on
// local disk, or once none is left.
type group struct {
	gen    uint64
	owner  format.ID
	need   int
	left   int   // uploads not yet done
	done   int   // uploads done
	mem    int64 // bytes its items hold in memory
	inMem  int   // its items in memory
	items  []*item
	stored bool
}

// node is one backend and its upload queue.
type node struct {
	b       Backend
	queue   chan *item
	failing int // uploads failing now (under Store.mu)
	// lastDone is when the node last took an upload (under Store.mu).
	lastDone time.Time
	lastErr  error
	health   health
}

// New makes the Store of a volume on nodes (one, or Layout.N()).
func New(cfg Config, nodes ...Backend) *Store {
	if cfg.Budget <= 0 {
		cfg.Budget = uploadBudget
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	o := &Store{
		logf:        cfg.Logf,
		onIntegrity: cfg.OnIntegrity,
		spill:       cfg.Spill,
		budget:      cfg.Budget,
		layout:      cfg.Layout,
		pending:     map[itemKey]*item{},
		open:        map[uint64]int{},
		cache:       newChunkCache(chunkCacheSize),
		meta:        newMetaCache(),
		lastDone:    time.Now(),
		wake:        make(chan struct{}),
	}
	if o.need = cfg.Stored; o.need <= 0 || o.need > len(nodes) {
		o.need = len(nodes)
	}
	o.cond = sync.NewCond(&o.mu)
	o.uploadCtx, o.cancelUpload = context.WithCancel(context.Background())
	for _, b := range nodes {
		n := &node{b: b, queue: make(chan *item, 1<<16), lastDone: time.Now()}
		o.nodes = append(o.nodes, n)
		for range uploadWorkers {
			o.wg.Add(1)
			go o.uploader(n)
		}
	}
	o.recoverSpill()
	return o
}

// spillDir is where node j's queued objects wait on local disk.
func (o *Store) spillDir(j int) string {
	if j == 0 {
		return o.spill
	}
	return filepath.Join(o.spill, "node"+strconv.Itoa(j))
}

// spillPath is where an upload waits on local disk.
func (o *Store) spillPath(k itemKey) string {
	return filepath.Join(o.spillDir(k.node), strings.ReplaceAll(k.name, "/", "_"))
}

// recoverSpill queues the objects a previous run left on local disk.
func (o *Store) recoverSpill() {
	if o.spill == "" {
		return
	}
	for j := range o.nodes {
		entries, _ := os.ReadDir(o.spillDir(j))
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			name := strings.ReplaceAll(e.Name(), "_", "/")
			if strings.HasSuffix(name, ".tmp") {
				os.Remove(filepath.Join(o.spillDir(j), e.Name()))
				continue
			}
			o.mu.Lock()
			// Stored already when it was left: it just has to get there.
			items := o.enqueue(format.ID{}, 1, []itemKey{{j, name}}, nil, 0)
			o.mu.Unlock()
			o.send(items)
		}
	}
}

// spillObject writes obj to local disk, reporting whether it could.
func (o *Store) spillObject(k itemKey, obj []byte) bool {
	if o.spill == "" {
		return false
	}
	if err := os.MkdirAll(o.spillDir(k.node), 0o700); err != nil {
		return false
	}
	p := o.spillPath(k)
	if err := os.WriteFile(p+".tmp", obj, 0o600); err != nil {
		os.Remove(p + ".tmp")
		return false
	}
	return os.Rename(p+".tmp", p) == nil
}

// Put queues obj for upload under name and returns at once (or once the
// upload budget has room). Reads see the object while it is queued.
func (o *Store) Put(name string, obj []byte) { o.PutFor(format.ID{}, name, obj) }

// PutFor is put for a chunk or manifest of file owner: when the file goes
// away before the object is uploaded, drop(owner) cancels the upload. The
// object goes to every node.
func (o *Store) PutFor(owner format.ID, name string, obj []byte) {
	keys := make([]itemKey, len(o.nodes))
	data := make([][]byte, len(o.nodes))
	for j := range o.nodes {
		keys[j], data[j] = itemKey{j, name}, obj
	}
	o.put(owner, keys, data, int64(len(obj)))
}

// PutShards queues the shards of a chunk of file owner, shard j (named
// names[j]) to node j. Data shards may be slices of the chunk object.
func (o *Store) PutShards(owner format.ID, names []string, shards [][]byte) {
	keys := make([]itemKey, len(names))
	var size int64
	for j := range names {
		keys[j] = itemKey{j, names[j]}
		size += int64(len(shards[j]))
	}
	o.put(owner, keys, shards, size)
}

// put queues one group of uploads, within the memory budget.
func (o *Store) put(owner format.ID, keys []itemKey, data [][]byte, size int64) {
	o.mu.Lock()
	if _, dup := o.pending[keys[0]]; dup {
		o.mu.Unlock()
		return
	}
	if o.inflight > o.budget {
		o.waitForRoom()
	}
	if o.inflight > o.budget {
		o.mu.Unlock()
		spilled := true
		for i, k := range keys {
			spilled = spilled && o.spillObject(k, data[i])
		}
		o.mu.Lock()
		if spilled {
			data, size = nil, 0
		}
		for data != nil && o.inflight > o.budget && !o.closed {
			o.cond.Wait()
		}
	}
	if o.tracking != nil {
		for _, k := range keys {
			o.tracking[k.name] = true
		}
	}
	items := o.enqueue(owner, o.need, keys, data, size)
	o.mu.Unlock()
	o.send(items)
}

// send hands queued items to their nodes' uploaders.
func (o *Store) send(items []*item) {
	for _, it := range items {
		o.nodes[it.key.node].queue <- it
	}
}

// enqueue makes and queues a group; data nil means its objects are in the
// spill folder. Called with o.mu held; the caller sends the items.
func (o *Store) enqueue(owner format.ID, need int, keys []itemKey, data [][]byte, size int64) []*item {
	o.gen++
	g := &group{gen: o.gen, owner: owner, need: min(need, len(keys)), left: len(keys)}
	for i, k := range keys {
		it := &item{key: k, g: g}
		if data != nil {
			it.data = data[i]
			g.inMem++
		}
		g.items = append(g.items, it)
		o.pending[k] = it
	}
	if g.inMem > 0 {
		g.mem = size
		o.inflight += size
	}
	o.open[g.gen]++
	return g.items
}

// waitForRoom waits while the memory budget is full and the nodes keep
// taking uploads: writing the objects to local disk first would write
// everything twice. It gives up when an upload fails or none finishes for
// uploadStall (the caller then spills). Called with o.mu held.
func (o *Store) waitForRoom() {
	stop := make(chan struct{})
	defer close(stop)
	go func() { // wakes the wait below to look at the clock
		t := time.NewTicker(uploadStall / 8)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				o.mu.Lock()
				o.cond.Broadcast()
				o.mu.Unlock()
			}
		}
	}()
	for o.inflight > o.budget && !o.closed && o.failingNodes(false) == 0 && time.Since(o.lastDone) < uploadStall {
		o.cond.Wait()
	}
}

// failingNodes counts the nodes whose uploads fail now (with noSpace, for
// want of room). Called with o.mu held.
func (o *Store) failingNodes(noSpace bool) int {
	n := 0
	for _, nd := range o.nodes {
		if nd.failing > 0 && (!noSpace || IsNoSpace(nd.lastErr)) {
			n++
		}
	}
	return n
}

func (o *Store) uploader(nd *node) {
	defer o.wg.Done()
	for it := range nd.queue {
		o.mu.Lock()
		obj := it.data
		o.mu.Unlock()
		if obj == nil {
			var err error
			if obj, err = os.ReadFile(o.spillPath(it.key)); err != nil {
				if !o.isDropped(it) {
					o.logf("write-back object %s is gone: %v", it.key.name, err)
				}
				o.finish(it, false)
				continue
			}
		}
		waits := retry.Upload.Backoff()
		ok := false
		for {
			if o.isDropped(it) {
				break
			}
			start := time.Now()
			err := nd.b.Put(o.uploadCtx, it.key.name, obj)
			if err == nil {
				nd.health.took(time.Since(start))
				ok = true
				break
			}
			nd.health.failed(err)
			// The store already retried transient errors; keep the object
			// queued and try again later rather than lose an acknowledged
			// write, until the volume closes (no head names it then).
			o.mu.Lock()
			nd.failing++
			nd.lastErr = err
			o.cond.Broadcast()
			closed := o.closed
			o.mu.Unlock()
			if closed {
				// Kept for the next open when there is a spill folder: a
				// node down at close gets it then.
				kept := ""
				if o.isInMemory(it) && o.spillObject(it.key, obj) {
					kept = " (kept in the write-back folder)"
				}
				o.logf("upload of %s%s put off at close: %v%s", it.key.name, o.nodeNote(it.key.node), err, kept)
				o.mu.Lock()
				nd.failing--
				o.mu.Unlock()
				break
			}
			wait := waits.NextBackOff()
			o.logf("upload of %s%s failed, retrying in %v: %v", it.key.name, o.nodeNote(it.key.node), wait.Round(time.Millisecond), err)
			o.mu.Lock()
			wake := o.wake
			o.mu.Unlock()
			// The wait of retry.Upload, or less: made room or a close ends it.
			select {
			case <-time.After(wait):
			case <-wake:
			}
			o.mu.Lock()
			nd.failing--
			o.mu.Unlock()
		}
		o.finish(it, ok)
	}
}

// nodeNote names node j in a log line, when there are several.
func (o *Store) nodeNote(j int) string {
	if len(o.nodes) < 2 {
		return ""
	}
	return fmt.Sprintf(" to node %d", j+1)
}

// isInMemory reports whether an upload's object is in memory only.
func (o *Store) isInMemory(it *item) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return it.data != nil
}

// isDropped reports whether the upload was dropped.
func (o *Store) isDropped(it *item) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return it.dropped
}

// Drop cancels the uploads of file's objects still queued (the file is
// gone, and no head names an object before it is uploaded) and returns
// their names. Failed uploads are retried at once: the room they leave on a
// full remote may be what the others wait for.
func (o *Store) Drop(file format.ID) map[string]bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	names := map[string]bool{}
	for k, it := range o.pending {
		if it.g.owner == file && file != (format.ID{}) {
			it.dropped = true
			names[k.name] = true
		}
	}
	if len(names) > 0 {
		o.retryNow()
	}
	return names
}

// RetrySoon ends the waits of failed uploads (room was made).
func (o *Store) RetrySoon() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retryNow()
}

// retryNow ends the waits of failed uploads. Called with o.mu held.
func (o *Store) retryNow() {
	close(o.wake)
	o.wake = make(chan struct{})
}

// finish marks an upload done (ok: on its node).
func (o *Store) finish(it *item, ok bool) {
	o.mu.Lock()
	g := it.g
	delete(o.pending, it.key)
	if it.data != nil {
		it.data = nil
		o.leftMemory(g)
	} else if ok || it.dropped {
		os.Remove(o.spillPath(it.key))
	}
	g.left--
	if ok {
		g.done++
	}
	o.lastDone = time.Now()
	if ok {
		o.nodes[it.key.node].lastDone = o.lastDone
	}
	o.settle(g)
	o.cond.Broadcast()
	o.mu.Unlock()
}

// leftMemory notes that one of g's items no longer holds memory. Called
// with o.mu held.
func (o *Store) leftMemory(g *group) {
	if g.inMem--; g.inMem == 0 {
		o.inflight -= g.mem
		g.mem = 0
	}
}

// settle marks g stored once need of its uploads are done, or once none is
// left. The others go on: a node that fails, or has not taken them within
// uploadStall, gets them from local disk (spillLeft), so that a node that
// is down or stalled neither holds memory nor loses them at a crash.
// Called with o.mu held.
func (o *Store) settle(g *group) {
	if g.stored || (g.done < g.need && g.left > 0) {
		return
	}
	g.stored = true
	if o.open[g.gen]--; o.open[g.gen] == 0 {
		delete(o.open, g.gen)
	}
	if g.left == 0 || g.inMem == 0 {
		return
	}
	for _, it := range g.items {
		if _, queued := o.pending[it.key]; queued && (o.nodes[it.key.node].failing > 0 || o.nodes[it.key.node].health.avoid(time.Now())) {
			go o.spillLeft(g)
			return
		}
	}
	time.AfterFunc(uploadStall, func() { o.spillLeft(g) })
}

// behind reports whether a node should get its uploads from disk: it
// fails, or has taken none for uploadStall (stalled). A node that is only
// slower than the others keeps taking them from memory. Called with o.mu
// held.
func (o *Store) behind(j int) bool {
	nd := o.nodes[j]
	return nd.failing > 0 || nd.health.avoid(time.Now()) || time.Since(nd.lastDone) >= uploadStall
}

// spillLeft writes g's uploads still queued in memory to the spill folder,
// where they wait for their nodes without holding memory.
func (o *Store) spillLeft(g *group) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return // what a node did not take at close is kept by its uploader
	}
	later := false
	defer func() {
		if later && !o.closed {
			time.AfterFunc(uploadStall, func() { o.spillLeft(g) })
		}
	}()
	for _, it := range g.items {
		if _, queued := o.pending[it.key]; !queued || it.data == nil || it.dropped {
			continue
		}
		if !o.behind(it.key.node) {
			later = true // still taking uploads: look again later
			continue
		}
		// Unlocked: only finish and spillLeft drop an item's data, both
		// under the lock, and spilling one twice writes the same bytes.
		data := it.data
		o.mu.Unlock()
		ok := o.spillObject(it.key, data)
		o.mu.Lock()
		if !ok {
			return // it stays in memory until its node takes it
		}
		if _, queued := o.pending[it.key]; !queued {
			os.Remove(o.spillPath(it.key)) // uploaded meanwhile
			continue
		}
		if it.data != nil {
			it.data = nil
			o.leftMemory(g)
		}
	}
}

// Track starts or stops recording the names of queued objects.
func (o *Store) Track(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if on {
		o.tracking = map[string]bool{}
	} else {
		o.tracking = nil
	}
}

// Tracked reports whether name was queued since track(true).
func (o *Store) Tracked(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tracking[name]
}

// Barrier returns the generation that covers every upload queued so far.
func (o *Store) Barrier() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gen
}

// Wait returns once every object queued up to generation g is stored, and
// flushed on the nodes that need it (Flusher): what a version anchored after
// it names survives a power cut.
func (o *Store) Wait(ctx context.Context, g uint64) error {
	if err := o.waitStored(ctx, g); err != nil {
		return err
	}
	for _, nd := range o.nodes {
		if err := Flush(ctx, nd.b); err != nil {
			return err
		}
	}
	return nil
}

// waitStored returns once every object queued up to generation g is stored.
func (o *Store) waitStored(ctx context.Context, g uint64) error {
	stop := context.AfterFunc(ctx, func() {
		o.mu.Lock()
		o.cond.Broadcast()
		o.mu.Unlock()
	})
	defer stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		done := true
		for og := range o.open {
			if og <= g {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.failingNodes(false) > len(o.nodes)-o.need {
			// The objects stay queued and are retried; the caller learns now.
			err := o.failingErr()
			if IsNoSpace(err) {
				return fmt.Errorf("uploading to the remote: %w", errors.Join(syscall.ENOSPC, err))
			}
			return fmt.Errorf("uploading to the remote: %w", err)
		}
		o.cond.Wait()
	}
}

// FailingErr is the last error of a storage node that fails uploads now
// (nil for none).
func (o *Store) FailingErr() error {
	o.mu.Lock()
	err := o.failingErr()
	o.mu.Unlock()
	if err != nil {
		return err
	}
	for _, nd := range o.nodes { // none has failed for good yet: one may be trying again
		if t, ok := nd.b.(interface{ Trying() error }); ok {
			if err := t.Trying(); err != nil {
				return err
			}
		}
	}
	return nil
}

// failingErr is the last error of a failing node. Called with o.mu held.
func (o *Store) failingErr() error {
	for _, nd := range o.nodes {
		if nd.failing > 0 {
			return nd.lastErr
		}
	}
	return nil
}

// Full reports whether uploads are failing because too many nodes have no
// room; writers get ENOSPC until they succeed again.
func (o *Store) Full() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failingNodes(true) > len(o.nodes)-o.need
}

func IsNoSpace(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), "no space left on device") ||
		strings.Contains(err.Error(), "too big for remaining disk space"))
}

// SpillAll writes every queued object held in memory to the write-back
// folder too, so that a volume closed while uploads cannot proceed keeps
// them for its next open (which queues them again). It reports how many
// objects, and bytes, stay queued.
func (o *Store) SpillAll() (n int, bytes int64, err error) {
	if o.spill == "" {
		return 0, 0, errors.New("no write-back folder")
	}
	o.mu.Lock()
	inMemory := map[itemKey][]byte{}
	for k, it := range o.pending {
		if it.data != nil && !it.dropped {
			inMemory[k] = it.data
		}
		n++
	}
	o.mu.Unlock()
	dirs := map[string]bool{}
	for k, obj := range inMemory {
		if !o.spillObject(k, obj) {
			return 0, 0, fmt.Errorf("writing %s to the write-back folder %s failed", k.name, o.spill)
		}
		bytes += int64(len(obj))
		dirs[o.spillDir(k.node)] = true
	}
	for dir := range dirs {
		if d, err := os.Open(dir); err == nil {
			err = d.Sync()
			d.Close()
			if err != nil {
				return 0, 0, err
			}
		}
	}
	return n, bytes, nil
}

// Stats reports uploads not yet on their nodes.
func (o *Store) Stats() (n int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending), o.inflight
}

// Close waits for every queued upload and stops the workers.
func (o *Store) Close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	o.cond.Broadcast()
	o.mu.Unlock()
	for _, nd := range o.nodes {
		close(nd.queue)
	}
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeGrace):
		o.logf("a storage node does not answer: what it has yet to take stays in the write-back folder")
		o.cancelUpload()
		<-done
	}
	o.cancelUpload()
}

// closeGrace is how long Close waits for uploads under way.
const closeGrace = 10 * time.Second
