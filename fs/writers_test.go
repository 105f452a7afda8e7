package fs_test

import (
	"context"
	"fmt"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/fs"
	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/volume"
)

// TestTwoWritersMerge mounts one volume twice (two homes with the same key)
// and changes it from both: after both commit, a fresh mount sees every
// change, deletions included, and a name both created keeps both files.
func TestTwoWritersMerge(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	ctx := context.Background()
	setup := mount(t, store, t.TempDir())
	for _, f := range []string{"x", "y", "f"} {
		os.WriteFile(setup.path(f), []byte("base "+f), 0o644)
	}
	setup.unmount()

	a := mount(t, store, t.TempDir())
	b := mount(t, store, t.TempDir())
	os.WriteFile(a.path("a.txt"), []byte("from a"), 0o644)
	os.WriteFile(b.path("b.txt"), []byte("from b"), 0o644)
	os.Remove(a.path("x"))
	os.WriteFile(b.path("y"), []byte("changed by b"), 0o644)
	os.WriteFile(a.path("same"), []byte("a's same"), 0o644)
	os.WriteFile(b.path("same"), []byte("b's same"), 0o644)
	os.WriteFile(a.path("f"), []byte("a's f"), 0o644)
	os.WriteFile(b.path("f"), []byte("b's f"), 0o644)
	for _, m := range []*mounted{a, b, a} {
		if err := m.vol.Sync(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	a.unmount()
	b.unmount()

	c := mount(t, store, t.TempDir())
	read := func(p string) string {
		b, err := os.ReadFile(c.path(p))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	if got := read("a.txt"); got != "from a" {
		t.Errorf("a.txt: %s", got)
	}
	if got := read("b.txt"); got != "from b" {
		t.Errorf("b.txt: %s", got)
	}
	if _, err := os.Stat(c.path("x")); !os.IsNotExist(err) {
		t.Errorf("x, removed by a, is back: %v", err)
	}
	if got := read("y"); got != "changed by b" {
		t.Errorf("y: %s", got)
	}
	names, _ := os.ReadDir(c.dir)
	var sames, fs []string
	for _, e := range names {
		switch {
		case strings.HasPrefix(e.Name(), "same"):
			sames = append(sames, read(e.Name()))
		case strings.HasPrefix(e.Name(), "f"):
			fs = append(fs, read(e.Name()))
		}
	}
	if len(sames) != 2 || !strings.Contains(strings.Join(sames, "|"), "a's same") || !strings.Contains(strings.Join(sames, "|"), "b's same") {
		t.Errorf("both writers created 'same': %q", sames)
	}
	if len(fs) != 2 || !strings.Contains(strings.Join(fs, "|"), "a's f") || !strings.Contains(strings.Join(fs, "|"), "b's f") {
		t.Errorf("both writers wrote f: %q", fs)
	}
}

// TestALeftoverHeadLosesNothing: a head that should have been removed (its
// removal failed, or a writer crashed just after writing its successor) is
// still on the remote beside the newest. Whoever opens the volume next
// merges it without taking the files it lacks as removed.
func TestALeftoverHeadLosesNothing(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	ctx := context.Background()
	m := mount(t, store, t.TempDir())
	os.WriteFile(m.path("old.txt"), []byte("old"), 0o644)
	if err := m.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	heads := filepath.Join(store.root, "heads")
	saved := t.TempDir()
	exec.Command("cp", "-a", heads+"/.", saved).Run()
	os.WriteFile(m.path("new.txt"), []byte("new"), 0o644)
	if err := m.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	m.unmount()
	exec.Command("cp", "-a", saved+"/.", heads).Run() // the older head comes back
	if n, _ := os.ReadDir(heads); len(n) != 2 {
		t.Fatalf("%d heads, want the newest and the leftover", len(n))
	}
	m2 := mount(t, store, t.TempDir())
	os.WriteFile(m2.path("later.txt"), []byte("later"), 0o644)
	if err := m2.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"old.txt", "new.txt", "later.txt"} {
		if _, err := os.Stat(m2.path(f)); err != nil {
			t.Fatalf("after merging a leftover head: %v", err)
		}
	}
	m2.unmount()
	m3 := mount(t, store, t.TempDir())
	if _, err := os.Stat(m3.path("new.txt")); err != nil {
		t.Fatalf("after a remount: %v", err)
	}
}

// TestARemovalSurvivesAWriterThatMovedOn: one writer commits twice while
// the other, still on the first head, removes a file. The second writer
// recognises the first's newest head as following its own (heads carry
// their ancestry), merges three ways, and the removal stands, with both of
// the first writer's new files.
func TestARemovalSurvivesAWriterThatMovedOn(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	ctx := context.Background()
	setup := mount(t, store, t.TempDir())
	os.WriteFile(setup.path("z"), []byte("to be removed"), 0o644)
	setup.unmount()
	a := mount(t, store, t.TempDir())
	b := mount(t, store, t.TempDir())
	for _, f := range []string{"n1", "n2"} {
		os.WriteFile(a.path(f), []byte(f), 0o644)
		if err := a.vol.Sync(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(b.path("z")); err != nil {
		t.Fatal(err)
	}
	if err := b.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	a.unmount()
	b.unmount()
	c := mount(t, store, t.TempDir())
	if _, err := os.Stat(c.path("z")); !os.IsNotExist(err) {
		t.Fatalf("the removed file came back: %v", err)
	}
	for _, f := range []string{"n1", "n2"} {
		if _, err := os.Stat(c.path(f)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAnotherWritersChangeReachesTheKernelAtOnce: a mount whose kernel
// trusts names and attributes for an hour still shows another writer's
// changes (a new size, a new name, a removed one) once it has merged that
// writer's head: the mount tells the kernel (Notify).
func TestAnotherWritersChangeReachesTheKernelAtOnce(t *testing.T) {
	ctx := context.Background()
	store := newTestStore(t)
	newVolume(t, store)
	a := mount(t, store, t.TempDir())
	os.WriteFile(a.path("f"), []byte("one"), 0o644)
	os.WriteFile(a.path("gone"), []byte("x"), 0o644)
	if err := a.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b := mountFull(t, store, volume.Options{CacheDir: t.TempDir(), CommitInterval: 200 * time.Millisecond, Logf: t.Logf},
		selfUnwrap, fs.MountOptions{CacheTimeout: time.Hour})
	if st, err := os.Stat(b.path("f")); err != nil || st.Size() != 3 {
		t.Fatalf("b stats f: %v %v", st, err)
	}
	if _, err := os.Stat(b.path("gone")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.path("new")); !os.IsNotExist(err) { // now cached as absent, for an hour
		t.Fatal(err)
	}
	os.WriteFile(a.path("f"), []byte("version two"), 0o644)
	os.Remove(a.path("gone"))
	os.WriteFile(a.path("new"), []byte("new"), 0o644)
	if err := a.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var size int64
	var goneErr, newErr error
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		st, err := os.Stat(b.path("f"))
		if err == nil {
			size = st.Size()
		}
		_, goneErr = os.Stat(b.path("gone"))
		_, newErr = os.Stat(b.path("new"))
		if size == 11 && os.IsNotExist(goneErr) && newErr == nil {
			return
		}
	}
	t.Fatalf("b, with the kernel's cache of an hour, sees f of %d bytes, gone: %v, new: %v", size, goneErr, newErr)
}

// gatedStore, while armed, fails the first Get of each folder or file
// object and holds the next until it is opened (and disarmed): a remote
// that drops requests, then stalls.
type gatedStore struct {
	volume.ObjectStore
	mu     sync.Mutex
	armed  bool
	failed map[string]bool
	held   chan struct{} // a Get waits here
	open   chan struct{} // closed: Gets go through
}

func (g *gatedStore) Get(ctx context.Context, name string) ([]byte, error) {
	g.mu.Lock()
	armed := g.armed && strings.HasPrefix(name, format.ObjectsDir+"/")
	first := armed && !g.failed[name]
	if first {
		g.failed[name] = true
	}
	g.mu.Unlock()
	if first {
		return nil, &iofs.PathError{Op: "get", Path: name, Err: iofs.ErrNotExist}
	}
	if armed {
		select {
		case g.held <- struct{}{}:
		default:
		}
		<-g.open
	}
	return g.ObjectStore.Get(ctx, name)
}

// TestAMergeFetchesWithoutTheTreeLock: merging another writer's head needs
// folder objects this mount has not fetched, and the fetch before the merge
// fails; while the merge's own fetch of them waits on a stalled remote, stat,
// listing and reading of what the mount has loaded complete. The merge then
// takes the other writer's change.
func TestAMergeFetchesWithoutTheTreeLock(t *testing.T) {
	ctx := context.Background()
	store := newTestStore(t)
	newVolume(t, store)
	setup := mount(t, store, t.TempDir())
	if err := os.MkdirAll(setup.path("deep/a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(setup.path("deep/a/b/f"), []byte("one"), 0o644)
	os.WriteFile(setup.path("top.txt"), []byte("top"), 0o644)
	setup.unmount()

	gated := &gatedStore{ObjectStore: store, failed: map[string]bool{}, held: make(chan struct{}, 1), open: make(chan struct{})}
	opened := false
	release := func() {
		if !opened {
			opened = true
			gated.mu.Lock()
			gated.armed = false
			gated.mu.Unlock()
			close(gated.open)
		}
	}
	defer release()
	a := mount(t, gated, t.TempDir())
	if b, err := os.ReadFile(a.path("top.txt")); err != nil || string(b) != "top" {
		t.Fatalf("a reads top.txt: %q %v", b, err)
	}
	other := mount(t, store, t.TempDir())
	os.WriteFile(other.path("deep/a/b/f"), []byte("two, from the other writer"), 0o644)
	if err := other.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}

	gated.mu.Lock()
	gated.armed = true
	gated.mu.Unlock()
	synced := make(chan error, 1)
	go func() { synced <- a.vol.Sync(ctx, nil) }()
	select {
	case <-gated.held:
	case err := <-synced:
		t.Fatalf("the merge did not fetch the other writer's folders: %v", err)
	}
	// A deadlock, not a speed: each call completes, or hangs until the
	// remote opens (and the test fails).
	done := make(chan error, 1)
	go func() {
		if _, err := os.Stat(a.path("top.txt")); err != nil {
			done <- err
			return
		}
		if _, err := os.ReadDir(a.dir); err != nil {
			done <- err
			return
		}
		b, err := os.ReadFile(a.path("top.txt"))
		if err == nil && string(b) != "top" {
			err = fmt.Errorf("top.txt reads %q", b)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		release()
		t.Fatal("stat, listing and reading of loaded things waited for the merge's fetch: the tree lock is held across it")
	}
	select {
	case err := <-synced:
		t.Fatalf("the merge finished while its fetch was held (%v): the test showed nothing", err)
	default:
	}
	release()
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(a.path("deep/a/b/f")); err != nil || string(b) != "two, from the other writer" {
		t.Fatalf("after the merge, a reads deep/a/b/f: %q %v", b, err)
	}
}
