package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorfs/anchorfs/fs/format"
)

// remoteFormat is the format a local-folder remote's config names.
func remoteFormat(t *testing.T, remote string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(remote, "config"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Format int }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Format
}

// objectsOfSize counts a local-folder remote's objects of size bytes.
func objectsOfSize(t *testing.T, remote string, size int64) int {
	n := 0
	filepath.WalkDir(filepath.Join(remote, "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if st, err := d.Info(); err == nil && st.Size() == size {
				n++
			}
		}
		return nil
	})
	return n
}

// TestUpgradeOfAFormat1Volume: a volume made in format 1 is moved to format
// 2 by `anchorfs upgrade` through its running mount: the config says 2,
// every file reads as before, its chunks are segmented objects now, verify
// finds nothing, and a second run has nothing left to do (an interrupted
// upgrade goes on the same way: files done are skipped).
func TestUpgradeOfAFormat1Volume(t *testing.T) {
	needRoot(t)
	remote := filepath.Join(t.TempDir(), "remote")
	env := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home"), "ANCHORFS_PASSPHRASE="}
	if r := anchorfs(t, env, "init", "--remote", remote, "--format", "7"); r.code != 2 || !strings.Contains(r.err, "--format 7") {
		t.Fatalf("init --format 7: %+v", r)
	}
	mustRun(t, env, "init", "--remote", remote, "--format", "1")
	m := mountBackground(t, env)
	if out, ok := sh("mkdir " + m + "/d && head -c 2621440 /dev/urandom > " + m + "/big && echo small > " + m + "/d/small && md5sum " + m + "/big " + m + "/d/small | cut -d' ' -f1 > " + m + "/../sums"); !ok {
		t.Fatal(out)
	}
	sums, _ := os.ReadFile(m + "/../sums")
	mustRun(t, env, "sync")
	if f := remoteFormat(t, remote); f != 1 {
		t.Fatalf("init --format 1 made format %d", f)
	}
	wholeV1 := int64(1<<20 + format.Overhead)
	if n := objectsOfSize(t, remote, wholeV1); n != 2 {
		t.Fatalf("%d whole format-1 chunks of 1 MiB on the remote, want 2", n)
	}

	out := mustRun(t, env, "upgrade")
	if !strings.Contains(out, "volume format 1 -> 2: 2 files rewritten, 0 already") {
		t.Fatalf("upgrade: %q", out)
	}
	if f := remoteFormat(t, remote); f != 2 {
		t.Fatalf("after upgrade the config says format %d", f)
	}
	if n := objectsOfSize(t, remote, int64(format.SegmentedSize(1<<20))); n != 2 {
		t.Fatalf("%d segmented chunks of 1 MiB on the remote after upgrade, want 2", n)
	}
	if got, ok := sh("md5sum " + m + "/big " + m + "/d/small | cut -d' ' -f1"); !ok || got != string(sums) {
		t.Fatalf("content after upgrade: %q, want %q", got, sums)
	}
	if r := anchorfs(t, env, "upgrade", "--json"); r.code != 0 || !strings.Contains(r.out, `"files":0,"skipped":2`) {
		t.Fatalf("a second upgrade: %+v", r)
	}
	unmountAndWait(t, env, m)
	mustRun(t, env, "verify")
	m = mountBackground(t, env)
	if got, ok := sh("md5sum " + m + "/big " + m + "/d/small | cut -d' ' -f1"); !ok || got != string(sums) {
		t.Fatalf("content after a remount: %q, want %q", got, sums)
	}
	unmountAndWait(t, env, m)
}
