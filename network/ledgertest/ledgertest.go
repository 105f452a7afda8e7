// Package ledgertest is the conformance suite every network.Ledger passes: anchoring, stale versions, history, heads, policy, audit queries, storage nodes and proofs, run against the embedded ledger in make test and against Fabric in make test-fabric.
package ledgertest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
)

// Parties are three callers of one ledger, each its own identity.
type Parties struct {
	// Owner registers the volumes the suite makes.
	Owner network.Ledger
	// Grantee is shared a folder and joins with GranteeKey.
	Grantee    network.Ledger
	GranteeKey *keyring.Identity
	// Stranger is given nothing.
	Stranger network.Ledger
	// Check checks a proof offline, as `anchorfs audit check` does.
	Check func(network.Proof) (network.ProofCheck, error)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func version(vol, file string, v uint64) network.Anchor {
	return network.Anchor{Volume: vol, File: file, Version: v, PrevVersion: v - 1,
		MerkleRoot: randHex(32), ManifestHash: randHex(32), Size: int64(v) * 10}
}

// Run runs the suite.
func Run(t *testing.T, p Parties) {
	ctx := context.Background()
	volume := func(t *testing.T) string {
		t.Helper()
		vol := randHex(16)
		if err := p.Owner.Register(ctx, vol); err != nil {
			t.Fatal(err)
		}
		return vol
	}
	anchor := func(t *testing.T, l network.Ledger, as ...network.Anchor) []network.AnchorResult {
		t.Helper()
		res, err := l.AnchorBatch(ctx, as)
		if err != nil || len(res) != len(as) {
			t.Fatalf("anchoring %d: %+v %v", len(as), res, err)
		}
		return res
	}

	t.Run("anchoring", func(t *testing.T) {
		vol := volume(t)
		a, b := version(vol, randHex(16), 1), version(vol, randHex(16), 1)
		if res := anchor(t, p.Owner, a, b); res[0].Err != nil || res[1].Err != nil {
			t.Fatalf("first versions: %+v", res)
		}
		got, err := p.Owner.Latest(ctx, vol, a.File)
		if err != nil || got.ManifestHash != a.ManifestHash || got.Actor != p.Owner.Actor() || got.TxID == "" || got.Time.IsZero() {
			t.Fatalf("latest: %+v %v", got, err)
		}
		if res := anchor(t, p.Owner, a); res[0].Err != nil {
			t.Fatalf("the same version again (a retry): %+v", res)
		}
		if _, err := p.Owner.Latest(ctx, vol, randHex(16)); !errors.Is(err, network.ErrNotFound) {
			t.Fatalf("a file never anchored: %v", err)
		}
		if _, err := p.Owner.AnchorBatch(ctx, []network.Anchor{a, a}); err == nil {
			t.Fatal("a file twice in one batch was accepted")
		}
		bad := version(vol, "not-an-id", 1)
		if _, err := p.Owner.AnchorBatch(ctx, []network.Anchor{bad}); err == nil {
			t.Fatal("a malformed anchor was accepted")
		}
	})

	t.Run("stale", func(t *testing.T) {
		vol := volume(t)
		a1 := version(vol, randHex(16), 1)
		anchor(t, p.Owner, a1)
		skip := version(vol, a1.File, 3)
		res := anchor(t, p.Owner, skip)
		if !errors.Is(res[0].Err, network.ErrStale) || res[0].Current == nil || res[0].Current.ManifestHash != a1.ManifestHash {
			t.Fatalf("a version that skips one: %+v", res)
		}
		other := version(vol, a1.File, 2)
		other.PrevManifestHash = randHex(32) // made on a version the ledger never took
		if res := anchor(t, p.Owner, other); !errors.Is(res[0].Err, network.ErrStale) {
			t.Fatalf("a version made on another's: %+v", res)
		}
	})

	t.Run("history", func(t *testing.T) {
		vol := volume(t)
		file := randHex(16)
		var want []string
		prev := ""
		for v := uint64(1); v <= 3; v++ {
			a := version(vol, file, v)
			a.PrevManifestHash = prev
			if res := anchor(t, p.Owner, a); res[0].Err != nil {
				t.Fatalf("version %d: %+v", v, res)
			}
			want, prev = append(want, a.ManifestHash), a.ManifestHash
		}
		hist, err := p.Owner.History(ctx, vol, file)
		if err != nil || len(hist) != 3 {
			t.Fatalf("history: %+v %v", hist, err)
		}
		for i, h := range hist {
			if h.Version != uint64(i+1) || h.ManifestHash != want[i] {
				t.Fatalf("history out of order: %+v", hist)
			}
		}
	})

	t.Run("latest of many", func(t *testing.T) {
		vol := volume(t)
		a, b := version(vol, randHex(16), 1), version(vol, randHex(16), 1)
		anchor(t, p.Owner, a, b)
		b2 := version(vol, b.File, 2)
		b2.PrevVersion, b2.PrevManifestHash = 1, b.ManifestHash
		anchor(t, p.Owner, b2)
		never := randHex(16)
		got, err := p.Owner.LatestMany(ctx, vol, []string{b.File, never, a.File})
		if err != nil || len(got) != 3 || got[0].Version != 2 || got[0].ManifestHash != b2.ManifestHash ||
			got[1].Version != 0 || got[1].File != never || got[2].ManifestHash != a.ManifestHash {
			t.Fatalf("latest of three: %+v %v", got, err)
		}
		if _, err := p.Stranger.LatestMany(ctx, vol, []string{a.File}); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger's query: %v", err)
		}
		tooMany := make([]string, wire.MaxQuery+1)
		for i := range tooMany {
			tooMany[i] = randHex(16)
		}
		if _, err := p.Owner.LatestMany(ctx, vol, tooMany); err == nil {
			t.Fatal("a query of more than wire.MaxQuery files was answered")
		}
	})

	t.Run("heads", func(t *testing.T) {
		vol := volume(t)
		if _, err := p.Owner.LatestHead(ctx, vol, ""); !errors.Is(err, network.ErrNotFound) {
			t.Fatalf("the head of a volume with none: %v", err)
		}
		h1 := network.Head{Volume: vol, Hash: randHex(32), Seq: 1}
		h2 := network.Head{Volume: vol, Hash: randHex(32), Seq: 2, Parents: []string{h1.Hash}}
		res, err := p.Owner.AnchorBatch(ctx, []network.Anchor{version(vol, randHex(16), 1)}, h2, h1)
		if err != nil || len(res) != 3 || res[0].Err != nil || res[1].Err != nil || res[2].Err != nil {
			t.Fatalf("a commit of a version and two heads: %+v %v", res, err)
		}
		got, err := p.Owner.LatestHead(ctx, vol, "")
		if err != nil || got.Hash != h2.Hash || got.Seq != 2 || len(got.Parents) != 1 || got.Actor != p.Owner.Actor() {
			t.Fatalf("the newest head: %+v %v", got, err)
		}
		if res, err := p.Owner.AnchorBatch(ctx, nil, network.Head{Volume: vol, Hash: randHex(32), Seq: 1}); err != nil || res[0].Err != nil {
			t.Fatalf("an older head alone: %+v %v", res, err)
		}
		if got, _ := p.Owner.LatestHead(ctx, vol, ""); got.Hash != h2.Hash {
			t.Fatalf("an older head replaced the newest: %+v", got)
		}
	})

	t.Run("policy", func(t *testing.T) {
		vol, dom, ro := volume(t), randHex(16), randHex(16)
		inDom := version(vol, randHex(16), 1)
		inDom.Domain = dom
		outside := version(vol, randHex(16), 1)
		anchor(t, p.Owner, inDom, outside)

		// A stranger: nothing to read, nothing to write.
		if _, err := p.Stranger.Latest(ctx, vol, outside.File); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger's read: %v", err)
		}
		if _, err := p.Stranger.Grants(ctx, vol, ""); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger's grants: %v", err)
		}
		if res := anchor(t, p.Stranger, version(vol, randHex(16), 1)); !errors.Is(res[0].Err, network.ErrDenied) {
			t.Fatalf("a stranger's anchor: %+v", res)
		}
		if res := anchor(t, p.Stranger, version(randHex(16), randHex(16), 1)); !errors.Is(res[0].Err, network.ErrDenied) {
			t.Fatalf("an anchor on a volume never registered: %+v", res)
		}
		if err := p.Stranger.Register(ctx, vol); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger took the volume: %v", err)
		}
		if err := p.Stranger.Grant(ctx, network.Grant{Volume: vol, Domain: dom, Path: "/x", GranteeKey: p.GranteeKey.Public().SigningKeyText(),
			Rights: wire.RightsReadWrite, Epoch: 1}); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a grant by a stranger: %v", err)
		}

		// A grantee: its folder, and nothing else.
		key := p.GranteeKey.Public().SigningKeyText()
		for _, g := range []network.Grant{
			{Volume: vol, Domain: dom, Path: "/shared", GranteeKey: key, Rights: wire.RightsReadWrite, Keys: []byte{1, 2}, Epoch: 1},
			{Volume: vol, Domain: ro, Path: "/ro", GranteeKey: key, Rights: wire.RightsReadOnly, Keys: []byte{3}, Epoch: 1},
		} {
			if err := p.Owner.Grant(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		// Granted again, read-only first: the first grant stays in the history.
		again := network.Grant{Volume: vol, Domain: ro, Path: "/ro", GranteeKey: key, Rights: wire.RightsReadOnly, Keys: []byte{3}, Epoch: 1}
		if err := p.Owner.Grant(ctx, again); err != nil {
			t.Fatal(err)
		}
		if h, err := p.Owner.GrantHistory(ctx, vol, ro); err != nil || len(h) != 1 || h[0].Replaced.IsZero() || h[0].Rights != wire.RightsReadOnly {
			t.Fatalf("the grant history: %+v %v", h, err)
		}
		if _, err := p.Stranger.GrantHistory(ctx, vol, ""); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger's grant history: %v", err)
		}
		sig := base64.RawURLEncoding.EncodeToString(p.GranteeKey.Sign(wire.JoinMessage(vol, p.Grantee.Actor())))
		if err := p.Stranger.Join(ctx, vol, key, sig); err == nil {
			t.Fatal("a join signed for another actor was accepted")
		}
		if err := p.Grantee.Join(ctx, vol, key, sig); err != nil {
			t.Fatal(err)
		}
		if got, err := p.Grantee.Latest(ctx, vol, inDom.File); err != nil || got.ManifestHash != inDom.ManifestHash {
			t.Fatalf("the grantee's read in its folder: %+v %v", got, err)
		}
		if _, err := p.Grantee.Latest(ctx, vol, outside.File); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("the grantee's read outside its folder: %v", err)
		}
		if got, err := p.Grantee.LatestMany(ctx, vol, []string{inDom.File}); err != nil || got[0].ManifestHash != inDom.ManifestHash {
			t.Fatalf("the grantee's query in its folder: %+v %v", got, err)
		}
		if got, err := p.Grantee.LatestMany(ctx, vol, []string{inDom.File, outside.File}); err != nil || got[1].Version != 0 || got[1].ManifestHash != "" {
			t.Fatalf("the grantee's query reaching outside its folder told of it: %+v %v", got, err)
		}
		gs, err := p.Grantee.Grants(ctx, vol, "")
		if err != nil || len(gs) != 2 || gs[0].GranteeID != p.GranteeKey.Public().KeyID() {
			t.Fatalf("the grantee's grants: %+v %v", gs, err)
		}
		mine := version(vol, randHex(16), 1)
		mine.Domain = dom
		inRO := version(vol, randHex(16), 1)
		inRO.Domain = ro
		moved := version(vol, outside.File, 2)
		moved.Domain = dom
		res := anchor(t, p.Grantee, mine, inRO, moved, version(vol, randHex(16), 1))
		if res[0].Err != nil || !errors.Is(res[1].Err, network.ErrDenied) || !errors.Is(res[2].Err, network.ErrDenied) || !errors.Is(res[3].Err, network.ErrDenied) {
			t.Fatalf("the grantee's anchors (its folder, read-only, moved in, outside): %+v", res)
		}
		if res, err := p.Grantee.AnchorBatch(ctx, nil, network.Head{Volume: vol, Domain: dom, Hash: randHex(32), Seq: 1},
			network.Head{Volume: vol, Hash: randHex(32), Seq: 1}); err != nil || res[0].Err != nil || !errors.Is(res[1].Err, network.ErrDenied) {
			t.Fatalf("the grantee's heads (its folder, the volume's): %+v %v", res, err)
		}
		if err := p.Owner.Revoke(ctx, vol, dom, key); err != nil {
			t.Fatal(err)
		}
		after := version(vol, randHex(16), 1)
		after.Domain = dom
		if res := anchor(t, p.Grantee, after); !errors.Is(res[0].Err, network.ErrDenied) {
			t.Fatalf("an anchor after the revoke: %+v", res)
		}
		if gs, err := p.Grantee.Grants(ctx, vol, dom); err != nil || len(gs) != 1 || !gs[0].Revoked || gs[0].RevokedBy != p.Owner.Actor() {
			t.Fatalf("the revoked grant: %+v %v", gs, err)
		}
	})

	t.Run("audit", func(t *testing.T) {
		vol := volume(t)
		before := time.Now().Add(-time.Minute)
		a := version(vol, randHex(16), 1)
		anchor(t, p.Owner, a, version(vol, randHex(16), 1))
		if err := p.Owner.Record(ctx, []network.Event{{Volume: vol, File: a.File, Action: "read"}}); err != nil {
			t.Fatal(err)
		}
		if err := p.Owner.Record(ctx, []network.Event{{Volume: vol, Action: "anchor"}}); err == nil {
			t.Fatal("a client recorded an anchor event itself")
		}
		if err := p.Stranger.Record(ctx, []network.Event{{Volume: vol, File: a.File, Action: "read"}}); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger recorded an event: %v", err)
		}
		for name, c := range map[string]struct {
			q    network.AuditQuery
			want int
		}{
			"all":       {network.AuditQuery{Volume: vol}, 4}, // register, two anchors, a read
			"by file":   {network.AuditQuery{Volume: vol, File: a.File}, 2},
			"by action": {network.AuditQuery{Volume: vol, Action: "read"}, 1},
			"by actor":  {network.AuditQuery{Volume: vol, Actor: p.Owner.Actor()}, 4},
			"since":     {network.AuditQuery{Volume: vol, Since: before}, 4},
			"until":     {network.AuditQuery{Volume: vol, Until: before}, 0},
		} {
			evs, err := p.Owner.Audit(ctx, c.q)
			if err != nil || len(evs) != c.want {
				t.Errorf("%s: %d events, want %d (%v)", name, len(evs), c.want, err)
			}
		}
		if _, err := p.Stranger.Audit(ctx, network.AuditQuery{Volume: vol}); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger's audit: %v", err)
		}
		// More events than a page (wire.MaxPage): every one comes back, in
		// time order, by index and by a scan.
		mid := time.Now()
		for range 3 {
			evs := make([]network.Event, 900)
			for i := range evs {
				evs[i] = network.Event{Volume: vol, File: a.File, Action: "download", Detail: map[string]string{"bytes": "1"}}
			}
			if err := p.Owner.Record(ctx, evs); err != nil {
				t.Fatal(err)
			}
		}
		for name, q := range map[string]network.AuditQuery{
			"by action": {Volume: vol, Action: "download"},
			"by file":   {Volume: vol, File: a.File, Since: mid},
			"all":       {Volume: vol, Since: mid},
		} {
			evs, err := p.Owner.Audit(ctx, q)
			if err != nil || len(evs) != 2700 {
				t.Fatalf("%s over pages: %d events, want 2700 (%v)", name, len(evs), err)
			}
			for i := 1; i < len(evs); i++ {
				if evs[i].Time.Before(evs[i-1].Time) {
					t.Fatalf("%s: pages out of time order", name)
				}
			}
		}
	})

	t.Run("tokens", func(t *testing.T) {
		if op, err := p.Owner.Operator(ctx); err != nil || op != p.Owner.Actor() {
			t.Fatalf("the operator is %q (%v), not the owner %s, who made the ledger", op, err, p.Owner.Actor())
		}
		stranger, grantee := p.Stranger.Actor(), p.Grantee.Actor()
		if err := p.Stranger.Mint(ctx, stranger, 5*wire.Unit); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger minted: %v", err)
		}
		if err := p.Stranger.SetPrices(ctx, network.Prices{}); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger set prices: %v", err)
		}
		denials, err := p.Owner.Audit(ctx, network.AuditQuery{Volume: wire.LedgerVolume, Actor: stranger, Action: "denied"})
		if err != nil || len(denials) < 2 {
			t.Fatalf("the stranger's denials on the ledger: %+v %v", denials, err)
		}
		before, err := p.Stranger.Balance(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Owner.Mint(ctx, stranger, 5*wire.Unit); err != nil {
			t.Fatal(err)
		}
		if err := p.Stranger.Transfer(ctx, grantee, 2*wire.Unit); err != nil {
			t.Fatal(err)
		}
		if err := p.Stranger.Transfer(ctx, grantee, 1e6*wire.Unit); !errors.Is(err, network.ErrInsufficient) {
			t.Fatalf("a transfer past the balance: %v", err)
		}
		if a, err := p.Stranger.Balance(ctx, ""); err != nil || a.Balance-before.Balance != 3*wire.Unit || a.Available != a.Balance {
			t.Fatalf("the stranger's account after +5 -2: %+v (before %+v) %v", a, before, err)
		}
		if _, err := p.Stranger.Balance(ctx, grantee); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger read another's balance: %v", err)
		}
		if a, err := p.Owner.Balance(ctx, grantee); err != nil || a.Balance < 2*wire.Unit {
			t.Fatalf("the operator reads the grantee's balance: %+v %v", a, err)
		}
		usage, err := p.Stranger.Usage(ctx, "", time.Time{})
		if err != nil || len(usage) < 2 || usage[len(usage)-1].Kind != "transfer" || usage[len(usage)-1].Amount != -2*wire.Unit {
			t.Fatalf("the stranger's statement: %+v %v", usage, err)
		}

		// Storage at a price that shows in seconds: a GiB for a second is
		// 1e12/2,592,000 µT.
		vol := volume(t)
		if err := p.Owner.Mint(ctx, p.Owner.Actor(), 1000*wire.Unit); err != nil {
			t.Fatal(err)
		}
		if err := p.Owner.SetPrices(ctx, network.Prices{Storage: 1e12, Read: 1e9}); err != nil {
			t.Fatal(err)
		}
		defer p.Owner.SetPrices(ctx, network.Prices{})
		if pr, err := p.Owner.Prices(ctx); err != nil || pr.Storage != 1e12 || pr.Read != 1e9 {
			t.Fatalf("prices: %+v %v", pr, err)
		}
		lane := randHex(16)
		a := version(vol, randHex(16), 1)
		a.Size, a.Lane = wire.GiB, lane
		if res := anchor(t, p.Owner, a); res[0].Err != nil {
			t.Fatalf("a new lane's first version (nothing due yet): %+v", res)
		}
		time.Sleep(time.Second)
		b := version(vol, a.File, 2)
		b.Size, b.Lane, b.PrevManifestHash = wire.GiB, lane, a.ManifestHash
		if res := anchor(t, p.Owner, b); !errors.Is(res[0].Err, network.ErrUnpaid) {
			t.Fatalf("a version whose lane reserved nothing: %+v", res)
		}
		l, err := p.Owner.Reserve(ctx, vol, lane, 100*wire.Unit)
		if err != nil || l.Reserved != 100*wire.Unit || l.Bytes != wire.GiB || l.Due <= 0 {
			t.Fatalf("reserve: %+v %v", l, err)
		}
		if res := anchor(t, p.Owner, b); res[0].Err != nil {
			t.Fatalf("the version once reserved: %+v", res)
		}
		if l, err = p.Owner.Lane(ctx, vol, lane); err != nil || l.Reserved >= 100*wire.Unit || l.Bytes != wire.GiB {
			t.Fatalf("the lane paid nothing: %+v %v", l, err)
		}
		if _, err := p.Owner.Reserve(ctx, vol, lane, 1e8*wire.Unit); !errors.Is(err, network.ErrInsufficient) {
			t.Fatalf("a reserve past the balance: %v", err)
		}
		if err := p.Owner.Record(ctx, []network.Event{{Volume: vol, File: a.File, Action: "read", Detail: map[string]string{"bytes": strconv.Itoa(wire.GiB)}}}); err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int64{}
		usage, _ = p.Owner.Usage(ctx, "", time.Time{})
		for _, c := range usage {
			kinds[c.Kind] += c.Amount
		}
		if kinds["storage"] >= 0 || kinds["read"] != -1e9 || kinds["read-income"] != 1e9 {
			t.Fatalf("the owner's charges by kind: %v", kinds)
		}
	})

	t.Run("nodes", func(t *testing.T) {
		vol := volume(t)
		a, b, c := randHex(16), randHex(16), randHex(16)
		nodes := []network.Node{{ID: a, Position: 1}, {ID: b, Position: 2, Payee: "payee-b"}, {ID: c, Position: 3}}
		if err := p.Stranger.SetNodes(ctx, vol, nodes); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger set the nodes: %v", err)
		}
		if err := p.Owner.SetNodes(ctx, vol, nodes); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Stranger.Nodes(ctx, vol); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger read the nodes: %v", err)
		}
		results := []network.ScrubResult{{Node: a, Checked: 10}, {Node: b, Checked: 10, Missing: 2, Repaired: 2}, {Node: c, Checked: 10, Corrupt: 1}}
		if err := p.Stranger.RecordScrub(ctx, vol, results); !errors.Is(err, network.ErrDenied) {
			t.Fatalf("a stranger recorded a scrub: %v", err)
		}
		for range 2 {
			if err := p.Owner.RecordScrub(ctx, vol, results); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Owner.RecordScrub(ctx, vol, []network.ScrubResult{{Node: randHex(16), Checked: 1}}); err == nil {
			t.Fatal("a scrub of a node the volume does not have was recorded")
		}
		// Node c is replaced by d in its place.
		d := randHex(16)
		if err := p.Owner.SetNodes(ctx, vol, []network.Node{nodes[0], nodes[1], {ID: d, Position: 3}}); err != nil {
			t.Fatal(err)
		}
		got, err := p.Owner.Nodes(ctx, vol)
		if err != nil || len(got) != 4 {
			t.Fatalf("nodes: %+v %v", got, err)
		}
		if got[1].ID != b || got[1].Payee != "payee-b" || got[1].Scrubs != 2 || got[1].Missing != 4 || got[1].Last == nil || got[1].Last.Repaired != 2 {
			t.Fatalf("node b's record: %+v", got[1])
		}
		if got[2].ID != d || !got[2].Removed.IsZero() || got[3].ID != c || got[3].Removed.IsZero() || got[3].Corrupt != 2 {
			t.Fatalf("the replaced node: %+v %+v", got[2], got[3])
		}
		if err := p.Owner.SetNodes(ctx, vol, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := p.Owner.Nodes(ctx, vol); err != nil || len(got) != 4 || got[0].Removed.IsZero() {
			t.Fatalf("nodes once the volume is back on one remote: %+v %v", got, err)
		}
		evs, err := p.Owner.Audit(ctx, network.AuditQuery{Volume: vol, Action: "scrub"})
		if err != nil || len(evs) != 6 || evs[0].Detail["checked"] != "10" {
			t.Fatalf("scrub events: %+v %v", evs, err)
		}
	})

	t.Run("proofs", func(t *testing.T) {
		prover, ok := p.Owner.(network.Prover)
		if !ok || p.Check == nil {
			t.Skip("SKIP: this ledger makes no proofs")
		}
		vol := volume(t)
		a := version(vol, randHex(16), 1)
		anchor(t, p.Owner, a)
		hist, err := p.Owner.History(ctx, vol, a.File)
		if err != nil || len(hist) != 1 {
			t.Fatalf("history: %+v %v", hist, err)
		}
		proof, err := prover.Prove(ctx, hist[0])
		if err != nil {
			t.Fatal(err)
		}
		check, err := p.Check(proof)
		if err != nil || check.Actor != p.Owner.Actor() || check.BlockHash == "" {
			t.Fatalf("checking the proof: %+v %v", check, err)
		}
		forged := proof
		forged.Anchor.ManifestHash = randHex(32)
		if _, err := p.Check(forged); err == nil {
			t.Fatal("a proof of another manifest checked")
		}
	})
}
