package embedded_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/embedded"
)

// childCommit is set for a test binary re-executed to commit in a loop until killed.
const childCommit = "ANCHORFS_TEST_LEDGER_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childCommit); dir != "" {
		id, err := keyring.Create(filepath.Join(dir, "child-keyring-"+fmt.Sprint(os.Getpid())), nil)
		if err != nil {
			panic(err)
		}
		l, err := embedded.Open(dir, id)
		if err != nil {
			panic(err)
		}
		vol := randHex(16)
		if err := l.Register(context.Background(), vol); err != nil {
			panic(err)
		}
		for n := 0; ; n++ {
			if n == 1 {
				fmt.Println("committing") // one block is in; the kill may come any time now
			}
			as := make([]network.Anchor, 500)
			for i := range as {
				as[i] = anchor(vol, randHex(16), 1)
			}
			if _, err := l.AnchorBatch(context.Background(), as); err != nil {
				panic(err)
			}
		}
	}
	os.Exit(m.Run())
}

func TestKill9MidCommitLeavesAValidChain(t *testing.T) {
	dir := t.TempDir()
	for round := range 3 {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), childCommit+"="+dir)
		out, _ := child.StdoutPipe()
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		out.Read(buf)
		time.Sleep(time.Duration(150+round*170) * time.Millisecond)
		child.Process.Kill()
		child.Wait()
		if err := embedded.VerifyDir(context.Background(), dir); err != nil {
			t.Fatalf("after kill -9 (round %d): %v", round, err)
		}
	}
	l := open(t, dir, identity(t))
	if _, err := l.AnchorBatch(context.Background(), []network.Anchor{anchor(volumeOf(t, l), randHex(16), 1)}); err != nil {
		t.Fatalf("committing after the crashes: %v", err)
	}
	info, _ := l.Info(context.Background())
	if info.Height < 5 { // genesis, a block from each child, this one
		t.Fatalf("the children committed too little (height %d)", info.Height)
	}
	if err := l.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCatchesTampering(t *testing.T) {
	for name, tamper := range map[string]string{
		"state value":   `UPDATE state SET value = X'00' WHERE rowid IN (SELECT rowid FROM state LIMIT 1)`,
		"extra state":   `INSERT INTO state (key, value, block, tx) VALUES (X'41', X'42', 1, 0)`,
		"deleted state": `DELETE FROM state WHERE key IN (SELECT key FROM state LIMIT 1)`,
		"block data":    `UPDATE blocks SET data = CAST(replace(CAST(data AS TEXT), '"time":', '"time":1') AS BLOB) WHERE number = 1`,
		"block hash":    `UPDATE blocks SET hash = X'00' WHERE number = 1`,
		"block removed": `DELETE FROM blocks WHERE number = 1`,
		"signature":     `UPDATE blocks SET signature = X'00' WHERE number = 2`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir, identity(t))
			vol := volumeOf(t, l)
			for range 2 {
				l.AnchorBatch(context.Background(), []network.Anchor{anchor(vol, randHex(16), 1)})
			}
			l.Close()
			db, err := sql.Open("sqlite", filepath.Join(dir, "ledger.db"))
			if err != nil {
				t.Fatal(err)
			}
			q := strings.ReplaceAll(tamper, "rowid IN (SELECT rowid FROM state LIMIT 1)", "key IN (SELECT key FROM state LIMIT 1)")
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if err := embedded.VerifyDir(context.Background(), dir); err == nil {
				t.Fatalf("verify missed tampering with the %s", name)
			}
		})
	}
}
