package chaincode

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/anchorfs/anchorfs/chaincode/wire"
)

// Object types of the token contract's keys.
const (
	keyOperator = "operator" // operator~: the ledger's operator identity
	keyPrices   = "prices"   // prices~: the price list's history, oldest first
	keyCharge   = "charge"   // charge~identity~time~txid~n: one change of a balance
	keyLane     = "lane"     // lane~volume~lane: one writer's storage account
	keyLanesOf  = "lanesof"  // lanesof~owner~volume~lane: the lanes an owner pays for
)

// TokensContract is the ledger's token (ERC-20-like: the operator mints,
// holders transfer, anyone reads its own balance), its price list, and the
// charges for storage and reads. A balance is the sum of its charge keys,
// each written once and never read by the transaction that writes it, so
// concurrent charges never conflict (the high-throughput pattern of
// fabric-samples); storage is paid through lanes, one per writer, each
// written only by its own writer's transactions.
type TokensContract struct {
	contractapi.Contract
}

// operatorOf is the ledger's operator ("" before one claims it).
func operatorOf(ctx contractapi.TransactionContextInterface) (string, error) {
	var op string
	_, err := getJSON(ctx, keyOperator, nil, &op)
	return op, err
}

// Claim makes the caller the ledger's operator if it has none (the
// embedded ledger's creator, the deploy script on Fabric); it returns the
// operator.
func (c *TokensContract) Claim(ctx contractapi.TransactionContextInterface) (string, error) {
	actor, err := Actor(ctx)
	if err != nil {
		return "", err
	}
	op, err := operatorOf(ctx)
	if err != nil || op != "" {
		return op, err
	}
	if err := putJSON(ctx, keyOperator, nil, actor); err != nil {
		return "", err
	}
	return actor, nil
}

// Operator returns the ledger's operator.
func (c *TokensContract) Operator(ctx contractapi.TransactionContextInterface) (string, error) {
	return operatorOf(ctx)
}

func checkIdentity(id string) error {
	if id == "" || len(id) > wire.MaxPayee {
		return fmt.Errorf("identity %q: 1 to %d bytes", id, wire.MaxPayee)
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("identity %q holds a space or a character that does not print", id)
		}
	}
	return nil
}

// maxAmount bounds one mint or transfer (a billion tokens).
const maxAmount = 1e9 * wire.Unit

func checkAmount(amount int64) error {
	if amount <= 0 || amount > maxAmount {
		return fmt.Errorf("amount %d: 1 to %d micro-tokens", amount, int64(maxAmount))
	}
	return nil
}

// operatorOnly lets the operator through; anyone else gets a denied
// outcome, recorded as an event of the ledger (wire.LedgerVolume).
func operatorOnly(ctx contractapi.TransactionContextInterface, function string) (string, time.Time, *wire.PolicyOutcome, error) {
	actor, err := Actor(ctx)
	if err != nil {
		return "", time.Time{}, nil, err
	}
	now, err := txTime(ctx)
	if err != nil {
		return "", time.Time{}, nil, err
	}
	op, err := operatorOf(ctx)
	if err != nil {
		return "", time.Time{}, nil, err
	}
	if op != "" && op == actor {
		return actor, now, nil, nil
	}
	reason := "only the ledger's operator may " + function
	if err := putEvent(ctx, 0, wire.Event{Time: now, Actor: actor, Action: "denied", Volume: wire.LedgerVolume,
		Detail: map[string]string{"function": function, "reason": reason}}); err != nil {
		return "", time.Time{}, nil, err
	}
	return "", time.Time{}, &wire.PolicyOutcome{Status: wire.StatusDenied, Reason: reason}, nil
}

// Mint gives amount micro-tokens to an identity; the operator only.
func (c *TokensContract) Mint(ctx contractapi.TransactionContextInterface, to string, amount int64) (*wire.PolicyOutcome, error) {
	if err := checkIdentity(to); err != nil {
		return nil, err
	}
	if err := checkAmount(amount); err != nil {
		return nil, err
	}
	actor, now, denied, err := operatorOnly(ctx, "mint")
	if err != nil || denied != nil {
		return denied, err
	}
	ch := newCharges(ctx, now)
	if err := ch.add(wire.Charge{Identity: to, Amount: amount, Kind: "mint", Counterparty: actor}); err != nil {
		return nil, err
	}
	return &wire.PolicyOutcome{Status: "minted"}, nil
}

// Transfer pays amount micro-tokens of the caller's balance to another
// identity (wire.All: the whole balance, as it is when the transaction
// runs); what the caller's mounts reserved is taken back for it when the
// rest does not cover it.
func (c *TokensContract) Transfer(ctx contractapi.TransactionContextInterface, to string, amount int64) (*wire.PolicyOutcome, error) {
	if err := checkIdentity(to); err != nil {
		return nil, err
	}
	if amount != wire.All {
		if err := checkAmount(amount); err != nil {
			return nil, err
		}
	}
	actor, err := Actor(ctx)
	if err != nil {
		return nil, err
	}
	now, err := txTime(ctx)
	if err != nil {
		return nil, err
	}
	acct, lanes, err := account(ctx, actor, now)
	if err != nil {
		return nil, err
	}
	if amount == wire.All {
		if acct.Balance <= 0 {
			return nil, wire.Errorf(wire.Insufficient, "a balance of %s has nothing to transfer", wire.FormatTokens(acct.Balance))
		}
		amount = acct.Balance
	}
	if amount > acct.Balance {
		return nil, wire.Errorf(wire.Insufficient, "a balance of %s cannot pay %s", wire.FormatTokens(acct.Balance), wire.FormatTokens(amount))
	}
	for i := 0; amount > acct.Available && i < len(lanes); i++ {
		l := lanes[i]
		if l.Reserved <= 0 {
			continue
		}
		take := min(l.Reserved, amount-acct.Available)
		l.Reserved -= take
		acct.Available += take
		if err := putJSON(ctx, keyLane, []string{l.Volume, l.Lane}, l); err != nil {
			return nil, err
		}
	}
	ch := newCharges(ctx, now)
	if err := ch.add(wire.Charge{Identity: actor, Amount: -amount, Kind: "transfer", Counterparty: to}); err != nil {
		return nil, err
	}
	if err := ch.add(wire.Charge{Identity: to, Amount: amount, Kind: "transfer", Counterparty: actor}); err != nil {
		return nil, err
	}
	return &wire.PolicyOutcome{Status: "transferred"}, nil
}

// Balance returns an identity's account ("" for the caller's own); only
// the operator may ask of another's.
func (c *TokensContract) Balance(ctx contractapi.TransactionContextInterface, identity string) (*wire.Account, error) {
	actor, err := Actor(ctx)
	if err != nil {
		return nil, err
	}
	op, err := operatorOf(ctx)
	if err != nil {
		return nil, err
	}
	if identity == "" {
		identity = actor
	}
	if identity != actor && actor != op {
		return nil, wire.Errorf(wire.NotOperator, "only the ledger's operator may ask of another's balance")
	}
	now, err := txTime(ctx)
	if err != nil {
		return nil, err
	}
	acct, _, err := account(ctx, identity, now)
	if err != nil {
		return nil, err
	}
	acct.Operator = identity == op
	return acct, nil
}

// account sums an identity's charges and the lanes it pays for, as of now.
func account(ctx contractapi.TransactionContextInterface, identity string, now time.Time) (*wire.Account, []wire.Lane, error) {
	stub := ctx.GetStub()
	it, err := stub.GetStateByPartialCompositeKey(keyCharge, []string{identity})
	if err != nil {
		return nil, nil, err
	}
	acct := &wire.Account{Identity: identity}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			it.Close()
			return nil, nil, err
		}
		var ch wire.Charge
		if err := json.Unmarshal(kv.Value, &ch); err != nil {
			it.Close()
			return nil, nil, fmt.Errorf("stored charge is corrupt: %w", err)
		}
		acct.Balance += ch.Amount
	}
	it.Close()
	prices, err := priceHistory(ctx)
	if err != nil {
		return nil, nil, err
	}
	it, err = stub.GetStateByPartialCompositeKey(keyLanesOf, []string{identity})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	var lanes []wire.Lane
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, nil, err
		}
		_, parts, err := stub.SplitCompositeKey(kv.Key)
		if err != nil || len(parts) != 3 {
			return nil, nil, fmt.Errorf("stored lane index %q is corrupt", kv.Key)
		}
		var l wire.Lane
		if _, err := getJSON(ctx, keyLane, parts[1:], &l); err != nil {
			return nil, nil, err
		}
		acct.Reserved += l.Reserved
		acct.Accrued += due(l, now, prices)
		lanes = append(lanes, l)
	}
	acct.Balance -= acct.Accrued
	acct.Available = acct.Balance - acct.Reserved
	return acct, lanes, nil
}

// SetPrices sets the price list from now on, in micro-tokens per GiB-month
// stored and per GiB read; the operator only.
func (c *TokensContract) SetPrices(ctx contractapi.TransactionContextInterface, storage, read int64) (*wire.PolicyOutcome, error) {
	if storage < 0 || read < 0 || storage > maxAmount || read > maxAmount {
		return nil, fmt.Errorf("prices from 0 to %d micro-tokens", int64(maxAmount))
	}
	_, now, denied, err := operatorOnly(ctx, "set prices")
	if err != nil || denied != nil {
		return denied, err
	}
	hist, err := priceHistory(ctx)
	if err != nil {
		return nil, err
	}
	if len(hist) >= maxPriceChanges {
		hist = hist[1:] // a lane unpaid since before it is charged nothing for that stretch
	}
	hist = append(hist, wire.Prices{Storage: storage, Read: read, Since: now})
	if err := putJSON(ctx, keyPrices, nil, hist); err != nil {
		return nil, err
	}
	return &wire.PolicyOutcome{Status: "set"}, nil
}

// maxPriceChanges bounds the price list's history.
const maxPriceChanges = 256

// Prices returns the price list in force (zero before the operator sets one).
func (c *TokensContract) Prices(ctx contractapi.TransactionContextInterface) (*wire.Prices, error) {
	hist, err := priceHistory(ctx)
	if err != nil || len(hist) == 0 {
		return &wire.Prices{}, err
	}
	return &hist[len(hist)-1], nil
}

func priceHistory(ctx contractapi.TransactionContextInterface) ([]wire.Prices, error) {
	var hist []wire.Prices
	_, err := getJSON(ctx, keyPrices, nil, &hist)
	return hist, err
}

// due is what a lane's bytes cost from its Since to now, in micro-tokens,
// rounded toward zero: bytes times the storage price in force over each
// stretch of time, per GiB-month.
func due(l wire.Lane, now time.Time, prices []wire.Prices) int64 {
	if l.Bytes == 0 || l.Since.IsZero() || !now.After(l.Since) {
		return 0
	}
	// Σ price × ns over the stretches of [Since, now) each price covers.
	sum := new(big.Int)
	for i, p := range prices {
		from, to := p.Since, now
		if i+1 < len(prices) {
			to = prices[i+1].Since
		}
		if from.Before(l.Since) {
			from = l.Since // before the first price list, storage was free
		}
		if !to.After(from) {
			continue
		}
		sum.Add(sum, new(big.Int).Mul(big.NewInt(p.Storage), big.NewInt(int64(to.Sub(from)))))
	}
	sum.Mul(sum, big.NewInt(l.Bytes))
	sum.Quo(sum, new(big.Int).Mul(big.NewInt(wire.GiB), big.NewInt(int64(wire.Month))))
	if !sum.IsInt64() {
		return 0
	}
	return sum.Int64()
}

// Reserve sets amount micro-tokens of the volume owner's balance aside in
// a writer's lane, for the storage its anchors add; a member of the volume
// may reserve for its own lane.
func (c *TokensContract) Reserve(ctx contractapi.TransactionContextInterface, volume, lane string, amount int64) (*wire.Lane, error) {
	if err := checkAmount(amount); err != nil {
		return nil, err
	}
	now, err := laneAccess(ctx, volume, lane)
	if err != nil {
		return nil, err
	}
	payer, err := owner(ctx, volume)
	if err != nil {
		return nil, err
	}
	acct, _, err := account(ctx, payer, now)
	if err != nil {
		return nil, err
	}
	if amount > acct.Available {
		return nil, wire.Errorf(wire.Insufficient, "the volume owner's available balance of %s cannot reserve %s", wire.FormatTokens(acct.Available), wire.FormatTokens(amount))
	}
	l, err := laneOf(ctx, volume, lane, payer)
	if err != nil {
		return nil, err
	}
	l.Reserved += amount
	if err := putJSON(ctx, keyLane, []string{volume, lane}, l); err != nil {
		return nil, err
	}
	return withDue(ctx, l, now)
}

// laneAccess checks the arguments naming a lane and that the caller is a
// member of its volume; it returns the transaction's time.
func laneAccess(ctx contractapi.TransactionContextInterface, volume, lane string) (time.Time, error) {
	if err := checkID("volume", volume); err != nil {
		return time.Time{}, err
	}
	if err := checkLane(lane); err != nil {
		return time.Time{}, err
	}
	if _, err := reader(ctx, volume); err != nil {
		return time.Time{}, err
	}
	return txTime(ctx)
}

// withDue is l with what its bytes cost from its Since to now.
func withDue(ctx contractapi.TransactionContextInterface, l wire.Lane, now time.Time) (*wire.Lane, error) {
	prices, err := priceHistory(ctx)
	if err != nil {
		return nil, err
	}
	l.Due = due(l, now, prices)
	return &l, nil
}

// Lane returns a writer's lane of a volume, with what its bytes cost since
// they were last paid for, to the volume's members.
func (c *TokensContract) Lane(ctx contractapi.TransactionContextInterface, volume, lane string) (*wire.Lane, error) {
	now, err := laneAccess(ctx, volume, lane)
	if err != nil {
		return nil, err
	}
	var l wire.Lane
	if _, err := getJSON(ctx, keyLane, []string{volume, lane}, &l); err != nil {
		return nil, err
	}
	l.Volume, l.Lane = volume, lane
	return withDue(ctx, l, now)
}

func checkLane(lane string) error {
	if lane != "" {
		return checkID("lane", lane)
	}
	return nil
}

// laneOf reads a lane, making it (and its owner's index entry) if new.
func laneOf(ctx contractapi.TransactionContextInterface, volume, lane, payer string) (wire.Lane, error) {
	var l wire.Lane
	found, err := getJSON(ctx, keyLane, []string{volume, lane}, &l)
	if err != nil || found {
		return l, err
	}
	l = wire.Lane{Volume: volume, Lane: lane}
	key, err := ctx.GetStub().CreateCompositeKey(keyLanesOf, []string{payer, volume, lane})
	if err != nil {
		return l, err
	}
	return l, ctx.GetStub().PutState(key, indexMark)
}

// UsagePage is a page of an identity's charges, oldest first.
type UsagePage struct {
	Charges []wire.Charge `json:"charges"`
	Next    string        `json:"next,omitempty" metadata:",optional"`
}

// Usage returns a page of an identity's charges ("" for the caller's own;
// another's to the operator only) at or after since (RFC 3339, "" for all),
// starting after a previous page's next.
func (c *TokensContract) Usage(ctx contractapi.TransactionContextInterface, identity, since, after string) (*UsagePage, error) {
	actor, err := Actor(ctx)
	if err != nil {
		return nil, err
	}
	if identity == "" {
		identity = actor
	}
	if identity != actor {
		op, err := operatorOf(ctx)
		if err != nil {
			return nil, err
		}
		if actor != op {
			return nil, wire.Errorf(wire.NotOperator, "only the ledger's operator may ask of another's charges")
		}
	}
	var from time.Time
	if since != "" {
		if from, err = time.Parse(time.RFC3339Nano, since); err != nil {
			return nil, fmt.Errorf("since: %w", err)
		}
	}
	start, err := pageFrom(ctx, keyCharge, []string{identity}, after, from)
	if err != nil {
		return nil, err
	}
	stub := ctx.GetStub()
	it, meta, err := stub.GetStateByPartialCompositeKeyWithPagination(keyCharge, []string{identity}, wire.MaxPage, start)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	page := &UsagePage{Charges: []wire.Charge{}}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, err
		}
		var ch wire.Charge
		if err := json.Unmarshal(kv.Value, &ch); err != nil {
			return nil, fmt.Errorf("stored charge is corrupt: %w", err)
		}
		page.Charges = append(page.Charges, ch)
	}
	if meta != nil && len(page.Charges) == wire.MaxPage {
		page.Next = meta.Bookmark
	}
	return page, nil
}

// charges writes one transaction's charges, each under a key of its own.
type charges struct {
	ctx contractapi.TransactionContextInterface
	now time.Time
	n   int
}

func newCharges(ctx contractapi.TransactionContextInterface, now time.Time) *charges {
	return &charges{ctx: ctx, now: now}
}

func (c *charges) add(ch wire.Charge) error {
	stub := c.ctx.GetStub()
	ch.Time, ch.TxID = c.now, stub.GetTxID()
	c.n++
	key, err := stub.CreateCompositeKey(keyCharge, []string{ch.Identity, c.now.Format(timeKey), ch.TxID, fmt.Sprintf("%06d", c.n)})
	if err != nil {
		return err
	}
	b, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	return stub.PutState(key, b)
}

// payees are who a volume's storage is paid to, one per storage node: its
// payee, or the operator; the operator alone for a volume on one remote.
// factor scales a file's size to the bytes its nodes hold (num/den).
type payees struct {
	to       []string
	num, den int64
}

func volumePayees(ctx contractapi.TransactionContextInterface, volume, operator string) (payees, error) {
	nodes, err := volumeNodes(ctx, volume)
	if err != nil {
		return payees{}, err
	}
	p := payees{num: 1, den: 1}
	k := 0
	for _, n := range sortedNodes(nodes) {
		if !n.Removed.IsZero() {
			continue
		}
		to := n.Payee
		if to == "" {
			to = operator
		}
		p.to = append(p.to, to)
		k = n.DataShards
	}
	if len(p.to) == 0 {
		p.to = []string{operator}
		return p, nil
	}
	p.num = int64(len(p.to))
	if k > 0 {
		p.den = int64(k)
	}
	return p, nil
}

// stored is the bytes the nodes hold of a version of size bytes.
func (p payees) stored(size int64) int64 {
	return size * p.num / p.den
}

// pay charges amount (negative: a credit) to payer for kind, split among
// the payees (a payee "" keeps nothing: the ledger has no operator yet).
func (c *charges) pay(payer string, amount int64, kind string, p payees, detail wire.Charge) error {
	if amount == 0 {
		return nil
	}
	debit := detail
	debit.Identity, debit.Amount, debit.Kind = payer, -amount, kind
	if len(p.to) == 1 {
		debit.Counterparty = p.to[0]
	}
	if err := c.add(debit); err != nil {
		return err
	}
	share, rest := amount/int64(len(p.to)), amount%int64(len(p.to))
	for i, to := range p.to {
		if to == "" {
			continue
		}
		credit := detail
		credit.Identity, credit.Amount, credit.Kind, credit.Counterparty = to, share, kind+"-income", payer
		if i == 0 {
			credit.Amount += rest
		}
		if err := c.add(credit); err != nil {
			return err
		}
	}
	return nil
}

// billing is what one anchoring transaction does to the lanes it touches:
// each lane pays, from what it reserved, what its bytes cost since it last
// paid, then takes the bytes its versions add. A lane whose reserve cannot
// pay refuses the transaction's versions (unpaid): storage already used is
// never left unpaid by a new version.
type billing struct {
	ctx      contractapi.TransactionContextInterface
	now      time.Time
	prices   []wire.Prices
	operator string
	lanes    map[[2]string]*laneBill
}

type laneBill struct {
	lane   wire.Lane
	payer  string
	payees payees
	due    int64
	added  int64 // stored bytes the transaction's versions add
	reason string
}

func newBilling(ctx contractapi.TransactionContextInterface, now time.Time) (*billing, error) {
	prices, err := priceHistory(ctx)
	if err != nil {
		return nil, err
	}
	op, err := operatorOf(ctx)
	if err != nil {
		return nil, err
	}
	return &billing{ctx: ctx, now: now, prices: prices, operator: op, lanes: map[[2]string]*laneBill{}}, nil
}

// free reports whether a's storage is not billed: it names no lane (a
// client that keeps none) while storage costs nothing. Such anchors touch
// no lane, so writers without one never conflict; once storage has a
// price, an anchor without a lane is unpaid.
func (b *billing) free(a wire.FileVersion) bool {
	return a.Lane == "" && (len(b.prices) == 0 || b.prices[len(b.prices)-1].Storage == 0)
}

// of loads the lane of a's volume and writer, once per transaction.
func (b *billing) of(a wire.FileVersion) (*laneBill, error) {
	k := [2]string{a.Volume, a.Lane}
	if lb := b.lanes[k]; lb != nil {
		return lb, nil
	}
	lb := &laneBill{}
	if a.Lane == "" {
		lb.reason = "the anchor names no lane to pay for its storage from (an older client)"
		b.lanes[k] = lb
		return lb, nil
	}
	var err error
	if lb.payer, err = owner(b.ctx, a.Volume); err != nil {
		return nil, err
	}
	if lb.lane, err = laneOf(b.ctx, a.Volume, a.Lane, lb.payer); err != nil {
		return nil, err
	}
	if lb.payees, err = volumePayees(b.ctx, a.Volume, b.operator); err != nil {
		return nil, err
	}
	lb.due = due(lb.lane, b.now, b.prices)
	if lb.due > 0 && lb.due > lb.lane.Reserved {
		lb.reason = fmt.Sprintf("the writer's storage reserve of %s cannot pay the %s its stored bytes cost since it last paid",
			wire.FormatTokens(lb.lane.Reserved), wire.FormatTokens(lb.due))
	}
	b.lanes[k] = lb
	return lb, nil
}

// unpaid is why a's lane cannot take it ("" if it can).
func (b *billing) unpaid(a wire.FileVersion) (string, error) {
	if err := checkLane(a.Lane); err != nil {
		return "", err
	}
	if b.free(a) {
		return "", nil
	}
	lb, err := b.of(a)
	if err != nil {
		return "", err
	}
	return lb.reason, nil
}

// anchored adds the stored bytes of version a, replacing cur (nil if new).
func (b *billing) anchored(a wire.FileVersion, cur *wire.FileVersion) error {
	if b.free(a) {
		return nil
	}
	lb, err := b.of(a)
	if err != nil {
		return err
	}
	lb.added += lb.payees.stored(a.Size)
	if cur != nil {
		lb.added -= lb.payees.stored(cur.Size)
	}
	return nil
}

// settle has each lane that took versions pay what is due and writes it.
func (b *billing) settle() error {
	ch := newCharges(b.ctx, b.now)
	for k, lb := range b.sorted() {
		if lb.reason != "" || (lb.added == 0 && lb.due == 0 && !lb.lane.Since.IsZero()) {
			continue
		}
		l := &lb.lane
		seconds := b.now.Sub(l.Since).Seconds()
		if l.Since.IsZero() {
			seconds = 0
		}
		if err := ch.pay(lb.payer, lb.due, "storage", lb.payees, wire.Charge{Volume: k[0], Bytes: l.Bytes, Seconds: seconds}); err != nil {
			return err
		}
		l.Reserved -= lb.due
		l.Bytes += lb.added
		l.Since = b.now
		if err := putJSON(b.ctx, keyLane, []string{k[0], k[1]}, l); err != nil {
			return err
		}
	}
	return nil
}

// sorted yields the lanes in key order: every peer writes the same keys.
func (b *billing) sorted() func(func([2]string, *laneBill) bool) {
	return func(yield func([2]string, *laneBill) bool) {
		keys := make([][2]string, 0, len(b.lanes))
		for k := range b.lanes {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y [2]string) int {
			if c := strings.Compare(x[0], y[0]); c != 0 {
				return c
			}
			return strings.Compare(x[1], y[1])
		})
		for _, k := range keys {
			if !yield(k, b.lanes[k]) {
				return
			}
		}
	}
}

// chargeReads charges each reader of the events what it read, at the
// read price, paid to the operator: one charge per reader and volume.
func chargeReads(ctx contractapi.TransactionContextInterface, actor string, now time.Time, events []wire.Event) error {
	hist, err := priceHistory(ctx)
	if err != nil || len(hist) == 0 || hist[len(hist)-1].Read == 0 {
		return err
	}
	price := hist[len(hist)-1].Read
	op, err := operatorOf(ctx)
	if err != nil {
		return err
	}
	bytes := map[string]int64{}
	var volumes []string
	for _, e := range events {
		if e.Action != "read" && e.Action != "download" {
			continue
		}
		n, err := strconv.ParseInt(e.Detail["bytes"], 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		if _, ok := bytes[e.Volume]; !ok {
			volumes = append(volumes, e.Volume)
		}
		bytes[e.Volume] += n
	}
	ch := newCharges(ctx, now)
	ch.n = 1 << 20 // after the events' own numbers
	for _, v := range volumes {
		cost := new(big.Int).Mul(big.NewInt(bytes[v]), big.NewInt(price))
		cost.Quo(cost, big.NewInt(wire.GiB))
		if err := ch.pay(actor, cost.Int64(), "read", payees{to: []string{op}}, wire.Charge{Volume: v, Bytes: bytes[v]}); err != nil {
			return err
		}
	}
	return nil
}
