package fs_test

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestFullRemoteDiskGivesENOSPC puts the remote on a small tmpfs: a write
// that does not fit fails with ENOSPC, and what was synced before is intact.
func TestFullRemoteDiskGivesENOSPC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount tmpfs: %s %v", out, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	store := openLocal(t, dir)
	newVolume(t, store)
	m := mount(t, store, t.TempDir())
	if err := os.WriteFile(m.path("kept"), []byte("synced before the disk filled"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(m.path("kept"))
	f.Sync()
	f.Close()

	big, err := os.Create(m.path("big"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	var werr error
	for i := 0; i < 20 && werr == nil; i++ {
		_, werr = big.Write(chunk)
	}
	if werr == nil {
		werr = big.Sync()
	}
	big.Close()
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("writing past a full remote: %v, want ENOSPC", werr)
	}
	m.closeMayFail = true
	m.unmount() // the unsynced file cannot be committed; the volume stays consistent
	m2 := mount(t, store, t.TempDir())
	if got, err := os.ReadFile(m2.path("kept")); err != nil || string(got) != "synced before the disk filled" {
		t.Fatalf("synced file after ENOSPC: %q %v", got, err)
	}
}
