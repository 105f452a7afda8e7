package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// auditRows runs audit with args and decodes its JSON.
func auditRows(t *testing.T, env []string, args ...string) []auditRow {
	t.Helper()
	out := mustRun(t, env, append(append([]string{"audit"}, args...), "--format", "json")...)
	var rows []auditRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("audit %v: %v\n%s", args, err, out)
	}
	return rows
}

// waitForEvents waits until audit with args lists n events (reads go to
// the ledger in batches, a moment after the file is closed).
func waitForEvents(t *testing.T, env []string, n int, args ...string) []auditRow {
	t.Helper()
	var rows []auditRow
	if !eventually(20*time.Second, func() bool { rows = auditRows(t, env, args...); return len(rows) >= n }) || len(rows) != n {
		t.Fatalf("audit %v: %d events, want %d: %+v", args, len(rows), n, rows)
	}
	return rows
}

// startMount runs a mount in the foreground of a child process, for a test
// that kills it.
func startMount(t *testing.T, env []string) (*exec.Cmd, string) {
	t.Helper()
	mnt := t.TempDir()
	cmd := exec.Command(binary, "mount", mnt)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); exec.Command("umount", "-l", mnt).Run() })
	if !eventually(10*time.Second, func() bool { _, err := os.Stat(filepath.Join(homeOf(env), "mount.sock")); return err == nil }) {
		t.Fatal("the mount did not come up")
	}
	return cmd, mnt
}

// TestReadsAreOnTheLedger: every open for reading through the mount is a
// read event with its bytes, a verify is a download of each file, mounts
// and unmounts are events; audit filters and exports them, audit report
// sums them, and a read whose event had not reached the ledger when the
// mount was killed reaches it from the next mount.
func TestReadsAreOnTheLedger(t *testing.T) {
	needRoot(t)
	readsAreOnTheLedger(t, newHome(t, "pass"))
}

// TestFabricReadsAreOnTheLedger is TestReadsAreOnTheLedger on the Fabric
// test network.
func TestFabricReadsAreOnTheLedger(t *testing.T) {
	profile := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG1", "org1-user1.yaml")
	needRoot(t)
	env := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home"), "ANCHORFS_PASSPHRASE="}
	mustRun(t, env, "init", "--remote", filepath.Join(t.TempDir(), "remote"), "--ledger", "fabric:"+profile)
	readsAreOnTheLedger(t, env)
}

func readsAreOnTheLedger(t *testing.T, env []string) {
	mnt := mountBackground(t, env)
	const size = 300_000
	content := strings.Repeat("confidential ", size/13+1)[:size]
	os.MkdirAll(mnt+"/contracts", 0o755)
	if err := os.WriteFile(mnt+"/contracts/nda.pdf", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(mnt+"/contracts/other.txt", []byte("other"), 0o644)
	mustRun(t, env, "sync")
	for range 2 {
		if b, err := os.ReadFile(mnt + "/contracts/nda.pdf"); err != nil || string(b) != content {
			t.Fatalf("read back: %d bytes, %v", len(b), err)
		}
	}
	if out, err := exec.Command("head", "-c", "100", mnt+"/contracts/other.txt").CombinedOutput(); err != nil {
		t.Fatalf("head: %s", out)
	}
	reads := waitForEvents(t, env, 2, "--path", "/contracts/nda.pdf", "--action", "read")
	var sum int64
	for _, r := range reads {
		if r.Path != "/contracts/nda.pdf" || r.Bytes == nil || r.Actor == "" || r.TxID == "" {
			t.Fatalf("a read event: %+v", r)
		}
		sum += *r.Bytes
	}
	if sum < size { // the second read may come from the kernel's page cache
		t.Fatalf("the reads' bytes sum to %d, the file has %d", sum, size)
	}
	actor := reads[0].Actor

	// The folder's events are its files'; filters by actor and action.
	folder := auditRows(t, env, "--path", "/contracts")
	actions := map[string]int{}
	for _, r := range folder {
		actions[r.Action]++
	}
	if actions["read"] != 3 || actions["anchor"] != 2 {
		t.Fatalf("the folder's events: %v", actions)
	}
	if n := len(auditRows(t, env, "--actor", actor, "--action", "read")); n != 3 {
		t.Fatalf("reads by %s: %d", actor, n)
	}
	if n := len(auditRows(t, env, "--actor", "embedded/00000000000000000000000000000000")); n != 0 {
		t.Fatalf("events of a stranger: %d", n)
	}
	if n := len(auditRows(t, env, "--path", "/contracts/nda.pdf", "--since", time.Now().Add(time.Hour).Format(time.RFC3339))); n != 0 {
		t.Fatalf("events of the future: %d", n)
	}
	mounts := auditRows(t, env, "--action", "mount")
	if len(mounts) != 1 || mounts[0].Actor != actor {
		t.Fatalf("mount events: %+v", mounts)
	}

	// CSV: a header row and the columns docs/AUDIT.md names.
	out := mustRun(t, env, "audit", "--path", "/contracts/nda.pdf", "--format", "csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 4 || strings.Join(recs[0], ",") != "time,actor,action,path,file,bytes,detail,tx" {
		t.Fatalf("csv: %v\n%s", err, out)
	}
	for _, rec := range recs[1:] {
		if rec[3] != "/contracts/nda.pdf" || (rec[2] == "read") != (rec[5] != "") {
			t.Fatalf("csv row %q", rec)
		}
	}

	// verify reads every file outside the mount's reads: downloads.
	mustRun(t, env, "verify")
	downloads := waitForEvents(t, env, 2, "--action", "download")
	for _, d := range downloads {
		if d.Path == "/contracts/nda.pdf" && (d.Bytes == nil || *d.Bytes != size) {
			t.Fatalf("the download of nda.pdf: %+v", d)
		}
	}

	// The report's sums are the events'.
	out = mustRun(t, env, "audit", "report", "--format", "csv")
	recs, _ = csv.NewReader(strings.NewReader(out)).ReadAll()
	if strings.Join(recs[0], ",") != "actor,path,file,reads,bytes_read,downloads,bytes_downloaded,writes,denials" {
		t.Fatalf("report header %q", recs[0])
	}
	found := false
	for _, rec := range recs[1:] {
		if rec[1] == "/contracts/nda.pdf" {
			found = true
			if rec[0] != actor || rec[3] != "2" || rec[4] != strconv.FormatInt(sum, 10) || rec[5] != "1" || rec[6] != strconv.Itoa(size) || rec[7] != "1" || rec[8] != "0" {
				t.Fatalf("report row %q (reads summing to %d)", rec, sum)
			}
		}
	}
	if !found {
		t.Fatalf("no report row of nda.pdf:\n%s", out)
	}
	if r := anchorfs(t, env, "audit", "--format", "xml"); r.code != 2 || !strings.Contains(r.err, "use table, json or csv") {
		t.Fatalf("audit --format xml: %+v", r)
	}
	unmountAndWait(t, env, mnt)
	if n := len(auditRows(t, env, "--action", "unmount")); n != 1 {
		t.Fatalf("%d unmount events", n)
	}

	// A read, then the mount killed before its event went: the next mount
	// sends it.
	cmd, mnt2 := startMount(t, env)
	if _, err := os.ReadFile(mnt2 + "/contracts/other.txt"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	exec.Command("umount", "-l", mnt2).Run()
	if n := len(auditRows(t, env, "--path", "/contracts/other.txt", "--action", "read")); n != 1 {
		t.Fatalf("the killed mount's read reached the ledger already (%d reads): the test shows nothing", n)
	}
	mountBackground(t, env)
	waitForEvents(t, env, 2, "--path", "/contracts/other.txt", "--action", "read")
}
