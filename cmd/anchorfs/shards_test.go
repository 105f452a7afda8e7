package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/remote/remotetest"
)

// threeRemotes makes a home whose volume is cut 2+1 across two local
// folders and rclone's WebDAV server on 127.0.0.1, on the embedded ledger
// or the one given.
func threeRemotes(t *testing.T, ledger ...string) (env []string, a, b string, srv *remotetest.Server) {
	t.Helper()
	needRoot(t)
	a, b = filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	srv = remotetest.ServeWebDAV(t, t.TempDir())
	env = []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home"), "ANCHORFS_PASSPHRASE="}
	out := mustRun(t, env, append([]string{"init", "--remote", a, "--remote", b, "--remote", srv.Spec, "--shards", "2+1"}, ledgerFlag(ledger)...)...)
	if !strings.Contains(out, "created volume") {
		t.Fatalf("init: %s", out)
	}
	return env, a, b, srv
}

// waitUploaded waits until the home's mount has no uploads pending (a node
// that came back has taken what it missed).
func waitUploaded(t *testing.T, env []string) {
	t.Helper()
	for i := 0; i < 600; i++ {
		var info struct{ Pending struct{ Uploads int } }
		json.Unmarshal([]byte(mustRun(t, env, "info", "--json")), &info)
		if info.Pending.Uploads == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ledgerFlag is --ledger for the ledger given, none for the default.
func ledgerFlag(ledger []string) []string {
	if len(ledger) == 0 {
		return nil
	}
	return []string{"--ledger", ledger[0]}
}

// TestFabricStorageNodes: on Fabric, init records the three nodes, a scrub
// records what it found on each (a node missing its objects), and nodes
// shows each one's record from the ledger.
func TestFabricStorageNodes(t *testing.T) {
	profile := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG1", "org1-user1.yaml")
	env, a, _, _ := threeRemotes(t, "fabric:"+profile)
	writeSample(t, env)
	if out, ok := sh("rm -rf " + a + "/objects"); !ok {
		t.Fatal(out)
	}
	if r := anchorfs(t, env, "scrub"); r.code != 1 {
		t.Fatalf("scrub with node 1's objects deleted: exit %d\n%s%s", r.code, r.out, r.err)
	}
	var nodes []struct {
		ID     string
		Ledger struct{ Scrubs, Missing int64 }
	}
	if r := anchorfs(t, env, "nodes", "--json"); json.Unmarshal([]byte(r.out), &nodes) != nil || len(nodes) != 3 ||
		nodes[0].Ledger.Scrubs != 1 || nodes[0].Ledger.Missing == 0 || nodes[1].Ledger.Scrubs != 1 || nodes[1].Ledger.Missing != 0 {
		t.Fatalf("nodes on Fabric: %+v\n%s%s", nodes, r.out, r.err)
	}
	if out := mustRun(t, env, "audit", "--action", "scrub", "--format", "json"); strings.Count(out, `"scrub"`) != 3 || !strings.Contains(out, nodes[2].ID) {
		t.Fatalf("scrub events on Fabric: %s", out)
	}
}

// writeSample writes a 3 MB random file and a few small ones, synced, and
// returns the big one's SHA-256.
func writeSample(t *testing.T, env []string) string {
	t.Helper()
	m := mountBackground(t, env)
	out, ok := sh("set -e; head -c 3000000 /dev/urandom > " + m + "/big; echo small > " + m + "/s.txt; mkdir " + m + "/d; echo deep > " + m + "/d/x.txt; sha256sum < " + m + "/big")
	if !ok {
		t.Fatal(out)
	}
	mustRun(t, env, "sync")
	unmountAndWait(t, env, m)
	return out
}

// readSample reads the sample back through a new mount: the big file's
// SHA-256 (or the error), and the small files.
func readSample(t *testing.T, env []string) (string, bool) {
	t.Helper()
	m := mountBackground(t, env)
	defer unmountAndWait(t, env, m)
	return sh("cat " + m + "/s.txt " + m + "/d/x.txt && sha256sum < " + m + "/big")
}

// TestAVolumeOnThreeRemotes: 2+1 across three remotes (one a network
// remote) stores shards, never a whole chunk, on each; reads everything
// back with one remote's objects deleted, or altered; verify names the
// node; with two of three gone a read is EIO, never wrong bytes.
func TestAVolumeOnThreeRemotes(t *testing.T) {
	env, a, b, _ := threeRemotes(t)
	sum := writeSample(t, env)
	want := "small\ndeep\n" + sum

	// Each remote holds shards of the 1 MiB chunks: about half a chunk each.
	for _, dir := range []string{a, b} {
		out, ok := sh("find " + dir + "/objects -type f -size +600k | wc -l; find " + dir + "/objects -type f -size +400k | wc -l")
		if !ok || strings.Fields(out)[0] != "0" || strings.Fields(out)[1] != "3" {
			t.Fatalf("%s: objects over 600 KB, over 400 KB: %q (want no whole chunk, three shards)", dir, out)
		}
	}

	if out, ok := sh("cp -a " + a + " " + a + ".bak && rm -rf " + a + "/objects"); !ok {
		t.Fatal(out)
	}
	if got, ok := readSample(t, env); !ok || got != want {
		t.Fatalf("with node 1's objects deleted: %v %q", ok, got)
	}
	// The reads went on from the other nodes, and said so on the ledger.
	var ids []struct{ ID string }
	json.Unmarshal([]byte(mustRun(t, env, "nodes", "--json")), &ids)
	var out string
	named := func() bool {
		out = mustRun(t, env, "audit", "--action", "integrity", "--format", "json")
		return len(ids) == 3 && strings.Contains(out, ids[0].ID) && strings.Contains(out, "the node's copy is missing")
	}
	if !eventually(20*time.Second, named) { // events go to the ledger in batches
		t.Fatalf("no integrity event names node 1 (%+v): %s", ids, out)
	}
	r := anchorfs(t, env, "verify")
	if r.code != 1 || !strings.Contains(r.out+r.err, "node 1: shard missing") {
		t.Fatalf("verify with node 1's objects deleted: exit %d\n%s%s", r.code, r.out, r.err)
	}

	// scrub finds what node 1 lacks, repair rebuilds it, scrub is clean.
	var rep struct {
		Nodes []struct{ Checked, Missing, Corrupt, Repaired int64 }
	}
	r = anchorfs(t, env, "scrub", "--json", "--rate", "100MB/s")
	if json.Unmarshal([]byte(r.out), &rep) != nil || r.code != 1 || len(rep.Nodes) != 3 || rep.Nodes[0].Missing == 0 || rep.Nodes[1].Missing+rep.Nodes[2].Missing != 0 {
		t.Fatalf("scrub with node 1's objects deleted: exit %d %+v\n%s%s", r.code, rep, r.out, r.err)
	}
	missing := rep.Nodes[0].Missing
	r = anchorfs(t, env, "repair", "--json")
	if json.Unmarshal([]byte(r.out), &rep) != nil || r.code != 0 || rep.Nodes[0].Repaired != missing {
		t.Fatalf("repair of node 1: exit %d %+v\n%s%s", r.code, rep, r.out, r.err)
	}
	if r = anchorfs(t, env, "scrub"); r.code != 0 || !strings.Contains(r.out, "every remote holds what it should") {
		t.Fatalf("scrub after repair: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if out := mustRun(t, env, "nodes"); !strings.Contains(out, "shards 2+1: each chunk on 3 nodes, any 2 of them read it back") || strings.Count(out, " up ") != 3 {
		t.Fatalf("nodes:\n%s", out)
	}
	// The node's record on the ledger: three scrubs (a repair is one),
	// what they found, and a payee.
	mustRun(t, env, "nodes", "payee", "2", "someone")
	var nodes []struct {
		ID      string
		Up      bool
		Objects int64
		Ledger  struct {
			Payee           string
			Scrubs, Missing int64
		}
	}
	if r = anchorfs(t, env, "nodes", "--json"); json.Unmarshal([]byte(r.out), &nodes) != nil || len(nodes) != 3 || !nodes[2].Up || nodes[0].Objects == 0 || len(nodes[0].ID) != 32 ||
		nodes[0].Ledger.Scrubs != 3 || nodes[0].Ledger.Missing != 2*missing || nodes[1].Ledger.Payee != "someone" || nodes[1].Ledger.Missing != 0 {
		t.Fatalf("nodes: %+v\n%s%s", nodes, r.out, r.err)
	}

	// Every object on node 2 altered.
	if out, ok := sh("rm -rf " + a + ".bak && find " + b + `/objects -type f | while read f; do printf '\x55' | dd of="$f" bs=1 seek=100 conv=notrunc status=none; done`); !ok {
		t.Fatal(out)
	}
	if got, ok := readSample(t, env); !ok || got != want {
		t.Fatalf("with node 2's objects altered: %v %q", ok, got)
	}
	r = anchorfs(t, env, "verify")
	if r.code != 1 || !strings.Contains(r.out+r.err, "node 2: shard does not match its hash") {
		t.Fatalf("verify with node 2's objects altered: exit %d\n%s%s", r.code, r.out, r.err)
	}

	// Two of three gone: the big file cannot be read, and is not made up;
	// repair says what it cannot rebuild.
	if out, ok := sh("rm -rf " + a + "/objects/*"); !ok {
		t.Fatal(out)
	}
	if r = anchorfs(t, env, "repair"); r.code != 1 || !strings.Contains(r.out, "shards are missing or altered") {
		t.Fatalf("repair with two of three remotes damaged: exit %d\n%s%s", r.code, r.out, r.err)
	}
	m := mountBackground(t, env)
	out, ok := sh("cat " + m + "/big > /dev/null")
	if ok || !strings.Contains(out, "Input/output error") {
		t.Fatalf("reading with two of three remotes gone: %v %q", ok, out)
	}
}

// TestAStoppedNodeDuringReadsAndWrites: with the network remote SIGSTOPped,
// reads of what was written before go on (its shards are rebuilt from the
// others), and writes go on and sync (stored on two of three, the third's
// shards waiting on local disk); once it resumes it gets them, and a kill
// -9 in between loses nothing.
func TestAStoppedNodeDuringReadsAndWrites(t *testing.T) {
	env, _, _, srv := threeRemotes(t)
	sum := writeSample(t, env)
	m := mountBackground(t, env)
	srv.Pause()
	defer srv.Resume()
	// A deadlock, not a speed: each step completes or hangs until the
	// remote comes back (then it is killed, and the test fails).
	run := func(script string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		cmd.WaitDelay = time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s, with a node stopped: %v %s", script, err, out)
		}
		return string(out)
	}
	if got := run("sha256sum < " + m + "/big"); got != sum {
		t.Fatalf("big file with a node stopped: %q, want %q", got, sum)
	}
	run("head -c 2500000 /dev/urandom > " + m + "/burst && sync " + m + "/burst")
	burst := run("sha256sum < " + m + "/burst")
	syncCtx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	syncCmd := exec.CommandContext(syncCtx, binary, "sync")
	syncCmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	if out, err := syncCmd.CombinedOutput(); err != nil {
		t.Fatalf("sync with a node stopped: %v %s", err, out)
	}
	// The burst's shards for the stopped node wait on local disk...
	// (once the node has not taken them for a moment)
	waiting := ""
	for i := 0; i < 300 && (waiting == "" || waiting == "0"); i++ {
		out, _ := sh("ls " + homeOf(env) + "/cache/*/writeback/node2 2>/dev/null | wc -l")
		waiting = strings.TrimSpace(out)
		time.Sleep(100 * time.Millisecond)
	}
	if waiting == "0" {
		t.Fatal("no shards wait on local disk for the stopped node")
	}
	// ...when the mount dies.
	pid, ok := sh("pgrep -f '" + binary + " mount " + m + "'")
	if !ok || strings.TrimSpace(pid) == "" {
		t.Fatalf("finding the mount process: %q", pid)
	}
	if out, ok := sh("kill -9 " + strings.TrimSpace(pid) + " && while kill -0 " + strings.TrimSpace(pid) + " 2>/dev/null; do sleep 0.05; done; umount -l " + m); !ok {
		t.Fatalf("killing the mount: %s", out)
	}
	srv.Resume()
	m = mountBackground(t, env)
	got, ok := sh("sha256sum < " + m + "/burst")
	if !ok || got != burst {
		t.Fatalf("the burst after kill -9 and the node's return: %v %q, want %q", ok, got, burst)
	}
	mustRun(t, env, "sync") // the shards left on disk reach the node
	unmountAndWait(t, env, m)
	r := anchorfs(t, env, "verify")
	if r.code != 0 {
		t.Fatalf("verify once the node took its shards: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

// TestAMountStartsWithANodeDown: with the network remote not running, the
// volume mounts, reads and writes (stored on the other two); when the
// remote comes back during the mount, it gets its shards, and verify,
// which reads every shard from its own node, passes.
func TestAMountStartsWithANodeDown(t *testing.T) {
	env, _, _, srv := threeRemotes(t)
	sum := writeSample(t, env)
	srv.Stop()
	m := mountBackground(t, env)
	if got, ok := sh("sha256sum < " + m + "/big"); !ok || got != sum {
		t.Fatalf("reading with node 3 down since the mount: %v %q", ok, got)
	}
	out, ok := sh("set -e; head -c 1500000 /dev/urandom > " + m + "/new; sha256sum < " + m + "/new")
	if !ok {
		t.Fatal(out)
	}
	mustRun(t, env, "sync")
	srv.Start()
	// The node is tried again every few seconds; its shards wait until then.
	waitUploaded(t, env)
	unmountAndWait(t, env, m)
	if r := anchorfs(t, env, "verify"); r.code != 0 {
		t.Fatalf("verify once node 3 is back: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if r := anchorfs(t, env, "scrub"); r.code != 0 {
		t.Fatalf("scrub once node 3 is back: exit %d\n%s%s", r.code, r.out, r.err)
	}
	m = mountBackground(t, env)
	if got, ok := sh("sha256sum < " + m + "/new"); !ok || got != out {
		t.Fatalf("the file written while node 3 was down: %v %q", ok, got)
	}
}

// TestReshardAndReplace: a volume on one remote moves to 2+1 across three
// (one a network remote), a dead node is replaced by an empty remote and
// filled, and the volume moves back onto one remote; everything reads back
// and verifies at each step.
func TestReshardAndReplace(t *testing.T) {
	needRoot(t)
	dirs := []string{filepath.Join(t.TempDir(), "r0"), filepath.Join(t.TempDir(), "r1"), filepath.Join(t.TempDir(), "r2"), filepath.Join(t.TempDir(), "r3")}
	srv := remotetest.ServeWebDAV(t, t.TempDir())
	env := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, env, "init", "--remote", dirs[0])
	sum := writeSample(t, env)
	want := "small\ndeep\n" + sum
	check := func(step string) {
		t.Helper()
		if got, ok := readSample(t, env); !ok || got != want {
			t.Fatalf("%s: %v %q", step, ok, got)
		}
		if r := anchorfs(t, env, "verify"); r.code != 0 {
			t.Fatalf("%s: verify: exit %d\n%s%s", step, r.code, r.out, r.err)
		}
	}
	wholeChunks := func(dir string) string {
		out, _ := sh("find " + dir + "/objects -type f -size +1000k | wc -l")
		return strings.TrimSpace(out)
	}

	out := mustRun(t, env, "reshard", "--shards", "2+1", "--remote", dirs[0], "--remote", dirs[1], "--remote", srv.Spec)
	if !strings.Contains(out, "is on shards 2+1") {
		t.Fatalf("reshard to 2+1: %s", out)
	}
	check("after the reshard to 2+1")
	var nodes []struct{ ID, Remote string }
	json.Unmarshal([]byte(mustRun(t, env, "nodes", "--json")), &nodes)
	if len(nodes) != 3 || nodes[1].Remote != dirs[1] {
		t.Fatalf("nodes after the reshard: %+v", nodes)
	}
	if n := wholeChunks(dirs[1]); n != "0" {
		t.Fatalf("node 2 holds %s whole chunks, want shards only", n)
	}

	// Node 2 dies; an empty remote takes its place and is filled.
	if out, ok := sh("rm -rf " + dirs[1]); !ok {
		t.Fatal(out)
	}
	r := anchorfs(t, env, "remote", "replace", "2", dirs[2])
	if r.code != 0 || !strings.Contains(r.out, "node 2 is now") || !strings.Contains(r.out, "every remote holds what it should") && !strings.Contains(r.out, "REPAIRED") {
		t.Fatalf("remote replace: exit %d\n%s%s", r.code, r.out, r.err)
	}
	json.Unmarshal([]byte(mustRun(t, env, "nodes", "--json")), &nodes)
	if nodes[1].Remote != dirs[2] || nodes[1].ID == "" {
		t.Fatalf("nodes after the replace: %+v", nodes)
	}
	if r := anchorfs(t, env, "scrub"); r.code != 0 {
		t.Fatalf("scrub after the replace: exit %d\n%s%s", r.code, r.out, r.err)
	}
	check("after the replace")

	// Back onto one remote.
	if out := mustRun(t, env, "reshard", "--remote", dirs[3]); !strings.Contains(out, "is on one remote") {
		t.Fatalf("reshard to one remote: %s", out)
	}
	check("after the reshard to one remote")
	if n := wholeChunks(dirs[3]); n != "2" {
		t.Fatalf("the single remote holds %s whole 1 MiB chunks, want 2", n)
	}
}

// TestUnmountWithAStalledNode: with the network remote SIGSTOPped, an
// unmount ends (the node's shards stay on local disk) instead of waiting
// on the node for ever, and the next mount gives it what it missed.
func TestUnmountWithAStalledNode(t *testing.T) {
	env, _, _, srv := threeRemotes(t)
	m := mountBackground(t, env)
	srv.Pause()
	defer srv.Resume()
	out, ok := sh("set -e; head -c 1500000 /dev/urandom > " + m + "/f; sha256sum < " + m + "/f")
	if !ok {
		t.Fatal(out)
	}
	mustRun(t, env, "sync")
	pid, _ := sh("pgrep -f '" + binary + " mount " + m + "'")
	exec.Command("umount", m).Run()
	// A deadlock, not a speed: the process either ends or waits on the node.
	gone := false
	for i := 0; i < 600 && !gone; i++ {
		_, running := sh("kill -0 " + strings.TrimSpace(pid) + " 2>/dev/null")
		gone = !running
		time.Sleep(100 * time.Millisecond)
	}
	if !gone {
		t.Fatal("the mount process still waits on the stalled node after the unmount")
	}
	srv.Resume()
	m = mountBackground(t, env)
	if got, ok := sh("sha256sum < " + m + "/f"); !ok || got != out {
		t.Fatalf("the file after the unmount: %v %q", ok, got)
	}
	waitUploaded(t, env)
	unmountAndWait(t, env, m)
	if r := anchorfs(t, env, "scrub"); r.code != 0 {
		t.Fatalf("scrub once the node took what it missed: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

// TestSharingOnThreeRemotes: a folder of a volume cut 2+1 across three
// remotes is shared; the grantee joins giving the remotes in another order
// (each says which node it is), reads the folder with one remote's objects
// gone, and writes to it.
func TestSharingOnThreeRemotes(t *testing.T) {
	needRoot(t)
	ledgerDir := filepath.Join(t.TempDir(), "ledger")
	alice := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "alice"), "ANCHORFS_PASSPHRASE=a"}
	bob := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "bob"), "ANCHORFS_PASSPHRASE=b"}
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "c")}
	mustRun(t, alice, "init", "--remote", dirs[0], "--remote", dirs[1], "--remote", dirs[2], "--shards", "2+1", "--ledger", "embedded:"+ledgerDir)
	lines := strings.Split(strings.TrimSpace(mustRun(t, bob, "identity")), "\n")
	bobID := lines[len(lines)-1]
	var info struct{ Volume string }
	json.Unmarshal([]byte(mustRun(t, alice, "info", "--json")), &info)
	ma := mountBackground(t, alice)
	if out, ok := sh("set -e; mkdir -p " + ma + "/team " + ma + "/private; head -c 2500000 /dev/urandom > " + ma + "/team/big; echo diary > " + ma + "/private/d.txt"); !ok {
		t.Fatal(out)
	}
	sum, _ := sh("sha256sum < " + ma + "/team/big")
	mustRun(t, alice, "share", "/team", bobID)
	mustRun(t, alice, "sync")

	mustRun(t, bob, "join", "--volume", info.Volume, "--remote", dirs[2], "--remote", dirs[0], "--remote", dirs[1], "--ledger", "embedded:"+ledgerDir)
	if out, ok := sh("rm -rf " + dirs[0] + "/objects"); !ok {
		t.Fatal(out)
	}
	mb := mountBackground(t, bob)
	if out, _ := sh("ls " + mb); out != "team\n" {
		t.Fatalf("the grantee's view: %q", out)
	}
	if got, ok := sh("sha256sum < " + mb + "/team/big"); !ok || got != sum {
		t.Fatalf("the grantee's read with node 1's objects gone: %v %q", ok, got)
	}
	if out, ok := sh("echo from-bob > " + mb + "/team/bob.txt"); !ok {
		t.Fatal(out)
	}
	mustRun(t, bob, "sync")
	for i := 0; i < 300; i++ {
		if out, _ := sh("cat " + ma + "/team/bob.txt 2>/dev/null"); out == "from-bob\n" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the owner never saw the grantee's file")
}
