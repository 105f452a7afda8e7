package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fabricProfile finds a test network client profile, or skips loudly.
func fabricProfile(t *testing.T, env, name string) string {
	p := os.Getenv(env)
	if p == "" {
		p, _ = filepath.Abs(filepath.Join("..", "..", "network", "testnet", "run", "profiles", name))
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("SKIP: no Fabric test network (%s missing): set FABRIC_BIN and run `make test-fabric`", p)
	}
	return p
}

// TestFabricSharingAcrossOrganisations shares a folder from a user of Org1
// with a user of Org2 on the Fabric test network, through the CLI and two
// mounts: the grantee reads, writes under its own organisation's identity,
// and after the revoke its writes are refused and recorded.
func TestFabricSharingAcrossOrganisations(t *testing.T) {
	org1 := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG1", "org1-user1.yaml")
	org2 := fabricProfile(t, "ANCHORFS_FABRIC_PROFILE_ORG2", "org2-user1.yaml")
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting needs root")
	}
	remote := filepath.Join(t.TempDir(), "remote")
	alice := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "alice"), "ANCHORFS_PASSPHRASE=a"}
	bob := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "bob"), "ANCHORFS_PASSPHRASE=b"}
	mustRun(t, alice, "init", "--remote", remote, "--ledger", "fabric:"+org1)
	lines := strings.Split(strings.TrimSpace(mustRun(t, bob, "identity")), "\n")
	bobID := lines[len(lines)-1]
	var info struct{ Volume string }
	json.Unmarshal([]byte(mustRun(t, alice, "info", "--json")), &info)
	ma := mountBackground(t, alice)
	if out, ok := sh(`set -e; mkdir -p ` + ma + `/proj ` + ma + `/ro; echo hello > ` + ma + `/proj/a.txt; echo fixed > ` + ma + `/ro/r.txt`); !ok {
		t.Fatal(out)
	}
	mustRun(t, alice, "share", "/proj", bobID)
	mustRun(t, alice, "share", "/ro", bobID, "--read-only")
	mustRun(t, bob, "join", "--volume", info.Volume, "--remote", remote, "--ledger", "fabric:"+org2)
	mb := mountBackground(t, bob)
	if out, _ := sh(`cat ` + mb + `/proj/a.txt ` + mb + `/ro/r.txt`); out != "hello\nfixed\n" {
		t.Fatalf("Org2's view: %q", out)
	}
	if _, ok := sh(`echo x >> ` + mb + `/ro/r.txt`); ok {
		t.Fatal("a write into a read-only share was accepted")
	}
	if out, ok := sh(`echo from-org2 > ` + mb + `/proj/b.txt`); !ok {
		t.Fatal(out)
	}
	mustRun(t, bob, "sync")
	mustRun(t, alice, "sync")
	if out, _ := sh(`cat ` + ma + `/proj/b.txt`); out != "from-org2\n" {
		t.Fatalf("Org1 reads the Org2 write as %q", out)
	}
	var evs []struct{ Action, Actor, Path string }
	json.Unmarshal([]byte(mustRun(t, alice, "audit", "--path", "/proj/b.txt", "--format", "json")), &evs)
	if len(evs) == 0 || !strings.HasPrefix(evs[0].Actor, "Org2MSP/") {
		t.Fatalf("the Org2 write is not anchored under Org2: %+v", evs)
	}
	// A proof of the Org2 write, checked offline: block, transaction, write,
	// and the chain of later headers.
	proof := filepath.Join(t.TempDir(), "proof.json")
	mustRun(t, alice, "audit", "prove", "/proj/b.txt", "--out", proof)
	mustRun(t, alice, "sync") // more blocks after the proven one
	if out := mustRun(t, nil, "audit", "check", proof); !strings.Contains(out, "proof holds") || !strings.Contains(out, "Org2MSP/") {
		t.Fatalf("audit check of a Fabric proof:\n%s", out)
	}
	mustRun(t, alice, "revoke", "/proj", bobID)
	sh(`echo late > ` + mb + `/proj/late.txt`)
	mustRun(t, bob, "sync")
	json.Unmarshal([]byte(mustRun(t, alice, "audit", "--action", "denied", "--format", "json")), &evs)
	if len(evs) == 0 || !strings.HasPrefix(evs[len(evs)-1].Actor, "Org2MSP/") {
		t.Fatalf("no denial of the revoked grantee's write on the ledger: %+v", evs)
	}
}
