package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writer is one home of a volume mounted by the real binary, as a
// randomized test drives it.
type writer struct {
	t    *testing.T
	name string
	env  []string
	mnt  string
	pid  int
	// lines written to each shared file, and those acknowledged (closed and
	// then synced, or fsync'ed, or flushed by a clean unmount)
	written, unacked map[string][]string
	acked            map[string][]string
	// private files (only this writer touches them): name -> content, as of
	// its last acknowledgement
	private map[string]string
}

func newWriter(t *testing.T, name string, env []string) *writer {
	w := &writer{t: t, name: name, env: env, written: map[string][]string{}, unacked: map[string][]string{},
		acked: map[string][]string{}, private: map[string]string{}}
	w.mount()
	return w
}

var pidOf = regexp.MustCompile(`pid (\d+)`)

func (w *writer) mount() {
	w.t.Helper()
	if w.mnt == "" {
		w.mnt = w.t.TempDir()
		mnt := w.mnt
		w.t.Cleanup(func() { unmountAndWait(w.t, w.env, mnt) })
	}
	r := anchorfs(w.t, w.env, "mount", w.mnt, "--background")
	m := pidOf.FindStringSubmatch(r.out)
	if r.code != 0 || m == nil {
		w.t.Fatalf("%s: mount: %+v", w.name, r)
	}
	w.pid, _ = strconv.Atoi(m[1])
}

// ack marks everything written so far as acknowledged.
func (w *writer) ack() {
	for f, lines := range w.unacked {
		w.acked[f] = append(w.acked[f], lines...)
	}
	w.unacked = map[string][]string{}
}

func (w *writer) sync() {
	w.t.Helper()
	if r := anchorfs(w.t, w.env, "sync"); r.code != 0 {
		w.t.Fatalf("%s: sync: %+v", w.name, r)
	}
	w.ack()
}

// unmount flushes: a clean unmount acknowledges what was written.
func (w *writer) unmount() {
	w.t.Helper()
	if out, err := exec.Command("umount", w.mnt).CombinedOutput(); err != nil {
		w.t.Fatalf("%s: umount: %s", w.name, out)
	}
	w.waitGone()
	w.ack()
}

// waitGone waits for the mount process to exit.
func (w *writer) waitGone() {
	for i := 0; i < 600 && syscall.Kill(w.pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the mount with SIGKILL: what was not acknowledged may be lost.
func (w *writer) kill() {
	syscall.Kill(w.pid, syscall.SIGKILL)
	w.waitGone()
	exec.Command("umount", "-l", w.mnt).Run()
	w.unacked = map[string][]string{}
}

// appendLine appends a line to a shared file; with fsync it is acknowledged at once.
func (w *writer) appendLine(file, line string, fsync bool) {
	w.t.Helper()
	f, err := os.OpenFile(filepath.Join(w.mnt, file), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Fatalf("%s: open %s: %v", w.name, file, err)
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		w.t.Fatalf("%s: append to %s: %v", w.name, file, err)
	}
	if fsync {
		if err := f.Sync(); err != nil {
			w.t.Fatalf("%s: fsync %s: %v", w.name, file, err)
		}
	}
	if err := f.Close(); err != nil {
		w.t.Fatalf("%s: close %s: %v", w.name, file, err)
	}
	w.written[file] = append(w.written[file], line)
	if fsync {
		w.acked[file] = append(w.acked[file], line)
	} else {
		w.unacked[file] = append(w.unacked[file], line)
	}
}

// privateOp creates, overwrites, renames or removes one of this writer's
// own files, then syncs.
func (w *writer) privateOp(rng *rand.Rand, k int) {
	w.t.Helper()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range w.private {
			if !yield(n) {
				return
			}
		}
	})
	path := func(n string) string { return filepath.Join(w.mnt, n) }
	switch op := rng.IntN(4); {
	case op == 0 || len(names) == 0:
		n := fmt.Sprintf("%s-own-%d.txt", w.name, k)
		content := fmt.Sprintf("%s private %d", w.name, k)
		if err := os.WriteFile(path(n), []byte(content), 0o644); err != nil {
			w.t.Fatalf("%s: %v", w.name, err)
		}
		w.private[n] = content
	case op == 1:
		n := names[rng.IntN(len(names))]
		content := fmt.Sprintf("%s rewrote %d", w.name, k)
		if err := os.WriteFile(path(n), []byte(content), 0o644); err != nil {
			w.t.Fatalf("%s: %v", w.name, err)
		}
		w.private[n] = content
	case op == 2:
		n := names[rng.IntN(len(names))]
		to := fmt.Sprintf("%s-moved-%d.txt", w.name, k)
		if err := os.Rename(path(n), path(to)); err != nil {
			w.t.Fatalf("%s: %v", w.name, err)
		}
		w.private[to] = w.private[n]
		delete(w.private, n)
	default:
		n := names[rng.IntN(len(names))]
		if err := os.Remove(path(n)); err != nil {
			w.t.Fatalf("%s: %v", w.name, err)
		}
		delete(w.private, n)
	}
	w.sync()
}

// TestInterleavedWritersLoseNothing runs two homes of one volume, on one
// embedded ledger, through a seeded random mix of appends to shared files
// (closed then synced, or fsync'ed), near-simultaneous writes, private
// creates, overwrites, renames and removes, one home going offline for a
// while and one killed with -9 between an fsync and the resolution of its
// conflict. At the end every acknowledged line of a shared file is in that
// file or in one of its conflict copies, every line anywhere was written by
// someone to that file, each home's private files are exactly as it left
// them, and verify is clean in both homes.
func TestInterleavedWritersLoseNothing(t *testing.T) {
	needRoot(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("INTERLEAVE_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("INTERLEAVE_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	steps := 60
	if testing.Short() {
		steps = 25
	}

	ledger := filepath.Join(t.TempDir(), "ledger")
	remote := filepath.Join(t.TempDir(), "remote")
	env1 := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home1"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, env1, "init", "--remote", remote, "--ledger", "embedded:"+ledger)
	env2 := secondHome(t, env1, remote)
	ws := []*writer{newWriter(t, "one", env1), newWriter(t, "two", env2)}
	shared := []string{"s0.txt", "s1.txt", "s2.txt"}

	// A conflict whose loser is killed after its fsync, before it can keep
	// its copy: after a restart the outbox still makes the copy.
	ws[0].appendLine("s0.txt", "one-first", false)
	ws[0].sync()
	ws[1].appendLine("s0.txt", "two-first", true)
	ws[1].kill()
	ws[1].mount()

	offline := -1 // the writer that is unmounted for a while
	for k := 0; k < steps; k++ {
		i := rng.IntN(2)
		if i == offline {
			i = 1 - i
		}
		w := ws[i]
		switch r := rng.IntN(20); {
		case r < 8:
			w.appendLine(shared[rng.IntN(len(shared))], fmt.Sprintf("%s-%d", w.name, k), rng.IntN(4) == 0)
		case r < 11:
			w.sync()
		case r < 13: // near-simultaneous: both append to one file and close, then both sync at once
			if offline >= 0 {
				continue
			}
			f := shared[rng.IntN(len(shared))]
			for _, x := range ws {
				x.appendLine(f, fmt.Sprintf("%s-%d-together", x.name, k), false)
			}
			done := make(chan result, 2)
			for _, x := range ws {
				go func() { done <- anchorfs(t, x.env, "sync") }()
			}
			for range ws {
				if r := <-done; r.code != 0 {
					t.Fatalf("sync: %+v", r)
				}
			}
			ws[0].ack()
			ws[1].ack()
		case r < 17:
			w.privateOp(rng, k)
		case r < 18 && offline < 0:
			w.unmount()
			offline = i
		case r < 19 && offline >= 0:
			ws[offline].mount()
			offline = -1
		default:
			if offline < 0 {
				w.kill()
				w.mount()
			}
		}
	}
	if offline >= 0 {
		ws[offline].mount()
	}
	// Both converge: each takes the other's heads and resolves its conflicts.
	for _, w := range []*writer{ws[0], ws[1], ws[0], ws[1]} {
		w.sync()
	}
	for _, w := range ws {
		w.unmount()
	}
	check := newWriter(t, "check", env1)
	got := files(t, check.mnt)
	written := map[string]map[string]bool{}
	for _, w := range ws {
		for f, lines := range w.written {
			if written[f] == nil {
				written[f] = map[string]bool{}
			}
			for _, l := range lines {
				written[f][l] = true
			}
		}
	}
	seen := map[string]map[string]bool{} // shared file -> lines in it or its copies
	for name, content := range got {
		base := ""
		for _, f := range shared {
			stem := strings.TrimSuffix(f, ".txt")
			if name == f || (strings.HasPrefix(name, stem+" (conflict ") && strings.HasSuffix(name, ").txt")) {
				base = f
			}
		}
		if base == "" {
			owner := strings.SplitN(name, "-", 2)[0]
			var w *writer
			for _, x := range ws {
				if x.name == owner {
					w = x
				}
			}
			if w == nil || w.private[name] != content {
				t.Errorf("%q holds %q: no writer left it so", name, content)
			}
			continue
		}
		if seen[base] == nil {
			seen[base] = map[string]bool{}
		}
		for _, l := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
			if !written[base][l] {
				t.Errorf("%q holds line %q, which nobody wrote to %s", name, l, base)
			}
			seen[base][l] = true
		}
	}
	for _, w := range ws {
		for f, lines := range w.acked {
			for _, l := range lines {
				if !seen[f][l] {
					t.Errorf("acknowledged line %q of %s is nowhere", l, f)
				}
			}
		}
		for name, content := range w.private {
			if got[name] != content {
				t.Errorf("%s's private file %s: %q, want %q", w.name, name, got[name], content)
			}
		}
	}
	for _, env := range [][]string{env1, env2} {
		if r := anchorfs(t, env, "verify"); r.code != 0 {
			t.Errorf("verify: %+v", r)
		}
	}
	if t.Failed() {
		t.Logf("files at the end: %q", got)
	}
}
