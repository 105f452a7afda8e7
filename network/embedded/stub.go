package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/anchorfs/anchorfs/chaincode"
)

// errUnsupported is what the embedded ledger answers for Fabric features it does not have.
var errUnsupported = errors.New("not supported by the embedded ledger")

// version is where a key was last written: block and transaction index.
type version struct {
	Block uint64 `json:"block"`
	Tx    int    `json:"tx"`
}

// read is one entry of a read set.
type read struct {
	Key     []byte   `json:"key"`
	Version *version `json:"version,omitempty"` // nil: the key did not exist
}

// write is one entry of a write set.
type write struct {
	Key    []byte `json:"key"`
	Value  []byte `json:"value,omitempty"`
	Delete bool   `json:"delete,omitempty"`
}

// stateReader is the committed world state a simulation reads.
type stateReader interface {
	get(key []byte) (value []byte, ver *version, err error)
	getMany(keys [][]byte) (values [][]byte, vers []*version, err error) // nil for a key not there
	scan(start, end []byte, limit int) ([]kv, error)                     // limit 0: no limit
	history(key []byte) ([]*queryresult.KeyModification, error)
}

type kv struct {
	key   []byte
	value []byte
	ver   version
}

// stub is one transaction's view of the ledger, as the chaincode sees it
// through the shim: reads come from committed state and are recorded with
// their versions; writes are buffered into the write set.
type stub struct {
	state     stateReader
	txID      string
	channel   string
	args      [][]byte
	creator   []byte
	timestamp *timestamppb.Timestamp

	reads     map[string]*version
	readOrder []string
	writes    map[string]*write
	order     []string
	event     *peer.ChaincodeEvent
	paged     bool // a paginated query ran: the transaction may not write
}

var _ shim.ChaincodeStubInterface = (*stub)(nil)

func newStub(state stateReader, txID, channel string, args [][]byte, creator []byte, ts *timestamppb.Timestamp) *stub {
	return &stub{state: state, txID: txID, channel: channel, args: args, creator: creator, timestamp: ts,
		reads: map[string]*version{}, writes: map[string]*write{}}
}

func (s *stub) recordRead(key []byte, v *version) {
	k := string(key)
	if _, ok := s.reads[k]; !ok {
		s.readOrder = append(s.readOrder, k)
	}
	s.reads[k] = v
}

// readSet and writeSet are the simulation's results, in a stable order.
func (s *stub) readSet() []read {
	out := make([]read, 0, len(s.readOrder))
	for _, k := range s.readOrder {
		out = append(out, read{Key: []byte(k), Version: s.reads[k]})
	}
	return out
}

func (s *stub) writeSet() []write {
	out := make([]write, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, *s.writes[k])
	}
	return out
}

func (s *stub) GetArgs() [][]byte { return s.args }

func (s *stub) GetStringArgs() []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		out[i] = string(a)
	}
	return out
}

func (s *stub) GetFunctionAndParameters() (string, []string) {
	a := s.GetStringArgs()
	if len(a) == 0 {
		return "", nil
	}
	return a[0], a[1:]
}

func (s *stub) GetArgsSlice() ([]byte, error) { return bytes.Join(s.args, nil), nil }
func (s *stub) GetTxID() string               { return s.txID }
func (s *stub) GetChannelID() string          { return s.channel }

func (s *stub) InvokeChaincode(string, [][]byte, string) *peer.Response {
	return shim.Error("calling another chaincode is " + errUnsupported.Error())
}

func checkKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("key %q is not valid UTF-8", key)
	}
	return nil
}

func (s *stub) GetState(key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	// The chaincode does not see its own writes, as on Fabric.
	v, ver, err := s.state.get([]byte(key))
	if err != nil {
		return nil, err
	}
	s.recordRead([]byte(key), ver)
	return v, nil
}

// GetMultipleStates reads many keys in one query of the database.
func (s *stub) GetMultipleStates(keys ...string) ([][]byte, error) {
	bkeys := make([][]byte, len(keys))
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, err
		}
		bkeys[i] = []byte(k)
	}
	values, vers, err := s.state.getMany(bkeys)
	if err != nil {
		return nil, err
	}
	for i, k := range bkeys {
		s.recordRead(k, vers[i])
	}
	return values, nil
}

func (s *stub) PutState(key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	return s.put(&write{Key: []byte(key), Value: bytes.Clone(value)})
}

func (s *stub) put(w *write) error {
	k := string(w.Key)
	if _, ok := s.writes[k]; !ok {
		s.order = append(s.order, k)
	}
	s.writes[k] = w
	return nil
}

func (s *stub) DelState(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return s.put(&write{Key: []byte(key), Delete: true})
}

func (s *stub) SetStateValidationParameter(string, []byte) error { return errUnsupported }
func (s *stub) GetStateValidationParameter(string) ([]byte, error) {
	return nil, errUnsupported
}

// iterator walks a range of committed state, recording each key it returns.
type iterator struct {
	s     *stub
	items []kv
	i     int
}

func (it *iterator) HasNext() bool { return it.i < len(it.items) }
func (it *iterator) Close() error  { return nil }
func (it *iterator) Next() (*queryresult.KV, error) {
	if !it.HasNext() {
		return nil, errors.New("no more items")
	}
	e := it.items[it.i]
	it.i++
	ver := e.ver
	it.s.recordRead(e.key, &ver)
	return &queryresult.KV{Key: string(e.key), Value: e.value}, nil
}

func (s *stub) rangeOf(start, end string, composite bool) (*iterator, error) {
	return s.rangeUpTo(start, end, composite, 0)
}

// rangeUpTo is rangeOf of at most limit keys (0: all).
func (s *stub) rangeUpTo(start, end string, composite bool, limit int) (*iterator, error) {
	if !composite {
		if strings.HasPrefix(start, compositeNS) || strings.HasPrefix(end, compositeNS) {
			return nil, errors.New("a range query cannot reach into the composite key namespace")
		}
		if start == "" {
			start = "\x01" // simple keys sort after the composite namespace (0x00)
		}
	}
	var endB []byte
	if end != "" {
		endB = []byte(end)
	}
	items, err := s.state.scan([]byte(start), endB, limit)
	if err != nil {
		return nil, err
	}
	return &iterator{s: s, items: items}, nil
}

func (s *stub) GetStateByRange(startKey, endKey string) (shim.StateQueryIteratorInterface, error) {
	return s.rangeOf(startKey, endKey, false)
}

func (s *stub) GetStateByRangeWithPagination(startKey, endKey string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	return nil, nil, errUnsupported
}

func (s *stub) GetStateByPartialCompositeKey(objectType string, keys []string) (shim.StateQueryIteratorInterface, error) {
	prefix, err := shim.CreateCompositeKey(objectType, keys)
	if err != nil {
		return nil, err
	}
	return s.rangeOf(prefix, prefix+string(utf8.MaxRune), true)
}

// GetStateByPartialCompositeKeyWithPagination is as on a Fabric peer: the
// page starts at bookmark (at the prefix if ""), and the bookmark returned
// is the key after the page ("" after the last). As there, a transaction
// that pages may not write.
func (s *stub) GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	prefix, err := shim.CreateCompositeKey(objectType, keys)
	if err != nil {
		return nil, nil, err
	}
	if pageSize <= 0 {
		return nil, nil, errors.New("page size must be positive")
	}
	start, end := prefix, prefix+string(utf8.MaxRune)
	if bookmark != "" {
		if bookmark < prefix || bookmark >= end {
			return nil, nil, errors.New("the bookmark is outside the range")
		}
		start = bookmark
	}
	it, err := s.rangeUpTo(start, end, true, int(pageSize)+1)
	if err != nil {
		return nil, nil, err
	}
	meta := &peer.QueryResponseMetadata{}
	if len(it.items) > int(pageSize) {
		meta.Bookmark = string(it.items[pageSize].key)
		it.items = it.items[:pageSize]
	}
	meta.FetchedRecordsCount = int32(len(it.items))
	s.paged = true
	return it, meta, nil
}

func (s *stub) GetAllStatesCompositeKeyWithPagination(int32, string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	return nil, nil, errUnsupported
}

// compositeNS starts every composite key, as in the shim.
const compositeNS = "\x00"

func (s *stub) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return shim.CreateCompositeKey(objectType, attributes)
}

func (s *stub) SplitCompositeKey(compositeKey string) (string, []string, error) {
	return splitCompositeKey(compositeKey)
}

// splitCompositeKey follows the shim's layout: 0x00 type 0x00 (attr 0x00)*.
func splitCompositeKey(key string) (string, []string, error) {
	if !strings.HasPrefix(key, compositeNS) {
		return "", nil, fmt.Errorf("%q is not a composite key", key)
	}
	parts := strings.Split(key[1:], "\x00")
	if len(parts) < 2 || parts[len(parts)-1] != "" {
		return "", nil, fmt.Errorf("%q is not a composite key", key)
	}
	return parts[0], parts[1 : len(parts)-1], nil
}

func (s *stub) GetQueryResult(string) (shim.StateQueryIteratorInterface, error) {
	return nil, fmt.Errorf("rich queries are %w", errUnsupported)
}

func (s *stub) GetQueryResultWithPagination(string, int32, string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	return nil, nil, fmt.Errorf("rich queries are %w", errUnsupported)
}

type historyIterator struct {
	items []*queryresult.KeyModification
	i     int
}

func (it *historyIterator) HasNext() bool { return it.i < len(it.items) }
func (it *historyIterator) Close() error  { return nil }
func (it *historyIterator) Next() (*queryresult.KeyModification, error) {
	if !it.HasNext() {
		return nil, errors.New("no more items")
	}
	it.i++
	return it.items[it.i-1], nil
}

// GetHistoryForKey returns the key's committed values, newest first, as
// Fabric does, for the keys whose history the ledger keeps (keepsHistory):
// asked of another, it fails rather than answer short.
func (s *stub) GetHistoryForKey(key string) (shim.HistoryQueryIteratorInterface, error) {
	if !keepsHistory([]byte(key)) {
		return nil, fmt.Errorf("the embedded ledger keeps the history of %v keys only (chaincode.HistoryKinds)", chaincode.HistoryKinds)
	}
	items, err := s.state.history([]byte(key))
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	return &historyIterator{items: items}, nil
}

func (s *stub) GetPrivateData(string, string) ([]byte, error) { return nil, errUnsupported }
func (s *stub) GetMultiplePrivateData(string, ...string) ([][]byte, error) {
	return nil, errUnsupported
}
func (s *stub) GetPrivateDataHash(string, string) ([]byte, error) { return nil, errUnsupported }
func (s *stub) PutPrivateData(string, string, []byte) error       { return errUnsupported }
func (s *stub) DelPrivateData(string, string) error               { return errUnsupported }
func (s *stub) PurgePrivateData(string, string) error             { return errUnsupported }
func (s *stub) SetPrivateDataValidationParameter(string, string, []byte) error {
	return errUnsupported
}
func (s *stub) GetPrivateDataValidationParameter(string, string) ([]byte, error) {
	return nil, errUnsupported
}
func (s *stub) GetPrivateDataByRange(string, string, string) (shim.StateQueryIteratorInterface, error) {
	return nil, errUnsupported
}
func (s *stub) GetPrivateDataByPartialCompositeKey(string, string, []string) (shim.StateQueryIteratorInterface, error) {
	return nil, errUnsupported
}
func (s *stub) GetPrivateDataQueryResult(string, string) (shim.StateQueryIteratorInterface, error) {
	return nil, errUnsupported
}

func (s *stub) GetCreator() ([]byte, error)                      { return s.creator, nil }
func (s *stub) GetTransient() (map[string][]byte, error)         { return map[string][]byte{}, nil }
func (s *stub) GetBinding() ([]byte, error)                      { return nil, errUnsupported }
func (s *stub) GetDecorations() map[string][]byte                { return nil }
func (s *stub) GetSignedProposal() (*peer.SignedProposal, error) { return nil, errUnsupported }
func (s *stub) GetTxTimestamp() (*timestamppb.Timestamp, error)  { return s.timestamp, nil }

func (s *stub) SetEvent(name string, payload []byte) error {
	if name == "" {
		return errors.New("event name can not be empty string")
	}
	s.event = &peer.ChaincodeEvent{EventName: name, Payload: bytes.Clone(payload), TxId: s.txID}
	return nil
}

func (s *stub) StartWriteBatch()        {}
func (s *stub) FinishWriteBatch() error { return nil }
