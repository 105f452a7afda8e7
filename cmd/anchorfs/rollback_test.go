package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapshot copies a remote folder whole, as a backup of it would be.
func snapshot(t *testing.T, remote string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "snapshot")
	if out, ok := sh("cp -a " + remote + " " + dst); !ok {
		t.Fatal(out)
	}
	return dst
}

// restore puts a snapshot back in place of the remote, every object as it was.
func restore(t *testing.T, snap, remote string) {
	t.Helper()
	if out, ok := sh("rm -rf " + remote + " && cp -a " + snap + " " + remote); !ok {
		t.Fatal(out)
	}
}

// refusesRollback checks that verify and mount of a home refuse a remote
// rolled back, and that --allow-rollback mounts it read-only.
func refusesRollback(t *testing.T, env []string, wantOld, wantGone string) {
	t.Helper()
	r := anchorfs(t, env, "verify")
	if r.code != 1 || !strings.Contains(r.out, "/: rollback: the remote serves an earlier state of volume") || strings.Contains(r.out, "everything verified") {
		t.Fatalf("verify of a remote rolled back: %+v", r)
	}
	mnt := t.TempDir()
	r = anchorfs(t, env, "mount", mnt, "--background")
	if r.code == 0 || !strings.Contains(r.err, "rollback") || !strings.Contains(r.err, "--allow-rollback") {
		unmountAndWait(t, env, mnt)
		t.Fatalf("mount of a remote rolled back: %+v", r)
	}
	if out, _ := sh("findmnt -n " + mnt); out != "" {
		t.Fatalf("something is mounted at %s: %s", mnt, out)
	}
	r = anchorfs(t, env, "mount", mnt, "--background", "--allow-rollback")
	if r.code != 0 {
		t.Fatalf("mount --allow-rollback: %+v", r)
	}
	defer unmountAndWait(t, env, mnt)
	if b, err := os.ReadFile(filepath.Join(mnt, wantOld)); err != nil {
		t.Fatalf("the read-only mount of the earlier state: %v", err)
	} else if !strings.Contains(string(b), "old") {
		t.Fatalf("the read-only mount reads %q", b)
	}
	if _, err := os.Stat(filepath.Join(mnt, wantGone)); !os.IsNotExist(err) {
		t.Fatalf("%s in the earlier state: %v", wantGone, err)
	}
	if out, ok := sh("echo x > " + mnt + "/new-in-ro.txt"); ok || !strings.Contains(out, "Read-only file system") {
		t.Fatalf("a write into the read-only mount of a rolled back remote: %q", out)
	}
	if log, _ := os.ReadFile(filepath.Join(homeOf(env), "mount.log")); !strings.Contains(string(log), "read-only") {
		t.Fatalf("the mount did not say it is read-only:\n%s", log)
	}
}

// TestARemoteRolledBackIsRefused follows issue 11's steps: a complete
// earlier copy of the remote put back, with the cache deleted, is caught by
// verify and refused by mount, from the home that wrote and from a second
// home; putting the newer objects back makes the volume whole again.
func TestARemoteRolledBackIsRefused(t *testing.T) {
	needRoot(t)
	rolledBackIsRefused(t, "embedded:"+filepath.Join(t.TempDir(), "ledger"))
}

// TestFabricRemoteRolledBackIsRefused is the same on the Fabric test network.
func TestFabricRemoteRolledBackIsRefused(t *testing.T) {
	profile := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG1", "org1-user1.yaml")
	needRoot(t)
	rolledBackIsRefused(t, "fabric:"+profile)
}

func rolledBackIsRefused(t *testing.T, ledger string) {
	remote := filepath.Join(t.TempDir(), "remote")
	env1 := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home1"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, env1, "init", "--remote", remote, "--ledger", ledger)
	env2 := secondHome(t, env1, remote)

	m := mountBackground(t, env1)
	if out, ok := sh("echo old > " + m + "/a.txt && mkdir " + m + "/docs && echo old > " + m + "/docs/b.txt"); !ok {
		t.Fatal(out)
	}
	mustRun(t, env1, "sync")
	unmountAndWait(t, env1, m)
	yesterday := snapshot(t, remote)

	m = mountBackground(t, env1)
	if out, ok := sh("echo new > " + m + "/a.txt && echo new > " + m + "/docs/since.txt"); !ok {
		t.Fatal(out)
	}
	mustRun(t, env1, "sync")
	unmountAndWait(t, env1, m)
	today := snapshot(t, remote)

	restore(t, yesterday, remote)
	os.RemoveAll(filepath.Join(homeOf(env1), "cache"))
	refusesRollback(t, env1, "a.txt", "docs/since.txt")
	refusesRollback(t, env2, "a.txt", "docs/since.txt")

	restore(t, today, remote)
	if r := anchorfs(t, env2, "verify"); r.code != 0 {
		t.Fatalf("verify once the newer objects are back: %+v", r)
	}
	m = mountBackground(t, env2)
	if got := files(t, filepath.Join(m, "docs")); got["since.txt"] != "new\n" {
		t.Fatalf("the volume once the newer objects are back: %v", got)
	}
}

// TestARollbackWithSeveralWritersAndASharedFolder: two homes of the owner
// write at once and a grantee writes in a shared folder; nothing is taken
// for a rollback while they do (the remounts in between check), and the
// remote put back to a copy from before the last round of writes is
// refused by every one of them, the grantee's view of its folder included.
func TestARollbackWithSeveralWritersAndASharedFolder(t *testing.T) {
	needRoot(t)
	remote, ledgerDir := filepath.Join(t.TempDir(), "remote"), filepath.Join(t.TempDir(), "ledger")
	alice := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "alice"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, alice, "init", "--remote", remote, "--ledger", "embedded:"+ledgerDir)
	alice2 := secondHome(t, alice, remote)
	bob := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "bob"), "ANCHORFS_PASSPHRASE="}
	lines := strings.Split(strings.TrimSpace(mustRun(t, bob, "identity")), "\n")
	var info struct{ Volume string }
	json.Unmarshal([]byte(mustRun(t, alice, "info", "--json")), &info)

	ma := mountBackground(t, alice)
	if out, ok := sh("mkdir -p " + ma + "/team && echo old > " + ma + "/team/plan.txt && echo old > " + ma + "/mine.txt"); !ok {
		t.Fatal(out)
	}
	mustRun(t, alice, "sync")
	mustRun(t, alice, "share", "/team", lines[len(lines)-1])
	mustRun(t, bob, "join", "--volume", info.Volume, "--remote", remote, "--ledger", "embedded:"+ledgerDir)

	round := func(tag string) {
		t.Helper()
		ma2 := mountBackground(t, alice2)
		mb := mountBackground(t, bob)
		if out, ok := sh("echo " + tag + " > " + ma + "/a-" + tag + ".txt & echo " + tag + " > " + ma2 + "/a2-" + tag +
			".txt & echo " + tag + " > " + mb + "/team/b-" + tag + ".txt & wait"); !ok {
			t.Fatal(out)
		}
		for _, env := range [][]string{alice, alice2, bob} {
			mustRun(t, env, "sync")
		}
		unmountAndWait(t, alice2, ma2)
		unmountAndWait(t, bob, mb)
	}
	round("r1")
	round("r2")
	mustRun(t, alice, "sync")
	unmountAndWait(t, alice, ma)
	for _, env := range [][]string{alice, alice2, bob} {
		if r := anchorfs(t, env, "verify"); r.code != 0 {
			t.Fatalf("verify after concurrent writers: %+v", r)
		}
	}
	before := snapshot(t, remote)

	ma = mountBackground(t, alice)
	round("r3")
	mustRun(t, alice, "sync")
	unmountAndWait(t, alice, ma)

	restore(t, before, remote)
	refusesRollback(t, alice, "mine.txt", "a-r3.txt")
	refusesRollback(t, alice2, "mine.txt", "a2-r3.txt")
	r := anchorfs(t, bob, "verify")
	if r.code != 1 || !strings.Contains(r.out, "rollback: the remote serves an earlier state of shared folder") {
		t.Fatalf("the grantee's verify of a remote rolled back: %+v", r)
	}
	mnt := t.TempDir()
	if r := anchorfs(t, bob, "mount", mnt, "--background"); r.code == 0 || !strings.Contains(r.err, "rollback") {
		unmountAndWait(t, bob, mnt)
		t.Fatalf("the grantee's mount of a remote rolled back: %+v", r)
	}
}
