package chaincode_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"strings"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network/embedded"
)

// The contracts run for real: through the embedded ledger's implementation
// of the shim, with a keyring identity as the caller.

func hexOf(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type fixture struct {
	t     testing.TB
	l     *embedded.Ledger
	actor string
	vol   string
}

func newFixture(t testing.TB) *fixture {
	id, err := keyring.Create(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := embedded.Open(t.TempDir(), id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fixture{t: t, l: l, actor: id.Public().LedgerID(), vol: hexOf(16)}
	if _, err := f.submit("Policy:Register", f.vol); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) submit(args ...string) ([]byte, error) {
	return f.l.Submit(context.Background(), args...)
}

func (f *fixture) version(file string, v uint64) wire.FileVersion {
	return wire.FileVersion{Volume: f.vol, File: file, Version: v, PrevVersion: v - 1,
		MerkleRoot: hexOf(32), ManifestHash: hexOf(32), Size: 42}
}

func (f *fixture) batch(vs ...wire.FileVersion) ([]wire.Outcome, error) {
	b, _ := json.Marshal(vs)
	out, err := f.submit("Files:AnchorBatch", string(b))
	if err != nil {
		return nil, err
	}
	var oc []wire.Outcome
	if err := json.Unmarshal(out, &oc); err != nil {
		f.t.Fatalf("outcomes %q: %v", out, err)
	}
	return oc, nil
}

func TestAnchorBatchOutcomes(t *testing.T) {
	f := newFixture(t)
	a, b := hexOf(16), hexOf(16)
	a1 := f.version(a, 1)
	oc, err := f.batch(a1, f.version(b, 1))
	if err != nil || oc[0].Status != wire.StatusAnchored || oc[1].Status != wire.StatusAnchored {
		t.Fatalf("first anchors: %+v %v", oc, err)
	}
	oc, err = f.batch(a1, f.version(b, 1), f.version(hexOf(16), 2))
	if err != nil {
		t.Fatal(err)
	}
	if oc[0].Status != wire.StatusExists || oc[1].Status != wire.StatusStale || oc[1].Current.Version != 1 || oc[2].Status != wire.StatusStale || oc[2].Current != nil {
		t.Fatalf("retry, conflict, unknown previous: %+v", oc)
	}
}

// TestAnchorOnAVersionTheLedgerNeverTookIsStale: two writers both make
// version 2; the second's version 3, made on its own version 2, names a
// manifest the ledger does not have and is stale, though the numbers fit.
func TestAnchorOnAVersionTheLedgerNeverTookIsStale(t *testing.T) {
	f := newFixture(t)
	file := hexOf(16)
	v1 := f.version(file, 1)
	theirs2, ours2, ours3 := f.version(file, 2), f.version(file, 2), f.version(file, 3)
	theirs2.PrevManifestHash, ours2.PrevManifestHash = v1.ManifestHash, v1.ManifestHash
	ours3.PrevManifestHash = ours2.ManifestHash
	for _, v := range []wire.FileVersion{v1, theirs2} {
		if oc, err := f.batch(v); err != nil || oc[0].Status != wire.StatusAnchored {
			t.Fatalf("anchoring version %d: %+v %v", v.Version, oc, err)
		}
	}
	for _, v := range []wire.FileVersion{ours2, ours3} {
		oc, err := f.batch(v)
		if err != nil || oc[0].Status != wire.StatusStale || oc[0].Current.ManifestHash != theirs2.ManifestHash {
			t.Fatalf("our version %d on a base the ledger lacks: %+v %v", v.Version, oc, err)
		}
	}
	next := f.version(file, 3)
	next.PrevManifestHash = theirs2.ManifestHash
	if oc, err := f.batch(next); err != nil || oc[0].Status != wire.StatusAnchored {
		t.Fatalf("a version on the anchored one: %+v %v", oc, err)
	}
}

func TestAnchorBatchRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	good := f.version(hexOf(16), 1)
	many := make([]wire.FileVersion, 5001)
	for i := range many {
		many[i] = f.version(hexOf(16), 1)
	}
	cases := map[string]any{
		"not json":       "{",
		"empty":          []wire.FileVersion{},
		"too many":       many,
		"duplicate file": []wire.FileVersion{good, good},
	}
	for name, mutate := range map[string]func(*wire.FileVersion){
		"bad volume":         func(v *wire.FileVersion) { v.Volume = "../x" },
		"short file id":      func(v *wire.FileVersion) { v.File = "abc" },
		"upper-case hash":    func(v *wire.FileVersion) { v.ManifestHash = strings.ToUpper(v.ManifestHash) },
		"no merkle root":     func(v *wire.FileVersion) { v.MerkleRoot = "" },
		"version zero":       func(v *wire.FileVersion) { v.Version, v.PrevVersion = 0, 0 },
		"version gap":        func(v *wire.FileVersion) { v.Version = 5 },
		"negative size":      func(v *wire.FileVersion) { v.Size = -5 },
		"previous = version": func(v *wire.FileVersion) { v.PrevVersion = v.Version },
		"non-hex manifest":   func(v *wire.FileVersion) { v.ManifestHash = strings.Repeat("g", 64) },
		"first replaces one": func(v *wire.FileVersion) { v.PrevManifestHash = hexOf(32) },
		"bad previous hash": func(v *wire.FileVersion) {
			v.Version, v.PrevVersion, v.PrevManifestHash = 2, 1, "xyz"
		},
	} {
		v := f.version(hexOf(16), 1)
		mutate(&v)
		cases[name] = []wire.FileVersion{good, v}
	}
	for name, c := range cases {
		arg, ok := c.(string)
		if !ok {
			b, _ := json.Marshal(c)
			arg = string(b)
		}
		if _, err := f.submit("Files:AnchorBatch", arg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := f.l.Evaluate("Files:Latest", good.Volume, good.File); err == nil {
		t.Fatal("a rejected batch wrote its good anchor")
	}
}

func TestAnchorLatestHistory(t *testing.T) {
	f := newFixture(t)
	file := hexOf(16)
	for v := uint64(1); v <= 3; v++ {
		x := f.version(file, v)
		if _, err := f.submit("Files:Anchor", x.Volume, x.File, fmt.Sprint(x.Version), fmt.Sprint(x.PrevVersion), x.MerkleRoot, x.ManifestHash, fmt.Sprint(x.Size)); err != nil {
			t.Fatal(err)
		}
	}
	stale := f.version(file, 3)
	if _, err := f.submit("Files:Anchor", stale.Volume, stale.File, "3", "2", stale.MerkleRoot, stale.ManifestHash, "1"); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("a stale single anchor: %v", err)
	}
	out, err := f.l.Evaluate("Files:Latest", f.vol, file)
	var latest wire.FileVersion
	json.Unmarshal(out, &latest)
	if err != nil || latest.Version != 3 || latest.Actor != f.actor || latest.TxID == "" || latest.Time.IsZero() {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	out, err = f.l.Evaluate("Files:History", f.vol, file)
	var hist []wire.FileVersion
	json.Unmarshal(out, &hist)
	if err != nil || len(hist) != 3 || hist[0].Version != 1 || hist[2].Version != 3 {
		t.Fatalf("history: %+v %v", hist, err)
	}
	for _, args := range [][]string{
		{"Files:Latest", f.vol, hexOf(16)},
		{"Files:Latest", "bad", file},
		{"Files:Latest", f.vol, "bad"},
		{"Files:History", "bad", file},
		{"Files:History", f.vol, "bad"},
		{"Files:NoSuchFunction"},
	} {
		if _, err := f.l.Evaluate(args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	out, _ = f.l.Evaluate("Files:History", f.vol, hexOf(16))
	if string(out) != "[]" {
		t.Fatalf("history of an unknown file: %s", out)
	}
}

func TestAuditRecordAndQuery(t *testing.T) {
	f := newFixture(t)
	file, other := hexOf(16), hexOf(16)
	f.batch(f.version(file, 1))
	before := time.Now().UTC()
	rec := func(evs ...wire.Event) error {
		b, _ := json.Marshal(evs)
		_, err := f.submit("Audit:Record", string(b))
		return err
	}
	if err := rec(wire.Event{Volume: f.vol, File: file, Action: "read", Actor: "someone/else", Time: time.Unix(0, 0)},
		wire.Event{Volume: f.vol, File: other, Action: "integrity", Detail: map[string]string{"problem": "x"}}); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]wire.Event{
		"bad volume":     {Volume: "x", Action: "read"},
		"bad file":       {Volume: f.vol, File: "x", Action: "read"},
		"anchor by hand": {Volume: f.vol, Action: "anchor"},
		"grant by hand":  {Volume: f.vol, Action: "grant"},
		"huge detail":    {Volume: f.vol, Action: "read", Detail: bigDetail()},
	} {
		if err := rec(e); err == nil {
			t.Errorf("%s: recorded", name)
		}
	}
	if err := rec(); err == nil {
		t.Error("an empty record call: accepted")
	}
	query := func(q wire.Query) []wire.Event {
		evs, err := allEvents(f.l, q)
		if err != nil {
			t.Fatalf("query %+v: %v", q, err)
		}
		return evs
	}
	all := query(wire.Query{Volume: f.vol})
	if len(all) != 4 || all[0].Action != "register" {
		t.Fatalf("all events: %+v", all)
	}
	for _, e := range all {
		if e.Actor != f.actor || e.Time.Before(time.Now().Add(-time.Minute)) {
			t.Fatalf("the caller set the actor or time of %+v", e)
		}
	}
	for name, c := range map[string]struct {
		q    wire.Query
		want int
	}{
		"by file":    {wire.Query{Volume: f.vol, File: file}, 2},
		"by action":  {wire.Query{Volume: f.vol, Action: "integrity"}, 1},
		"by actor":   {wire.Query{Volume: f.vol, Actor: "nobody/0"}, 0},
		"since":      {wire.Query{Volume: f.vol, Since: before.Format(time.RFC3339Nano)}, 2},
		"until":      {wire.Query{Volume: f.vol, Until: before.Format(time.RFC3339Nano)}, 2},
		"everything": {wire.Query{Volume: f.vol, Actor: f.actor}, 4},
	} {
		if got := query(c.q); len(got) != c.want {
			t.Errorf("%s: %d events, want %d", name, len(got), c.want)
		}
	}
	for _, bad := range []string{"{", `{"volume":"x"}`, fmt.Sprintf(`{"volume":%q}`, hexOf(16)), fmt.Sprintf(`{"volume":%q,"since":"yesterday"}`, f.vol), fmt.Sprintf(`{"volume":%q,"until":"soon"}`, f.vol)} {
		if _, err := f.l.Evaluate("Audit:Events", bad); err == nil {
			t.Errorf("query %s: accepted", bad)
		}
	}
}

// allEvents asks the query's every page.
func allEvents(l *embedded.Ledger, q wire.Query) ([]wire.Event, error) {
	var all []wire.Event
	for {
		b, _ := json.Marshal(q)
		out, err := l.Evaluate("Audit:Events", string(b))
		if err != nil {
			return nil, err
		}
		var page wire.EventPage
		if err := json.Unmarshal(out, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Events...)
		if page.Next == "" {
			return all, nil
		}
		q.After = page.Next
	}
}

// A query by file, actor or action reads its index only, a page at a
// time, from its since bound on.
func TestAuditQueriesReadTheirIndex(t *testing.T) {
	f := newFixture(t)
	file := hexOf(16)
	var noise []wire.Event
	for range 300 {
		noise = append(noise, wire.Event{Volume: f.vol, File: hexOf(16), Action: "integrity"})
	}
	record := func(evs ...wire.Event) {
		t.Helper()
		b, _ := json.Marshal(evs)
		if _, err := f.submit("Audit:Record", string(b)); err != nil {
			t.Fatal(err)
		}
	}
	record(noise...)
	record(wire.Event{Volume: f.vol, File: file, Action: "read", Detail: map[string]string{"bytes": "10"}})
	mid := time.Now().UTC()
	record(noise...)
	record(wire.Event{Volume: f.vol, File: file, Action: "read", Detail: map[string]string{"bytes": "20"}})
	page := func(q wire.Query) wire.EventPage {
		t.Helper()
		q.Volume = f.vol
		b, _ := json.Marshal(q)
		out, err := f.l.Evaluate("Audit:Events", string(b))
		if err != nil {
			t.Fatal(err)
		}
		var p wire.EventPage
		json.Unmarshal(out, &p)
		return p
	}
	// Ten scanned at most: a scan of the volume's 600 events would need 61 pages.
	for name, q := range map[string]wire.Query{"by file": {File: file}, "by action": {Action: "read"}} {
		p := page(wire.Query{File: q.File, Action: q.Action, Limit: 10})
		if len(p.Events) != 2 || p.Next != "" || p.Events[0].Detail["bytes"] != "10" {
			t.Errorf("%s: %d events, next %q", name, len(p.Events), p.Next)
		}
		p = page(wire.Query{File: q.File, Action: q.Action, Limit: 10, Since: mid.Format(time.RFC3339Nano)})
		if len(p.Events) != 1 || p.Next != "" || p.Events[0].Detail["bytes"] != "20" {
			t.Errorf("%s since: %+v", name, p)
		}
		p = page(wire.Query{File: q.File, Action: q.Action, Limit: 10, Until: mid.Format(time.RFC3339Nano)})
		if len(p.Events) != 1 || p.Next != "" || p.Events[0].Detail["bytes"] != "10" {
			t.Errorf("%s until: %+v", name, p)
		}
	}
	p := page(wire.Query{Action: "integrity", Limit: 250})
	if len(p.Events) != 250 || p.Next == "" {
		t.Fatalf("the first page of 600: %d events, next %q", len(p.Events), p.Next)
	}
	all, err := allEvents(f.l, wire.Query{Volume: f.vol, Action: "integrity", Limit: 250})
	if err != nil || len(all) != 600 {
		t.Fatalf("every page: %d events, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.Before(all[i-1].Time) {
			t.Fatal("pages are not in time order")
		}
	}
	b, _ := json.Marshal(wire.Query{Volume: f.vol, Action: "read", After: p.Next})
	if _, err := f.l.Evaluate("Audit:Events", string(b)); err == nil {
		t.Error("a page of another query: accepted")
	}
}

func bigDetail() map[string]string {
	d := map[string]string{}
	for i := range 20 {
		d[fmt.Sprint(i)] = "x"
	}
	return d
}
