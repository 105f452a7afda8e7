package chaincode_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"
)

// BenchmarkAuditQueries fills the embedded ledger with 100,000 events of
// one volume (1,000 files; the owner's and a grantee's; reads, downloads,
// integrity failures, mounts) and times each filtered query: its first
// page, and its every page (the bar in docs/AUDIT.md: under 200 ms each).
// `make bench-audit` runs it.
func BenchmarkAuditQueries(b *testing.B) {
	f := newFixture(b)
	owner, grantee := f.owner(), f.party()
	dom := hexOf(16)
	keys := base64.StdEncoding.EncodeToString([]byte("wrapped"))
	if o := owner.policy("Policy:Grant", f.vol, dom, "/shared", grantee.key, "ro", keys, "1", ""); o.Status != wire.StatusGranted {
		b.Fatalf("grant: %+v", o)
	}
	if _, err := grantee.submit("Policy:Join", f.vol, grantee.key, grantee.joinSignature(f.vol)); err != nil {
		b.Fatal(err)
	}
	files := make([]string, 1000)
	for i := range files {
		files[i] = hexOf(16)
	}
	actions := []string{"read", "read", "read", "download", "integrity", "mount"}
	const total, perTx = 100_000, wire.MaxEvents
	start := time.Now()
	for n := 0; n < total; n += perTx {
		by := owner
		if n >= total*9/10 {
			by = grantee // the last tenth: the grantee's reads of its folder
		}
		evs := make([]wire.Event, perTx)
		for i := range evs {
			k := n + i
			e := wire.Event{Volume: f.vol, File: files[k%len(files)], Action: actions[k%len(actions)],
				Detail: map[string]string{"bytes": fmt.Sprint(k)}}
			if by == grantee {
				e.Action, e.Detail["domain"] = "read", dom
			}
			evs[i] = e
		}
		js, _ := json.Marshal(evs)
		if _, err := by.submit("Audit:Record", string(js)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d events recorded in %v", total, time.Since(start).Round(time.Millisecond))
	mid := time.Now().Add(-time.Since(start) / 2).UTC().Format(time.RFC3339Nano)
	for _, c := range []struct {
		name string
		q    wire.Query
	}{
		{"file", wire.Query{File: files[7]}},                   // 100 events
		{"file-since", wire.Query{File: files[7], Since: mid}}, // about 50
		{"actor", wire.Query{Actor: grantee.actor}},            // 10,000
		{"action-mount", wire.Query{Action: "mount"}},          // 15,000
		{"action-integrity-since", wire.Query{Action: "integrity", Since: mid}},
	} {
		c.q.Volume = f.vol
		b.Run(c.name+"/first-page", func(b *testing.B) {
			q := c.q
			q.Limit = 100
			js, _ := json.Marshal(q)
			for b.Loop() {
				if _, err := f.l.Evaluate("Audit:Events", string(js)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/all", func(b *testing.B) {
			n := 0
			for b.Loop() {
				evs, err := allEvents(f.l, c.q)
				if err != nil {
					b.Fatal(err)
				}
				n = len(evs)
			}
			b.ReportMetric(float64(n), "events")
		})
	}
}
