package anchoring

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOutboxReplay reopens an outbox log of arbitrary bytes (a crash can
// leave any prefix, a disk any damage): it never panics, and what it keeps
// is written back so that a second reopen keeps the same.
func FuzzOutboxReplay(f *testing.F) {
	f.Add([]byte(`{"op":"add","anchor":{"volume":"v","file":"f1","version":1,"prevVersion":0,"merkleRoot":"","manifestHash":"","size":0},"commit":1}
{"op":"heads","commit":1,"heads":["heads/a"]}
{"op":"committed","commit":1}
{"op":"add","anchor":{"volume":"v","file":"f2","version":1,"prevVersion":0,"merkleRoot":"","manifestHash":"","size":0},"commit":2}
{"op":"heads","commit":2,"heads":["heads/b"]}
{"op":"done","anchor":{"volume":"","file":"f1","version":1,"prevVersion":0,"merkleRoot":"","manifestHash":"","size":0}}
{"op":"add","anch`))
	f.Add([]byte(`{"op":"add","anchor":{"file":"legacy","version":3}}`))
	f.Fuzz(func(t *testing.T, log []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "outbox"), log, 0o600); err != nil {
			t.Fatal(err)
		}
		up := func(name string) bool { return name == "heads/b" }
		ob, err := Open(dir, up, func(string, ...any) {})
		if err != nil {
			return
		}
		first := ob.sortedPending()
		ob.Close()
		ob2, err := Open(dir, up, func(string, ...any) {})
		if err != nil {
			t.Fatalf("an outbox this build wrote does not reopen: %v", err)
		}
		defer ob2.Close()
		second := ob2.sortedPending()
		if len(first) != len(second) {
			t.Fatalf("reopen kept %d versions, then %d", len(first), len(second))
		}
		for i := range first {
			if anchorKey(first[i]) != anchorKey(second[i]) {
				t.Fatalf("reopen changed what is kept: %v then %v", first, second)
			}
		}
	})
}
