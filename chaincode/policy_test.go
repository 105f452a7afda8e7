package chaincode_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"strings"
	"testing"

	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network/embedded"
)

// party is another caller of the fixture's ledger, with its own identity.
type party struct {
	t     testing.TB
	id    *keyring.Identity
	l     *embedded.Ledger
	actor string
	key   string // grantee key: the signing key, unpadded base64url
}

func (f *fixture) party() *party {
	id, err := keyring.Create(f.t.TempDir(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	l, err := embedded.Open(f.l.Dir(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { l.Close() })
	return &party{t: f.t, id: id, l: l, actor: id.Public().LedgerID(), key: base64.RawURLEncoding.EncodeToString(id.Public().SigningKey)}
}

// owner is the fixture's own caller as a party.
func (f *fixture) owner() *party {
	return &party{t: f.t, l: f.l, actor: f.actor}
}

func (p *party) submit(args ...string) ([]byte, error) {
	return p.l.Submit(context.Background(), args...)
}

func (p *party) policy(args ...string) wire.PolicyOutcome {
	p.t.Helper()
	out, err := p.submit(args...)
	if err != nil {
		p.t.Fatalf("%v: %v", args[0], err)
	}
	var o wire.PolicyOutcome
	if err := json.Unmarshal(out, &o); err != nil {
		p.t.Fatalf("%v answered %q: %v", args[0], out, err)
	}
	return o
}

func (p *party) batch(vs ...wire.FileVersion) []wire.Outcome {
	p.t.Helper()
	b, _ := json.Marshal(vs)
	out, err := p.submit("Files:AnchorBatch", string(b))
	if err != nil {
		p.t.Fatal(err)
	}
	var oc []wire.Outcome
	if err := json.Unmarshal(out, &oc); err != nil {
		p.t.Fatalf("outcomes %q: %v", out, err)
	}
	return oc
}

func (p *party) joinSignature(vol string) string {
	return base64.RawURLEncoding.EncodeToString(p.id.Sign(wire.JoinMessage(vol, p.actor)))
}

func (f *fixture) events(q wire.Query) []wire.Event {
	f.t.Helper()
	q.Volume = f.vol
	evs, err := allEvents(f.l, q)
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

func (f *fixture) inDomain(file string, v uint64, domain string) wire.FileVersion {
	x := f.version(file, v)
	x.Domain = domain
	return x
}

func TestPolicyRegisterGrantRevoke(t *testing.T) {
	f := newFixture(t)
	owner, alice := f.owner(), f.party()
	f.vol = hexOf(16) // one the fixture did not register
	if _, err := f.l.Evaluate("Policy:Owner", f.vol); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("owner of an unregistered volume: %v", err)
	}
	for range 2 {
		if _, err := owner.submit("Policy:Register", f.vol); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.submit("Policy:Register", f.vol); err == nil || !strings.Contains(err.Error(), "is owned by "+f.actor) {
		t.Fatalf("a second actor registered the volume: %v", err)
	}
	out, err := f.l.Evaluate("Policy:Owner", f.vol)
	if err != nil || string(out) != f.actor {
		t.Fatalf("owner: %q %v", out, err)
	}
	if n := len(f.events(wire.Query{Action: "register"})); n != 1 {
		t.Fatalf("%d register events", n)
	}

	dom, other := hexOf(16), hexOf(16)
	keys := base64.StdEncoding.EncodeToString([]byte("wrapped"))
	for name, args := range map[string][]string{
		"bad volume":   {"bad", dom, "/x", alice.key, "rw", keys, "1"},
		"bad domain":   {f.vol, "bad", "/x", alice.key, "rw", keys, "1"},
		"relative":     {f.vol, dom, "x", alice.key, "rw", keys, "1"},
		"long path":    {f.vol, dom, strings.Repeat("x", 16<<10+1), alice.key, "rw", keys, "1", ""},
		"bad key":      {f.vol, dom, "/x", "AAAA", "rw", keys, "1", ""},
		"bad rights":   {f.vol, dom, "/x", alice.key, "rx", keys, "1", ""},
		"epoch 0":      {f.vol, dom, "/x", alice.key, "rw", keys, "0", ""},
		"huge keys":    {f.vol, dom, "/x", alice.key, "rw", strings.Repeat("A", 100<<10), "1", ""},
		"missing args": {f.vol, dom},
	} {
		if _, err := owner.submit(append([]string{"Policy:Grant"}, args...)...); err == nil {
			t.Errorf("grant with %s: accepted", name)
		}
	}
	if o := owner.policy("Policy:Grant", f.vol, dom, "/projects/acme", alice.key, "rw", keys, "1", ""); o.Status != wire.StatusGranted {
		t.Fatalf("grant: %+v", o)
	}
	if o := alice.policy("Policy:Grant", f.vol, other, "/mine", alice.key, "rw", keys, "1", ""); o.Status != wire.StatusDenied || o.Reason == "" {
		t.Fatalf("a grant by a non-owner: %+v", o)
	}
	if evs := f.events(wire.Query{Action: "denied", Actor: alice.actor}); len(evs) != 1 || evs[0].Detail["function"] != "Grant" || evs[0].Detail["domain"] != other {
		t.Fatalf("denied grant events: %+v", evs)
	}
	if evs := f.events(wire.Query{Action: "grant"}); len(evs) != 1 || evs[0].Detail["domain"] != dom || evs[0].Detail["rights"] != "rw" || evs[0].Detail["epoch"] != "1" {
		t.Fatalf("grant events: %+v", evs)
	}
	// A second grant to the same key replaces the first.
	owner.policy("Policy:Grant", f.vol, dom, "/projects/acme", alice.key, "ro", keys, "2", "")

	if o := alice.policy("Policy:Revoke", f.vol, dom, alice.key); o.Status != wire.StatusDenied {
		t.Fatalf("a revoke by a non-owner: %+v", o)
	}
	if _, err := owner.submit("Policy:Revoke", f.vol, other, alice.key); err == nil {
		t.Fatal("revoked a grant that does not exist")
	}
	if o := owner.policy("Policy:Revoke", f.vol, dom, alice.key); o.Status != wire.StatusRevoked {
		t.Fatalf("revoke: %+v", o)
	}
	grants := func(domain string) []wire.Grant {
		out, err := f.l.Evaluate("Policy:Grants", f.vol, domain)
		if err != nil {
			t.Fatal(err)
		}
		var gs []wire.Grant
		if err := json.Unmarshal(out, &gs); err != nil || gs == nil {
			t.Fatalf("grants %q: %v", out, err)
		}
		return gs
	}
	gs := grants("")
	if len(gs) != 1 || !gs[0].Revoked || gs[0].RevokedBy != f.actor || gs[0].RevokedAt.IsZero() || gs[0].Rights != "ro" || gs[0].Epoch != 2 ||
		gs[0].GrantedBy != f.actor || base64.StdEncoding.EncodeToString(gs[0].Keys) != keys || gs[0].Path != "/projects/acme" {
		t.Fatalf("grants: %+v", gs)
	}
	if gs := grants(other); len(gs) != 0 {
		t.Fatalf("grants of a domain without any: %+v", gs)
	}
	if _, err := f.l.Evaluate("Policy:Grants", f.vol, "bad"); err == nil {
		t.Fatal("grants of a malformed domain: accepted")
	}
	if n := len(f.events(wire.Query{Action: "revoke"})); n != 1 {
		t.Fatalf("%d revoke events", n)
	}
}

func TestPolicyEnforcedOnAnchors(t *testing.T) {
	f := newFixture(t)
	owner, alice, bob, carol := f.owner(), f.party(), f.party(), f.party()
	if _, err := owner.submit("Policy:Register", f.vol); err != nil {
		t.Fatal(err)
	}
	dom, other := hexOf(16), hexOf(16)
	owner.policy("Policy:Grant", f.vol, dom, "/projects/acme", alice.key, "rw", "", "1", "")
	owner.policy("Policy:Grant", f.vol, dom, "/projects/acme", bob.key, "ro", "", "1", "")

	// Before joining, a grantee is a stranger.
	if oc := alice.batch(f.inDomain(hexOf(16), 1, dom)); oc[0].Status != wire.StatusDenied {
		t.Fatalf("an anchor before joining: %+v", oc)
	}
	// A signature over another actor's id does not bind alice.
	forged := base64.RawURLEncoding.EncodeToString(alice.id.Sign(wire.JoinMessage(f.vol, bob.actor)))
	for name, sig := range map[string]string{"another actor's": forged, "garbage": "AAAA", "bob's": bob.joinSignature(f.vol)} {
		if _, err := alice.submit("Policy:Join", f.vol, alice.key, sig); err == nil {
			t.Errorf("join with %s signature: accepted", name)
		}
	}
	if _, err := carol.submit("Policy:Join", f.vol, carol.key, carol.joinSignature(f.vol)); err == nil || !strings.Contains(err.Error(), "no grant for this identity") {
		t.Fatalf("join without a grant: %v", err)
	}
	for _, p := range []*party{alice, bob} {
		if _, err := p.submit("Policy:Join", f.vol, p.key, p.joinSignature(f.vol)); err != nil {
			t.Fatal(err)
		}
	}
	if evs := f.events(wire.Query{Action: "join"}); len(evs) != 2 || evs[0].Actor == f.actor {
		t.Fatalf("join events: %+v", evs)
	}

	mine, ownersOther, ownersUnshared := hexOf(16), hexOf(16), hexOf(16)
	if oc := owner.batch(f.inDomain(ownersOther, 1, other), f.version(ownersUnshared, 1)); oc[0].Status != wire.StatusAnchored || oc[1].Status != wire.StatusAnchored {
		t.Fatalf("the owner's anchors: %+v", oc)
	}
	readOnly, noGrant := hexOf(16), hexOf(16)
	oc := alice.batch(f.inDomain(mine, 1, dom), f.inDomain(noGrant, 1, other), f.inDomain(ownersOther, 2, dom), f.inDomain(ownersUnshared, 2, ""))
	if oc[0].Status != wire.StatusAnchored {
		t.Fatalf("a read-write member's anchor in its domain: %+v", oc[0])
	}
	for i, what := range []string{"in a domain without a grant", "moving a file into its domain", "outside any domain"} {
		if o := oc[i+1]; o.Status != wire.StatusDenied || o.Reason == "" {
			t.Errorf("an anchor %s: %+v", what, o)
		}
	}
	if oc := bob.batch(f.inDomain(readOnly, 1, dom)); oc[0].Status != wire.StatusDenied || !strings.Contains(oc[0].Reason, "read-only") {
		t.Fatalf("a read-only member's anchor: %+v", oc)
	}
	if evs := f.events(wire.Query{Action: "denied", File: readOnly}); len(evs) != 1 || evs[0].Actor != bob.actor || evs[0].Detail["domain"] != dom || evs[0].Detail["version"] != "1" || evs[0].Detail["reason"] == "" {
		t.Fatalf("the read-only denial's event: %+v", evs)
	}
	if evs := f.events(wire.Query{Action: "denied", Actor: alice.actor}); len(evs) != 4 {
		t.Fatalf("%d denied events for alice, want 4", len(evs))
	}
	out, err := f.l.Evaluate("Files:Latest", f.vol, mine)
	var latest wire.FileVersion
	json.Unmarshal(out, &latest)
	if err != nil || latest.Domain != dom || latest.Actor != alice.actor {
		t.Fatalf("the member's anchor: %+v %v", latest, err)
	}
	if _, err := f.l.Evaluate("Files:Latest", f.vol, readOnly); err == nil {
		t.Fatal("a denied anchor was written")
	}
	// The single-anchor call reports a denial as an error.
	x := f.inDomain(readOnly, 1, dom)
	if _, err := bob.submit("Files:Anchor", x.Volume, x.File, "1", "0", x.MerkleRoot, x.ManifestHash, "1"); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("a denied single anchor: %v", err)
	}

	// The owner may move a file to another domain.
	if oc := owner.batch(f.inDomain(mine, 2, other)); oc[0].Status != wire.StatusAnchored {
		t.Fatalf("the owner moving a file: %+v", oc)
	}
	if oc := alice.batch(f.inDomain(mine, 3, dom)); oc[0].Status != wire.StatusDenied {
		t.Fatalf("a member anchoring a file moved out of its domain: %+v", oc)
	}

	if o := owner.policy("Policy:Revoke", f.vol, dom, alice.key); o.Status != wire.StatusRevoked {
		t.Fatal(o)
	}
	if oc := alice.batch(f.inDomain(hexOf(16), 1, dom)); oc[0].Status != wire.StatusDenied || !strings.Contains(oc[0].Reason, "revoked") {
		t.Fatalf("an anchor after revocation: %+v", oc)
	}
	if _, err := alice.submit("Policy:Join", f.vol, alice.key, alice.joinSignature(f.vol)); err == nil {
		t.Fatal("a revoked grantee joined again")
	}
}

// TestTheLedgerTellsAVolumeOnlyToItsMembers: a third identity learns
// nothing of a volume (not even whether it exists), a joined grantee only
// what its grants cover, and nobody anchors on a volume never registered.
func TestTheLedgerTellsAVolumeOnlyToItsMembers(t *testing.T) {
	f := newFixture(t)
	owner, alice, mallory := f.owner(), f.party(), f.party()
	dom, other := hexOf(16), hexOf(16)
	owner.policy("Policy:Grant", f.vol, dom, "/team", alice.key, "rw", "", "1", "")
	owner.policy("Policy:Grant", f.vol, other, "/private", mallory.key, "ro", "", "1", "")
	if _, err := alice.submit("Policy:Join", f.vol, alice.key, alice.joinSignature(f.vol)); err != nil {
		t.Fatal(err)
	}
	mine, theirs, top := hexOf(16), hexOf(16), hexOf(16)
	if oc := alice.batch(f.inDomain(mine, 1, dom)); oc[0].Status != wire.StatusAnchored {
		t.Fatalf("the grantee's anchor: %+v", oc)
	}
	if oc := owner.batch(f.inDomain(theirs, 1, other), f.version(top, 1)); oc[0].Status != wire.StatusAnchored || oc[1].Status != wire.StatusAnchored {
		t.Fatalf("the owner's anchors: %+v", oc)
	}
	head := func(domain string) string {
		h, _ := json.Marshal([]wire.HeadVersion{{Volume: f.vol, Domain: domain, Hash: hexOf(32), Seq: 1}})
		return string(h)
	}
	if _, err := owner.submit("Files:Commit", "[]", head("")); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.submit("Files:Commit", "[]", head(other)); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.submit("Files:Commit", "[]", head(dom)); err != nil {
		t.Fatal(err)
	}
	qb, _ := json.Marshal(wire.Query{Volume: f.vol})
	everything := string(qb)

	// Mallory holds a grant but never joined: a stranger, like anyone.
	for name, args := range map[string][]string{
		"latest":      {"Files:Latest", f.vol, top},
		"history":     {"Files:History", f.vol, mine},
		"latest head": {"Files:LatestHead", f.vol, ""},
		"grants":      {"Policy:Grants", f.vol, ""},
		"owner":       {"Policy:Owner", f.vol},
		"events":      {"Audit:Events", everything},
		"unknown vol": {"Files:Latest", hexOf(16), top},
	} {
		if out, err := mallory.l.Evaluate(args...); wire.CodeOf(err) != wire.NotMember {
			t.Errorf("a stranger's %s: %q %v", name, out, err)
		}
	}
	ev, _ := json.Marshal([]wire.Event{{Volume: f.vol, Action: "read", File: top}})
	if _, err := mallory.submit("Audit:Record", string(ev)); err == nil {
		t.Error("a stranger recorded an event on the volume")
	}

	// Alice reads what lies in her folder, and nothing else.
	for name, args := range map[string][]string{
		"latest":      {"Files:Latest", f.vol, mine},
		"history":     {"Files:History", f.vol, mine},
		"latest head": {"Files:LatestHead", f.vol, dom},
		"grants":      {"Policy:Grants", f.vol, ""},
	} {
		if _, err := alice.l.Evaluate(args...); err != nil {
			t.Errorf("the grantee's %s: %v", name, err)
		}
	}
	for name, args := range map[string][]string{
		"latest outside":     {"Files:Latest", f.vol, top},
		"history of another": {"Files:History", f.vol, theirs},
		"the volume's head":  {"Files:LatestHead", f.vol, ""},
		"another's head":     {"Files:LatestHead", f.vol, other},
		"a file never seen":  {"Files:Latest", f.vol, hexOf(16)},
	} {
		if _, err := alice.l.Evaluate(args...); wire.CodeOf(err) != wire.NotMember {
			t.Errorf("the grantee's %s: %v", name, err)
		}
	}
	out, _ := alice.l.Evaluate("Policy:Grants", f.vol, "")
	var gs []wire.Grant
	json.Unmarshal(out, &gs)
	if len(gs) != 1 || gs[0].Domain != dom {
		t.Fatalf("the grantee sees grants %+v", gs)
	}
	var q wire.Query
	json.Unmarshal([]byte(everything), &q)
	evs, _ := allEvents(alice.l, q)
	if len(evs) == 0 {
		t.Fatal("the grantee sees no events of its folder")
	}
	for _, e := range evs {
		if e.File != mine && e.Detail["domain"] != dom && e.Actor != alice.actor {
			t.Fatalf("the grantee sees an event outside its folder, not its own: %+v", e)
		}
	}

	// An unregistered volume takes no anchors, of versions or heads.
	unreg := hexOf(16)
	x := f.version(hexOf(16), 1)
	x.Volume = unreg
	if oc := mallory.batch(x); oc[0].Status != wire.StatusDenied || !strings.Contains(oc[0].Reason, "not registered") {
		t.Fatalf("an anchor on an unregistered volume: %+v", oc)
	}
}

// TestLatestHeadIsTheNewest: heads of concurrent writers are all taken;
// the newest (greatest seq, then hash) is kept, a retry is "exists".
func TestLatestHeadIsTheNewest(t *testing.T) {
	f := newFixture(t)
	commit := func(heads ...wire.HeadVersion) wire.CommitOutcome {
		t.Helper()
		b, _ := json.Marshal(heads)
		out, err := f.submit("Files:Commit", "[]", string(b))
		if err != nil {
			t.Fatal(err)
		}
		var o wire.CommitOutcome
		json.Unmarshal(out, &o)
		return o
	}
	latest := func() wire.HeadVersion {
		t.Helper()
		out, err := f.l.Evaluate("Files:LatestHead", f.vol, "")
		if err != nil {
			t.Fatal(err)
		}
		var h wire.HeadVersion
		json.Unmarshal(out, &h)
		return h
	}
	if _, err := f.l.Evaluate("Files:LatestHead", f.vol, ""); wire.CodeOf(err) != wire.NoHead {
		t.Fatalf("the head of a volume with none: %v", err)
	}
	h1 := wire.HeadVersion{Volume: f.vol, Hash: "1" + hexOf(32)[1:], Seq: 5}
	h2 := wire.HeadVersion{Volume: f.vol, Hash: "f" + hexOf(32)[1:], Seq: 5, Parents: []string{hexOf(32)}}
	h0 := wire.HeadVersion{Volume: f.vol, Hash: hexOf(32), Seq: 4}
	if o := commit(h1, h2, h0); len(o.Heads) != 3 || o.Heads[0].Status != wire.StatusAnchored || o.Heads[2].Status != wire.StatusAnchored {
		t.Fatalf("heads: %+v", o)
	}
	if got := latest(); got.Hash != h2.Hash || got.Seq != 5 || got.Actor != f.actor || len(got.Parents) != 1 {
		t.Fatalf("latest head %+v, want %s", got, h2.Hash)
	}
	if o := commit(h2); o.Heads[0].Status != wire.StatusExists {
		t.Fatalf("a retry: %+v", o)
	}
	for name, h := range map[string]wire.HeadVersion{
		"seq 0":     {Volume: f.vol, Hash: hexOf(32)},
		"bad hash":  {Volume: f.vol, Hash: "x", Seq: 1},
		"bad dom":   {Volume: f.vol, Domain: "x", Hash: hexOf(32), Seq: 1},
		"bad paren": {Volume: f.vol, Hash: hexOf(32), Seq: 1, Parents: []string{"p"}},
	} {
		b, _ := json.Marshal([]wire.HeadVersion{h})
		if _, err := f.submit("Files:Commit", "[]", string(b)); err == nil {
			t.Errorf("a head with %s: accepted", name)
		}
	}
	if n := len(f.events(wire.Query{Action: "head"})); n != 3 {
		t.Fatalf("%d head events, want 3", n)
	}
}
