package fs_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/fs"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/remote"
	"github.com/anchorfs/anchorfs/remote/remotetest"
)

// TestWriteBackWhileTheRemoteIsDown stops a WebDAV remote and keeps
// writing: past the memory budget the sealed objects wait in the cache
// folder (ciphertext only), writers are not blocked, and everything reaches
// the remote once it is back.
func TestWriteBackWhileTheRemoteIsDown(t *testing.T) {
	const marker = "WRITEBACK-MARKER-91c2"
	srv := remotetest.ServeWebDAV(t, t.TempDir())
	store, err := remote.Open(context.Background(), srv.Spec, remote.Options{Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	newVolume(t, store)
	cache := t.TempDir()
	m := mountFull(t, store, volume.Options{CacheDir: cache, MemoryBudget: 2 << 20, Logf: func(string, ...any) {}}, selfUnwrap, fs.MountOptions{})
	srv.Stop()
	data := bytes.Repeat([]byte(marker+" "), 2<<20) // about 40 MiB
	done := make(chan error, 1)
	go func() { done <- os.WriteFile(m.path("big"), data, 0o644) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("a writer was blocked by a remote that is down")
	}
	waiting, _ := os.ReadDir(filepath.Join(cache, "writeback"))
	if len(waiting) < 10 {
		t.Fatalf("%d objects wait in the write-back folder, want most of the file", len(waiting))
	}
	if out, _ := exec.Command("grep", "-rl", marker, cache).CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		t.Fatalf("plaintext in the write-back folder: %s", out)
	}
	srv.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for m.vol.Sync(ctx, nil) != nil && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
	}
	if err := m.vol.Sync(ctx, nil); err != nil {
		t.Fatalf("sync after the remote came back: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(cache, "writeback")); len(left) != 0 {
		t.Fatalf("%d objects still wait after sync", len(left))
	}
	m.unmount()
	m2 := mount(t, store, t.TempDir())
	if got, err := os.ReadFile(m2.path("big")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after the remote came back: %d bytes, %v", len(got), err)
	}
}
