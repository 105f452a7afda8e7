package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// absent is the state of a path that holds no file.
const absent = "\x00absent"

// crashModel follows what a sequential workload did to each path: the
// states each path went through, and the first of them that an fsync made
// durable. A state is the file's content, or absent.
type crashModel struct {
	states  map[string][]string
	durable map[string]int
}

func newCrashModel(start map[string]string) *crashModel {
	m := &crashModel{states: map[string][]string{}, durable: map[string]int{}}
	for p, c := range start {
		m.states[p] = []string{c}
	}
	return m
}

func (m *crashModel) current(p string) string {
	if s := m.states[p]; len(s) > 0 {
		return s[len(s)-1]
	}
	return absent
}

// set records that p is about to become c (the call may still fail or be
// cut off by the crash: both states stay possible).
func (m *crashModel) set(p, c string) {
	if len(m.states[p]) == 0 {
		m.states[p] = []string{absent}
	}
	m.states[p] = append(m.states[p], c)
}

// fsynced marks every path's current state durable: an fsync commits the
// whole tree.
func (m *crashModel) fsynced() {
	for p, s := range m.states {
		m.durable[p] = len(s) - 1
	}
}

// allowed is what p may hold after a crash: its durable state or any later one.
func (m *crashModel) allowed(p string) []string {
	s := m.states[p]
	if len(s) == 0 {
		return []string{absent}
	}
	return s[m.durable[p]:]
}

// TestKill9AtRandomPointsLosesNothingFsynced kills the mount with SIGKILL at
// random points of a write-heavy workload (creates, overwrites of small and
// multi-chunk files, renames over other files, removals, fsyncs), CRASH_CYCLES
// times (10 by default). After each remount every path holds its state at
// the last fsync or a later one, byte for byte, nothing else appears, and
// verify is clean once the outbox is anchored.
func TestKill9AtRandomPointsLosesNothingFsynced(t *testing.T) {
	needRoot(t)
	cycles := 10
	if testing.Short() {
		cycles = 3
	}
	if s := os.Getenv("CRASH_CYCLES"); s != "" {
		cycles, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("CRASH_SEED=%d CRASH_CYCLES=%d", seed, cycles)
	rng := rand.New(rand.NewPCG(seed, 2))
	env := newHome(t, "")
	w := newWriter(t, "crash", env)
	names := []string{"a.txt", "b.bin", "c.txt", "d.bin", "e.txt", "f.bin"}
	model := newCrashModel(nil)
	serial := 0
	content := func(p string) string {
		serial++
		size := 100 + rng.IntN(4000)
		if filepath.Ext(p) == ".bin" && rng.IntN(2) == 0 {
			size = 1<<20 + rng.IntN(2<<20) // spans chunks
		}
		unit := fmt.Sprintf("%s #%d;", p, serial)
		return string(bytes.Repeat([]byte(unit), size/len(unit)+1))[:size]
	}
	for cycle := 0; cycle < cycles; cycle++ {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // the workload: sequential, stops at the first failure (the crash)
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := names[rng.IntN(len(names))]
				path := filepath.Join(w.mnt, p)
				switch op := rng.IntN(10); {
				case op < 5: // create or overwrite
					c := content(p)
					model.set(p, "") // open(O_TRUNC) empties it first, as on any file system
					model.set(p, c)
					if os.WriteFile(path, []byte(c), 0o644) != nil {
						return
					}
				case op < 7: // write and fsync: the whole tree is durable then
					c := content(p)
					model.set(p, "")
					model.set(p, c)
					f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
					if err != nil {
						return
					}
					_, err = f.WriteString(c)
					if err == nil {
						err = f.Sync()
					}
					f.Close()
					if err != nil {
						return
					}
					model.fsynced()
				case op < 9: // rename over another name
					to := names[rng.IntN(len(names))]
					if to == p || model.current(p) == absent {
						continue
					}
					c := model.current(p)
					model.set(to, c)
					model.set(p, absent)
					if os.Rename(path, filepath.Join(w.mnt, to)) != nil {
						return
					}
				default:
					if model.current(p) == absent {
						continue
					}
					model.set(p, absent)
					if os.Remove(path) != nil {
						return
					}
				}
			}
		}()
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		syscall.Kill(w.pid, syscall.SIGKILL)
		close(stop)
		// The workload stops on the dead mount before it is detached: after
		// umount -l its paths would reach the empty folder beneath.
		<-done
		w.kill()

		w.mount()
		got := map[string]string{}
		for p, c := range files(t, w.mnt) {
			got[p] = c
		}
		for p := range got {
			if _, known := model.states[p]; !known {
				t.Fatalf("cycle %d: %s appeared, which the workload never made", cycle, p)
			}
		}
		for p := range model.states {
			have, ok := got[p]
			if !ok {
				have = absent
			}
			found := false
			for _, s := range model.allowed(p) {
				found = found || s == have
			}
			if !found {
				var hist []string
				for i, s := range model.states[p] {
					mark := ""
					if i == model.durable[p] {
						mark = " (fsynced)"
					}
					hist = append(hist, describe(s)+mark)
				}
				if keep := os.Getenv("CRASH_KEEP"); keep != "" {
					unmountAndWait(t, env, w.mnt)
					sh("mkdir -p " + keep + " && cp -a " + homeOf(env) + " " + keep + "/home && cp -a " + remoteOf(t, env) + " " + keep + "/remote")
				}
				log, _ := os.ReadFile(filepath.Join(homeOf(env), "mount.log"))
				os.WriteFile(filepath.Join(os.TempDir(), "anchorfs-crashloop-failure.log"), log, 0o644)
				t.Fatalf("cycle %d (seed %d): %s holds %s; its states were:\n%s\n(mount log in %s)", cycle, seed,
					p, describe(have), strings.Join(hist, "\n"), filepath.Join(os.TempDir(), "anchorfs-crashloop-failure.log"))
			}
		}
		w.sync()
		if r := anchorfs(t, env, "verify"); r.code != 0 {
			t.Fatalf("cycle %d: verify: %+v", cycle, r)
		}
		model = newCrashModel(got) // what survived is on the remote: the next start
		model.fsynced()
	}
}

func describe(c string) string {
	if c == absent {
		return "nothing"
	}
	if len(c) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", c[:40], len(c))
	}
	return fmt.Sprintf("%q", c)
}
