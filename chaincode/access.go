package chaincode

import (
	"encoding/json"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// readAccess is what one caller may read of one volume: all of it (the
// owner), or what its active grants cover (a joined grantee).
type readAccess struct {
	ctx       contractapi.TransactionContextInterface
	volume    string
	actor     string
	owner     bool
	indexed   bool            // the volume's events are indexed (volumeRecord.Indexed)
	granteeID string          // a grantee's key id
	domains   map[string]bool // the domains of its active grants
	fileDom   map[string]string
}

// reader finds what the caller may read of volume; a caller that may read
// nothing of it gets ErrNotMember.
func reader(ctx contractapi.TransactionContextInterface, volume string) (*readAccess, error) {
	actor, err := Actor(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := volumeOf(ctx, volume)
	if err != nil {
		return nil, err
	}
	if volume == wire.LedgerVolume { // the ledger's own events: the operator's
		if rec.Owner, err = operatorOf(ctx); err != nil {
			return nil, err
		}
		rec.Indexed = true
	}
	o := rec.Owner
	r := &readAccess{ctx: ctx, volume: volume, actor: actor, owner: o != "" && o == actor, indexed: rec.Indexed,
		domains: map[string]bool{}, fileDom: map[string]string{}}
	if r.owner {
		return r, nil
	}
	var m memberRecord
	found, err := getJSON(ctx, keyMember, []string{volume, actor}, &m)
	if err != nil {
		return nil, err
	}
	if o == "" || !found {
		// The same answer whether or not the volume exists: it tells
		// nothing of it.
		return nil, wire.Errorf(wire.NotMember, "not a member of volume %s", volume)
	}
	r.granteeID = m.GranteeID
	grants, err := allGrants(ctx, volume, "")
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		if g.GranteeID == m.GranteeID && !g.Revoked {
			r.domains[g.Domain] = true
		}
	}
	return r, nil
}

// domain reports whether the caller may read what lies in domain ("" for
// outside every shared folder).
func (r *readAccess) domain(domain string) bool {
	return r.owner || (domain != "" && r.domains[domain])
}

// file reports whether the caller may read file's records: a grantee those
// of files anchored in a domain it is granted.
func (r *readAccess) file(file string) (bool, error) {
	if r.owner {
		return true, nil
	}
	d, ok := r.fileDom[file]
	if !ok {
		key, err := fileKey(r.ctx, r.volume, file)
		if err != nil {
			return false, err
		}
		b, err := r.ctx.GetStub().GetState(key)
		if err != nil {
			return false, err
		}
		v, err := decodeVersion(key, b)
		if err != nil {
			return false, err
		}
		if v != nil {
			d = v.Domain
		}
		r.fileDom[file] = d
	}
	return r.domain(d), nil
}

// event reports whether the caller may read an audit event: one of its
// own, one about a file it may read, or one naming a domain it is granted.
func (r *readAccess) event(e wire.Event) (bool, error) {
	if r.owner || e.Actor == r.actor {
		return true, nil
	}
	if d := e.Detail["domain"]; d != "" && r.domains[d] {
		return true, nil
	}
	if e.File != "" {
		return r.file(e.File)
	}
	return false, nil
}

// grants keeps the grants the caller may read: all to the owner, its own
// (revoked and replaced ones too) to a grantee.
func (r *readAccess) grants(gs []wire.Grant) []wire.Grant {
	if r.owner {
		return gs
	}
	mine := []wire.Grant{}
	for _, g := range gs {
		if g.GranteeID == r.granteeID {
			mine = append(mine, g)
		}
	}
	return mine
}

// denied is the error for a record the caller may not read, the same
// whether or not it exists.
func (r *readAccess) denied(what string) error {
	return wire.Errorf(wire.NotMember, "not a member of volume %s: %s is not shared with the caller", r.volume, what)
}

// allGrants reads the grants of a volume (of one domain, unless "").
func allGrants(ctx contractapi.TransactionContextInterface, volume, domain string) ([]wire.Grant, error) {
	return grantsUnder(ctx, keyGrant, volume, domain)
}

// grantsUnder reads the grant records of a volume (of one domain, unless
// "") kept under objectType: the grants, or their history.
func grantsUnder(ctx contractapi.TransactionContextInterface, objectType, volume, domain string) ([]wire.Grant, error) {
	attrs := []string{volume}
	if domain != "" {
		attrs = append(attrs, domain)
	}
	it, err := ctx.GetStub().GetStateByPartialCompositeKey(objectType, attrs)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := []wire.Grant{}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, err
		}
		var g wire.Grant
		if err := json.Unmarshal(kv.Value, &g); err != nil {
			return nil, fmt.Errorf("stored grant is corrupt: %w", err)
		}
		out = append(out, g)
	}
	return out, nil
}
