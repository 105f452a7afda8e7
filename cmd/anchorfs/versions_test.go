package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anchorfs/anchorfs/fs/volume"
)

// anchorfsIn is anchorfs run from working folder dir ("" for this one).
func anchorfsIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// writeVersion writes content to a file in the mount and anchors it.
func writeVersion(t *testing.T, env []string, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, env, "sync")
}

func versionsOf(t *testing.T, env []string, path string) volume.FileHistory {
	t.Helper()
	var h volume.FileHistory
	if err := json.Unmarshal([]byte(mustRun(t, env, "versions", path, "--json")), &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// restorable are the version numbers of h that can be brought back.
func restorable(h volume.FileHistory) (out []uint64) {
	for _, v := range h.Versions {
		if v.Restorable {
			out = append(out, v.Version)
		}
	}
	return out
}

// TestVersionsRestoreAndRetention: versions lists a file's anchored
// versions (by volume path, mount path and a path relative to a folder
// inside the mount); restore brings one back as a new version, seen
// through the mount at once, or into a new file outside; deleted files are
// listed under their last path and restored there, their folder with
// them; gc keeps what retention keeps, says on --dry-run what would go,
// and a version it removed is listed as such and refused by restore.
func TestVersionsRestoreAndRetention(t *testing.T) {
	needRoot(t)
	versionsRestoreAndRetention(t, newHome(t, ""))
}

func TestFabricVersionsRestoreAndRetention(t *testing.T) {
	profile := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG1", "org1-user1.yaml")
	needRoot(t)
	env := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, env, "init", "--remote", filepath.Join(t.TempDir(), "remote"), "--ledger", "fabric:"+profile)
	versionsRestoreAndRetention(t, env)
}

func versionsRestoreAndRetention(t *testing.T, env []string) {
	mnt := mountBackground(t, env)
	os.Mkdir(mnt+"/docs", 0o755)
	for _, c := range []string{"one", "two", "three"} {
		writeVersion(t, env, mnt+"/docs/a.txt", c)
	}
	h := versionsOf(t, env, "/docs/a.txt")
	if len(h.Versions) != 3 || !h.Versions[2].Current || h.Versions[0].Current || len(restorable(h)) != 3 || h.Deleted {
		t.Fatalf("versions: %+v", h)
	}
	for i, v := range h.Versions {
		if v.Version != uint64(i+1) || v.Size != int64(len([]string{"one", "two", "three"}[i])) || v.TxID == "" || v.Actor == "" || v.Time.IsZero() {
			t.Fatalf("version %d: %+v", i+1, v)
		}
	}
	if got := versionsOf(t, env, mnt+"/docs/a.txt"); got.File != h.File {
		t.Fatalf("versions by mount path: %+v", got)
	}
	if r := anchorfsIn(t, mnt+"/docs", env, "versions", "a.txt"); r.code != 0 || !strings.Contains(r.out, "/docs/a.txt") || !strings.Contains(r.out, "current") {
		t.Fatalf("versions by a path relative to a folder in the mount: %+v", r)
	}

	// Restore as a new version: the mount serves it at once.
	if r := anchorfs(t, env, "restore", "/docs/a.txt", "--version", "1"); r.code != 0 || !strings.Contains(r.out, "version 1 restored as version 4") {
		t.Fatalf("restore --version 1: %+v", r)
	}
	if got := readFile(t, mnt+"/docs/a.txt"); got != "one" {
		t.Fatalf("after restoring version 1 the mount reads %q", got)
	}
	// A file being written: what was written so far is saved as a version
	// first, and stays restorable.
	held, err := os.OpenFile(mnt+"/docs/a.txt", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	held.WriteString(" and more")
	if r := anchorfs(t, env, "restore", "/docs/a.txt", "--version", "2"); r.code != 0 || !strings.Contains(r.out, "version 2 restored as version 6") {
		t.Fatalf("restore over a file being written: %+v", r)
	}
	held.Close()
	if h := versionsOf(t, env, "/docs/a.txt"); h.Versions[4].Size != int64(len("one and more")) || !h.Versions[4].Restorable || readFile(t, mnt+"/docs/a.txt") != "two" {
		t.Fatalf("the writes of the open file: %+v", h)
	}
	writeVersion(t, env, mnt+"/docs/a.txt", "one")
	dest := filepath.Join(t.TempDir(), "two.txt")
	if r := anchorfs(t, env, "restore", "docs/a.txt", "--version", "2", "--to", dest); r.code != 0 || readFile(t, dest) != "two" {
		t.Fatalf("restore --to: %+v", r)
	}
	if r := anchorfs(t, env, "restore", "docs/a.txt", "--version", "3", "--to", dest); r.code == 0 || readFile(t, dest) != "two" {
		t.Fatalf("restore --to over a file: %+v", r)
	}
	if r := anchorfs(t, env, "restore", "docs/a.txt", "--version", "9"); r.code == 0 || !strings.Contains(r.err, "no version 9") {
		t.Fatalf("restore of a version never anchored: %+v", r)
	}
	mustRun(t, env, "sync")
	h = versionsOf(t, env, "/docs/a.txt")
	last := len(h.Versions)
	if last < 7 || !h.Versions[last-1].Current || h.Versions[last-1].Size != 3 {
		t.Fatalf("versions after restore: %+v", h)
	}

	// Deleted files, and a deleted folder, under their last paths.
	os.Mkdir(mnt+"/old", 0o755)
	writeVersion(t, env, mnt+"/old/b.txt", "bee")
	writeVersion(t, env, mnt+"/docs/c.txt", "c1")
	writeVersion(t, env, mnt+"/docs/c.txt", "c2")
	writeVersion(t, env, mnt+"/docs/c.txt", "c3")
	if err := os.RemoveAll(mnt + "/old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(mnt + "/docs/a.txt"); err != nil {
		t.Fatal(err)
	}
	var dels []volume.DeletedFile
	json.Unmarshal([]byte(mustRun(t, env, "versions", "--deleted", "--json")), &dels)
	if len(dels) != 2 || dels[0].Path != "/docs/a.txt" || dels[0].Version != uint64(last) || dels[1].Path != "/old/b.txt" {
		t.Fatalf("versions --deleted: %+v", dels)
	}
	if out := mustRun(t, env, "audit", "--action", "delete", "--format", "csv"); !strings.Contains(out, "/docs/a.txt (deleted)") || !strings.Contains(out, "/old/b.txt (deleted)") {
		t.Fatalf("audit of deletions names no paths:\n%s", out)
	}
	if r := anchorfs(t, env, "versions", "--deleted", "/old"); r.code != 0 || !strings.Contains(r.out, "/old/b.txt") || strings.Contains(r.out, "a.txt") {
		t.Fatalf("versions --deleted /old: %+v", r)
	}
	if h := versionsOf(t, env, "/docs/a.txt"); !h.Deleted || len(h.Versions) != last || len(restorable(h)) != last {
		t.Fatalf("versions of a deleted file: %+v", h)
	}
	if r := anchorfs(t, env, "restore", "/old/b.txt"); r.code != 0 {
		t.Fatalf("restore of a file in a deleted folder: %+v\n%s", r, readFile(t, homeOf(env)+"/mount.log"))
	}
	if got := readFile(t, mnt+"/old/b.txt"); got != "bee" {
		t.Fatalf("restored deleted file reads %q", got)
	}
	long := strings.Repeat("é", 127) // 254 bytes: a delete event of the longest names fits the ledger
	writeVersion(t, env, mnt+"/"+long, "long")
	if err := os.Remove(mnt + "/" + long); err != nil {
		t.Fatal(err)
	}
	if r := anchorfs(t, env, "restore", "/"+long); r.code != 0 || readFile(t, mnt+"/"+long) != "long" {
		t.Fatalf("restore of a deleted file with a 254-byte name: %+v", r)
	}

	// Retention: the defaults keep everything this young; a dry run
	// removes nothing; then keeping 2 versions and nothing by age.
	var res volume.GCResult
	json.Unmarshal([]byte(mustRun(t, env, "gc", "--json")), &res)
	if len(res.Versions) != 0 || res.Kept < 5 {
		t.Fatalf("gc with the default retention: %+v", res)
	}
	if h := versionsOf(t, env, "/docs/c.txt"); len(restorable(h)) != 3 {
		t.Fatalf("gc removed versions retention keeps: %+v", h)
	}
	json.Unmarshal([]byte(mustRun(t, env, "gc", "--dry-run", "--keep-versions", "2", "--keep-within", "0", "--json")), &res)
	if !res.DryRun || res.Objects == 0 || len(res.Versions) < 5 || !slices.Contains(res.Versions, volume.GoneVersion{Path: "/docs/a.txt (deleted)", Version: 2}) {
		t.Fatalf("gc --dry-run: %+v", res)
	}
	if h := versionsOf(t, env, "/docs/c.txt"); len(restorable(h)) != 3 {
		t.Fatalf("gc --dry-run removed versions: %+v", h)
	}
	if r := anchorfs(t, env, "gc", "--keep-versions", "2", "--keep-within", "0"); r.code != 0 || !strings.Contains(r.out, "removed ") {
		t.Fatalf("gc --keep-versions 2: %+v", r)
	}
	h = versionsOf(t, env, "/docs/c.txt")
	if got := restorable(h); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("after gc --keep-versions 2: restorable %v", got)
	}
	if r := anchorfs(t, env, "restore", "/docs/c.txt", "--version", "1"); r.code == 0 || !strings.Contains(r.err, "gc removed") {
		t.Fatalf("restore of a version gc removed: %+v", r)
	}
	if r := anchorfs(t, env, "versions", "/docs/c.txt"); r.code != 0 || !strings.Contains(r.out, "no (removed by gc)") {
		t.Fatalf("versions after gc: %+v", r)
	}
	if got := readFile(t, mnt+"/docs/c.txt"); got != "c3" {
		t.Fatalf("gc changed the current version: %q", got)
	}
	if r := anchorfs(t, env, "gc", "--keep-within", "soon"); r.code != 2 || !strings.Contains(r.err, "keep_within") {
		t.Fatalf("gc with a bad retention: %+v", r)
	}
	if r := anchorfs(t, env, "verify"); r.code != 0 {
		t.Fatalf("verify after gc: %+v", r)
	}
	// Without a mount the command does the work itself.
	unmountAndWait(t, env, mnt)
	if h := versionsOf(t, env, "/docs/c.txt"); len(h.Versions) != 3 || !h.Versions[2].Current {
		t.Fatalf("versions without a mount: %+v", h)
	}
	if r := anchorfs(t, env, "restore", "/docs/c.txt", "--version", "2"); r.code != 0 || !strings.Contains(r.out, "restored as version 4") {
		t.Fatalf("restore without a mount: %+v", r)
	}
}
