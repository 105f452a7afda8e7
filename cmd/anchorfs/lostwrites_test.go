package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needRoot skips a test that mounts.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting needs root")
	}
}

// homeOf is the ANCHORFS_HOME of env.
func homeOf(env []string) string { return strings.TrimPrefix(env[0], "ANCHORFS_HOME=") }

// secondHome follows the README's recipe for a second home of the same
// owner: copy keyring/, then init with the same remote and nothing else.
func secondHome(t *testing.T, first []string, remote string, extra ...string) []string {
	t.Helper()
	env := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home2"), first[1]}
	if out, ok := sh("mkdir -p " + homeOf(env) + " && cp -a " + homeOf(first) + "/keyring " + homeOf(env) + "/"); !ok {
		t.Fatalf("copying the keyring: %s", out)
	}
	mustRun(t, env, append([]string{"init", "--remote", remote}, extra...)...)
	return env
}

// remoteOf is the first remote of a home.
func remoteOf(t *testing.T, env []string) string {
	var info struct{ Remotes []string }
	json.Unmarshal([]byte(mustRun(t, env, "info", "--json")), &info)
	return info.Remotes[0]
}

// files lists a folder's regular files and their contents.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				out[e.Name()] = "<" + err.Error() + ">"
				continue
			}
			out[e.Name()] = string(b)
		}
	}
	return out
}

// eventually polls cond for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestAConflictCopyKeepsTheLosingSide follows issue 9's steps: two homes of
// one owner on one embedded ledger overwrite one file one after the other;
// both mounts end with the first writer's text under the name and the
// second's in a conflict copy, byte for byte.
func TestAConflictCopyKeepsTheLosingSide(t *testing.T) {
	needRoot(t)
	ledger := "embedded:" + filepath.Join(t.TempDir(), "ledger")
	conflictKeepsBothSides(t, ledger, false, "--ledger", ledger)
}

// TestFabricConflictKeepsTheLosingSide is the same on the Fabric test
// network; the second home takes the volume's ledger from its config. On
// Fabric a mount follows the chaincode's events, so a writer that opens the
// file after the other's version is anchored builds on it (no conflict):
// the second writer here has the file open from before.
func TestFabricConflictKeepsTheLosingSide(t *testing.T) {
	profile := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG1", "org1-user1.yaml")
	needRoot(t)
	conflictKeepsBothSides(t, "fabric:"+profile, true)
}

// conflictKeepsBothSides runs issue 9's conflict on a volume anchored on
// ledger; the second home's init gets extra. With holdOpen the second
// writer opens the file before the first writes and rewrites it through
// that descriptor.
func conflictKeepsBothSides(t *testing.T, ledger string, holdOpen bool, extra ...string) {
	remote := filepath.Join(t.TempDir(), "remote")
	env1 := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home1"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, env1, "init", "--remote", remote, "--ledger", ledger)
	env2 := secondHome(t, env1, remote, extra...)
	mw1 := mountBackground(t, env1)
	if out, ok := sh("echo 'edit A1 from mw1' > " + mw1 + "/g.txt"); !ok {
		t.Fatal(out)
	}
	mustRun(t, env1, "sync")
	mw2 := mountBackground(t, env2)
	if b, _ := os.ReadFile(mw2 + "/g.txt"); string(b) != "edit A1 from mw1\n" {
		t.Fatalf("the second mount reads %q", b)
	}

	var held *os.File
	if holdOpen {
		var err error
		if held, err = os.OpenFile(mw2+"/g.txt", os.O_RDWR, 0); err != nil {
			t.Fatal(err)
		}
	}
	if out, ok := sh("cd " + mw1 + " && echo 'edit A2 from mw1' > g.txt"); !ok {
		t.Fatal(out)
	}
	mustRun(t, env1, "sync")
	if held != nil {
		held.Truncate(0)
		held.WriteAt([]byte("edit B2 from mw2\n"), 0)
		if err := held.Close(); err != nil {
			t.Fatal(err)
		}
	} else if out, ok := sh("cd " + mw2 + " && echo 'edit B2 from mw2' > g.txt"); !ok {
		t.Fatal(out)
	}
	mustRun(t, env2, "sync")

	bothSides := func(dir string) bool {
		got := files(t, dir)
		if got["g.txt"] != "edit A2 from mw1\n" || len(got) != 2 {
			return false
		}
		for name, content := range got {
			if strings.HasPrefix(name, "g (conflict ") && strings.HasSuffix(name, ").txt") {
				return content == "edit B2 from mw2\n"
			}
		}
		return false
	}
	if !eventually(5*time.Second, func() bool { return bothSides(mw2) }) {
		t.Fatalf("home 2 after its sync: %q", files(t, mw2))
	}
	// Home 1 is idle: it shows the copy within the commit interval.
	if !eventually(15*time.Second, func() bool { return bothSides(mw1) }) {
		t.Fatalf("home 1, idle: %q", files(t, mw1))
	}
	mustRun(t, env1, "sync")
	mustRun(t, env2, "sync")
	for _, env := range [][]string{env1, env2} {
		if r := anchorfs(t, env, "verify"); r.code != 0 {
			t.Fatalf("verify: %+v", r)
		}
	}
}

// TestOneCloseOneVersion: a shell overwrite (open with O_TRUNC, write,
// close) anchors one version, and an editor's save through a temporary
// file and a rename anchors one version of the new content.
func TestOneCloseOneVersion(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	mnt := mountBackground(t, env)
	// Each step is synced: a version still queued when its file goes (the
	// rename replaces f) is dropped with it, and the count would depend on
	// the upload's speed.
	for _, step := range []string{"echo a > f", "echo b > f", "printf c > tmp && mv tmp f"} {
		if out, ok := sh("cd " + mnt + " && " + step); !ok {
			t.Fatal(out)
		}
		mustRun(t, env, "sync")
	}
	audit := anchorfs(t, env, "audit", "--action", "anchor", "--format", "json")
	var events []struct{ Path string }
	if err := json.Unmarshal([]byte(audit.out), &events); err != nil {
		t.Fatalf("audit: %v %+v", err, audit)
	}
	// f: "a" and "b" (one version each); tmp, renamed to f: "c".
	if len(events) != 3 {
		t.Fatalf("want 3 anchored versions, got %d: %s", len(events), audit.out)
	}
}

// TestTheSecondHomeRecipeTakesTheVolumesLedger: the README's second home
// (copy keyring/, init with the same remote and nothing else) anchors on
// the volume's ledger, sees the first home's files as anchored, and a
// ledger that is not the volume's is refused with its name.
func TestTheSecondHomeRecipeTakesTheVolumesLedger(t *testing.T) {
	needRoot(t)
	env1 := newHome(t, "")
	remote := remoteOf(t, env1)
	mnt1 := mountBackground(t, env1)
	os.WriteFile(mnt1+"/one.txt", []byte("from home 1"), 0o644)
	mustRun(t, env1, "sync")

	env2 := secondHome(t, env1, remote)
	if _, err := os.Stat(filepath.Join(homeOf(env2), "ledger")); err == nil {
		t.Fatal("the second home made a ledger of its own")
	}
	if r := anchorfs(t, env2, "verify"); r.code != 0 {
		t.Fatalf("verify in the second home: %+v", r)
	}
	mnt2 := mountBackground(t, env2)
	if b, err := os.ReadFile(mnt2 + "/one.txt"); err != nil || string(b) != "from home 1" {
		t.Fatalf("home 2 reads %q %v", b, err)
	}
	// Home 1 is idle; it shows home 2's new file within the commit interval.
	os.WriteFile(mnt2+"/two.txt", []byte("from home 2"), 0o644)
	mustRun(t, env2, "sync")
	if !eventually(15*time.Second, func() bool { b, _ := os.ReadFile(mnt1 + "/two.txt"); return string(b) == "from home 2" }) {
		t.Fatalf("idle home 1 does not show two.txt: %q", files(t, mnt1))
	}

	// Told another ledger, init refuses and names the volume's.
	env3 := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home3"), env1[1]}
	sh("mkdir -p " + homeOf(env3) + " && cp -a " + homeOf(env1) + "/keyring " + homeOf(env3) + "/")
	r := anchorfs(t, env3, "init", "--remote", remote, "--ledger", "embedded:"+t.TempDir())
	if r.code == 0 || !strings.Contains(r.err, "ledger") || !strings.Contains(r.err, filepath.Join(homeOf(env1), "ledger")) {
		t.Fatalf("init with another ledger: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(homeOf(env3), "config.yaml")); err == nil {
		t.Fatal("a refused init wrote config.yaml")
	}
	// A home whose config names another ledger cannot mount the volume.
	os.WriteFile(filepath.Join(homeOf(env3), "config.yaml"), []byte("volume: x\nremotes: ["+remote+"]\nledger: embedded:"+t.TempDir()+"\n"), 0o600)
	r = anchorfs(t, env3, "mount", t.TempDir())
	if r.code == 0 || !strings.Contains(r.err, "not this volume's ledger") {
		t.Fatalf("mount on another ledger: %+v", r)
	}
}

// TestEverySignalFlushes sends each terminal signal to a foreground mount
// whose stdout and stderr are a pipe nobody reads any more: the mount
// flushes and unmounts, and a synced file and a closed, unsynced one are
// both there after a remount.
func TestEverySignalFlushes(t *testing.T) {
	needRoot(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			env := newHome(t, "")
			mnt := t.TempDir()
			cmd := exec.Command(binary, "mount", mnt)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
			r, w, _ := os.Pipe()
			cmd.Stdout, cmd.Stderr = w, w
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			t.Cleanup(func() { cmd.Process.Kill(); exec.Command("umount", "-l", mnt).Run() })
			if !eventually(10*time.Second, func() bool { _, err := os.Stat(filepath.Join(homeOf(env), "mount.sock")); return err == nil }) {
				t.Fatal("the mount did not come up")
			}
			os.WriteFile(mnt+"/synced.txt", []byte("synced"), 0o644)
			mustRun(t, env, "sync")
			os.WriteFile(mnt+"/closed.txt", []byte("closed, not synced"), 0o644)
			r.Close() // the reader of its output goes away, as tee does on Ctrl-C
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("the mount exited with %v after %v", err, sig)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the mount did not exit after %v", sig)
			}
			mnt2 := mountBackground(t, env)
			got := files(t, mnt2)
			if got["synced.txt"] != "synced" || got["closed.txt"] != "closed, not synced" {
				t.Fatalf("after %v and a remount: %q", sig, got)
			}
		})
	}
}

// fullableHome inits a home whose remote is a 20 MiB tmpfs, which fills up
// for real; it skips where no tmpfs can be mounted.
func fullableHome(t *testing.T) (remote string, env []string) {
	remote = t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", remote).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount tmpfs: %s %v", out, err)
	}
	t.Cleanup(func() { syscall.Unmount(remote, syscall.MNT_DETACH) })
	env = []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, env, "init", "--remote", remote)
	return remote, env
}

// TestAFullRemoteIsRecoveredFrom follows issue 9's steps on a 20 MiB
// remote: a 50 MiB dd fails with ENOSPC; after rm, writes work again in the
// same mount; a write refused while full leaves no empty file; an unmount
// while uploads cannot proceed says what stays queued, and the next mount
// uploads it.
func TestAFullRemoteIsRecoveredFrom(t *testing.T) {
	needRoot(t)
	remote, env := fullableHome(t)
	mnt := mountBackground(t, env)
	if out, ok := sh("echo kept > " + mnt + "/kept.txt"); !ok {
		t.Fatal(out)
	}
	mustRun(t, env, "sync")
	out, ok := sh("dd if=/dev/urandom of=" + mnt + "/big bs=1M count=50 conv=fsync 2>&1")
	if ok || !strings.Contains(out, "No space left on device") {
		t.Fatalf("dd of 50 MiB onto a 20 MiB remote: %v %s", ok, out)
	}
	// While full, a new file is refused whole: no empty file stays.
	if out, ok := sh("echo tiny > " + mnt + "/refused.txt"); ok {
		t.Fatalf("a write while the remote is full succeeded: %s", out)
	}
	if _, err := os.Stat(mnt + "/refused.txt"); err == nil {
		t.Fatal("a refused write left refused.txt behind")
	}
	if out, ok := sh("rm " + mnt + "/big"); !ok {
		t.Fatal(out)
	}
	// The same mount takes writes again once the space is free.
	if !eventually(20*time.Second, func() bool { _, ok := sh("echo tiny > " + mnt + "/t"); return ok }) {
		t.Fatal("writes still fail after rm freed the remote")
	}
	mustRun(t, env, "sync")
	if got := files(t, mnt); got["t"] != "tiny\n" || got["kept.txt"] != "kept\n" || len(got) != 2 {
		t.Fatalf("after recovery: %q", got)
	}
	// df shows the remote's space, and info says so.
	if out, _ := sh("df -k --output=size " + mnt + " | tail -1"); strings.TrimSpace(out) != "20480" {
		t.Fatalf("df on the mount shows %s KiB, the remote has 20480", out)
	}
	if r := mustRun(t, env, "info"); !regexp.MustCompile(`space: +remote`).MatchString(r) {
		t.Fatalf("info does not say where df's space comes from: %s", r)
	}

	// Fill it again, keep what was closed, and unmount while it cannot go up.
	sh("head -c 30M /dev/urandom > " + homeOf(env) + "/filler && cp " + homeOf(env) + "/filler " + remote + "/filler 2>/dev/null")
	// The mount learns the remote is full only when an upload fails: the
	// write is taken, and must survive the unmount.
	if out, ok := sh("echo 'closed while full' > " + mnt + "/late.txt"); !ok {
		t.Fatalf("a write before the mount knows the remote is full: %s", out)
	}
	{
		unmountAndWait(t, env, mnt)
		var log []byte
		said := eventually(30*time.Second, func() bool {
			log, _ = os.ReadFile(filepath.Join(homeOf(env), "mount.log"))
			return strings.Contains(string(log), "unmounted") || strings.Contains(string(log), "flushing at unmount")
		})
		if !said || !strings.Contains(string(log), "stay queued") || !strings.Contains(string(log), filepath.Join(homeOf(env), "cache")) {
			t.Fatalf("the unmount does not say what stays queued and where:\n%s", log)
		}
		os.Remove(remote + "/filler")
		mnt2 := mountBackground(t, env)
		mustRun(t, env, "sync")
		if got := files(t, mnt2); got["late.txt"] != "closed while full\n" {
			t.Fatalf("the queued file after a remount: %q", got)
		}
	}
}

// TestLedgerVerifyOfAFolderWithoutALedger fails, and makes no database there.
func TestLedgerVerifyOfAFolderWithoutALedger(t *testing.T) {
	env := newHome(t, "")
	empty := t.TempDir()
	r := anchorfs(t, append(env, "ANCHORFS_LEDGER=embedded:"+empty), "ledger", "verify")
	if r.code != 1 || !strings.Contains(r.err, "holds no embedded ledger") {
		t.Fatalf("ledger verify of an empty folder: %+v", r)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatalf("ledger verify made %d files in an empty folder", len(entries))
	}
}

// TestGCThroughTheMountMakesRoomOnAFullRemote: on a remote filled by old
// versions, gc through the mount (retention set to keep none) removes them
// although the tree cannot be committed, keeping what the last commit
// names, and writes work again.
func TestGCThroughTheMountMakesRoomOnAFullRemote(t *testing.T) {
	needRoot(t)
	_, env := fullableHome(t)
	mnt := mountBackground(t, env)
	for i := 0; i < 2; i++ { // two versions of 8 MiB: the first is garbage
		if out, ok := sh("head -c 8M /dev/urandom > " + mnt + "/a"); !ok {
			t.Fatal(out)
		}
		mustRun(t, env, "sync")
	}
	sum, _ := sh("sha256sum < " + mnt + "/a")
	out, ok := sh("dd if=/dev/urandom of=" + mnt + "/b bs=1M count=8 conv=fsync 2>&1")
	if ok || !strings.Contains(out, "No space left on device") {
		t.Fatalf("8 MiB more on a full remote: %v %s", ok, out)
	}
	if r := anchorfs(t, env, "gc", "--keep-versions", "1", "--keep-within", "0"); r.code != 0 {
		t.Fatalf("gc on a full remote: %+v", r)
	}
	if !eventually(20*time.Second, func() bool { _, ok := sh("echo tiny > " + mnt + "/t"); return ok }) {
		t.Fatal("writes still fail after gc made room")
	}
	mustRun(t, env, "sync")
	if again, _ := sh("sha256sum < " + mnt + "/a"); again != sum {
		t.Fatal("gc changed the current version of a")
	}
	if r := anchorfs(t, env, "verify"); r.code != 0 {
		t.Fatalf("verify after gc: %+v", r)
	}
}

// TestAnotherHomesChangeIsReadBackNew: a file one mount has read (and the
// kernel cached) reads back new once another home's change reaches it,
// within the commit interval, without remounting.
func TestAnotherHomesChangeIsReadBackNew(t *testing.T) {
	needRoot(t)
	env1 := newHome(t, "")
	env2 := secondHome(t, env1, remoteOf(t, env1))
	m1 := mountBackground(t, env1)
	os.WriteFile(m1+"/f.txt", []byte("version one, short"), 0o644)
	mustRun(t, env1, "sync")
	m2 := mountBackground(t, env2)
	for i := 0; i < 3; i++ { // cached by the kernel now
		if b, _ := os.ReadFile(m2 + "/f.txt"); string(b) != "version one, short" {
			t.Fatalf("home 2 reads %q", b)
		}
	}
	os.WriteFile(m1+"/f.txt", []byte("version two, which is longer than the first"), 0o644)
	mustRun(t, env1, "sync")
	if !eventually(15*time.Second, func() bool {
		b, _ := os.ReadFile(m2 + "/f.txt")
		return string(b) == "version two, which is longer than the first"
	}) {
		b, _ := os.ReadFile(m2 + "/f.txt")
		t.Fatalf("home 2 still reads %q", b)
	}
}

// fsyncOnAThread fsyncs f from an OS thread of its own, which the caller
// can signal (tgkill), with the raw call (EINTR or EIO would show, not be
// retried); done has its result.
func fsyncOnAThread(f *os.File) (thread int, done <-chan error) {
	tid, result := make(chan int), make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		result <- unix.Fsync(int(f.Fd()))
	}()
	return <-tid, result
}

// TestAnFsyncInterruptedBySignalsSucceeds: the kernel sends a FUSE request
// an interrupt when its caller receives any signal, as a Go program's
// threads do all the time (the runtime preempts goroutines with SIGURG). An
// fsync so interrupted still makes the file durable and succeeds: it used
// to fail with EIO (iobench's fsync of a 1 GiB file on a fresh volume),
// telling the program its data might be lost.
func TestAnFsyncInterruptedBySignalsSucceeds(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	mnt := mountBackground(t, env)
	want := map[string]string{}
	for round := range 3 {
		name := fmt.Sprintf("big%d", round)
		data := bytes.Repeat([]byte(name+" "), 24<<20/len(name+" "))
		f, err := os.Create(filepath.Join(mnt, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		thread, done := fsyncOnAThread(f)
		signals := 0
	wait:
		for {
			select {
			case err = <-done:
				break wait
			default:
				unix.Tgkill(os.Getpid(), thread, unix.SIGURG)
				signals++
				time.Sleep(100 * time.Microsecond)
			}
		}
		f.Close()
		if err != nil {
			t.Fatalf("round %d: fsync with %d signals to its thread: %v", round, signals, err)
		}
		want[name] = string(data)
	}
	unmountAndWait(t, env, mnt)
	got := files(t, mountBackground(t, env))
	for name, data := range want {
		if got[name] != data {
			t.Fatalf("%s after a remount: %d bytes, want %d", name, len(got[name]), len(data))
		}
	}
}
