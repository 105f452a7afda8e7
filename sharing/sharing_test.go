package sharing_test

import (
	"context"
	"errors"
	"testing"

	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network/embedded"
	"github.com/anchorfs/anchorfs/remote/remotetest"
	"github.com/anchorfs/anchorfs/sharing"
)

func identity(t *testing.T) *keyring.Identity {
	id, err := keyring.Create(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func ledger(t *testing.T, dir string, id *keyring.Identity) *embedded.Ledger {
	l, err := embedded.Open(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestShareJoinRevoke runs the protocol with no mount: an owner shares a
// folder, the grantee joins and reads it, a stranger gets nothing, and a
// revocation rotates the key away from the grantee.
func TestShareJoinRevoke(t *testing.T) {
	ctx := context.Background()
	store := remotetest.NewMemory()
	ledgerDir := t.TempDir()
	me, bob, eve := identity(t), identity(t), identity(t)
	mine := ledger(t, ledgerDir, me)
	if _, err := volume.Create(ctx, store, me.Wrap, volume.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err := volume.Open(ctx, store, me.UnwrapKey, volume.Options{CacheDir: t.TempDir(), Ledger: mine})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(ctx)
	team, err := v.Mkdir(v.Root(), "team", 0o755, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := v.Create(team, "plan.txt", 0o644, 0, 0)
	h, _ := v.Open(f)
	h.WriteAt([]byte("the plan"), 0)
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	h.Release()
	if err := v.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}

	owner := sharing.Owner{Volume: v, Ledger: mine, Me: me}
	if _, err := owner.Share(ctx, "/team", me.Public(), false, nil); !errors.Is(err, sharing.ErrOwnIdentity) {
		t.Fatalf("a share with oneself: %v", err)
	}
	keys, err := owner.Share(ctx, "/team", bob.Public(), false, nil)
	if err != nil || keys.Epoch != 1 {
		t.Fatalf("share: %+v %v", keys, err)
	}
	if err := v.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}

	var nothing *sharing.NothingShared
	if _, err := sharing.Join(ctx, ledger(t, ledgerDir, eve), eve, v.ID()); !errors.As(err, &nothing) {
		t.Fatalf("a stranger's join: %v", err)
	}
	bobs := ledger(t, ledgerDir, bob)
	shares, err := sharing.Join(ctx, bobs, bob, v.ID())
	if err != nil || len(shares) != 1 || shares[0].Path != "/team" || shares[0].ReadOnly || len(shares[0].Keys) != 1 {
		t.Fatalf("bob's join: %+v %v", shares, err)
	}
	bv, err := volume.OpenShared(ctx, store, shares, volume.Options{CacheDir: t.TempDir(), Ledger: bobs, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	bteam, err := bv.Lookup(bv.Root(), "team")
	if err != nil {
		t.Fatal(err)
	}
	bf, err := bv.Lookup(bteam, "plan.txt")
	if err != nil {
		t.Fatal(err)
	}
	bh, _ := bv.Open(bf)
	buf := make([]byte, 64)
	n, _ := bh.ReadAt(buf, 0)
	bh.Release()
	bv.Close(ctx)
	if string(buf[:n]) != "the plan" {
		t.Fatalf("bob reads %q", buf[:n])
	}

	r, err := owner.Revoke(ctx, "/team", bob.Public(), false, nil)
	if err != nil || r.Epoch != 2 || r.Kept != 0 {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if left, err := sharing.GrantsTo(ctx, bobs, bob, v.ID()); err != nil || len(left) != 0 {
		t.Fatalf("bob's grants after the revoke: %+v %v", left, err)
	}
	if _, err := owner.Revoke(ctx, "/nothere", bob.Public(), false, nil); err == nil {
		t.Fatal("a revoke of a folder that is not shared")
	}
}
