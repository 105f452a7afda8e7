package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type balanceOut struct {
	Identity                     string
	Balance, Reserved, Available float64
	Operator                     bool
}

func balanceOf(t *testing.T, env []string) balanceOut {
	t.Helper()
	var b balanceOut
	if err := json.Unmarshal([]byte(mustRun(t, env, "balance", "--json")), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTokensPayForStorageAndReads: on an embedded ledger another home
// operates, a user's writes and reads are charged; a non-operator cannot
// mint or set prices (refusals on the ledger); once the user has
// transferred its whole balance its writes get EDQUOT while reads, listings
// and audit work; a topup lets writes back in without a remount, and
// everything written before is anchored.
func TestTokensPayForStorageAndReads(t *testing.T) {
	needRoot(t)
	ledger := "embedded:" + filepath.Join(t.TempDir(), "ledger")
	op, user := tokenHomes(t, ledger, ledger)
	if b := balanceOf(t, op); !b.Operator || b.Balance != 100 {
		t.Fatalf("the ledger's creator: %+v", b)
	}
	if b := balanceOf(t, user); b.Operator || b.Balance != 0 {
		t.Fatalf("a user of another's ledger starts with nothing: %+v", b)
	}
	tokensPayForStorageAndReads(t, op, user)
}

// TestFabricTokensPayForStorageAndReads is the same on the Fabric test
// network: Org1's User1 operates the token (the deploy claimed it), Org2's
// User1 pays.
func TestFabricTokensPayForStorageAndReads(t *testing.T) {
	org1 := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG1", "org1-user1.yaml")
	org2 := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG2", "org2-user1.yaml")
	needRoot(t)
	op, user := tokenHomes(t, "fabric:"+org1, "fabric:"+org2)
	if b := balanceOf(t, op); !b.Operator {
		t.Fatalf("Org1's User1 does not operate the token: %+v", b)
	}
	tokensPayForStorageAndReads(t, op, user)
}

// tokenHomes inits an operator's home and a user's, each with a volume.
func tokenHomes(t *testing.T, opLedger, userLedger string) (op, user []string) {
	op = []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "op"), "ANCHORFS_PASSPHRASE="}
	user = []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "user"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, op, "init", "--remote", filepath.Join(t.TempDir(), "r1"), "--ledger", opLedger)
	mustRun(t, user, "init", "--remote", filepath.Join(t.TempDir(), "r2"), "--ledger", userLedger)
	return op, user
}

func tokensPayForStorageAndReads(t *testing.T, op, user []string) {
	opID, userID := balanceOf(t, op).Identity, balanceOf(t, user).Identity
	for _, args := range [][]string{{"topup", userID, "1000"}, {"prices", "--set", "storage=0"}} {
		if r := anchorfs(t, user, args...); r.code == 0 || !strings.Contains(r.err, "only the ledger's operator") {
			t.Fatalf("%v by a user: %+v", args, r)
		}
	}
	if denials := auditRows(t, op, "--ledger-events", "--action", "denied", "--actor", userID); len(denials) != 2 {
		t.Fatalf("the refusals on the ledger: %+v", denials)
	}
	mustRun(t, op, "topup", userID, "20")
	start := balanceOf(t, user).Balance
	// Prices that show in seconds: 2 MiB cost about 0.00075 token a second
	// stored, 1.95 tokens read. Back to none after: on Fabric the network's
	// other tests follow.
	mustRun(t, op, "prices", "--set", "storage=1000000,read=1000")
	t.Cleanup(func() { anchorfs(t, op, "prices", "--set", "storage=0,read=0") })

	mnt := mountBackground(t, user)
	content := strings.Repeat("x", 2<<20)
	if err := os.WriteFile(mnt+"/a.bin", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, user, "sync")
	if b, err := os.ReadFile(mnt + "/a.bin"); err != nil || len(b) != len(content) {
		t.Fatalf("read: %d %v", len(b), err)
	}
	waitForEvents(t, user, 1, "--action", "read")
	var after balanceOut
	if !eventually(20*time.Second, func() bool { after = balanceOf(t, user); return after.Balance < start-1.9 }) {
		t.Fatalf("after writing and reading 2 MiB: %+v", after)
	}
	if after.Reserved <= 0 {
		t.Fatalf("the mount reserved nothing for its storage: %+v", after)
	}
	// The lane pays what its bytes cost at its next anchor.
	time.Sleep(time.Second)
	os.WriteFile(mnt+"/second.txt", []byte("second"), 0o644)
	mustRun(t, user, "sync")
	out := mustRun(t, user, "usage", "--format", "csv")
	recs, _ := csv.NewReader(strings.NewReader(out)).ReadAll()
	kinds := map[string]bool{}
	for _, r := range recs[1:] {
		kinds[r[1]] = true
	}
	if !kinds["mint"] || !kinds["read"] || !kinds["storage"] {
		t.Fatalf("the user's statement: %s", out)
	}

	// The whole balance away: writes stop, reads do not.
	mustRun(t, user, "transfer", opID, "all")
	var werr error
	if !eventually(30*time.Second, func() bool {
		werr = os.WriteFile(mnt+"/b.txt", []byte("more"), 0o644)
		return werr != nil
	}) || !strings.Contains(werr.Error(), "quota") {
		t.Fatalf("writes with no balance: %v", werr)
	}
	if b, err := os.ReadFile(mnt + "/a.bin"); err != nil || len(b) != len(content) {
		t.Fatalf("a read with no balance: %d %v", len(b), err)
	}
	if entries, err := os.ReadDir(mnt); err != nil || len(entries) == 0 {
		t.Fatalf("a listing with no balance: %v", err)
	}
	auditRows(t, user, "--path", "/a.bin")
	if !strings.Contains(readFile(t, filepath.Join(homeOf(user), "mount.log")), "EDQUOT") {
		t.Fatal("the mount log does not say why writes are refused")
	}

	// A topup lets writes back in, and everything written is anchored.
	mustRun(t, op, "topup", userID, "20")
	if !eventually(30*time.Second, func() bool { return os.WriteFile(mnt+"/c.txt", []byte("back"), 0o644) == nil }) {
		t.Fatal("writes stay refused after a topup")
	}
	mustRun(t, user, "sync")
	if r := anchorfs(t, user, "verify"); r.code != 0 {
		t.Fatalf("verify after the topup: %+v", r)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFabricConcurrentWritersArePaidWithoutConflicts: two homes of one
// owner write at once on the Fabric test network with storage priced;
// each mount's lane pays for its own bytes, so no transaction of one
// conflicts with the other's (MVCC), and everything is anchored.
func TestFabricConcurrentWritersArePaidWithoutConflicts(t *testing.T) {
	org1 := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG1", "org1-user1.yaml")
	org2 := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG2", "org2-user1.yaml")
	needRoot(t)
	op, owner := tokenHomes(t, "fabric:"+org1, "fabric:"+org2)
	second := secondHome(t, owner, remoteOf(t, owner))
	mustRun(t, op, "topup", balanceOf(t, owner).Identity, "50")
	mustRun(t, op, "prices", "--set", "storage=1000000,read=0")
	t.Cleanup(func() { anchorfs(t, op, "prices", "--set", "storage=0,read=0") })
	m1, m2 := mountBackground(t, owner), mountBackground(t, second)
	write := func(mnt, dir string, done chan<- string) {
		out, ok := sh(`set -e; mkdir -p ` + mnt + `/` + dir + `; for round in 1 2 3; do for i in $(seq 1 10); do
			head -c 100000 /dev/urandom > ` + mnt + `/` + dir + `/f$i; done; sleep 2; done`)
		if !ok {
			done <- out
			return
		}
		done <- ""
	}
	done := make(chan string, 2)
	go write(m1, "one", done)
	go write(m2, "two", done)
	for range 2 {
		if out := <-done; out != "" {
			t.Fatalf("a writer failed: %s", out)
		}
	}
	mustRun(t, owner, "sync")
	mustRun(t, second, "sync")
	for _, env := range [][]string{owner, second} {
		log := readFile(t, filepath.Join(homeOf(env), "mount.log"))
		for _, bad := range []string{"MVCC", "PHANTOM", "unpaid", "EDQUOT"} {
			if strings.Contains(log, bad) {
				t.Fatalf("%s in a writer's log:\n%s", bad, log)
			}
		}
	}
	storage := 0
	for _, line := range strings.Split(mustRun(t, owner, "usage", "--format", "csv"), "\n") {
		if strings.Contains(line, ",storage,") {
			storage++
		}
	}
	if storage < 2 {
		t.Fatalf("%d storage charges for two writers' three rounds", storage)
	}
	if r := anchorfs(t, owner, "verify"); r.code != 0 {
		t.Fatalf("verify: %+v", r)
	}
}
