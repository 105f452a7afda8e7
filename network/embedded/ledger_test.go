package embedded_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/embedded"
	"github.com/anchorfs/anchorfs/network/ledgertest"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func identity(t testing.TB) *keyring.Identity {
	id, err := keyring.Create(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func open(t testing.TB, dir string, id *keyring.Identity) *embedded.Ledger {
	l, err := embedded.Open(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// volumeOf registers a new volume, owned by l's caller.
func volumeOf(t testing.TB, l network.Ledger) string {
	vol := randHex(16)
	if err := l.Register(context.Background(), vol); err != nil {
		t.Fatal(err)
	}
	return vol
}

func anchor(vol, file string, version uint64) network.Anchor {
	return network.Anchor{Volume: vol, File: file, Version: version, PrevVersion: version - 1,
		MerkleRoot: randHex(32), ManifestHash: randHex(32), Size: int64(version) * 100}
}

func TestAnchorLatestHistoryAudit(t *testing.T) {
	ctx := context.Background()
	id := identity(t)
	l := open(t, t.TempDir(), id)
	vol, f1, f2 := volumeOf(t, l), randHex(16), randHex(16)
	a1, b1 := anchor(vol, f1, 1), anchor(vol, f2, 1)
	res, err := l.AnchorBatch(ctx, []network.Anchor{a1, b1})
	if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("first batch: %+v %v", res, err)
	}
	a2 := anchor(vol, f1, 2)
	stale := anchor(vol, f2, 3) // names version 2, the ledger has 1
	res, err = l.AnchorBatch(ctx, []network.Anchor{a2, stale})
	if err != nil || res[0].Err != nil || !errors.Is(res[1].Err, network.ErrStale) || res[1].Current == nil || res[1].Current.Version != 1 {
		t.Fatalf("mixed batch: %+v %v", res, err)
	}
	// A retry of a committed version succeeds without a second anchor.
	res, _ = l.AnchorBatch(ctx, []network.Anchor{a2})
	if res[0].Err != nil || res[0].Current == nil || res[0].Current.ManifestHash != a2.ManifestHash {
		t.Fatalf("a retried anchor: %+v", res[0])
	}
	latest, err := l.Latest(ctx, vol, f1)
	if err != nil || latest.Version != 2 || latest.ManifestHash != a2.ManifestHash || latest.Actor != id.Public().LedgerID() {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	if _, err := l.Latest(ctx, vol, randHex(16)); !errors.Is(err, network.ErrNotFound) {
		t.Fatalf("latest of an unknown file: %v", err)
	}
	h, err := l.History(ctx, vol, f1)
	if err != nil || len(h) != 2 || h[0].Version != 1 || h[1].Version != 2 {
		t.Fatalf("history: %+v %v", h, err)
	}
	if err := l.Record(ctx, []network.Event{{Volume: vol, File: f2, Action: "integrity", Detail: map[string]string{"problem": "x"}}}); err != nil {
		t.Fatal(err)
	}
	evs, err := l.Audit(ctx, network.AuditQuery{Volume: vol})
	if err != nil || len(evs) != 5 || evs[0].Action != "register" {
		t.Fatalf("audit: %d events, %v", len(evs), err)
	}
	evs, _ = l.Audit(ctx, network.AuditQuery{Volume: vol, Action: "integrity"})
	if len(evs) != 1 || evs[0].File != f2 || evs[0].Actor != id.Public().LedgerID() {
		t.Fatalf("audit by action: %+v", evs)
	}
	evs, _ = l.Audit(ctx, network.AuditQuery{Volume: vol, File: f1, Since: time.Now().Add(time.Hour)})
	if len(evs) != 0 {
		t.Fatalf("audit since the future: %+v", evs)
	}
	if err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	info, _ := l.Info(ctx)
	n := 0
	l.Blocks(ctx, 0, func(b network.Block) error { n++; return nil })
	if info.Height != uint64(n) || n < 3 {
		t.Fatalf("height %d, %d blocks", info.Height, n)
	}
}

// TestHistoryIsKeptWhereTheChaincodeReadsIt: the ledger keeps the history
// of file keys, which Files:History reads, and of nothing else: not of the
// audit events and their index entries, written once each.
func TestHistoryIsKeptWhereTheChaincodeReadsIt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir, identity(t))
	vol, f := volumeOf(t, l), randHex(16)
	for v := uint64(1); v <= 2; v++ {
		if res, err := l.AnchorBatch(ctx, []network.Anchor{anchor(vol, f, v)}); err != nil || res[0].Err != nil {
			t.Fatalf("anchoring version %d: %+v %v", v, res, err)
		}
	}
	if err := l.Record(ctx, []network.Event{{Volume: vol, File: f, Action: "read"}, {Volume: vol, File: f, Action: "read"}}); err != nil {
		t.Fatal(err)
	}
	if h, err := l.History(ctx, vol, f); err != nil || len(h) != 2 {
		t.Fatalf("history: %+v %v", h, err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ledger.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT key FROM history`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	files := 0
	for rows.Next() {
		var key []byte
		rows.Scan(&key)
		if !bytes.HasPrefix(key, []byte("\x00file\x00")) {
			t.Errorf("history kept of %q", key)
			continue
		}
		files++
	}
	if files != 2 {
		t.Errorf("%d rows of the file's history, want 2", files)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	ctx := context.Background()
	l := open(t, t.TempDir(), identity(t))
	vol := volumeOf(t, l)
	good := anchor(vol, randHex(16), 1)
	for name, bad := range map[string]func(*network.Anchor){
		"bad volume":    func(a *network.Anchor) { a.Volume = "x" },
		"bad file":      func(a *network.Anchor) { a.File = "UPPER" + a.File[5:] },
		"version 0":     func(a *network.Anchor) { a.Version, a.PrevVersion = 0, 0 },
		"skips":         func(a *network.Anchor) { a.Version = 3 },
		"bad manifest":  func(a *network.Anchor) { a.ManifestHash = "abc" },
		"bad root":      func(a *network.Anchor) { a.MerkleRoot = "" },
		"negative size": func(a *network.Anchor) { a.Size = -1 },
	} {
		a := good
		bad(&a)
		if _, err := l.AnchorBatch(ctx, []network.Anchor{good, a}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := l.AnchorBatch(ctx, []network.Anchor{good, good}); err == nil {
		t.Error("the same file twice in one batch: accepted")
	}
	if _, err := l.Latest(ctx, vol, good.File); !errors.Is(err, network.ErrNotFound) {
		t.Fatalf("a rejected batch wrote: %v", err)
	}
	if err := l.Record(ctx, []network.Event{{Volume: vol, Action: "anchor"}}); err == nil {
		t.Fatal("a client recorded an anchor event itself")
	}
}

// TestConcurrentWriters commits from two ledgers on one folder at once: no
// commit is lost and the chain verifies.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	owner := identity(t) // two processes of one owner
	a, b := open(t, dir, owner), open(t, dir, owner)
	vol := volumeOf(t, a)
	shared := randHex(16)
	errs := make(chan error, 2)
	var won [2]int
	for w, l := range []*embedded.Ledger{a, b} {
		go func() {
			for i := range 20 {
				batch := []network.Anchor{anchor(vol, randHex(16), 1)}
				if i == 0 {
					batch = append(batch, anchor(vol, shared, 1))
				}
				res, err := l.AnchorBatch(ctx, batch)
				if err != nil {
					errs <- err
					return
				}
				if len(res) == 2 && res[1].Err == nil {
					won[w]++
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if won[0]+won[1] != 1 {
		t.Fatalf("version 1 of one file was anchored %d times", won[0]+won[1])
	}
	evs, _ := a.Audit(ctx, network.AuditQuery{Volume: vol, Action: "anchor"})
	if len(evs) != 41 {
		t.Fatalf("%d anchor events, want 41", len(evs))
	}
	if err := embedded.VerifyDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkAnchorBatch(b *testing.B) {
	ctx := context.Background()
	l := open(b, b.TempDir(), identity(b))
	vol := volumeOf(b, l)
	const batch = 2000
	b.ResetTimer()
	for range b.N {
		as := make([]network.Anchor, batch)
		for i := range as {
			as[i] = anchor(vol, randHex(16), 1)
		}
		if _, err := l.AnchorBatch(ctx, as); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "versions/s")
}

var _ = fmt.Sprint

// TestConcurrentFirstOpens: processes that open a new ledger folder at the
// same moment all open it, on one node key.
func TestConcurrentFirstOpens(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := t.TempDir()
		id := identity(t)
		const n = 8
		errs := make(chan error, n)
		keys := make(chan string, n)
		for i := 0; i < n; i++ {
			go func() {
				l, err := embedded.Open(dir, id)
				if err == nil {
					info, ierr := l.Info(context.Background())
					keys <- info.Signer
					err = ierr
					l.Close()
				} else {
					keys <- ""
				}
				errs <- err
			}()
		}
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: a concurrent first open: %v", round, err)
			}
			seen[<-keys] = true
		}
		if len(seen) != 1 {
			t.Fatalf("round %d: %d node keys for one ledger", round, len(seen))
		}
	}
}

// TestVerifyDirRefusesAFolderWithoutALedger: verifying an empty or wrong
// folder fails and leaves no database behind.
func TestVerifyDirRefusesAFolderWithoutALedger(t *testing.T) {
	dir := t.TempDir()
	if err := embedded.VerifyDir(context.Background(), dir); err == nil {
		t.Fatal("an empty folder verified")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("verify left %d files in an empty folder", len(entries))
	}
	if err := embedded.VerifyDir(context.Background(), filepath.Join(dir, "nowhere")); err == nil {
		t.Fatal("a missing folder verified")
	}
}

// TestConformance runs the ledger suite against the embedded ledger, three
// identities on one ledger folder.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	grantee := identity(t)
	ledgertest.Run(t, ledgertest.Parties{
		Owner: open(t, dir, identity(t)), Grantee: open(t, dir, grantee), GranteeKey: grantee,
		Stranger: open(t, dir, identity(t)), Check: embedded.CheckProof,
	})
}
