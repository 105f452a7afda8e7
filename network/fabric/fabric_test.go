package fabric_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/fabric"
	"github.com/anchorfs/anchorfs/network/ledgertest"
)

func TestLoadProfile(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "p.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	full := "gateway: 127.0.0.1:7051\ntlsCACert: ca.crt\nmspID: Org1MSP\ncertificate: /abs/cert.pem\nprivateKey: key\nchannel: anchorfs\nchaincode: anchorfs\n"
	p, err := fabric.LoadProfile(write(full))
	if err != nil {
		t.Fatal(err)
	}
	if p.TLSCACert != filepath.Join(dir, "ca.crt") || p.Certificate != "/abs/cert.pem" || p.PrivateKey != filepath.Join(dir, "key") {
		t.Fatalf("relative names are not taken relative to the profile: %+v", p)
	}
	if _, err := fabric.LoadProfile(write(strings.Replace(full, "mspID: Org1MSP\n", "", 1))); err == nil || !strings.Contains(err.Error(), "mspID") {
		t.Fatalf("a profile without an MSP id: %v", err)
	}
	if _, err := fabric.LoadProfile(write("gateway: [")); err == nil {
		t.Fatal("malformed YAML accepted")
	}
	if _, err := fabric.LoadProfile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("a missing profile accepted")
	}
}

func TestBlockHeaderHash(t *testing.T) {
	a := fabric.BlockHeaderHash(&common.BlockHeader{Number: 1, PreviousHash: []byte{1}, DataHash: []byte{2}})
	b := fabric.BlockHeaderHash(&common.BlockHeader{Number: 2, PreviousHash: []byte{1}, DataHash: []byte{2}})
	if len(a) != 32 || hex.EncodeToString(a) == hex.EncodeToString(b) {
		t.Fatalf("header hashes: %x %x", a, b)
	}
}

// profile returns the test network's profile for org n, or skips loudly.
func profile(t testing.TB, org string) string { return userProfile(t, org, "user1") }

// userProfile is the profile of one user of an organisation (ORG-USER.yaml);
// ANCHORFS_FABRIC_PROFILE_ORG names User1's elsewhere.
func userProfile(t testing.TB, org, user string) string {
	p := os.Getenv("ANCHORFS_FABRIC_PROFILE_" + strings.ToUpper(org))
	if p == "" || user != "user1" {
		p, _ = filepath.Abs(filepath.Join("..", "testnet", "run", "profiles", org+"-"+user+".yaml"))
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("SKIP: no Fabric test network (%s missing): set FABRIC_BIN and run `make network-up` or `make test-fabric`", p)
	}
	return p
}

func open(t testing.TB, org string) *fabric.Ledger { return openUser(t, org, "user1") }

// openUser connects as one user of an organisation.
func openUser(t testing.TB, org, user string) *fabric.Ledger {
	l, err := fabric.Open(userProfile(t, org, user))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func anchor(vol, file string, v uint64) network.Anchor {
	return network.Anchor{Volume: vol, File: file, Version: v, PrevVersion: v - 1, MerkleRoot: randHex(32), ManifestHash: randHex(32), Size: 1}
}

// registered is a new volume owned by l's caller.
func registered(t testing.TB, l *fabric.Ledger) string {
	vol := randHex(16)
	if err := l.Register(context.Background(), vol); err != nil {
		t.Fatal(err)
	}
	return vol
}

// TestAcrossOrganisations anchors as Org1 on a volume it owns. Org2, a third
// party, learns nothing of it and anchors nothing on it; granted a shared
// folder and joined, it reads what lies there and nothing else, and its
// stale anchor is refused by the chaincode on Fabric. A volume never
// registered takes no anchors.
func TestAcrossOrganisations(t *testing.T) {
	ctx := context.Background()
	org1, org2 := open(t, "org1"), open(t, "org2")
	vol, dom, file, outside := registered(t, org1), randHex(16), randHex(16), randHex(16)
	a1 := anchor(vol, file, 1)
	a1.Domain = dom
	res, err := org1.AnchorBatch(ctx, []network.Anchor{a1, anchor(vol, outside, 1)})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("org1 anchors: %+v %v", res, err)
	}
	if _, err := org2.Latest(ctx, vol, file); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("a stranger reads a volume's anchors: %v", err)
	}
	if _, err := org2.Audit(ctx, network.AuditQuery{Volume: vol}); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("a stranger reads a volume's events: %v", err)
	}
	if _, err := org2.Grants(ctx, vol, ""); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("a stranger reads a volume's grants: %v", err)
	}
	if res, err := org2.AnchorBatch(ctx, []network.Anchor{anchor(vol, randHex(16), 1)}); err != nil || !errors.Is(res[0].Err, network.ErrDenied) {
		t.Fatalf("a stranger anchors: %+v %v", res, err)
	}
	if res, err := org2.AnchorBatch(ctx, []network.Anchor{anchor(randHex(16), randHex(16), 1)}); err != nil || !errors.Is(res[0].Err, network.ErrDenied) {
		t.Fatalf("an anchor on a volume never registered: %+v %v", res, err)
	}

	grantee, err := keyring.Create(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	key := grantee.Public().SigningKeyText()
	if err := org1.Grant(ctx, network.Grant{Volume: vol, Domain: dom, Path: "/shared", GranteeKey: key, Rights: "rw", Keys: []byte{1}, Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	sig := base64.RawURLEncoding.EncodeToString(grantee.Sign(wire.JoinMessage(vol, org2.Actor())))
	if err := org2.Join(ctx, vol, key, sig); err != nil {
		t.Fatal(err)
	}
	latest, err := org2.Latest(ctx, vol, file)
	if err != nil || latest.ManifestHash != a1.ManifestHash || !strings.HasPrefix(latest.Actor, "Org1MSP/") {
		t.Fatalf("org2 reads: %+v %v", latest, err)
	}
	if _, err := org2.Latest(ctx, vol, outside); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("the grantee reads outside its folder: %v", err)
	}
	dup := anchor(vol, randHex(16), 1)
	dup.Domain = dom
	_, err = org2.AnchorBatch(ctx, []network.Anchor{dup, dup})
	if err == nil {
		t.Fatal("the same file twice in one batch was accepted")
	}
	stale := anchor(vol, file, 3)
	stale.Domain = dom
	res, err = org2.AnchorBatch(ctx, []network.Anchor{stale})
	if err != nil || !errors.Is(res[0].Err, network.ErrStale) || res[0].Current.Version != 1 {
		t.Fatalf("a stale anchor from org2: %+v %v", res, err)
	}
	if _, err := org1.Latest(ctx, vol, randHex(16)); !errors.Is(err, network.ErrNotFound) {
		t.Fatalf("an unknown file: %v", err)
	}
	evs, err := org2.Audit(ctx, network.AuditQuery{Volume: vol, Action: "anchor"})
	if err != nil || len(evs) != 1 || evs[0].File != file {
		t.Fatalf("the grantee's audit: %+v, %v", evs, err)
	}
	if evs, err := org1.Audit(ctx, network.AuditQuery{Volume: vol, Action: "anchor"}); err != nil || len(evs) != 2 {
		t.Fatalf("the owner's audit: %d events, %v", len(evs), err)
	}
	// The chain links: each block names the previous block's hash.
	info, err := org1.Info(ctx)
	if err != nil || info.Height < 2 {
		t.Fatalf("info: %+v %v", info, err)
	}
	var prev string
	from := info.Height - 3
	err = org1.Blocks(ctx, from, func(b network.Block) error {
		if prev != "" && b.PrevHash != prev {
			t.Errorf("block %d does not link to block %d", b.Number, b.Number-1)
		}
		prev = b.Hash
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFabricConformance runs the ledger suite on the Fabric test network:
// User1 of Org1 owns, User1 of Org2 is the grantee, User2 of Org1 (of the
// owner's organisation, but not the owner) is the stranger.
func TestFabricConformance(t *testing.T) {
	grantee, err := keyring.Create(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ledgertest.Run(t, ledgertest.Parties{
		Owner: open(t, "org1"), Grantee: open(t, "org2"), GranteeKey: grantee,
		Stranger: openUser(t, "org1", "user2"), Check: fabric.CheckProof,
	})
}

func TestUnavailableNetwork(t *testing.T) {
	p := profile(t, "org1")
	b, _ := os.ReadFile(p)
	dead := filepath.Join(t.TempDir(), "dead.yaml")
	os.WriteFile(dead, []byte(strings.Replace(string(b), "127.0.0.1:7051", "127.0.0.1:1", 1)), 0o600)
	l, err := fabric.Open(dead)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := l.Latest(ctx, randHex(16), randHex(16)); !errors.Is(err, network.ErrUnavailable) {
		t.Fatalf("a network that is down: %v", err)
	}
}

// TestFabricOrdererFailover stops the first of three orderers (the Raft
// leader after a start, and the first endpoint clients try) and anchors
// again: the two left elect a leader and keep committing. It stops a process
// of the test network, so it runs only when asked: ANCHORFS_FABRIC_FAILOVER=1
// on a network started with ORDERERS=3 (make test-fabric-failover).
func TestFabricOrdererFailover(t *testing.T) {
	if os.Getenv("ANCHORFS_FABRIC_FAILOVER") == "" {
		t.Skip("SKIP: stops an orderer; runs with ANCHORFS_FABRIC_FAILOVER=1 on a network started with ORDERERS=3 (make test-fabric-failover)")
	}
	l := open(t, "org1")
	run := filepath.Join("..", "testnet", "run")
	if n, _ := os.ReadFile(filepath.Join(run, "orderers")); strings.TrimSpace(string(n)) != "3" {
		t.Fatal("the test network does not run three orderers: start it with ORDERERS=3")
	}
	ctx := context.Background()
	vol := registered(t, l)
	anchorOne := func() {
		t.Helper()
		a := anchor(vol, randHex(16), 1)
		// While the two left elect a leader a submit may be turned away; the
		// drive's outbox tries again, and so does this.
		for try := 1; ; try++ {
			res, err := l.AnchorBatch(ctx, []network.Anchor{a})
			if err == nil && res[0].Err == nil {
				return
			}
			if try == 20 {
				t.Fatalf("anchoring: %+v %v", res, err)
			}
			t.Logf("anchoring, try %d: %v", try, err)
			time.Sleep(500 * time.Millisecond)
		}
	}
	anchorOne()
	before, err := l.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(run, "pids", "orderer"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping the first orderer (pid %d): %v", pid, err)
	}
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if i == 100 {
			t.Fatalf("the first orderer (pid %d) does not exit", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t0 := time.Now()
	const n = 20
	for range n {
		anchorOne()
	}
	t.Logf("%d transactions committed in %v with the first orderer down", n, time.Since(t0).Round(time.Millisecond))
	after, err := l.Info(ctx)
	if err != nil || after.Height < before.Height+n {
		t.Fatalf("the chain grew from %d to %d blocks (%v), want %d more", before.Height, after.Height, err, n)
	}
}

// TestFabricAFullBatchIsAnchored: a client's full batch (wire.BatchSize
// versions, what a mount sends after a burst of writes) is anchored in one
// transaction, and a block holding it is read back: their messages are
// larger than gRPC's default 4 MiB.
func TestFabricAFullBatchIsAnchored(t *testing.T) {
	l := open(t, "org1")
	ctx := context.Background()
	vol := registered(t, l)
	as := make([]network.Anchor, wire.BatchSize)
	for i := range as {
		as[i] = anchor(vol, randHex(16), 1)
	}
	out, err := l.AnchorBatch(ctx, as)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("anchor %d: %v", i, o.Err)
		}
	}
	info, err := l.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Blocks(ctx, info.Height-1, func(network.Block) error { return nil }); err != nil {
		t.Fatalf("reading the newest block: %v", err)
	}
}

// BenchmarkFabricAnchor reports anchored versions per second against the
// test network, batched and one transaction per version, and the latency of
// a submit (median, p99).
func BenchmarkFabricAnchor(b *testing.B) {
	for _, c := range []struct {
		name       string
		perTx      int
		submitters int
	}{{"batched-2000", 2000, 1}, {"one-per-tx", 1, 20}} {
		b.Run(c.name, func(b *testing.B) {
			l := open(b, "org1")
			ctx := context.Background()
			vol := registered(b, l)
			var mu sync.Mutex
			var lat []time.Duration
			b.ResetTimer()
			var wg sync.WaitGroup
			work := make(chan struct{}, b.N)
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			for range c.submitters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						as := make([]network.Anchor, c.perTx)
						for i := range as {
							as[i] = anchor(vol, randHex(16), 1)
						}
						t0 := time.Now()
						if _, err := l.AnchorBatch(ctx, as); err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						lat = append(lat, time.Since(t0))
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N*c.perTx)/b.Elapsed().Seconds(), "versions/s")
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "ms-median")
				b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "ms-p99")
			}
		})
	}
}
