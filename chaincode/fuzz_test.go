package chaincode_test

import (
	"encoding/json"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"testing"
)

// FuzzChaincodeArguments calls every contract function with arbitrary
// arguments through the real shim: it answers or refuses, never panics, and
// a refused AnchorBatch anchors nothing.
func FuzzChaincodeArguments(f *testing.F) {
	fx := newFixture(f)
	good, _ := json.Marshal([]wire.FileVersion{fx.version(hexOf(16), 1)})
	f.Add(uint8(0), string(good), "", "")
	f.Add(uint8(0), `[{"volume":"`+fx.vol+`","file":"`+hexOf(16)+`","version":2,"prevVersion":1,"prevManifestHash":"zz"}]`, "", "")
	f.Add(uint8(1), `[{"time":"2026-01-01T00:00:00Z","actor":"a","action":"read","volume":"`+fx.vol+`"}]`, "", "")
	f.Add(uint8(2), `{"volume":"`+fx.vol+`","action":"anchor"}`, "", "")
	f.Add(uint8(3), fx.vol, hexOf(16), "")
	f.Add(uint8(5), fx.vol, "", "")
	f.Add(uint8(7), fx.vol, "key", "sig")
	heads, _ := json.Marshal([]wire.HeadVersion{{Volume: fx.vol, Hash: hexOf(32), Seq: 3, Parents: []string{hexOf(32)}}})
	f.Add(uint8(10), string(good), string(heads), "")
	f.Add(uint8(11), fx.vol, "", "")
	f.Add(uint8(12), fx.vol, `["`+hexOf(16)+`"]`, "")
	f.Fuzz(func(t *testing.T, fn uint8, a, b, c string) {
		var args []string
		switch fn % 13 {
		case 12:
			args = []string{"Files:LatestMany", a, b}
		case 10:
			args = []string{"Files:Commit", a, b}
		case 11:
			args = []string{"Files:LatestHead", a, b}
		case 0:
			args = []string{"Files:AnchorBatch", a}
		case 1:
			args = []string{"Audit:Record", a}
		case 2:
			args = []string{"Audit:Events", a}
		case 3:
			args = []string{"Files:Latest", a, b}
		case 4:
			args = []string{"Files:History", a, b}
		case 5:
			args = []string{"Policy:Register", a}
		case 6:
			args = []string{"Policy:Grants", a, b}
		case 7:
			args = []string{"Policy:Join", a, b, c}
		case 8:
			args = []string{"Policy:Revoke", a, b, c}
		default:
			args = []string{"Policy:Owner", a}
		}
		if k := fn % 13; k == 2 || k == 3 || k == 4 || k == 6 || k == 9 || k == 11 || k == 12 {
			fx.l.Evaluate(args...)
			return
		}
		_, err := fx.submit(args...)
		if err != nil && (fn%12 == 0 || fn%12 == 10) {
			var anchors []wire.FileVersion
			if json.Unmarshal([]byte(a), &anchors) == nil {
				for _, v := range anchors {
					if cur, qerr := fx.l.Evaluate("Files:Latest", v.Volume, v.File); qerr == nil && string(cur) != "" {
						var got wire.FileVersion
						if json.Unmarshal(cur, &got) == nil && got.ManifestHash == v.ManifestHash && got.Version == v.Version && v.ManifestHash != "" {
							t.Fatalf("a refused batch (%v) anchored %s version %d", err, v.File, v.Version)
						}
					}
				}
			}
		}
	})
}
