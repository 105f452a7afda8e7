package anchoring

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/embedded"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// conflicts is a tree that records the versions refused as stale.
type conflicts struct{ got []network.Anchor }

func (c *conflicts) Uploaded(context.Context, uint64) error { return nil }

func (c *conflicts) Conflict(ours network.Anchor, _ *network.Anchor) error {
	c.got = append(c.got, ours)
	return nil
}

// TestSubmitAndCheck anchors a commit on the embedded ledger, hands a stale
// version to the tree as a conflict, and checks versions against the ledger.
func TestSubmitAndCheck(t *testing.T) {
	ctx := context.Background()
	id, err := keyring.Create(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := embedded.Open(t.TempDir(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	vol, f, g := randHex(16), randHex(16), randHex(16)
	if err := l.Register(ctx, vol); err != nil {
		t.Fatal(err)
	}
	ob, err := Open(t.TempDir(), func(string) bool { return true }, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	v1 := network.Anchor{Volume: vol, File: f, Version: 1, MerkleRoot: randHex(32), ManifestHash: randHex(32)}
	ob.Add(v1, 0)
	tag, _ := ob.Durable(ob.Mark(), []string{"heads/h"}, network.Head{Volume: vol, Hash: randHex(32), Seq: 1})
	ob.Committed(tag)
	tree := &conflicts{}
	if err := Submit(ctx, ob, l, tree, ob.Batch(100, nil), t.Logf); err != nil {
		t.Fatal(err)
	}
	if ob.Len() != 0 || len(tree.got) != 0 {
		t.Fatalf("after a clean commit: %d left, %d conflicts", ob.Len(), len(tree.got))
	}
	if h, err := l.LatestHead(ctx, vol, ""); err != nil || h.Seq != 1 {
		t.Fatalf("the commit's head: %+v %v", h, err)
	}

	// Another writer's version 2 of f lands first: ours is a conflict.
	theirs := network.Anchor{Volume: vol, File: f, Version: 2, PrevVersion: 1, PrevManifestHash: v1.ManifestHash, MerkleRoot: randHex(32), ManifestHash: randHex(32)}
	if res, err := l.AnchorBatch(ctx, []network.Anchor{theirs}); err != nil || res[0].Err != nil {
		t.Fatalf("their version: %+v %v", res, err)
	}
	ours := theirs
	ours.ManifestHash = randHex(32)
	ob.Add(ours, 0)
	tag, _ = ob.Durable(ob.Mark(), []string{"heads/h2"})
	ob.Committed(tag)
	if err := Submit(ctx, ob, l, tree, ob.Batch(100, nil), t.Logf); err != nil {
		t.Fatal(err)
	}
	if len(tree.got) != 1 || tree.got[0].ManifestHash != ours.ManifestHash || ob.Len() != 0 {
		t.Fatalf("a stale version: conflicts %+v, %d left", tree.got, ob.Len())
	}

	for name, c := range map[string]struct {
		version  uint64
		manifest string
		want     Verdict
	}{
		"the latest":        {2, theirs.ManifestHash, Anchored},
		"an older one":      {1, v1.ManifestHash, Superseded},
		"another same one":  {2, randHex(32), Superseded},
		"newer than anchor": {3, randHex(32), Queued},
	} {
		if got, _ := Check(ctx, l, ob, vol, f, c.version, c.manifest, t.Logf); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	if got, _ := Check(ctx, l, ob, vol, g, 1, randHex(32), t.Logf); got != Queued {
		t.Errorf("a file the ledger has not seen: %v", got)
	}
}
