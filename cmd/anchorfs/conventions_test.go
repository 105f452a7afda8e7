package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTheConventionsOfMountTools: --version, a mount point that is not
// empty refused unless --allow-non-empty, --read-only (EROFS, reads work
// and are on the ledger), unmount that returns once the mount has flushed,
// and shell completion scripts.
func TestTheConventionsOfMountTools(t *testing.T) {
	needRoot(t)
	if r := anchorfs(t, nil, "--version"); r.code != 0 || !strings.HasPrefix(r.out, "anchorfs ") || r.out != anchorfs(t, nil, "version").out {
		t.Fatalf("--version: %+v", r)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if r := anchorfs(t, nil, "completion", shell); r.code != 0 || !strings.Contains(r.out, "anchorfs") || len(r.out) < 1000 {
			t.Fatalf("completion %s: exit %d, %d bytes", shell, r.code, len(r.out))
		}
	}
	if r := anchorfs(t, nil, "completion", "tcsh"); r.code != 2 {
		t.Fatalf("completion tcsh: %+v", r)
	}

	env := newHome(t, "")
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "mine.txt"), []byte("not the volume's"), 0o644)
	if r := anchorfs(t, env, "mount", full, "--background"); r.code == 0 || !strings.Contains(r.err, "is not empty") || !strings.Contains(r.err, "--allow-non-empty") {
		t.Fatalf("a mount over a folder that is not empty: %+v", r)
	}
	mnt := mountBackground(t, env)
	if err := os.WriteFile(mnt+"/kept.txt", []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := anchorfs(t, env, "mount", t.TempDir()); r.code != 1 || !strings.Contains(r.err, "mounted at "+mnt+" already") {
		t.Fatalf("a second mount of one home: %+v", r)
	}
	// unmount returns once the mount has flushed and gone.
	if r := anchorfs(t, env, "unmount", mnt); r.code != 0 {
		t.Fatalf("unmount: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(homeOf(env), "mount.sock")); !os.IsNotExist(err) {
		t.Fatal("unmount returned before the mount process was gone")
	}
	if r := anchorfs(t, env, "unmount", mnt); r.code != 1 || !strings.Contains(r.err, "not an anchorfs mount") {
		t.Fatalf("unmount of a folder: %+v", r)
	}

	logFile := filepath.Join(t.TempDir(), "ro.log")
	if r := anchorfs(t, env, "mount", full, "--background", "--allow-non-empty", "--read-only", "--log-file", logFile); r.code != 0 {
		t.Fatalf("mount --allow-non-empty --read-only: %+v", r)
	}
	if !strings.Contains(readFile(t, logFile), "mounted at "+full) {
		t.Fatal("--log-file has no log")
	}
	t.Cleanup(func() { unmountAndWait(t, env, full) })
	if b, err := os.ReadFile(full + "/kept.txt"); err != nil || string(b) != "kept" {
		t.Fatalf("a read-only mount's read: %q %v", b, err)
	}
	err := os.WriteFile(full+"/new.txt", []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), "read-only file system") {
		t.Fatalf("a write into a read-only mount: %v", err)
	}
	mustRun(t, env, "unmount", full)
	if b, err := os.ReadFile(full + "/mine.txt"); err != nil || string(b) != "not the volume's" {
		t.Fatalf("the folder's own file after the mount: %q %v", b, err)
	}
	if n := len(auditRows(t, env, "--path", "/kept.txt", "--action", "read")); n != 1 {
		t.Fatalf("%d reads through the read-only mount on the ledger", n)
	}
}

// TestLogLevelAndBandwidthLimit: --log-level ERROR keeps the mount's
// events out of its log, a level rclone does not know is a usage error;
// --bwlimit takes rclone's syntax (a mount under a limit reads and writes)
// and refuses anything else before touching the volume.
func TestLogLevelAndBandwidthLimit(t *testing.T) {
	needRoot(t)
	env := newHome(t, "")
	if r := anchorfs(t, env, "mount", t.TempDir(), "--log-level", "chatty"); r.code != 2 || !strings.Contains(r.err, "DEBUG, INFO, NOTICE or ERROR") {
		t.Fatalf("--log-level chatty: %+v", r)
	}
	if r := anchorfs(t, env, "sync", "--bwlimit", "fast"); r.code != 2 || !strings.Contains(r.err, "--bwlimit syntax") {
		t.Fatalf("--bwlimit fast: %+v", r)
	}
	mnt := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "mount.log")
	if r := anchorfs(t, env, "mount", mnt, "--background", "--log-level", "ERROR", "--log-file", logFile, "--bwlimit", "20M:off"); r.code != 0 {
		t.Fatalf("mount --log-level ERROR --bwlimit 20M:off: %+v", r)
	}
	t.Cleanup(func() { unmountAndWait(t, env, mnt) })
	data := strings.Repeat("limited ", 512<<10) // 4 MiB
	if err := os.WriteFile(mnt+"/f", []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, env, "sync")
	if got := readFile(t, mnt+"/f"); got != data {
		t.Fatal("a file written under a bandwidth limit reads back otherwise")
	}
	unmountAndWait(t, env, mnt)
	if log := readFile(t, logFile); strings.Contains(log, "mounted at") || strings.Contains(log, "unmounted cleanly") {
		t.Fatalf("--log-level ERROR logged events:\n%s", log)
	}
	mustRun(t, env, "mount", mnt, "--background", "--log-file", logFile)
	unmountAndWait(t, env, mnt)
	if log := readFile(t, logFile); !strings.Contains(log, "mounted at") {
		t.Fatalf("the default level logged no events:\n%s", log)
	}
}

// TestProgressInBytesOnATerminal: a long operation run on a terminal
// shows its progress in bytes with a rate; off a terminal it says nothing
// on stderr.
func TestProgressInBytesOnATerminal(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("SKIP: no script(1) to give the command a terminal")
	}
	env := newHome(t, "")
	mnt := mountBackground(t, env)
	if out, ok := sh("head -c 24M /dev/urandom > " + mnt + "/big"); !ok {
		t.Fatal(out)
	}
	unmountAndWait(t, env, mnt)
	if r := anchorfs(t, env, "verify"); r.code != 0 || r.err != "" {
		t.Fatalf("verify off a terminal: %+v", r)
	}
	// 24 MiB read at 8 MiB/s: three seconds of progress.
	cmd := exec.Command("script", "-qfec", binary+" verify --bwlimit 8M", "/dev/null")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TERM=xterm"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verifying") || !strings.Contains(string(out), "B/s") || !strings.Contains(string(out), "everything verified") {
		t.Fatalf("verify on a terminal: %v\n%q", err, out)
	}
}

// TestSyncWithTheRemoteDown: a sync while the remote refuses connections
// says so and what stays queued, within --timeout; once the remote is
// back, sync --json says what it uploaded and anchored.
func TestSyncWithTheRemoteDown(t *testing.T) {
	needRoot(t)
	srv, env, mnt := webdavMount(t)
	srv.Stop()
	if err := os.WriteFile(mnt+"/f", []byte("waits for the remote"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := anchorfs(t, env, "sync", "--timeout", "3s")
	if r.code != 1 || !strings.Contains(r.err, "not on the remote yet") || !strings.Contains(r.err, "connection refused") {
		t.Fatalf("sync --timeout with the remote down: %+v", r)
	}
	srv.Start()
	var res struct {
		Uploaded, Anchored int
		Pending            struct{ Uploads, Anchors int }
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "sync", "--json")), &res); err != nil {
		t.Fatal(err)
	}
	// The mount's own retries may have uploaded and anchored the file
	// before this sync began, so what it moved may be nothing; what is
	// left queued must be nothing, and the file must be anchored.
	if res.Pending.Uploads != 0 || res.Pending.Anchors != 0 {
		t.Fatalf("sync --json once the remote is back: %+v", res)
	}
	if out := mustRun(t, env, "versions", mnt+"/f"); !strings.Contains(out, ": 1 anchored versions") {
		t.Fatalf("versions of the file once synced:\n%s", out)
	}
}
