package chaincode

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"regexp"
	"strings"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/cid"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// Object types of the composite keys in world state.
const (
	keyFile  = "file"  // file~volume~file: the latest anchored version
	keyHead  = "head"  // head~volume~domain: the newest anchored head ("" domain: the volume's)
	keyEvent = "event" // event~volume~time~txid~n: one audit event

	// The indexes of events, each in time order. An entry by file is one
	// event's (the value is a marker, the event is under
	// event~volume~time~txid~n); an entry by actor or action is one
	// transaction's, and its value lists the numbers n of its events
	// (eventNumbers); older ledgers hold one entry per event there too,
	// as by file.
	keyEventByFile   = "evfile"   // evfile~volume~file~time~txid~n
	keyEventByActor  = "evactor"  // evactor~volume~actor~time~txid (older: ~n)
	keyEventByAction = "evaction" // evaction~volume~action~time~txid (older: ~n)

	keyVolume = "volume" // volume~volume: the volume's owner
	keyGrant  = "grant"  // grant~volume~domain~keyid: a grantee's rights on a shared folder
	// granthist~volume~domain~keyid~time: a grant a later one replaced
	keyGrantHistory = "granthist"
	keyMember       = "member" // member~volume~actor: the grantee key an actor joined with
)

// HistoryKinds are the object types of the keys whose history the
// chaincode reads (GetHistoryForKey): a ledger may keep no history of the
// others. Fabric keeps every key's; the embedded ledger keeps only these
// (an audit event and its three index entries, written once, were four
// of the five history rows of each anchored version and all of a read's).
var HistoryKinds = []string{keyFile}

var (
	idPattern   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func checkID(what, s string) error {
	if !idPattern.MatchString(s) {
		return fmt.Errorf("%s %q is not a 32-digit lowercase hex id", what, s)
	}
	return nil
}

// checkVolumeDomain checks a volume id and a domain id ("" for none).
func checkVolumeDomain(volume, domain string) error {
	if err := checkID("volume", volume); err != nil {
		return err
	}
	if domain != "" {
		return checkID("domain", domain)
	}
	return nil
}

func checkHash(what, s string) error {
	if !hashPattern.MatchString(s) {
		return fmt.Errorf("%s %q is not a 64-digit lowercase hex SHA-256", what, s)
	}
	return nil
}

// Actor names the caller: MSP id and the first 16 bytes of SHA-256 over
// its certificate's SubjectPublicKeyInfo, in hex (wire.ActorID).
func Actor(ctx contractapi.TransactionContextInterface) (string, error) {
	stub := ctx.GetStub()
	msp, err := cid.GetMSPID(stub)
	if err != nil {
		return "", fmt.Errorf("caller identity: %w", err)
	}
	cert, err := cid.GetX509Certificate(stub)
	if err != nil || cert == nil {
		return "", fmt.Errorf("caller certificate: %v", err)
	}
	return wire.ActorID(msp, cert.RawSubjectPublicKeyInfo), nil
}

// txTime is the transaction's timestamp, the same on every endorser.
func txTime(ctx contractapi.TransactionContextInterface) (time.Time, error) {
	ts, err := ctx.GetStub().GetTxTimestamp()
	if err != nil {
		return time.Time{}, err
	}
	return ts.AsTime().UTC(), nil
}

// putEvent stores an audit event under event~volume~time~txid~n, and its
// entry in the index by file if it names one. Its entries in the indexes
// by actor and by action are the transaction's, one for all its events of
// an actor or an action, put at its end (txContext).
func putEvent(ctx contractapi.TransactionContextInterface, n int, e wire.Event) error {
	tc, ok := ctx.(*txContext)
	if !ok {
		return errors.New("the transaction context is not the chaincode's (chaincode.New sets it)")
	}
	stub := ctx.GetStub()
	e.TxID = stub.GetTxID()
	at := []string{e.Time.Format(timeKey), e.TxID, eventNumber(n)}
	key, err := stub.CreateCompositeKey(keyEvent, append([]string{e.Volume}, at...))
	if err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := stub.PutState(key, b); err != nil {
		return err
	}
	if e.File != "" {
		k, err := stub.CreateCompositeKey(keyEventByFile, append([]string{e.Volume, e.File}, at...))
		if err != nil {
			return err
		}
		if err := stub.PutState(k, indexMark); err != nil {
			return err
		}
	}
	for _, ix := range [][2]string{{keyEventByActor, e.Actor}, {keyEventByAction, e.Action}} {
		k, err := stub.CreateCompositeKey(ix[0], []string{e.Volume, ix[1], at[0], at[1]})
		if err != nil {
			return err
		}
		tc.index(k, n)
	}
	return nil
}

// eventNumber is the last part of an event's key: its number in the
// transaction, six digits (so that keys sort in number order).
func eventNumber(n int) string { return fmt.Sprintf("%06d", n) }

// indexMark is the value of an index entry (Fabric deletes a key put empty).
var indexMark = []byte{1}

// timeKey sorts lexically in time order.
const timeKey = "2006-01-02T15:04:05.000000000Z"

// pageFrom is where a page of the time-ordered keys index~attrs~TIME~...
// starts: after (a previous page's next, which must lie in that range),
// else the first key at or after since, else the range's start ("").
func pageFrom(ctx contractapi.TransactionContextInterface, index string, attrs []string, after string, since time.Time) (string, error) {
	stub := ctx.GetStub()
	switch {
	case after != "":
		prefix, err := stub.CreateCompositeKey(index, attrs)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(after, prefix) {
			return "", errors.New("after: not a page of this query")
		}
		return after, nil
	case !since.IsZero():
		return stub.CreateCompositeKey(index, append(attrs, since.UTC().Format(timeKey)))
	}
	return "", nil
}
