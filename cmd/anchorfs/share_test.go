package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/embedded"
)

// sh runs a shell script and returns its output and whether it succeeded.
func sh(script string) (string, bool) {
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	return string(out), err == nil
}

// mountBackground mounts a home and unmounts it when the test ends.
func mountBackground(t *testing.T, env []string) string {
	t.Helper()
	mnt := t.TempDir()
	if r := anchorfs(t, env, "mount", mnt, "--background"); r.code != 0 {
		t.Fatalf("mount --background: %+v", r)
	}
	t.Cleanup(func() { unmountAndWait(t, env, mnt) })
	return mnt
}

// unmountAndWait unmounts and waits until the mount process has flushed and gone.
func unmountAndWait(t *testing.T, env []string, mnt string) {
	exec.Command("umount", mnt).Run()
	exec.Command("umount", "-l", mnt).Run()
	home := strings.TrimPrefix(env[0], "ANCHORFS_HOME=")
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(filepath.Join(home, "mount.sock")); os.IsNotExist(err) {
			return
		}
		exec.Command("sleep", "0.05").Run()
	}
}

func mustRun(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := anchorfs(t, env, args...)
	if r.code != 0 {
		t.Fatalf("anchorfs %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// TestSharingBetweenTwoHomes drives sharing through the CLI and two real
// mounts on one embedded ledger: a read-write share, a read-only share,
// isolation of the rest, writes by the grantee showing up for the owner,
// revocation (the revoked grantee, with the remote and the ledger at hand,
// cannot open what is written after), denials and the audit trail.
func TestSharingBetweenTwoHomes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting needs root")
	}
	ctx := context.Background()
	remote, ledgerDir := filepath.Join(t.TempDir(), "remote"), filepath.Join(t.TempDir(), "ledger")
	alice := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "alice"), "ANCHORFS_PASSPHRASE=a"}
	bob := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "bob"), "ANCHORFS_PASSPHRASE=b"}
	mustRun(t, alice, "init", "--remote", remote, "--ledger", "embedded:"+ledgerDir)
	lines := strings.Split(strings.TrimSpace(mustRun(t, bob, "identity")), "\n")
	bobID := lines[len(lines)-1]
	var info struct{ Volume string }
	json.Unmarshal([]byte(mustRun(t, alice, "info", "--json")), &info)

	ma := mountBackground(t, alice)
	if out, ok := sh(`set -e; cd ` + ma + `; mkdir -p projects/acme/docs finance private
		echo plan > projects/acme/plan.txt; echo deep > projects/acme/docs/spec.txt
		echo secret > projects/other.txt; echo q1 > finance/q1.txt; echo diary > private/diary.txt`); !ok {
		t.Fatal(out)
	}
	mustRun(t, alice, "sync")

	if r := anchorfs(t, alice, "share", "/projects/acme", "anchorfs1.garbage"); r.code != 2 || !strings.Contains(r.err, "not an anchorfs identity") {
		t.Fatalf("share with a malformed identity: %+v", r)
	}
	if r := anchorfs(t, alice, "share", "/projects/nothere", bobID); r.code != 1 {
		t.Fatalf("share of a missing folder: %+v", r)
	}
	mustRun(t, alice, "share", "/projects/acme", bobID)
	mustRun(t, alice, "share", "/finance", bobID, "--read-only")
	carol := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "carol"), "ANCHORFS_PASSPHRASE=c"}
	lines = strings.Split(strings.TrimSpace(mustRun(t, carol, "identity")), "\n")
	carolID := lines[len(lines)-1]
	mustRun(t, alice, "share", "/projects/acme", carolID)
	if r := anchorfs(t, alice, "share", "/projects", bobID); r.code != 1 || !strings.Contains(r.err, "nest") {
		t.Fatalf("a share holding a shared folder: %+v", r)
	}
	grants := mustRun(t, alice, "grants")
	if !strings.Contains(grants, "/projects/acme") || !strings.Contains(grants, "/finance") || !strings.Contains(grants, "read-only") {
		t.Fatalf("grants:\n%s", grants)
	}
	// A shared folder's edges: no hard links into it, moves across it are
	// copies (mv falls back to one), and it is not removed while shared.
	if out, ok := sh(`ln ` + ma + `/projects/acme/plan.txt ` + ma + `/projects/plan-link`); ok || !strings.Contains(out, "cross-device") {
		t.Fatalf("a hard link out of a shared folder: %q", out)
	}
	if out, ok := sh(`set -e; echo moved > ` + ma + `/private/moved.txt; mv ` + ma + `/private/moved.txt ` + ma + `/projects/acme/; cat ` + ma + `/projects/acme/moved.txt; test ! -e ` + ma + `/private/moved.txt`); !ok || out != "moved\n" {
		t.Fatalf("a move into a shared folder: %q", out)
	}
	if out, _ := sh(`rmdir ` + ma + `/finance; mkdir ` + ma + `/empty; mv -T ` + ma + `/empty ` + ma + `/finance; rmdir ` + ma + `/empty`); strings.Count(out, "busy") != 2 {
		t.Fatalf("removing or replacing a shared folder: %q", out)
	}
	sh(`rm -f ` + ma + `/projects/acme/moved.txt`)
	mustRun(t, alice, "sync")

	// The owner's mount reads what it re-sealed.
	if out, ok := sh(`cat ` + ma + `/projects/acme/docs/spec.txt ` + ma + `/finance/q1.txt`); !ok || out != "deep\nq1\n" {
		t.Fatalf("owner reads after sharing: %q", out)
	}

	mustRun(t, bob, "join", "--volume", info.Volume, "--remote", remote, "--ledger", "embedded:"+ledgerDir)
	if r := mustRun(t, bob, "info", "--json"); !strings.Contains(r, `"role": "grantee"`) {
		t.Fatalf("info in a joined home: %s", r)
	}
	mb := mountBackground(t, bob)
	if out, _ := sh(`cd ` + mb + ` && ls && ls projects && cat projects/acme/plan.txt projects/acme/docs/spec.txt finance/q1.txt`); out != "finance\nprojects\nacme\nplan\ndeep\nq1\n" {
		t.Fatalf("the grantee's view:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(mb, "private")); !os.IsNotExist(err) {
		t.Fatalf("an unshared folder shows to the grantee: %v", err)
	}
	for _, p := range []string{"finance", "finance/q1.txt", "projects"} {
		if st, err := os.Stat(filepath.Join(mb, p)); err != nil || st.Mode().Perm()&0o222 != 0 {
			t.Fatalf("%s in the grantee's mount shows writable: %v %v", p, st.Mode(), err)
		}
	}
	if st, err := os.Stat(filepath.Join(mb, "projects/acme/plan.txt")); err != nil || st.Mode().Perm()&0o200 == 0 {
		t.Fatalf("a file of a read-write share shows read-only: %v %v", st.Mode(), err)
	}
	if out, ok := sh(`echo more >> ` + mb + `/finance/q1.txt`); ok || !strings.Contains(out, "Permission denied") {
		t.Fatalf("a write into a read-only share: %q", out)
	}
	if _, ok := sh(`echo x > ` + mb + `/finance/new.txt`); ok {
		t.Fatal("a new file in a read-only share was accepted")
	}
	if _, ok := sh(`mkdir ` + mb + `/projects/mine`); ok {
		t.Fatal("a folder outside the shares was made")
	}
	// The owner adds to the read-only share: bob's mount, which never writes
	// there, picks the change up by itself.
	if out, ok := sh(`echo q2 > ` + ma + `/finance/q2.txt`); !ok {
		t.Fatal(out)
	}
	mustRun(t, alice, "sync")
	var q2 string
	for i := 0; i < 300 && q2 != "q2\n"; i++ {
		q2, _ = sh(`cat ` + mb + `/finance/q2.txt 2>/dev/null || sleep 0.1`)
	}
	if q2 != "q2\n" {
		t.Fatalf("the grantee's mount does not see the owner's new file in a read-only share: %q", q2)
	}
	if out, ok := sh(`set -e; echo from-bob > ` + mb + `/projects/acme/bob.txt; mkdir ` + mb + `/projects/acme/bobdir`); !ok {
		t.Fatal(out)
	}
	mustRun(t, bob, "sync")
	// The owner's mount takes the grantee's head by itself (no sync here).
	var view string
	for i := 0; i < 300 && view != "from-bob\nbob.txt\nbobdir\ndocs\nplan.txt\n"; i++ {
		if view, _ = sh(`cat ` + ma + `/projects/acme/bob.txt 2>/dev/null && ls ` + ma + `/projects/acme`); view != "from-bob\nbob.txt\nbobdir\ndocs\nplan.txt\n" {
			exec.Command("sleep", "0.1").Run()
		}
	}
	if view != "from-bob\nbob.txt\nbobdir\ndocs\nplan.txt\n" {
		t.Fatalf("the owner's view of the grantee's write:\n%s", view)
	}
	// Both sides verify every object they can see against hashes and the ledger.
	mustRun(t, alice, "verify")
	mustRun(t, bob, "verify")
	var events []struct{ Action, Actor, Path string }
	json.Unmarshal([]byte(mustRun(t, alice, "audit", "--path", "/projects/acme/bob.txt", "--format", "json")), &events)
	if len(events) == 0 || events[0].Action != "anchor" {
		t.Fatalf("audit of the grantee's file: %+v", events)
	}
	bobActor := events[0].Actor
	if owner := mustRun(t, alice, "audit", "--action", "anchor", "--format", "json"); !strings.Contains(owner, bobActor) {
		t.Fatal("the grantee's anchor is not under its own identity")
	}

	// Carol, a second grantee, mounts before bob's revoke.
	mustRun(t, carol, "join", "--volume", info.Volume, "--remote", remote, "--ledger", "embedded:"+ledgerDir)
	mc := mountBackground(t, carol)
	if out, _ := sh(`cat ` + mc + `/projects/acme/plan.txt`); out != "plan\n" {
		t.Fatalf("carol reads %q", out)
	}

	// Revoke: new writes are under a key bob never gets.
	mustRun(t, alice, "revoke", "/projects/acme", bobID)
	if out, ok := sh(`echo after > ` + ma + `/projects/acme/after.txt`); !ok {
		t.Fatal(out)
	}
	mustRun(t, alice, "sync")
	// Bob's running mount holds the old keys: a write it makes before it
	// learns of the revoke is refused by the chaincode, one after is refused
	// at once; either way the refusal is on the ledger. The folder then
	// leaves his mount.
	sh(`echo late > ` + mb + `/projects/acme/late.txt`)
	mustRun(t, bob, "sync")
	gone := false
	for i := 0; i < 300 && !gone; i++ {
		_, err := os.Stat(filepath.Join(mb, "projects/acme"))
		if gone = os.IsNotExist(err); !gone {
			exec.Command("sleep", "0.1").Run()
		}
	}
	if !gone {
		t.Fatal("a revoked share stays in the grantee's running mount")
	}
	unmountAndWait(t, bob, mb)

	// Bob with everything he has: his keyring, the ledger, the remote.
	id, err := keyring.Load(filepath.Join(strings.TrimPrefix(bob[0], "ANCHORFS_HOME="), "keyring"), []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := embedded.Open(ledgerDir, id)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	all, _ := l.Grants(ctx, info.Volume, "")
	var old map[uint32][]byte
	var domain string
	for _, g := range all {
		if strings.Contains(g.Path, "acme") {
			t.Fatalf("a folder name is on the ledger in the clear: %q", g.Path)
		}
		if p, _ := id.OpenText(g.Path); p == "/projects/acme" && g.GranteeID == id.Public().KeyID() {
			if !g.Revoked {
				t.Fatal("the grant is not marked revoked")
			}
			old, _ = id.UnwrapFolderKeys(g.Keys)
			domain = g.Domain
		}
	}
	if len(old) != 1 || old[1] == nil {
		t.Fatalf("the revoked grant held keys %v", old)
	}
	vol, _ := format.ParseID(info.Volume)
	opens := func(file string, version uint64, manifest string) bool {
		fid, _ := format.ParseID(file)
		h, _ := format.ParseHash(manifest)
		obj, err := os.ReadFile(filepath.Join(remote, format.ObjectName(h)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = format.Open(format.MetaKey(old[1], vol), format.ManifestAAD(vol, fid, version), obj)
		return err == nil
	}
	var anchors []struct {
		File, Path string
		Detail     map[string]string
	}
	json.Unmarshal([]byte(mustRun(t, alice, "audit", "--action", "anchor", "--format", "json")), &anchors)
	checked := map[string]bool{}
	for _, a := range anchors {
		version, _ := strconv.ParseUint(a.Detail["version"], 10, 64)
		switch p := a.Path; p {
		case "/projects/acme/after.txt":
			if opens(a.File, version, a.Detail["manifestHash"]) {
				t.Fatal("the revoked grantee opens a file written after the revoke")
			}
			checked[p] = true
		case "/projects/acme/bob.txt":
			if opens(a.File, version, a.Detail["manifestHash"]) {
				checked[p] = true // written before the revoke: its old key opens it
			}
		}
	}
	if !checked["/projects/acme/after.txt"] || !checked["/projects/acme/bob.txt"] {
		t.Fatalf("checked %v (the old key must open old versions and not new ones)", checked)
	}
	// The owner's head of the shared folder is sealed in the new epoch (a
	// head bob's old mount wrote after the revoke is his own, in the old one).
	did, _ := format.ParseID(domain)
	heads, _ := filepath.Glob(filepath.Join(remote, format.DomainHeadsDir(did), "*"))
	sealedAway := 0
	for _, h := range heads {
		obj, _ := os.ReadFile(h)
		if _, err := format.Open(format.MetaKey(old[1], vol), format.DomainHeadAAD(vol, did), obj); err != nil {
			sealedAway++
		}
	}
	if sealedAway == 0 {
		t.Fatalf("every head of the shared folder (%d) opens with the revoked key", len(heads))
	}
	// The owner does not take in what bob's old mount wrote after the revoke.
	mustRun(t, alice, "sync")
	if _, err := os.Stat(filepath.Join(ma, "projects/acme/late.txt")); !os.IsNotExist(err) {
		t.Fatalf("a write by the revoked grantee reached the owner's tree: %v", err)
	}

	// Carol, who kept her grant, gets the new key in her running mount: once
	// it has it, her commit takes the owner's head of the new epoch (she reads
	// what was written after the revoke) and her writes are sealed in it, so
	// the owner merges them.
	var after string
	for i := 0; i < 300 && after != "after\n"; i++ {
		mustRun(t, carol, "sync")
		if after, _ = sh(`cat ` + mc + `/projects/acme/after.txt 2>/dev/null`); after != "after\n" {
			exec.Command("sleep", "0.1").Run()
		}
	}
	if after != "after\n" {
		t.Fatalf("a remaining grantee's running mount reads %q after the revoke", after)
	}
	if out, ok := sh(`echo from-carol > ` + mc + `/projects/acme/carol.txt`); !ok {
		t.Fatal(out)
	}
	mustRun(t, carol, "sync")
	mustRun(t, alice, "sync")
	if out, _ := sh(`cat ` + ma + `/projects/acme/carol.txt`); out != "from-carol\n" {
		t.Fatalf("the owner reads carol's write after the rotation as %q", out)
	}

	// Remounted, bob sees only what is still shared with him.
	mb = mountBackground(t, bob)
	if out, _ := sh(`ls ` + mb); out != "finance\n" {
		t.Fatalf("after the revoke, bob sees:\n%s", out)
	}

	// Revoking carol with --rekey re-encrypts what is there: the newest
	// version of a file written before either revoke opens with none of the
	// keys carol ever held.
	unmountAndWait(t, carol, mc)
	mustRun(t, alice, "revoke", "/projects/acme", carolID, "--rekey")
	mustRun(t, alice, "sync") // the re-keyed versions are anchored
	cid, err := keyring.Load(filepath.Join(strings.TrimPrefix(carol[0], "ANCHORFS_HOME="), "keyring"), []byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	lc, err := embedded.Open(ledgerDir, cid) // the ledger tells carol of her grants only
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	all, _ = lc.Grants(ctx, info.Volume, domain)
	var carolKeys map[uint32][]byte
	for _, g := range all {
		if g.GranteeID == cid.Public().KeyID() {
			carolKeys, _ = cid.UnwrapFolderKeys(g.Keys)
		}
	}
	if len(carolKeys) != 2 {
		t.Fatalf("carol held keys of epochs %v, want 1 and 2", carolKeys)
	}
	json.Unmarshal([]byte(mustRun(t, alice, "audit", "--path", "/projects/acme/plan.txt", "--format", "json")), &anchors)
	newest := anchors[len(anchors)-1]
	version, _ := strconv.ParseUint(newest.Detail["version"], 10, 64)
	fid, _ := format.ParseID(newest.File)
	h, _ := format.ParseHash(newest.Detail["manifestHash"])
	obj, _ := os.ReadFile(filepath.Join(remote, format.ObjectName(h)))
	for e, k := range carolKeys {
		if _, err := format.Open(format.MetaKey(k, vol), format.ManifestAAD(vol, fid, version), obj); err == nil {
			t.Fatalf("after --rekey, carol's epoch %d key opens the re-keyed file", e)
		}
	}
	if out, _ := sh(`cat ` + ma + `/projects/acme/plan.txt ` + ma + `/projects/acme/docs/spec.txt`); out != "plan\ndeep\n" {
		t.Fatalf("the owner reads after --rekey: %q", out)
	}

	// A forged grant: bob, not the owner, grants himself the private folder.
	g := network.Grant{Volume: info.Volume, Domain: domain, Path: "/private", GranteeKey: id.Public().SigningKeyText(), Rights: "rw", Epoch: 1}
	if err := l.Grant(ctx, g); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("a grant by a non-owner: %v", err)
	}
	var evs []struct{ Action string }
	json.Unmarshal([]byte(mustRun(t, alice, "audit", "--format", "json")), &evs)
	count := map[string]int{}
	for _, e := range evs {
		count[e.Action]++
	}
	// Denials: three refused writes in bob's mount (each recorded once), his late
	// write after the revoke (refused by the chaincode), and the forged grant.
	if count["grant"] != 4 || count["revoke"] != 2 || count["join"] != 2 || count["denied"] < 5 || count["register"] != 1 {
		t.Fatalf("audit actions: %v", count)
	}

	// Sharing again says what changes, and keeps the grant it replaces.
	if out := mustRun(t, alice, "share", "/finance", bobID); !strings.Contains(out, "from read-only to read-write") {
		t.Fatalf("a read-only share made read-write: %s", out)
	}
	history := mustRun(t, alice, "grants", "/finance", "--all")
	if !strings.Contains(history, "replaced") || !strings.Contains(history, "read-only") || !strings.Contains(history, "active") {
		t.Fatalf("grants --all after the change:\n%s", history)
	}
	if strings.Contains(mustRun(t, alice, "grants", "/finance"), "replaced") {
		t.Fatal("grants without --all lists a replaced grant")
	}
	var rows []struct {
		Folder, Rights string
		Replaced       *time.Time
	}
	if err := json.Unmarshal([]byte(mustRun(t, alice, "grants", "/finance", "--all", "--json")), &rows); err != nil || len(rows) != 2 ||
		rows[0].Replaced == nil || rows[0].Rights != "read-only" || rows[1].Replaced != nil || rows[1].Folder != "/finance" {
		t.Fatalf("grants --all --json: %+v %v", rows, err)
	}
}

// TestThePassphraseGuardsOwnerActionsThroughTheMount: with the volume
// mounted, share, revoke and gc with a wrong or missing passphrase fail
// and change nothing (the control socket is no way around the keyring);
// the right one works; commands that need no secret work without it.
func TestThePassphraseGuardsOwnerActionsThroughTheMount(t *testing.T) {
	needRoot(t)
	env := newHome(t, "secret")
	bob := newHome(t, "")
	lines := strings.Split(strings.TrimSpace(mustRun(t, bob, "identity")), "\n")
	bobID := lines[len(lines)-1]
	mnt := mountBackground(t, env)
	os.Mkdir(mnt+"/shared", 0o755)
	mustRun(t, env, "sync")
	wrong := []string{env[0], "ANCHORFS_PASSPHRASE=guess"}
	missing := []string{env[0]}
	for _, e := range [][]string{wrong, missing} {
		for _, args := range [][]string{{"share", "/shared", bobID}, {"revoke", "/shared", bobID}, {"gc"}} {
			if r := anchorfs(t, e, args...); r.code == 0 || !strings.Contains(r.err, "passphrase") {
				t.Fatalf("%v with %v through the mount: %+v", args, e[1:], r)
			}
		}
	}
	if out := mustRun(t, env, "grants"); strings.Contains(out, "/shared") {
		t.Fatalf("a refused share is on the ledger:\n%s", out)
	}
	for _, args := range [][]string{{"identity"}, {"ledger", "info"}, {"info"}} {
		if r := anchorfs(t, missing, args...); r.code != 0 {
			t.Fatalf("%v without a passphrase: %+v", args, r)
		}
	}
	if r := anchorfs(t, env, "share", "/shared", bobID); r.code != 0 {
		t.Fatalf("share with the passphrase: %+v", r)
	}
	if r := anchorfs(t, env, "gc"); r.code != 0 {
		t.Fatalf("gc with the passphrase: %+v", r)
	}
	// grants needs the keys to open folder names: the mount's, no passphrase.
	if r := anchorfs(t, missing, "grants"); r.code != 0 || !strings.Contains(r.out, "/shared") {
		t.Fatalf("grants without a passphrase, mounted: %+v", r)
	}
}

// TestOnePersonOneID: a person is found by audit --actor under their
// identity, their ledger id and their grantee id alike, and grants and
// audit name them by the ledger id their own `anchorfs identity` prints.
func TestOnePersonOneID(t *testing.T) {
	needRoot(t)
	remote, ledgerDir := filepath.Join(t.TempDir(), "remote"), filepath.Join(t.TempDir(), "ledger")
	alice := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "alice"), "ANCHORFS_PASSPHRASE="}
	bob := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "bob"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, alice, "init", "--remote", remote, "--ledger", "embedded:"+ledgerDir)
	lines := strings.Split(strings.TrimSpace(mustRun(t, bob, "identity")), "\n")
	bobID, bobLedgerID := lines[len(lines)-1], strings.TrimPrefix(lines[len(lines)-2], "ledger id: ")
	var info struct{ Volume string }
	json.Unmarshal([]byte(mustRun(t, alice, "info", "--json")), &info)
	ma := mountBackground(t, alice)
	if out, ok := sh("mkdir " + ma + "/s && echo hi > " + ma + "/s/f"); !ok {
		t.Fatal(out)
	}
	mustRun(t, alice, "sync")
	var shared struct{ Op, Path, Message string }
	json.Unmarshal([]byte(mustRun(t, alice, "share", "/s", bobID, "--json")), &shared)
	if shared.Op != "share" || shared.Path != "/s" || shared.Message == "" {
		t.Fatalf("share --json: %+v", shared)
	}
	var joined struct {
		Shared []struct{ Path, Rights string }
	}
	json.Unmarshal([]byte(mustRun(t, bob, "join", "--volume", info.Volume, "--remote", remote, "--ledger", "embedded:"+ledgerDir, "--json")), &joined)
	if len(joined.Shared) != 1 || joined.Shared[0].Path != "/s" || joined.Shared[0].Rights != "read-write" {
		t.Fatalf("join --json: %+v", joined)
	}
	var me struct{ Identity, LedgerID string }
	json.Unmarshal([]byte(mustRun(t, bob, "identity", "--json")), &me)
	if me.Identity != bobID || me.LedgerID != bobLedgerID {
		t.Fatalf("identity --json: %+v", me)
	}
	mb := mountBackground(t, bob)
	if out, ok := sh("cat " + mb + "/s/f"); !ok || out != "hi\n" {
		t.Fatalf("bob reads: %v %q", ok, out)
	}
	unmountAndWait(t, bob, mb)

	var grants []struct{ Grantee, GranteeID string }
	json.Unmarshal([]byte(mustRun(t, alice, "grants", "--json")), &grants)
	if len(grants) != 1 || grants[0].Grantee != bobLedgerID || grants[0].GranteeID == "" {
		t.Fatalf("grants name bob %+v, his identity says %s", grants, bobLedgerID)
	}
	var first string
	for _, who := range []string{bobID, bobLedgerID, grants[0].GranteeID} {
		out := mustRun(t, alice, "audit", "--actor", who, "--action", "read", "--format", "csv")
		if !strings.Contains(out, bobLedgerID) || strings.Count(out, "\n") < 2 {
			t.Fatalf("audit --actor %s:\n%s", who, out)
		}
		if first == "" {
			first = out
		} else if out != first {
			t.Fatalf("audit --actor %s differs from by identity:\n%s\n%s", who, out, first)
		}
	}
	if r := anchorfs(t, alice, "audit", "--actor", "bob"); r.code != 2 || !strings.Contains(r.err, "grantee id") {
		t.Fatalf("audit --actor bob: %+v", r)
	}
}

// TestJoinRefusesALedgerThatIsNotTheVolumes: join without --ledger does
// not make a new empty ledger to look for grants in; it names the
// volume's ledger; another ledger is refused.
func TestJoinRefusesALedgerThatIsNotTheVolumes(t *testing.T) {
	remote, ledgerDir := filepath.Join(t.TempDir(), "remote"), filepath.Join(t.TempDir(), "ledger")
	alice := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "alice"), "ANCHORFS_PASSPHRASE="}
	bob := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "bob"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, alice, "init", "--remote", remote, "--ledger", "embedded:"+ledgerDir)
	var info struct{ Volume, Ledger string }
	json.Unmarshal([]byte(mustRun(t, alice, "info", "--json")), &info)
	r := anchorfs(t, bob, "join", "--volume", info.Volume, "--remote", remote)
	if r.code != 1 || !strings.Contains(r.err, "no embedded ledger") || !strings.Contains(r.err, "--ledger embedded:DIR") {
		t.Fatalf("join without the volume's ledger: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(homeOf(bob), "ledger")); !os.IsNotExist(err) {
		t.Fatal("join made an empty ledger")
	}
	other := newHome(t, "")
	r = anchorfs(t, bob, "join", "--volume", info.Volume, "--remote", remote, "--ledger", "embedded:"+filepath.Join(homeOf(other), "ledger"))
	if r.code != 1 || !strings.Contains(r.err, "is not the volume's") {
		t.Fatalf("join with another volume's ledger: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(homeOf(bob), "config.yaml")); !os.IsNotExist(err) {
		t.Fatal("a refused join wrote config.yaml")
	}
}
