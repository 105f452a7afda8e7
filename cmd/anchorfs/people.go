package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
)

// people names a person the one way every output does, by the ledger id
// the ledger knows them by, whichever way they were named: their identity
// (anchorfs1...), their ledger id, or the grantee id grants show before
// they joined.
type people struct {
	self      keyring.Public
	selfActor string
	embedded  bool
	// joined maps grantee ids to the ledger ids that joined with them.
	joined map[string]string
}

// loadPeople learns who joined volume with which grantee key (its join
// events, as far as the caller may read them).
func loadPeople(ctx context.Context, l network.Ledger, volume string, self keyring.Public) (*people, error) {
	p := &people{self: self, selfActor: l.Actor(), embedded: strings.HasPrefix(l.Actor(), keyring.EmbeddedMSP+"/"), joined: map[string]string{}}
	evs, err := l.Audit(ctx, network.AuditQuery{Volume: volume, Action: "join"})
	if err != nil {
		return nil, fmt.Errorf("reading who joined from the ledger: %w", err)
	}
	for _, e := range evs {
		if g := e.Detail["grantee"]; g != "" {
			p.joined[g] = e.Actor
		}
	}
	return p, nil
}

// actor is the ledger id of the person s names.
func (p *people) actor(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "anchorfs1.") {
		pub, err := keyring.ParsePublic(s)
		if err != nil {
			return "", usageError{err}
		}
		if pub.String() == p.self.String() {
			return p.selfActor, nil
		}
		if a, ok := p.joined[pub.KeyID()]; ok {
			return a, nil
		}
		if p.embedded {
			return pub.LedgerID(), nil
		}
		return "", fmt.Errorf("identity %s has not joined the volume: the ledger knows no id of it yet", s[:min(len(s), 24)]+"...")
	}
	if a, ok := p.joined[s]; ok { // a grantee id
		return a, nil
	}
	if isLedgerID(s) {
		return s, nil
	}
	return "", usageError{fmt.Errorf("person %q: an identity (anchorfs1...), a ledger id (MSP/32 hex digits, as `anchorfs identity` and audit show) or a grantee id (as grants shows)", s)}
}

// ofGrant is the ledger id of a grant's grantee once known (joined, or on
// the embedded ledger from its key), else its grantee id.
func (p *people) ofGrant(g wire.Grant) string {
	if a, ok := p.joined[g.GranteeID]; ok {
		return a
	}
	if p.embedded {
		if pub, err := keyring.PublicFromParts(g.Recipient, g.GranteeKey); err == nil {
			return pub.LedgerID()
		}
	}
	return g.GranteeID
}
