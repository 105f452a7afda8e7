package chaincode

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// txContext is every contract's transaction context: contract-api's, with
// the numbers of the audit events the transaction put under each entry of
// the indexes by actor and by action. writeEventIndexes, every contract's
// after-transaction function, puts those entries once the function has
// run: one per actor or action and transaction instead of one per event
// (a batch of 2,000 anchors puts 2 entries, not 4,000).
type txContext struct {
	contractapi.TransactionContext
	indexed map[string][]int
	order   []string // indexed's keys, in the order first put
}

func (tc *txContext) index(key string, n int) {
	if tc.indexed == nil {
		tc.indexed = map[string][]int{}
	}
	if _, ok := tc.indexed[key]; !ok {
		tc.order = append(tc.order, key)
	}
	tc.indexed[key] = append(tc.indexed[key], n)
}

// writeEventIndexes puts the transaction's entries in the indexes by actor
// and by action: contract-api calls it after a function that returned no
// error.
func writeEventIndexes(ctx contractapi.TransactionContextInterface) error {
	tc := ctx.(*txContext) // chaincode.New makes every contract's context one
	for _, key := range tc.order {
		if err := ctx.GetStub().PutState(key, formatEventNumbers(tc.indexed[key])); err != nil {
			return err
		}
	}
	return nil
}

// formatEventNumbers writes the numbers of a transaction's events as
// ascending ranges: "0-1999", "3,5-7".
func formatEventNumbers(ns []int) []byte {
	ns = slices.Clone(ns)
	slices.Sort(ns)
	ns = slices.Compact(ns)
	var b []byte
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(ns[i]), 10)
		if j > i {
			b = append(append(b, '-'), strconv.Itoa(ns[j])...)
		}
		i = j + 1
	}
	return b
}

// maxEventNumber bounds an event's number in its transaction: a stored
// list naming more is corrupt, not a reason to make a page that large.
const maxEventNumber = 100_000

// parseEventNumbers reads what formatEventNumbers wrote.
func parseEventNumbers(b []byte) ([]int, error) {
	var ns []int
	for _, r := range strings.Split(string(b), ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		z := a
		if err == nil && isRange {
			z, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || z < a || z >= maxEventNumber || len(ns) > 0 && a <= ns[len(ns)-1] {
			return nil, fmt.Errorf("stored event numbers %q are corrupt", b)
		}
		for n := a; n <= z; n++ {
			ns = append(ns, n)
		}
	}
	if len(ns) == 0 {
		return nil, errors.New("stored event numbers are empty")
	}
	return ns, nil
}
