package fs_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/fs"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/fabric"
)

// TestFabricLedgerThroughTheMount runs the drive against the Fabric test
// network: versions anchored on Fabric, audit, verify, and a rolled back
// remote caught by the ledger, as a whole and file by file. Without the
// network it skips loudly.
func TestFabricLedgerThroughTheMount(t *testing.T) {
	p := os.Getenv("ANCHORFS_FABRIC_PROFILE_ORG1")
	if p == "" {
		p, _ = filepath.Abs(filepath.Join("..", "network", "testnet", "run", "profiles", "org1-user1.yaml"))
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("SKIP: no Fabric test network (%s missing): set FABRIC_BIN and run `make test-fabric`", p)
	}
	l, err := fabric.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	store := newTestStore(t)
	newVolume(t, store)
	vopt := volume.Options{CacheDir: t.TempDir(), Ledger: l, Actor: "Org1MSP", Logf: t.Logf}
	m := mountFull(t, store, vopt, selfUnwrap, fs.MountOptions{})
	os.WriteFile(m.path("f"), []byte("version one"), 0o644)
	if err := m.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	old := t.TempDir()
	exec.Command("cp", "-a", store.root+"/.", old).Run()
	os.WriteFile(m.path("f"), []byte("version two"), 0o644)
	if err := m.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	id, _ := m.vol.FileID("/f")
	evs, err := l.Audit(ctx, network.AuditQuery{Volume: m.vol.ID(), File: id, Action: "anchor"})
	if err != nil || len(evs) != 2 || !strings.HasPrefix(evs[0].Actor, "Org1MSP/") {
		t.Fatalf("audit on Fabric: %+v %v", evs, err)
	}
	if f, err := m.vol.Verify(ctx, "/", nil); err != nil || len(f) != 0 {
		t.Fatalf("verify: %+v %v", f, err)
	}
	m.unmount()
	// Roll the remote back to version one: Fabric knows better.
	exec.Command("rm", "-rf", store.root).Run()
	exec.Command("cp", "-a", old, store.root).Run()
	vopt.CacheDir = t.TempDir()
	_, err = volume.Open(ctx, store, selfUnwrap, vopt)
	var rb *volume.RollbackError
	if !errors.As(err, &rb) {
		t.Fatalf("opening a remote rolled back: %v", err)
	}
	// Without heads on the ledger, the file's own version catches it.
	vopt.CacheDir, vopt.Ledger = t.TempDir(), headless{l}
	m2 := mountFull(t, store, vopt, selfUnwrap, fs.MountOptions{})
	if _, err := os.ReadFile(m2.path("f")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("a rolled back file: %v, want EIO", err)
	}
	if f, _ := m2.vol.Verify(ctx, "/", nil); len(f) != 1 || f[0].Path != "/f" {
		t.Fatalf("verify after a rollback: %+v", f)
	}
}

// TestFabricEventsBringOtherWritersVersions: two mounts of one volume, two
// homes of its owner (a user of Org1), each with its own connection to the
// network. The second has read the file once;
// when the first writes a new version, the chaincode event tells the second,
// whose next open takes the new version from the ledger rather than the one
// it checked before.
func TestFabricEventsBringOtherWritersVersions(t *testing.T) {
	profile := func(env, name string) string {
		p := os.Getenv(env)
		if p == "" {
			p, _ = filepath.Abs(filepath.Join("..", "network", "testnet", "run", "profiles", name))
		}
		if _, err := os.Stat(p); err != nil {
			t.Skipf("SKIP: no Fabric test network (%s missing): set FABRIC_BIN and run `make test-fabric`", p)
		}
		return p
	}
	p1 := profile("ANCHORFS_FABRIC_PROFILE_ORG1", "org1-user1.yaml")
	l1, err := fabric.Open(p1)
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	l2, err := fabric.Open(p1)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	ctx := context.Background()
	store := newTestStore(t)
	newVolume(t, store)
	a := mountFull(t, store, volume.Options{CacheDir: t.TempDir(), Ledger: l1, Actor: l1.Actor(), Logf: t.Logf}, selfUnwrap, fs.MountOptions{})
	os.WriteFile(a.path("f"), []byte("version one"), 0o644)
	if err := a.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b := mountFull(t, store, volume.Options{CacheDir: t.TempDir(), Ledger: l2, Actor: l2.Actor(), Logf: t.Logf}, selfUnwrap, fs.MountOptions{})
	if got, err := os.ReadFile(b.path("f")); err != nil || string(got) != "version one" {
		t.Fatalf("the second mount reads %q %v", got, err)
	}
	os.WriteFile(a.path("f"), []byte("version two"), 0o644)
	if err := a.vol.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// The event arrives when the block is delivered: wait for it.
	var got []byte
	for i := 0; i < 100; i++ {
		if got, _ = os.ReadFile(b.path("f")); string(got) == "version two" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the second mount still reads %q after the first anchored a new version", got)
}
