// Package volume is the encrypted tree under the mount: files, folders, manifests and their objects on a remote.
package volume

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anchorfs/anchorfs/fs/anchoring"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/remote/shards"
)

// ObjectStore is where a volume keeps its ciphertext objects; *remote.Store
// is one. Get of a missing object returns an error wrapping io/fs.ErrNotExist.
type ObjectStore interface {
	Put(ctx context.Context, name string, data []byte) error
	Get(ctx context.Context, name string) ([]byte, error)
	// GetRange returns n bytes of an object from offset off (fewer where
	// it ends first).
	GetRange(ctx context.Context, name string, off, n int64) ([]byte, error)
	// Replace writes data under name whether or not it exists: only the
	// config changes (Upgrade); every other object is written once.
	Replace(ctx context.Context, name string, data []byte) error
	Delete(ctx context.Context, name string) error
	List(ctx context.Context, prefix string, fn func(name string, size int64) error) error
}

// Config is the public part of a volume, readable without keys.
type Config struct {
	Format    int    `json:"format"`
	Volume    string `json:"volume"`
	ChunkSize int    `json:"chunkSize"`
	KeyCheck  string `json:"keyCheck"`
	// Ledger is the ID of the volume's ledger ("" when not recorded).
	Ledger string `json:"ledger,omitempty"`
	// Nodes are the ids of its storage nodes and Shards the layout chunks
	// are cut in across them; none for a volume on one remote.
	Nodes  []string `json:"nodes,omitempty"`
	Shards string   `json:"shards,omitempty"`
}

// publicConfig is the part of c a caller sees.
func publicConfig(c *format.Config) Config {
	pc := Config{Format: c.Format, Volume: c.Volume, ChunkSize: c.ChunkSize, KeyCheck: c.KeyCheck, Ledger: c.Ledger, Nodes: c.Nodes}
	if len(c.Nodes) > 0 {
		pc.Shards = shards.Layout{K: c.DataShards, M: c.ParityShards}.String()
		if c.DataShards == 0 {
			pc.Shards = "whole on every node"
		}
	}
	return pc
}

// CreateOptions shape a new volume.
type CreateOptions struct {
	// ChunkSize is the plaintext size of a chunk; 0 means format.DefaultChunkSize.
	ChunkSize int
	// Format is the volume format; 0 means format.Version (format.Version1
	// makes a volume older builds open).
	Format int
	// Ledger is the ID of the ledger the volume anchors on, LedgerSpec where
	// this home reaches it (kept sealed in the config for other homes).
	Ledger, LedgerSpec string
	// Shards is the layout chunks are cut in across the store's nodes
	// (an *objects.Set of Shards.N() remotes); zero for one remote.
	Shards shards.Layout
}

// Options shape an opened volume.
type Options struct {
	// CacheDir holds the volume's local state; deleting it loses nothing that
	// was synced.
	CacheDir string
	// Ledger anchors file versions; nil runs without a ledger.
	Ledger network.Ledger
	// LedgerID is Ledger's ID (network.Info), "none" without one. When the
	// volume's config names another ledger, opening fails with an
	// *OtherLedgerError; "" skips the check.
	LedgerID string
	// Actor is this user's ledger identity, Host this machine's name (used in
	// conflict copy names).
	Actor, Host string
	// ReadOnly opens without taking the cache lock or writing anything.
	ReadOnly bool
	// AcceptRollback opens a remote that serves an older state than the
	// ledger anchored (a *RollbackError otherwise), and logs it: to look at
	// it read-only, or to verify it.
	AcceptRollback bool
	// NoAtime keeps access times as they are (the noatime mount option);
	// otherwise reads renew them as relatime does.
	NoAtime bool
	// StoredAll makes an object count as stored (for fsync, sync and
	// anchoring) only once every storage node has it, not once
	// shards.Layout.Stored of them do.
	StoredAll bool
	// MemoryBudget is how many bytes of sealed objects wait for upload in
	// memory before further ones wait in the cache folder; 0 means 256 MiB.
	MemoryBudget int64
	// CommitInterval is how often dirty metadata is committed in the
	// background; 0 means 5 seconds.
	CommitInterval time.Duration
	// Shares, for a grantee's volume (OpenShared), tells again which folders
	// are shared with this user; asked at every commit interval, so that
	// key rotations, new shares and revocations reach a running mount.
	Shares func(context.Context) ([]Shared, error)
	// Logf receives diagnostics; nil discards them. Never given secrets.
	Logf func(format string, args ...any)
}

// Progress reports a long operation's advance.
type Progress struct {
	Phase       string `json:"phase"`
	Done, Total int64
	// Bytes of TotalBytes are done, for work that moves or checks bytes
	// (TotalBytes 0 for other work; it may grow while the work finds more).
	Bytes      int64 `json:"bytes,omitempty"`
	TotalBytes int64 `json:"totalBytes,omitempty"`
}

// Stats are a volume's pending work.
type Stats struct {
	PendingUploads int   `json:"uploads"`
	PendingBytes   int64 `json:"bytes"`
	PendingAnchors int   `json:"anchors"`
	// Waiting is why uploads do not go now: a storage node's last error.
	Waiting string `json:"waiting,omitempty"`
}

// Finding is one problem verify found.
type Finding struct {
	Path    string `json:"path"`
	Problem string `json:"problem"`
}

// ErrNoVolume means the store holds no volume config.
var ErrNoVolume = errors.New("no anchorfs volume on this remote")

// ErrWrongKey means the unwrapped key is not this volume's key.
var ErrWrongKey = errors.New("key does not open this volume")

// OtherLedgerError is a volume opened with a ledger other than its own.
type OtherLedgerError struct {
	Volume, Want, Got string
}

func (e *OtherLedgerError) Error() string {
	return fmt.Sprintf("ledger %s is not this volume's ledger: volume %s anchors on %s", e.Got, e.Volume, e.Want)
}

// checkLedger refuses a ledger other than the one config c names.
func checkLedger(c *format.Config, opt Options) error {
	if c.Ledger == "" || opt.LedgerID == "" || c.Ledger == opt.LedgerID {
		return nil
	}
	return &OtherLedgerError{Volume: c.Volume, Want: c.Ledger, Got: opt.LedgerID}
}

// ErrReadOnly is returned by writes on a volume opened read-only.
var ErrReadOnly = errors.New("volume is open read-only")

// Volume is an open volume.
type Volume struct {
	id format.ID
	// layout is the volume's format: what new versions are written in
	// (Upgrade raises it while the volume is open).
	layout atomic.Int32
	// shards is how new chunks are cut across the storage nodes (zero on
	// one remote), nodeIDs the nodes' ids.
	shards  shards.Layout
	nodeIDs []string
	// nodeEvents is when each (node, problem) was last put on the ledger.
	nodeEventsMu sync.Mutex
	nodeEvents   map[string]time.Time
	// chunkSealers keeps the sealers of segmented chunks read lately: each
	// has a key derived for its sealing, which a few segments read again
	// need not derive again.
	chunkSealers *lru.Cache[sealerKey, *format.ChunkSealer]
	// manifests keeps opened manifests of small files, by hash.
	manifests *lru.Cache[string, *format.Manifest]
	// manifestFetches joins an open to the fetch ahead of the same
	// manifest in flight: it is fetched and decoded once.
	manifestFetches singleflight.Group
	// aheadSlots bounds the fetches ahead of opens running at once (fetchAhead).
	aheadSlots chan struct{}

	chunkSize int
	rootKey   []byte // nil for a grantee, who holds only its shares' keys
	rootDom   *domain
	domains   map[format.ID]*domain // shared folders, by id
	opt       Options
	logf      func(string, ...any)
	obj       *objects.Store
	store     ObjectStore
	lock      *os.File // cache lock, held while open read-write

	mu         sync.Mutex // guards the tree: every node's metadata and dirty state
	root       *Node
	links      map[format.ID]*Node // files with several names, by id
	linksDirty bool
	linksHash  string             // the committed link table
	open       map[*Node]struct{} // files with content state
	dirty      bool
	headSeq    uint64
	headHash   string
	baseTree   string // root tree of the last head written or merged: the base of merges
	nextIno    uint64

	outbox *anchoring.Outbox // versions waiting for the ledger; nil without one
	events *anchoring.Events // audit events waiting for the ledger; nil without one
	// lane names this home's storage account of the volume on the ledger
	// (billing.go); unpaid is set while the owner's balance cannot pay
	// for more: writes get EDQUOT. laneMu keeps a reserve of the lane and
	// an anchor by it apart (they would conflict on the ledger).
	lane   string
	unpaid atomic.Bool
	laneMu sync.Mutex
	// loose are the audit events of a volume opened read-only (no event
	// queue) not sent yet.
	looseMu sync.Mutex
	loose   []network.Event

	ignored  map[string]bool // heads of shared folders left unmerged, reported once
	badHeads map[string]bool // heads that do not open (damaged, or cut short by a crash), reported once

	deniedMu sync.Mutex
	denied   map[format.ID]bool // nodes whose refused writes are on the ledger

	spaceMu sync.Mutex
	space   Space
	spaceAt time.Time

	changeMu sync.Mutex
	onChange func() // told when the tree changed other than through an operation

	commitMu sync.Mutex // one commit at a time
	stop     chan struct{}
	// commitSoon asks the committer for a commit before the next tick.
	commitSoon chan struct{}
	bg         sync.WaitGroup
	closed     bool
}

// reportHead logs, once per head, one that does not open: a writer killed
// while writing it leaves part of one, which every look for heads meets.
func (v *Volume) reportHead(name string, err error) {
	v.mu.Lock()
	seen := v.badHeads[name]
	v.badHeads[name] = true
	v.mu.Unlock()
	if !seen {
		v.logf("integrity: %v", err)
	}
}

// ReadConfig reads a volume's public config from store.
func ReadConfig(ctx context.Context, store ObjectStore) (Config, error) {
	c, err := readConfig(ctx, store)
	if err != nil {
		return Config{}, err
	}
	return publicConfig(c), nil
}

func readConfig(ctx context.Context, store ObjectStore) (*format.Config, error) {
	b, err := store.Get(ctx, format.ConfigName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoVolume
	}
	if err != nil {
		return nil, fmt.Errorf("reading volume config: %w", err)
	}
	var c format.Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("volume config is corrupt: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("volume config is corrupt: %w", err)
	}
	return &c, nil
}

// Create writes a new, empty volume to store. wrap encrypts the new root key
// for its owner (keyring's WrapKey); the result is stored with the config.
func Create(ctx context.Context, store ObjectStore, wrap func(key []byte) ([]byte, error), opt CreateOptions) (Config, error) {
	if _, err := readConfig(ctx, store); err == nil {
		return Config{}, errors.New("the remote already holds an anchorfs volume")
	} else if !errors.Is(err, ErrNoVolume) {
		return Config{}, err
	}
	if opt.ChunkSize == 0 {
		opt.ChunkSize = format.DefaultChunkSize
	}
	if opt.Format == 0 {
		opt.Format = format.Version
	}
	key := make([]byte, format.KeySize)
	if _, err := rand.Read(key); err != nil {
		return Config{}, err
	}
	wrapped, err := wrap(key)
	if err != nil {
		return Config{}, fmt.Errorf("wrapping the volume key: %w", err)
	}
	id := format.NewID()
	c := format.Config{
		Format:    opt.Format,
		Volume:    id.String(),
		ChunkSize: opt.ChunkSize,
		Created:   time.Now().UTC().Format(time.RFC3339),
		KeyCheck:  format.KeyCheck(key, id),
		OwnerKey:  wrapped,
		Ledger:    opt.Ledger,
	}
	if opt.LedgerSpec != "" {
		c.LedgerSpec = format.Seal(format.MetaKey(key, id), format.LedgerAAD(id), []byte(opt.LedgerSpec))
	}
	var nodes []objects.Remote
	if opt.Shards.N() > 0 {
		set, ok := store.(objects.Several)
		if !ok || len(set.Nodes()) != opt.Shards.N() {
			return Config{}, fmt.Errorf("shards %s need %d remotes", opt.Shards, opt.Shards.N())
		}
		if c.Format < format.Version {
			return Config{}, fmt.Errorf("shards need format %d", format.Version)
		}
		nodes = set.Nodes()
		c.DataShards, c.ParityShards = opt.Shards.K, opt.Shards.M
		for range nodes {
			c.Nodes = append(c.Nodes, format.NewID().String())
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	for j, r := range nodes {
		b, _ := json.Marshal(format.NodeMarker{Volume: c.Volume, Node: c.Nodes[j]})
		if err := r.Replace(ctx, format.NodeName, b); err != nil {
			return Config{}, fmt.Errorf("node %d: %w", j+1, err)
		}
	}
	// The first head comes before the config: a volume whose config exists is complete.
	now := time.Now().UnixNano()
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	dirID := format.NewID()
	empty := format.Encode(format.Dir{Format: format.MetaVersion, Dir: dirID.String(), Entries: []format.Entry{}})
	metaKey := format.MetaKey(key, id)
	dirObj := format.Seal(metaKey, format.DirAAD(id, dirID), empty)
	dh := format.HashOf(dirObj)
	if err := store.Put(ctx, format.ObjectName(dh), dirObj); err != nil {
		return Config{}, err
	}
	head := format.Head{Format: format.MetaVersion, Volume: id.String(), Seq: 1, Time: now, Root: format.Entry{
		Name: "", ID: dirID.String(), Type: format.TypeDir, Mode: 0o755, UID: uid, GID: gid, Mtime: now, Ctime: now, Tree: dh.String(),
	}}
	headObj := format.Seal(metaKey, format.HeadAAD(id), format.Encode(head))
	if err := store.Put(ctx, format.HeadName(format.HashOf(headObj)), headObj); err != nil {
		return Config{}, err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := store.Put(ctx, format.ConfigName, b); err != nil {
		return Config{}, err
	}
	if err := objects.Flush(ctx, store); err != nil {
		return Config{}, err
	}
	return publicConfig(&c), nil
}

// LedgerSpec is where the home that created the volume reached its ledger
// ("" when the config does not say), read with the volume's key.
func LedgerSpec(ctx context.Context, store ObjectStore, unwrap func(wrapped []byte) ([]byte, error)) (string, error) {
	c, err := readConfig(ctx, store)
	if err != nil {
		return "", err
	}
	if len(c.LedgerSpec) == 0 {
		return "", nil
	}
	id, _ := format.ParseID(c.Volume)
	key, err := unwrap(c.OwnerKey)
	if err != nil {
		return "", fmt.Errorf("opening the volume key: %w", err)
	}
	spec, err := format.Open(format.MetaKey(key, id), format.LedgerAAD(id), c.LedgerSpec)
	if err != nil {
		return "", fmt.Errorf("volume config is corrupt: its ledger spec does not open: %w", err)
	}
	return string(spec), nil
}

// Open opens the volume on store; unwrap recovers the root key from the
// wrapped copy stored with the config (keyring's Identity.UnwrapKey).
func Open(ctx context.Context, store ObjectStore, unwrap func(wrapped []byte) ([]byte, error), opt Options) (*Volume, error) {
	c, err := readConfig(ctx, store)
	if err != nil {
		return nil, err
	}
	if err := checkLedger(c, opt); err != nil {
		return nil, err
	}
	id, _ := format.ParseID(c.Volume)
	key, err := unwrap(c.OwnerKey)
	if err != nil {
		return nil, fmt.Errorf("opening the volume key: %w", err)
	}
	if len(key) != format.KeySize || subtle.ConstantTimeCompare([]byte(format.KeyCheck(key, id)), []byte(c.KeyCheck)) != 1 {
		return nil, ErrWrongKey
	}
	v := newVolume(id, c, key, store, opt)
	if err := v.start(ctx, v.loadHead); err != nil {
		return nil, err
	}
	return v, nil
}

func newVolume(id format.ID, c *format.Config, rootKey []byte, store ObjectStore, opt Options) *Volume {
	logf := opt.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if opt.CommitInterval == 0 {
		opt.CommitInterval = 5 * time.Second
	}
	v := &Volume{
		id: id, chunkSealers: newSealerCache(), aheadSlots: make(chan struct{}, fetchAheadWorkers), manifests: newManifestCache(), chunkSize: c.ChunkSize, rootKey: rootKey, domains: map[format.ID]*domain{}, ignored: map[string]bool{},
		opt: opt, logf: logf, store: store, links: map[format.ID]*Node{}, open: map[*Node]struct{}{}, nextIno: 2,
		stop: make(chan struct{}), commitSoon: make(chan struct{}, 1), badHeads: map[string]bool{},
	}
	v.layout.Store(int32(c.Format))
	if len(c.Nodes) > 0 {
		v.shards = shards.Layout{K: c.DataShards, M: c.ParityShards}
		v.nodeIDs = c.Nodes
	}
	v.rootDom = &domain{keys: map[uint32][]byte{}, metas: map[uint32][]byte{}}
	if rootKey != nil {
		v.rootDom.keys[0] = rootKey
	}
	return v
}

// start takes the cache, loads the tree and starts the background work.
func (v *Volume) start(ctx context.Context, load func(context.Context) error) error {
	opt := v.opt
	if !opt.ReadOnly {
		if opt.CacheDir == "" {
			return errors.New("volume: no cache folder given")
		}
		if err := v.lockCache(); err != nil {
			return err
		}
	}
	spill := ""
	if !opt.ReadOnly {
		spill = filepath.Join(opt.CacheDir, "writeback")
	}
	nodes := []objects.Backend{v.store}
	if set, ok := v.store.(objects.Several); ok {
		set.SetStored(v.storedNodes(len(set.Nodes())))
		nodes = nodes[:0]
		for _, r := range set.Nodes() {
			nodes = append(nodes, r)
		}
	}
	if len(nodes) != max(len(v.nodeIDs), 1) {
		return fmt.Errorf("volume %s has %d storage nodes; %d remotes given", v.id, max(len(v.nodeIDs), 1), len(nodes))
	}
	v.obj = objects.New(objects.Config{Spill: spill, Budget: opt.MemoryBudget, Layout: v.shards, Stored: v.storedNodes(len(nodes)), OnIntegrity: v.nodeIntegrity, Logf: v.logf}, nodes...)
	if err := load(ctx); err != nil {
		v.obj.Close()
		v.unlockCache()
		return err
	}
	if !opt.ReadOnly {
		if opt.Ledger != nil {
			var ob *anchoring.Outbox
			var events *anchoring.Events
			var err error
			v.lane, err = laneID(opt.CacheDir)
			if err == nil {
				ob, err = anchoring.Open(opt.CacheDir, v.headExists, v.logf)
			}
			if err == nil {
				if events, err = anchoring.OpenEvents(opt.CacheDir); err != nil {
					ob.Close()
				}
			}
			if err != nil {
				v.obj.Close()
				v.unlockCache()
				return err
			}
			v.outbox = ob
			// Events recorded while the volume loaded go into the queue.
			v.looseMu.Lock()
			early := v.loose
			v.events, v.loose = events, nil
			v.looseMu.Unlock()
			for _, e := range early {
				events.Add(e)
			}
			v.bg.Add(3)
			go v.anchorer()
			go v.eventSender()
			go v.biller()
			if f, ok := opt.Ledger.(network.Follower); ok {
				v.bg.Add(1)
				go v.follow(f)
			}
		}
		v.bg.Add(1)
		go v.committer()
		if v.hasParked() {
			v.bg.Add(1)
			go func() { // a previous close parked changes: up with them now
				defer v.bg.Done()
				if err := v.commit(context.Background()); err != nil {
					v.logf("uploading what the last mount left queued: %v (trying again every commit interval)", err)
				}
			}()
		}
	}
	return nil
}

// storedNodes is how many of n storage nodes must hold an object for it
// to count as stored: the layout's quorum, or every node when chunks go
// whole to each.
func (v *Volume) storedNodes(n int) int {
	if v.shards.N() == 0 {
		return n
	}
	return v.shards.Stored(v.opt.StoredAll)
}

// headExists tells whether head name is on the store whole (a process
// killed while writing it may leave part of it), or parked in the cache.
func (v *Volume) headExists(name string) bool {
	if _, err := os.Stat(v.parkedPath(name)); err == nil {
		return true
	}
	h, err := format.ParseHash(path.Base(name))
	if err != nil {
		return false
	}
	b, err := v.store.Get(context.Background(), name)
	return err == nil && format.HashOf(b) == h
}

func (v *Volume) lockCache() error {
	if err := os.MkdirAll(v.opt.CacheDir, 0o700); err != nil {
		return fmt.Errorf("cache folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(v.opt.CacheDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("cache folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("volume %s is already open by another process (cache %s)", v.id, v.opt.CacheDir)
	}
	v.lock = f
	return nil
}

func (v *Volume) unlockCache() {
	if v.lock != nil {
		v.lock.Close()
		v.lock = nil
	}
}

// OnChange sets fn to be called (outside the tree lock) whenever the tree
// changes other than through an operation on it: another writer's head
// merged or taken, a share shown, hidden or refreshed, a version taken from
// the ledger, a conflict copy made. A mount uses it to drop what the
// kernel caches.
func (v *Volume) OnChange(fn func()) {
	v.changeMu.Lock()
	v.onChange = fn
	v.changeMu.Unlock()
}

// changed tells OnChange's function. Called without the tree lock.
func (v *Volume) changed() {
	v.changeMu.Lock()
	fn := v.onChange
	v.changeMu.Unlock()
	if fn != nil {
		fn()
	}
}

// Child is the node name holds in folder dir now; nil for none, or when
// dir's entries are not in memory.
func (v *Volume) Child(dir *Node, name string) *Node {
	v.mu.Lock()
	defer v.mu.Unlock()
	if dir.entries == nil {
		return nil
	}
	return dir.entries[name]
}

// ID is the volume's id.
func (v *Volume) ID() string { return v.id.String() }

// ChunkSize is the plaintext size of a chunk.
func (v *Volume) ChunkSize() int { return v.chunkSize }

// writeFormat is the volume's format: what new versions are written in.
func (v *Volume) writeFormat() int { return int(v.layout.Load()) }

// Stats reports pending work.
func (v *Volume) Stats() Stats {
	n, b := v.obj.Stats()
	st := Stats{PendingUploads: n, PendingBytes: b}
	if err := v.obj.FailingErr(); err != nil {
		st.Waiting = err.Error()
	}
	if v.outbox != nil {
		st.PendingAnchors = v.outbox.Len()
	}
	return st
}

// Full reports whether the remote has refused uploads for want of room:
// new files and writes get ENOSPC until an upload succeeds again.
func (v *Volume) Full() bool { return v.obj.Full() }

// Space is the room a mount reports (df): the remote's, when its backend
// tells it, else the cache disk's.
type Space struct {
	Source           string `json:"source"` // "remote" or "cache disk"
	Total            int64  `json:"total"`
	Free             int64  `json:"free"`
	Files, FilesFree uint64 `json:"-"`
}

// SpaceReporter is an ObjectStore that can tell its total and free bytes;
// ok is false when its backend does not say.
type SpaceReporter interface {
	Space(ctx context.Context) (total, free int64, ok bool, err error)
}

// spaceTTL is how long a remote's answer about its space is reused: df
// and file managers ask often, and a network remote answers slowly.
const spaceTTL = 10 * time.Second

// Space reports the volume's room.
func (v *Volume) Space(ctx context.Context) (Space, error) {
	v.spaceMu.Lock()
	defer v.spaceMu.Unlock()
	if time.Since(v.spaceAt) < spaceTTL {
		return v.space, nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(v.CacheDir(), &st); err != nil {
		return Space{}, err
	}
	bs := int64(st.Bsize)
	sp := Space{Source: "cache disk", Total: int64(st.Blocks) * bs, Free: int64(st.Bavail) * bs,
		Files: uint64(st.Files), FilesFree: uint64(st.Ffree)}
	if r, ok := v.store.(SpaceReporter); ok {
		if total, free, ok, err := r.Space(ctx); err == nil && ok {
			sp.Source, sp.Total, sp.Free = "remote", total, free
		}
	}
	v.space, v.spaceAt = sp, time.Now()
	return sp, nil
}

// Sync returns once everything written so far is on the remote and
// anchored, and the audit events so far are on the ledger.
func (v *Volume) Sync(ctx context.Context, progress func(Progress)) error {
	if v.opt.ReadOnly {
		return nil
	}
	if err := v.flushOpenFiles(); err != nil {
		return err
	}
	if progress != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			n0, b0 := v.obj.Stats()
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					n, b := v.obj.Stats()
					n0, b0 = max(n0, n), max(b0, b)
					progress(Progress{Phase: "uploading", Done: int64(n0 - n), Total: int64(n0), Bytes: b0 - b, TotalBytes: b0})
				}
			}
		}()
	}
	if err := v.commit(ctx); err != nil {
		return err
	}
	if v.outbox != nil {
		var report func(done, total int64)
		if progress != nil {
			report = func(done, total int64) { progress(Progress{Phase: "anchoring", Done: done, Total: total}) }
		}
		if err := v.outbox.Wait(ctx, report); err != nil {
			return err
		}
	}
	if v.events != nil {
		return v.events.Flush(ctx, v.recordEvents, v.logf)
	}
	return nil
}

// closeAnchorWait is how long Close gives the ledger to take what is still
// in the outbox; the rest stays in the outbox for the next mount or sync.
const closeAnchorWait = 10 * time.Second

// Close flushes everything and releases the volume.
func (v *Volume) Close(ctx context.Context) error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	v.closed = true
	v.mu.Unlock()
	var err error
	if !v.opt.ReadOnly {
		if ferr := v.flushOpenFiles(); ferr != nil {
			err = ferr
		}
		parked := false
		if cerr := v.commit(ctx); cerr != nil {
			// The store does not take uploads: what is queued, and the
			// tree that names it, wait in the cache for the next open.
			parked = true
			if perr := v.commitTo(ctx, true); perr != nil && err == nil {
				err = fmt.Errorf("%v; keeping it in the cache failed too: %w", cerr, perr)
			}
		}
		if v.outbox != nil && parked {
			v.logf("%d versions stay in the outbox for the next mount or sync", v.outbox.Len())
		} else if v.outbox != nil {
			wctx, cancel := context.WithTimeout(ctx, closeAnchorWait)
			if werr := v.outbox.Wait(wctx, nil); werr != nil {
				v.logf("%d versions stay in the outbox for the next mount or sync: %v", v.outbox.Len(), werr)
			}
			cancel()
		}
	}
	if v.opt.Ledger != nil { // a volume opened read-only, or events from before the queue opened
		wctx, cancel := context.WithTimeout(ctx, closeAnchorWait)
		v.flushLoose(wctx)
		cancel()
	}
	if v.events != nil {
		wctx, cancel := context.WithTimeout(ctx, closeAnchorWait)
		if werr := v.events.Flush(wctx, v.recordEvents, v.logf); werr != nil {
			v.logf("%d audit events stay in the cache for the next mount or sync: %v", v.events.Len(), werr)
		}
		cancel()
	}
	close(v.stop)
	v.bg.Wait()
	if v.outbox != nil {
		v.outbox.Close()
	}
	if v.events != nil {
		v.events.Close()
	}
	v.obj.Close()
	v.unlockCache()
	return err
}

// earlyCommitSpacing is how many times the last early commit's duration
// the next waits at least.
const earlyCommitSpacing = 4

// committer commits dirty metadata in the background, and looks for the
// heads other writers commit (other homes of the owner, grantees of shared
// folders this writer may write): an idle mount shows their changes within
// the commit interval. A look that finds nothing costs one listing.
func (v *Volume) committer() {
	defer v.bg.Done()
	t := time.NewTicker(v.opt.CommitInterval)
	defer t.Stop()
	var lastEnd time.Time
	var lastTook time.Duration
	for {
		select {
		case <-v.stop:
			return
		case <-v.commitSoon:
			// An early commit waits four times as long as the last one took
			// (a huge folder is sealed whole at each commit): commits take at
			// most a fifth of the time, however fast versions come. Every
			// version added meanwhile asks again.
			if time.Since(lastEnd) < earlyCommitSpacing*lastTook {
				continue
			}
			start := time.Now()
			err := v.commit(context.Background())
			lastEnd = time.Now()
			lastTook = lastEnd.Sub(start)
			if err != nil {
				// Not again before the next tick: a remote that refuses
				// fast is not asked at every version.
				lastTook = max(lastTook, v.opt.CommitInterval/earlyCommitSpacing)
				v.logf("background commit: %v", err)
			}
		case <-t.C:
			if v.rootKey == nil && v.opt.Shares != nil {
				v.refreshGrants(context.Background())
			}
			v.refreshReadOnlyShares(context.Background())
			v.mu.Lock()
			look := v.dirty || v.rootKey != nil || v.sharesWritable()
			v.mu.Unlock()
			if look {
				if err := v.commit(context.Background()); err != nil {
					v.logf("background commit: %v", err)
				}
			}
		}
	}
}

// CacheDir is the volume's local state folder.
func (v *Volume) CacheDir() string {
	if v.opt.CacheDir == "" {
		return "/"
	}
	return v.opt.CacheDir
}
