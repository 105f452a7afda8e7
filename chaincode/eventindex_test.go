package chaincode_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/anchorfs/anchorfs/chaincode/wire"
)

// TestTheActorAndActionIndexesHoldAnEntryPerTransaction: a transaction of
// many events puts one entry in the index by actor and one per action,
// not one per event; queries by actor and by action page through them in
// pages that end inside a transaction, every event once, in order; and a
// ledger written before, with an entry per event in those indexes, gives
// the same answers.
func TestTheActorAndActionIndexesHoldAnEntryPerTransaction(t *testing.T) {
	f := newFixture(t)
	actions := [][]string{
		{"read", "integrity", "read", "integrity", "read", "read", "integrity"},
		{"integrity", "read", "read", "integrity", "read"},
	}
	var all []string // the events recorded, as "action i", in order
	for _, tx := range actions {
		var evs []wire.Event
		for _, a := range tx {
			evs = append(evs, wire.Event{Volume: f.vol, File: hexOf(16), Action: a, Detail: map[string]string{"i": fmt.Sprint(len(all))}})
			all = append(all, fmt.Sprintf("%s %d", a, len(all)))
		}
		b, _ := json.Marshal(evs)
		if _, err := f.submit("Audit:Record", string(b)); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", filepath.Join(f.l.Dir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entries := func(index string) [][2][]byte {
		t.Helper()
		prefix := "\x00" + index + "\x00" + f.vol + "\x00"
		rows, err := db.Query(`SELECT key, value FROM state WHERE key >= ? AND key < ? ORDER BY key`, []byte(prefix), []byte(prefix+"\xff"))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out [][2][]byte
		for rows.Next() {
			var k, v []byte
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			out = append(out, [2][]byte{k, v})
		}
		return out
	}
	// The volume's registration is one event of one transaction, then two
	// transactions of two actions each.
	if n := len(entries("evactor")); n != 3 {
		t.Errorf("%d entries by actor, want 3 (one per transaction)", n)
	}
	if n := len(entries("evaction")); n != 5 {
		t.Errorf("%d entries by action, want 5 (one per transaction and action)", n)
	}
	want := func(action string) []string {
		var out []string
		for _, e := range all {
			if action == "" || strings.HasPrefix(e, action+" ") {
				out = append(out, e)
			}
		}
		return out
	}
	check := func(ledger string) {
		t.Helper()
		for _, c := range []struct {
			q    wire.Query
			want []string
		}{
			{wire.Query{Volume: f.vol, Action: "integrity", Limit: 2}, want("integrity")},
			{wire.Query{Volume: f.vol, Action: "read", Limit: 1}, want("read")},
			{wire.Query{Volume: f.vol, Actor: f.actor, Limit: 3}, want("")},
			{wire.Query{Volume: f.vol, Actor: f.actor, Limit: 1000}, want("")},
		} {
			evs, err := allEvents(f.l, c.q)
			if err != nil {
				t.Fatalf("%s ledger, %+v: %v", ledger, c.q, err)
			}
			var got []string
			for _, e := range evs {
				if e.Action != "register" {
					got = append(got, fmt.Sprintf("%s %s", e.Action, e.Detail["i"]))
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s ledger, %+v:\n got %q\nwant %q", ledger, c.q, got, c.want)
			}
		}
	}
	check("this")
	// An older ledger: the same events, each with its own entry by actor
	// and by action (...~TXID~N, a marker).
	for _, index := range []string{"evactor", "evaction"} {
		for _, e := range entries(index) {
			var lo, hi int
			ranges := string(e[1])
			if _, err := db.Exec(`DELETE FROM state WHERE key = ?`, e[0]); err != nil {
				t.Fatal(err)
			}
			for _, r := range strings.Split(ranges, ",") {
				if n, _ := fmt.Sscanf(r, "%d-%d", &lo, &hi); n == 1 {
					hi = lo
				}
				for n := lo; n <= hi; n++ {
					key := append(slices.Clone(e[0]), fmt.Sprintf("%06d\x00", n)...)
					if _, err := db.Exec(`INSERT INTO state (key, value, block, tx) VALUES (?, ?, 1, 0)`, key, []byte{1}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	if n := len(entries("evactor")); n != 13 {
		t.Fatalf("the older ledger has %d entries by actor, want 13", n)
	}
	check("older")
}
