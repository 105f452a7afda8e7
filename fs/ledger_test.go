package fs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/fs"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/embedded"
)

// home is one user's identity and a ledger handle on a ledger folder.
type home struct {
	id     *keyring.Identity
	ledger *embedded.Ledger
}

func newHome(t *testing.T, id *keyring.Identity, ledgerDir string) home {
	if id == nil {
		var err error
		if id, err = keyring.Create(t.TempDir(), nil); err != nil {
			t.Fatal(err)
		}
	}
	l, err := embedded.Open(ledgerDir, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return home{id: id, ledger: l}
}

// mount mounts the volume on store with this home's ledger.
func (h home) mount(t *testing.T, store volume.ObjectStore) *mounted {
	return h.mountWith(t, store, h.ledger)
}

func (h home) mountWith(t *testing.T, store volume.ObjectStore, l network.Ledger) *mounted {
	register(store, h.ledger)
	return mountFull(t, store, volume.Options{CacheDir: t.TempDir(), Ledger: l, Actor: h.id.Public().LedgerID(), Host: "h" + h.id.Public().LedgerID()[9:13], Logf: t.Logf},
		selfUnwrap, fs.MountOptions{Logf: t.Logf})
}

// headless is a ledger with no heads anchored, as for a volume whose
// versions an earlier build anchored: only file versions are checked.
type headless struct{ network.Ledger }

func (headless) LatestHead(context.Context, string, string) (network.Head, error) {
	return network.Head{}, network.ErrNotFound
}

func TestVersionsAreAnchored(t *testing.T) {
	ctx := context.Background()
	store := newTestStore(t)
	newVolume(t, store)
	h := newHome(t, nil, t.TempDir())
	m := h.mount(t, store)
	os.WriteFile(m.path("f"), []byte("one"), 0o644)
	os.WriteFile(m.path("f"), []byte("two"), 0o644)
	if err := m.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	id, _ := m.vol.FileID("/f")
	latest, err := h.ledger.Latest(ctx, m.vol.ID(), id)
	if err != nil {
		t.Fatal(err)
	}
	hist, _ := h.ledger.History(ctx, m.vol.ID(), id)
	if len(hist) != int(latest.Version) || latest.Actor != h.id.Public().LedgerID() {
		t.Fatalf("latest %+v, %d versions in history", latest, len(hist))
	}
	evs, _ := h.ledger.Audit(ctx, network.AuditQuery{Volume: m.vol.ID(), File: id, Action: "anchor"})
	if len(evs) != len(hist) {
		t.Fatalf("%d anchor events for %d versions", len(evs), len(hist))
	}
	if f, err := m.vol.Verify(ctx, "/", nil); err != nil || len(f) != 0 {
		t.Fatalf("verify: %+v %v", f, err)
	}
	if st := m.vol.Stats(); st.PendingAnchors != 0 {
		t.Fatalf("after sync %d anchors pending", st.PendingAnchors)
	}
}

// TestRollbackIsDetected restores an older copy of the whole remote: the
// volume does not open (its heads are older than the anchored ones); and
// without heads on the ledger, the ledger still knows the newer version of
// the file, so reading it fails with EIO and verify names it, rather than
// serving the old bytes.
func TestRollbackIsDetected(t *testing.T) {
	ctx := context.Background()
	store := newTestStore(t)
	newVolume(t, store)
	h := newHome(t, nil, t.TempDir())
	m := h.mount(t, store)
	os.WriteFile(m.path("ledgered"), []byte("version one"), 0o644)
	os.WriteFile(m.path("other"), []byte("untouched"), 0o644)
	if err := m.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	old := t.TempDir()
	exec.Command("cp", "-a", store.root+"/.", old).Run()
	os.WriteFile(m.path("ledgered"), []byte("version two"), 0o644)
	m.unmount()

	exec.Command("rm", "-rf", store.root).Run()
	exec.Command("cp", "-a", old, store.root).Run()
	_, err := volume.Open(ctx, store, selfUnwrap, volume.Options{CacheDir: t.TempDir(), Ledger: h.ledger})
	var rb *volume.RollbackError
	if !errors.As(err, &rb) || rb.Volume != m.vol.ID() || rb.Domain != "" {
		t.Fatalf("opening a remote rolled back: %v", err)
	}
	m2 := h.mountWith(t, store, headless{h.ledger})
	got, err := os.ReadFile(m2.path("ledgered"))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("a rolled back file read %q, %v; want EIO", got, err)
	}
	if got, err := os.ReadFile(m2.path("other")); err != nil || string(got) != "untouched" {
		t.Fatalf("an untouched file: %q %v", got, err)
	}
	findings, _ := m2.vol.Verify(ctx, "/", nil)
	if len(findings) != 1 || findings[0].Path != "/ledgered" || !strings.Contains(findings[0].Problem, "rolled back") {
		t.Fatalf("verify after a rollback: %+v", findings)
	}
	id, _ := m2.vol.FileID("/ledgered")
	// The event is recorded in the background: wait for it.
	var evs []network.Event
	for i := 0; i < 100 && len(evs) == 0; i++ {
		evs, _ = h.ledger.Audit(ctx, network.AuditQuery{Volume: m2.vol.ID(), File: id, Action: "integrity"})
		if len(evs) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(evs) == 0 {
		t.Fatal("no integrity event on the ledger")
	}
}

// TestConcurrentWritesMakeAConflictCopy: two homes with the same keys write
// the same file; the ledger takes the first, the second becomes a conflict
// copy, and nothing is lost.
func TestConcurrentWritesMakeAConflictCopy(t *testing.T) {
	ctx := context.Background()
	store := newTestStore(t)
	newVolume(t, store)
	ledgerDir := t.TempDir()
	a := newHome(t, nil, ledgerDir)
	b := newHome(t, a.id, ledgerDir)
	setup := a.mount(t, store)
	os.WriteFile(setup.path("shared.txt"), []byte("base"), 0o644)
	setup.unmount()

	ma, mb := a.mount(t, store), b.mount(t, store)
	// b has the file open while a writes and anchors a new version.
	fb, err := os.OpenFile(mb.path("shared.txt"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ma.path("shared.txt"), []byte("written by a"), 0o644)
	if err := ma.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	fb.WriteAt([]byte("written by b"), 0)
	fb.Close()
	for _, m := range []*mounted{mb, ma, mb} {
		if err := m.vol.Sync(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	ma.unmount()
	mb.unmount()
	c := a.mount(t, store)
	entries, _ := os.ReadDir(c.dir)
	contents := map[string]string{}
	for _, e := range entries {
		b, _ := os.ReadFile(c.path(e.Name()))
		contents[e.Name()] = string(b)
	}
	if contents["shared.txt"] != "written by a" {
		t.Fatalf("the first anchored version lost its name: %q", contents)
	}
	var copies []string
	for name, content := range contents {
		if strings.HasPrefix(name, "shared (conflict ") && strings.HasSuffix(name, ").txt") && content == "written by b" {
			copies = append(copies, name)
		}
	}
	if len(copies) != 1 || len(contents) != 2 {
		t.Fatalf("want shared.txt and one conflict copy with b's content: %q", contents)
	}
	if f, err := c.vol.Verify(ctx, "/", nil); err != nil || len(f) != 0 {
		t.Fatalf("verify: %+v %v", f, err)
	}
}

// countingLedger counts the ledger's answers about file versions.
type countingLedger struct {
	network.Ledger
	latest, many atomic.Int64
}

func (c *countingLedger) Latest(ctx context.Context, volume, file string) (network.Anchor, error) {
	c.latest.Add(1)
	return c.Ledger.Latest(ctx, volume, file)
}

func (c *countingLedger) LatestMany(ctx context.Context, volume string, files []string) ([]network.Anchor, error) {
	c.many.Add(1)
	return c.Ledger.LatestMany(ctx, volume, files)
}

// TestOpeningAFoldersFilesAsksTheLedgerOnce: a mount that has never checked
// a folder's files asks the ledger about them in batches of 512 at the
// first open (the first batch for the open, the next ones in the
// background ahead of the reader), and opening the others costs no round
// trip of its own. (A file the remote serves older than the ledger's is
// still caught at its own open: TestRollbackIsDetected.)
func TestOpeningAFoldersFilesAsksTheLedgerOnce(t *testing.T) {
	const files = 1300 // three batches
	ctx := context.Background()
	store := newTestStore(t)
	newVolume(t, store)
	h := newHome(t, nil, t.TempDir())
	m := h.mount(t, store)
	os.Mkdir(m.path("d"), 0o755)
	for i := range files {
		os.WriteFile(m.path(fmt.Sprintf("d/%04d", i)), []byte(fmt.Sprint("file ", i)), 0o644)
	}
	if err := m.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	m.unmount()

	counted := &countingLedger{Ledger: h.ledger}
	m = h.mountWith(t, store, counted)
	for i := range files {
		if b, err := os.ReadFile(m.path(fmt.Sprintf("d/%04d", i))); err != nil || string(b) != fmt.Sprint("file ", i) {
			t.Fatalf("d/%04d: %q %v", i, b, err)
		}
	}
	if l, n := counted.latest.Load(), counted.many.Load(); l != 0 || n != 3 {
		t.Fatalf("opening %d files of a folder asked the ledger %d times one by one and %d at once, want 0 and 3", files, l, n)
	}
}

// TestAFullBatchGoesToTheLedgerBeforeTheCommitTick: once a ledger batch of
// versions waits for a commit, the mount commits at once, so that
// anchoring runs beside the writes rather than all at the next sync.
func TestAFullBatchGoesToTheLedgerBeforeTheCommitTick(t *testing.T) {
	ctx := context.Background()
	store := newTestStore(t)
	newVolume(t, store)
	h := newHome(t, nil, t.TempDir())
	register(store, h.ledger)
	m := mountFull(t, store, volume.Options{CacheDir: t.TempDir(), Ledger: h.ledger, Actor: h.id.Public().LedgerID(), CommitInterval: time.Hour, Logf: t.Logf},
		selfUnwrap, fs.MountOptions{Logf: t.Logf})
	for i := range wire.BatchSize {
		if err := os.WriteFile(m.path(fmt.Sprintf("f%d", i)), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	id, _ := m.vol.FileID("/f0")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if a, err := h.ledger.Latest(ctx, m.vol.ID(), id); err == nil && a.Version == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d versions written, none anchored a minute later (commit interval an hour)", wire.BatchSize)
		}
	}
}
