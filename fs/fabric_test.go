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

	"github.com/anchorfs/anchorfs/fs"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/fabric"
)

// TestFabricLedgerThroughTheMount runs the drive against the Fabric test
// network: versions anchored on Fabric, audit, verify, and a rolled back
// remote caught by the ledger. Without the network it skips loudly.
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
	m2 := mountFull(t, store, vopt, selfUnwrap, fs.MountOptions{})
	if _, err := os.ReadFile(m2.path("f")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("a rolled back file: %v, want EIO", err)
	}
	if f, _ := m2.vol.Verify(ctx, "/", nil); len(f) != 1 || f[0].Path != "/f" {
		t.Fatalf("verify after a rollback: %+v", f)
	}
}
