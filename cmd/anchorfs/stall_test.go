package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/remote/remotetest"
)

// TestAStalledRemoteBlocksOnlyWhatNeedsIt: with the remote (rclone's WebDAV
// server on 127.0.0.1) stopped, a cold folder's listing waits for it; while
// it waits, stat and reads of a folder and a file this mount has loaded
// already complete. The tree lock is not held across the fetch.
func TestAStalledRemoteBlocksOnlyWhatNeedsIt(t *testing.T) {
	needRoot(t)
	srv := remotetest.ServeWebDAV(t, t.TempDir())
	env := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, env, "init", "--remote", srv.Spec)
	m := mountBackground(t, env)
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
