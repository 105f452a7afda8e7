package volume

import (
	"testing"
	"time"
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

// TestConflictNamesAreFree: several conflicts of one file in one second
// each get a name of their own, and a merge names the side that moves aside
// from its id, the same on every writer.
func TestConflictNamesAreFree(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 4, 5, 0, time.UTC)
	d := &Node{entries: map[string]*Node{}}
	for _, want := range []string{
		"g (conflict vm 2026-11-23 100405).txt",
		"g (conflict vm 2026-11-23 100405 2).txt",
		"g (conflict vm 2026-11-23 100405 3).txt",
	} {
		got := freeConflictName(d, "g.txt", "vm", at)
		if got != want {
			t.Fatalf("freeConflictName = %q, want %q", got, want)
		}
		d.entries[got] = &Node{}
	}
	id := "3f9a1c2e00112233445566778899aabb"
	if got := mergeConflictName(d, "Makefile", id); got != "Makefile (conflict 3f9a1c2e)" {
		t.Fatalf("mergeConflictName = %q", got)
	}
	d.entries["notes (conflict 3f9a1c2e).md"] = &Node{}
	if got := mergeConflictName(d, "notes.md", id); got != "notes (conflict 3f9a1c2e 2).md" {
		t.Fatalf("mergeConflictName when taken = %q", got)
	}
}
