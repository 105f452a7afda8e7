package fs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/anchorfs/anchorfs/fs/volume"
)

// objectFiles lists the files of a local-folder remote under objects/.
func objectFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(root, "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestTamperedChunkGivesEIOAndAFinding(t *testing.T) {
	store := newTestStore(t)
	root := store.root
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	before := map[string]bool{}
	for _, p := range objectFiles(t, root) {
		before[p] = true
	}
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i)
	}
	if err := os.WriteFile(m.path("victim"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.path("bystander"), []byte("fine"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.unmount()
	// The largest new object is the victim's only chunk.
	var chunk string
	var size int64
	for _, p := range objectFiles(t, root) {
		if st, _ := os.Stat(p); !before[p] && st.Size() > size {
			chunk, size = p, st.Size()
		}
	}
	b, _ := os.ReadFile(chunk)
	b[len(b)/2] ^= 1
	os.WriteFile(chunk, b, 0o644)

	m2 := mount(t, store, t.TempDir())
	_, err := os.ReadFile(m2.path("victim"))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("reading a tampered file: %v, want EIO", err)
	}
	if got, err := os.ReadFile(m2.path("bystander")); err != nil || string(got) != "fine" {
		t.Fatalf("an untouched file: %q, %v", got, err)
	}
	findings, err := m2.vol.Verify(context.Background(), "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Path != "/victim" {
		t.Fatalf("verify found %+v, want one finding on /victim", findings)
	}
	// Deleting the object is caught too.
	os.Remove(chunk)
	findings, _ = m2.vol.Verify(context.Background(), "/victim", nil)
	if len(findings) != 1 || !strings.Contains(findings[0].Problem, "missing") {
		t.Fatalf("verify of a missing object: %+v", findings)
	}
}

func TestGCRemovesOnlyUnreferencedObjects(t *testing.T) {
	store := newTestStore(t)
	root := store.root
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	big := make([]byte, 3<<20)
	for i := range 3 {
		big[0] = byte(i)
		if err := os.WriteFile(m.path("f"), big, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(m.path("gone"), big, 0o644)
	os.Remove(m.path("gone"))
	ctx := context.Background()
	if err := m.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	n0 := len(objectFiles(t, root))
	res, err := m.vol.GC(ctx, volume.GCOptions{}, nil)
	removed, freed := res.Objects, res.Bytes
	if err != nil {
		t.Fatal(err)
	}
	n1 := len(objectFiles(t, root))
	if removed == 0 || freed == 0 || n1 != n0-removed {
		t.Fatalf("gc removed %d (%d bytes); objects %d -> %d", removed, freed, n0, n1)
	}
	if f, err := m.vol.Verify(ctx, "/", nil); err != nil || len(f) != 0 {
		t.Fatalf("after gc: %+v %v", f, err)
	}
	m.unmount()
	m2 := mount(t, store, t.TempDir())
	if got, err := os.ReadFile(m2.path("f")); err != nil || len(got) != len(big) || got[0] != 2 {
		t.Fatalf("after gc and remount: %d bytes, %v", len(got), err)
	}
}

func TestWrongKeyIsRefused(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	wrong := func([]byte) ([]byte, error) { return make([]byte, 32), nil }
	if _, err := volume.Open(context.Background(), store, wrong, volume.Options{CacheDir: t.TempDir()}); !errors.Is(err, volume.ErrWrongKey) {
		t.Fatalf("open with a wrong key: %v", err)
	}
}

// TestVerifyFetchesLoadedFoldersFromTheRemote: verify in a running mount
// checks a folder's object on the remote even when the mount holds the
// folder in memory: one the remote lost is a finding on that folder.
func TestVerifyFetchesLoadedFoldersFromTheRemote(t *testing.T) {
	store := newTestStore(t)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	before := map[string]bool{}
	for _, p := range objectFiles(t, store.root) {
		before[p] = true
	}
	if err := os.Mkdir(m.path("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.path("d/f"), []byte("in d"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.vol.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(m.path("d")); err != nil || len(entries) != 1 {
		t.Fatalf("listing d: %v %v", entries, err)
	}
	for _, p := range objectFiles(t, store.root) {
		if !before[p] {
			os.Remove(p) // every object the change made: d's folder object among them
		}
	}
	findings, err := m.vol.Verify(context.Background(), "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	onD := false
	for _, f := range findings {
		onD = onD || (f.Path == "/d" && strings.Contains(f.Problem, "missing"))
	}
	if !onD {
		t.Fatalf("verify found %+v, want the missing folder object of /d", findings)
	}
}
