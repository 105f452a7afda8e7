package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/anchorfs/anchorfs/remote/remotetest"
)

// webdavMount inits a home whose remote is rclone's WebDAV server on
// 127.0.0.1, and mounts it.
func webdavMount(t *testing.T) (srv *remotetest.Server, env []string, mnt string) {
	t.Helper()
	srv = remotetest.ServeWebDAV(t, t.TempDir())
	env = []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, env, "init", "--remote", srv.Spec)
	return srv, env, mountBackground(t, env)
}

// TestAStalledRemoteBlocksOnlyWhatNeedsIt: with the remote (rclone's WebDAV
// server on 127.0.0.1) stopped, a cold folder's listing waits for it; while
// it waits, stat and reads of a folder and a file this mount has loaded
// already complete. The tree lock is not held across the fetch.
func TestAStalledRemoteBlocksOnlyWhatNeedsIt(t *testing.T) {
	needRoot(t)
	srv, env, m := webdavMount(t)
	if out, ok := sh("mkdir " + m + "/warm " + m + "/cold && echo warm > " + m + "/warm/a.txt && echo cold > " + m + "/cold/b.txt"); !ok {
		t.Fatal(out)
	}
	mustRun(t, env, "sync")
	unmountAndWait(t, env, m)

	m = mountBackground(t, env) // only the top folder is loaded
	if out, ok := sh("cat " + m + "/warm/a.txt"); !ok || out != "warm\n" {
		t.Fatalf("reading before the stall: %v %q", ok, out)
	}
	srv.Pause()
	defer srv.Resume()
	cold := exec.Command("ls", m+"/cold")
	var coldOut strings.Builder
	cold.Stdout = &coldOut
	if err := cold.Start(); err != nil {
		t.Fatal(err)
	}
	coldDone := make(chan error, 1)
	go func() { coldDone <- cold.Wait() }()
	time.Sleep(2 * time.Second) // past the kernel's one-second cache of names and attributes
	select {
	case err := <-coldDone:
		t.Fatalf("the cold listing did not wait for the stopped remote: %v %q", err, coldOut.String())
	default:
	}

	// A deadlock, not a speed: each call either completes or hangs until
	// the remote comes back (it is killed then, and the test fails).
	for _, c := range [][]string{{"stat", "-c", "%s", m + "/warm/a.txt"}, {"ls", m + "/warm"}, {"cat", m + "/warm/a.txt"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		cmd.WaitDelay = time.Second
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains("5\na.txt\nwarm\n", string(out)) || len(out) == 0 {
			t.Fatalf("%s of what is loaded, while a cold lookup waits: %v %q", c[0], err, out)
		}
	}
	select {
	case err := <-coldDone:
		t.Fatalf("the cold listing ended before the remote came back (%v): the test showed nothing", err)
	default:
	}
	srv.Resume()
	if err := <-coldDone; err != nil || coldOut.String() != "b.txt\n" {
		t.Fatalf("the cold listing once the remote is back: %v %q", err, coldOut.String())
	}
}

// TestAnInterruptedFsyncOnAStalledRemoteGivesUp: an fsync whose caller is
// signalled goes on waiting for the remote (rclone's WebDAV server on
// 127.0.0.1, stopped), but not forever: some seconds after the interrupt it
// ends with EINTR, as a killed caller needs (the kernel waits for the
// answer), and once the remote is back the file is stored all the same.
func TestAnInterruptedFsyncOnAStalledRemoteGivesUp(t *testing.T) {
	needRoot(t)
	srv, env, m := webdavMount(t)
	srv.Pause()
	defer srv.Resume()
	data := bytes.Repeat([]byte("stalled "), 1<<17)
	f, err := os.Create(filepath.Join(m, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	thread, done := fsyncOnAThread(f)
	time.Sleep(time.Second) // the fsync waits in the mount for the remote
	unix.Tgkill(os.Getpid(), thread, unix.SIGURG)
	select {
	case err := <-done:
		if err != unix.EINTR {
			t.Fatalf("an interrupted fsync while the remote stalls: %v, want EINTR", err)
		}
	case <-time.After(60 * time.Second):
		srv.Resume()
		<-done
		t.Fatal("an interrupted fsync went on waiting for the stalled remote")
	}
	srv.Resume()
	f.Close()
	mustRun(t, env, "sync")
	unmountAndWait(t, env, m)
	if got := files(t, mountBackground(t, env)); got["f"] != string(data) {
		t.Fatalf("the file after the remote came back: %d bytes, want %d", len(got["f"]), len(data))
	}
}
