package chaincode

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"strconv"
	"strings"
	"time"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// PolicyContract says who owns a volume and who may write to its shared folders (domains).
type PolicyContract struct {
	contractapi.Contract
}

const (
	maxPath = 16 << 10
	// maxKeys bounds a grant's wrapped keys: the base64 of 64 KiB.
	maxKeys = (64<<10 + 2) / 3 * 4
)

// volumeRecord names a volume's owner.
type volumeRecord struct {
	Volume string    `json:"volume"`
	Owner  string    `json:"owner"`
	Time   time.Time `json:"time"`
	TxID   string    `json:"txId"`
	// Indexed: the volume's events are all in the indexes by file, actor
	// and action (registered after they were kept; a volume registered
	// before is queried by a scan of its events).
	Indexed bool `json:"indexed,omitempty"`
}

// memberRecord binds a caller to the grantee key it proved it holds.
type memberRecord struct {
	Volume     string    `json:"volume"`
	Actor      string    `json:"actor"`
	GranteeKey string    `json:"granteeKey"`
	GranteeID  string    `json:"granteeId"`
	Time       time.Time `json:"time"`
}

// granteeID checks a grantee key (unpadded base64url Ed25519 public key)
// and returns its key id.
func granteeID(key string) (ed25519.PublicKey, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, "", fmt.Errorf("grantee key %q is not an unpadded base64url Ed25519 public key", key)
	}
	return ed25519.PublicKey(b), wire.KeyID(b), nil
}

func getJSON(ctx contractapi.TransactionContextInterface, objectType string, attrs []string, v any) (bool, error) {
	stub := ctx.GetStub()
	key, err := stub.CreateCompositeKey(objectType, attrs)
	if err != nil {
		return false, err
	}
	b, err := stub.GetState(key)
	if err != nil || b == nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("stored %s record %v is corrupt: %w", objectType, attrs, err)
	}
	return true, nil
}

func putJSON(ctx contractapi.TransactionContextInterface, objectType string, attrs []string, v any) error {
	stub := ctx.GetStub()
	key, err := stub.CreateCompositeKey(objectType, attrs)
	if err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return stub.PutState(key, b)
}

// owner returns the volume's owner, "" if it is not registered.
func owner(ctx contractapi.TransactionContextInterface, volume string) (string, error) {
	r, err := volumeOf(ctx, volume)
	return r.Owner, err
}

// volumeOf reads a volume's record (zero if it was never registered).
func volumeOf(ctx contractapi.TransactionContextInterface, volume string) (volumeRecord, error) {
	var r volumeRecord
	_, err := getJSON(ctx, keyVolume, []string{volume}, &r)
	return r, err
}

// Register makes the caller the owner of an unregistered volume; it is a
// no-op for the owner and an error for anyone else.
func (c *PolicyContract) Register(ctx contractapi.TransactionContextInterface, volume string) error {
	if err := checkID("volume", volume); err != nil {
		return err
	}
	if volume == wire.LedgerVolume {
		return fmt.Errorf("volume %s is the ledger's own", volume)
	}
	actor, err := Actor(ctx)
	if err != nil {
		return err
	}
	cur, err := owner(ctx, volume)
	if err != nil {
		return err
	}
	switch cur {
	case actor:
		return nil
	case "":
	default:
		return wire.Errorf(wire.OwnedByOther, "volume %s is owned by %s", volume, cur)
	}
	now, err := txTime(ctx)
	if err != nil {
		return err
	}
	if err := putJSON(ctx, keyVolume, []string{volume}, volumeRecord{Volume: volume, Owner: actor, Time: now, TxID: ctx.GetStub().GetTxID(), Indexed: true}); err != nil {
		return err
	}
	return putEvent(ctx, 0, wire.Event{Time: now, Actor: actor, Action: "register", Volume: volume})
}

// Owner returns the actor that owns a volume, to its members.
func (c *PolicyContract) Owner(ctx contractapi.TransactionContextInterface, volume string) (string, error) {
	if err := checkID("volume", volume); err != nil {
		return "", err
	}
	if _, err := reader(ctx, volume); err != nil {
		return "", err
	}
	return owner(ctx, volume)
}

// ownerOnly checks that the caller owns the volume. A caller that does not
// gets a denied outcome, and the denial is recorded as an audit event (so
// the transaction is committed rather than failed).
func ownerOnly(ctx contractapi.TransactionContextInterface, function, volume, domain string) (actor string, now time.Time, denied *wire.PolicyOutcome, err error) {
	if actor, err = Actor(ctx); err != nil {
		return "", time.Time{}, nil, err
	}
	if now, err = txTime(ctx); err != nil {
		return "", time.Time{}, nil, err
	}
	o, err := owner(ctx, volume)
	if err != nil {
		return "", time.Time{}, nil, err
	}
	var reason string
	switch o {
	case actor:
		return actor, now, nil, nil
	case "":
		reason = fmt.Sprintf("volume %s is not registered", volume)
	default:
		reason = fmt.Sprintf("only the owner of volume %s may call %s", volume, function)
	}
	if err := putEvent(ctx, 0, wire.Event{Time: now, Actor: actor, Action: "denied", Volume: volume,
		Detail: map[string]string{"function": function, "domain": domain, "reason": reason}}); err != nil {
		return "", time.Time{}, nil, err
	}
	return actor, now, &wire.PolicyOutcome{Status: wire.StatusDenied, Reason: reason}, nil
}

// Grant gives a grantee key rights ("rw" or "ro") on a domain of a volume
// the caller owns, with the domain's keys wrapped for the grantee (base64,
// opaque to the ledger). It replaces any earlier grant of that key on that
// domain. A caller that is not the owner gets a denied outcome.
func (c *PolicyContract) Grant(ctx contractapi.TransactionContextInterface, volume, domain, path, granteeKey, rights, keys string, epoch uint32, recipient string) (*wire.PolicyOutcome, error) {
	if err := checkID("volume", volume); err != nil {
		return nil, err
	}
	if err := checkID("domain", domain); err != nil {
		return nil, err
	}
	if len(path) == 0 || len(path) > maxPath {
		return nil, fmt.Errorf("the folder's label holds 1 to %d bytes, not %d", maxPath, len(path))
	}
	_, keyID, err := granteeID(granteeKey)
	if err != nil {
		return nil, err
	}
	if rights != wire.RightsReadWrite && rights != wire.RightsReadOnly {
		return nil, fmt.Errorf("rights %q are neither %q nor %q", rights, wire.RightsReadWrite, wire.RightsReadOnly)
	}
	if len(keys) > maxKeys {
		return nil, fmt.Errorf("wrapped keys of %d bytes exceed %d", len(keys), maxKeys)
	}
	wrapped, err := base64.StdEncoding.DecodeString(keys)
	if err != nil {
		return nil, fmt.Errorf("wrapped keys are not base64: %w", err)
	}
	if epoch == 0 {
		return nil, fmt.Errorf("epoch must be at least 1")
	}
	if recipient != "" && (!strings.HasPrefix(recipient, "age1") || len(recipient) > 200) {
		return nil, fmt.Errorf("recipient %q is not an age X25519 recipient", recipient)
	}
	actor, now, denied, err := ownerOnly(ctx, "Grant", volume, domain)
	if err != nil || denied != nil {
		return denied, err
	}
	g := wire.Grant{Volume: volume, Domain: domain, Path: path, GranteeKey: granteeKey, GranteeID: keyID, Recipient: recipient, Rights: rights,
		Keys: wrapped, Epoch: epoch, GrantedBy: actor, Time: now, TxID: ctx.GetStub().GetTxID()}
	detail := map[string]string{"domain": domain, "grantee": keyID, "rights": rights, "epoch": strconv.FormatUint(uint64(epoch), 10)}
	var old wire.Grant
	if found, err := getJSON(ctx, keyGrant, []string{volume, domain, keyID}, &old); err != nil {
		return nil, err
	} else if found {
		// The grant it replaces stays, in the history (its keys dropped).
		old.Replaced, old.Keys = now, []byte{}
		if err := putJSON(ctx, keyGrantHistory, []string{volume, domain, keyID, now.Format(timeKey)}, old); err != nil {
			return nil, err
		}
		detail["replaces"] = old.Rights
	}
	if err := putJSON(ctx, keyGrant, []string{volume, domain, keyID}, g); err != nil {
		return nil, err
	}
	if err := putEvent(ctx, 0, wire.Event{Time: now, Actor: actor, Action: "grant", Volume: volume, Detail: detail}); err != nil {
		return nil, err
	}
	return &wire.PolicyOutcome{Status: wire.StatusGranted}, nil
}

// Revoke marks a grantee key's grant on a domain revoked; the grant is
// kept, for the record. A caller that is not the owner gets a denied outcome.
func (c *PolicyContract) Revoke(ctx contractapi.TransactionContextInterface, volume, domain, granteeKey string) (*wire.PolicyOutcome, error) {
	if err := checkID("volume", volume); err != nil {
		return nil, err
	}
	if err := checkID("domain", domain); err != nil {
		return nil, err
	}
	_, keyID, err := granteeID(granteeKey)
	if err != nil {
		return nil, err
	}
	actor, now, denied, err := ownerOnly(ctx, "Revoke", volume, domain)
	if err != nil || denied != nil {
		return denied, err
	}
	var g wire.Grant
	ok, err := getJSON(ctx, keyGrant, []string{volume, domain, keyID}, &g)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no grant for grantee %s on domain %s of volume %s", keyID, domain, volume)
	}
	if g.Revoked {
		return &wire.PolicyOutcome{Status: wire.StatusRevoked}, nil
	}
	g.Revoked, g.RevokedAt, g.RevokedBy = true, now, actor
	if err := putJSON(ctx, keyGrant, []string{volume, domain, keyID}, g); err != nil {
		return nil, err
	}
	if err := putEvent(ctx, 0, wire.Event{Time: now, Actor: actor, Action: "revoke", Volume: volume,
		Detail: map[string]string{"domain": domain, "grantee": keyID}}); err != nil {
		return nil, err
	}
	return &wire.PolicyOutcome{Status: wire.StatusRevoked}, nil
}

// Grants lists a volume's grants on a domain ("" for all domains), revoked
// ones included: all of them to the owner, its own to a joined grantee.
func (c *PolicyContract) Grants(ctx contractapi.TransactionContextInterface, volume, domain string) ([]wire.Grant, error) {
	if err := checkVolumeDomain(volume, domain); err != nil {
		return nil, err
	}
	r, err := reader(ctx, volume)
	if err != nil {
		return nil, err
	}
	grants, err := allGrants(ctx, volume, domain)
	if err != nil {
		return nil, err
	}
	return r.grants(grants), nil
}

// GrantHistory returns the grants of a volume (of one domain, unless "")
// that later grants to the same key replaced, oldest first, as Grants
// answers: all to the owner, its own to a grantee.
func (c *PolicyContract) GrantHistory(ctx contractapi.TransactionContextInterface, volume, domain string) ([]wire.Grant, error) {
	if err := checkVolumeDomain(volume, domain); err != nil {
		return nil, err
	}
	r, err := reader(ctx, volume)
	if err != nil {
		return nil, err
	}
	history, err := grantsUnder(ctx, keyGrantHistory, volume, domain)
	if err != nil {
		return nil, err
	}
	return r.grants(history), nil
}

// Join binds the caller to a grantee key that holds a grant on the volume.
// The signature (unpadded base64url) is the key's Ed25519 signature over
// JoinLabel || volume || 0 || the caller's actor id.
func (c *PolicyContract) Join(ctx contractapi.TransactionContextInterface, volume, granteeKey, signature string) error {
	if err := checkID("volume", volume); err != nil {
		return err
	}
	pub, keyID, err := granteeID(granteeKey)
	if err != nil {
		return err
	}
	sig, err := base64.RawURLEncoding.DecodeString(signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("signature is not an unpadded base64url Ed25519 signature")
	}
	actor, err := Actor(ctx)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, wire.JoinMessage(volume, actor), sig) {
		return fmt.Errorf("signature does not prove that %s holds grantee key %s", actor, keyID)
	}
	grants, err := allGrants(ctx, volume, "")
	if err != nil {
		return err
	}
	granted := false
	for _, g := range grants {
		if g.GranteeID == keyID && !g.Revoked {
			granted = true
			break
		}
	}
	if !granted {
		return wire.Errorf(wire.NoGrant, "no grant for this identity on volume %s", volume)
	}
	now, err := txTime(ctx)
	if err != nil {
		return err
	}
	if err := putJSON(ctx, keyMember, []string{volume, actor}, memberRecord{Volume: volume, Actor: actor, GranteeKey: granteeKey, GranteeID: keyID, Time: now}); err != nil {
		return err
	}
	return putEvent(ctx, 0, wire.Event{Time: now, Actor: actor, Action: "join", Volume: volume, Detail: map[string]string{"grantee": keyID}})
}

// writeAccess decides, for one AnchorBatch, whether its caller may anchor
// each file version; it caches what it reads of the policy.
type writeAccess struct {
	ctx     contractapi.TransactionContextInterface
	actor   string
	owners  map[string]string
	members map[string]*memberRecord
	grants  map[[2]string]*wire.Grant
}

func newWriteAccess(ctx contractapi.TransactionContextInterface, actor string) *writeAccess {
	return &writeAccess{ctx: ctx, actor: actor, owners: map[string]string{}, members: map[string]*memberRecord{}, grants: map[[2]string]*wire.Grant{}}
}

// deny returns why the caller may not anchor in domain of volume ("" for
// the volume outside its shared folders), or "" if it may; owner is true
// for the volume's owner (who may anchor anything).
func (w *writeAccess) deny(volume, domain string) (reason string, isOwner bool, err error) {
	o, ok := w.owners[volume]
	if !ok {
		if o, err = owner(w.ctx, volume); err != nil {
			return "", false, err
		}
		w.owners[volume] = o
	}
	if o == "" {
		return fmt.Sprintf("volume %s is not registered", volume), false, nil
	}
	if o == w.actor {
		return "", true, nil
	}
	m, ok := w.members[volume]
	if !ok {
		var r memberRecord
		found, err := getJSON(w.ctx, keyMember, []string{volume, w.actor}, &r)
		if err != nil {
			return "", false, err
		}
		if found {
			m = &r
		}
		w.members[volume] = m
	}
	if m == nil {
		return fmt.Sprintf("%s has not joined volume %s", w.actor, volume), false, nil
	}
	if domain == "" {
		return "only the owner may anchor outside a shared folder", false, nil
	}
	gk := [2]string{volume, domain}
	g, ok := w.grants[gk]
	if !ok {
		var r wire.Grant
		found, err := getJSON(w.ctx, keyGrant, []string{volume, domain, m.GranteeID}, &r)
		if err != nil {
			return "", false, err
		}
		if found {
			g = &r
		}
		w.grants[gk] = g
	}
	switch {
	case g == nil:
		return fmt.Sprintf("no grant on domain %s", domain), false, nil
	case g.Revoked:
		return fmt.Sprintf("the grant on domain %s is revoked", domain), false, nil
	case g.Rights != wire.RightsReadWrite:
		return fmt.Sprintf("the grant on domain %s is read-only", domain), false, nil
	}
	return "", false, nil
}
