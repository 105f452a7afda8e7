package embedded_test

import (
	"context"
	"encoding/base64"
	"errors"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"testing"

	"github.com/anchorfs/anchorfs/network"
)

func TestPolicy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ownerID, memberID := identity(t), identity(t)
	owner, member := open(t, dir, ownerID), open(t, dir, memberID)
	vol, dom := randHex(16), randHex(16)
	key := base64.RawURLEncoding.EncodeToString(memberID.Public().SigningKey)

	if _, err := owner.Owner(ctx, vol); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("owner of an unregistered volume: %v", err)
	}
	if err := owner.Register(ctx, vol); err != nil {
		t.Fatal(err)
	}
	if err := member.Register(ctx, vol); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("a second owner: %v", err)
	}
	if _, err := member.Owner(ctx, vol); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("owner, to someone outside the volume: %v", err)
	}
	if o, err := owner.Owner(ctx, vol); err != nil || o != ownerID.Public().LedgerID() {
		t.Fatalf("owner: %q %v", o, err)
	}
	g := network.Grant{Volume: vol, Domain: dom, Path: "/shared", GranteeKey: key, Rights: "rw", Keys: []byte{0, 1, 2, 0xff}, Epoch: 1}
	if err := member.Grant(ctx, g); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("a grant by a non-owner: %v", err)
	}
	if err := owner.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	sig := base64.RawURLEncoding.EncodeToString(memberID.Sign(wire.JoinMessage(vol, memberID.Public().LedgerID())))
	if err := member.Join(ctx, vol, key, sig); err != nil {
		t.Fatal(err)
	}
	a := anchor(vol, randHex(16), 1)
	a.Domain = dom
	res, err := member.AnchorBatch(ctx, []network.Anchor{a, anchor(vol, randHex(16), 1)})
	if err != nil || res[0].Err != nil || !errors.Is(res[1].Err, network.ErrDenied) {
		t.Fatalf("member's anchors: %+v %v", res, err)
	}
	if latest, err := owner.Latest(ctx, vol, a.File); err != nil || latest.Domain != dom {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	if err := member.Revoke(ctx, vol, dom, key); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("a revoke by a non-owner: %v", err)
	}
	if err := owner.Revoke(ctx, vol, dom, key); err != nil {
		t.Fatal(err)
	}
	gs, err := member.Grants(ctx, vol, "")
	if err != nil || len(gs) != 1 || !gs[0].Revoked || string(gs[0].Keys) != string(g.Keys) || gs[0].Epoch != 1 || gs[0].GranteeID == "" {
		t.Fatalf("grants: %+v %v", gs, err)
	}
	if err := member.Join(ctx, vol, key, sig); !errors.Is(err, network.ErrDenied) {
		t.Fatalf("join after revocation: %v", err)
	}
	if err := owner.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
