package volume

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/network"
)

func TestConflictName(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 4, 5, 0, time.UTC)
	for name, want := range map[string]string{
		"report.pdf":  "report (conflict laptop 2026-11-23 100405).pdf",
		"Makefile":    "Makefile (conflict laptop 2026-11-23 100405)",
		".bashrc":     ".bashrc (conflict laptop 2026-11-23 100405)",
		"a.tar.gz":    "a.tar (conflict laptop 2026-11-23 100405).gz",
		"no-host.txt": "no-host (conflict laptop 2026-11-23 100405).txt",
	} {
		if got := conflictName(name, "laptop", at); got != want {
			t.Errorf("conflictName(%q) = %q, want %q", name, got, want)
		}
	}
	if got := conflictName("x", "", at); got != "x (conflict unknown 2026-11-23 100405)" {
		t.Errorf("without a host: %q", got)
	}
}

// TestOutboxSurvivesReopen: entries made durable come back after a reopen
// (a crash), done entries do not, and a torn last line is ignored.
func TestOutboxSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ob, err := openOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := network.Anchor{File: "f1", Version: 1}
	b := network.Anchor{File: "f2", Version: 1}
	c := network.Anchor{File: "f1", Version: 2}
	ob.add(a, 0)
	ob.add(b, 0)
	ob.add(c, 0)
	if got := ob.batch(10); len(got) != 2 {
		t.Fatalf("a batch holds one version per file: %d entries", len(got))
	}
	ob.done(map[string]bool{anchorKey(a): true})
	if err := ob.durable(); err != nil {
		t.Fatal(err)
	}
	ob.file.Close() // a crash: no clean close
	f, _ := os.OpenFile(filepath.Join(dir, "outbox"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"op":"done","anch`)
	f.Close()
	if n := OutboxPending(dir); n != 2 {
		t.Fatalf("OutboxPending = %d, want 2", n)
	}
	ob2, err := openOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ob2.close()
	got := ob2.sortedPending()
	if len(got) != 2 || got[0] != c || got[1] != b {
		t.Fatalf("after reopen: %+v", got)
	}
}
