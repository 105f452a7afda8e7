// Package retry is the one policy for trying remote and ledger calls again: exponential backoff with jitter (cenkalti/backoff) until a call succeeds, fails for good, runs out of tries or its context ends.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy is how a call is tried again.
type Policy struct {
	// First is the wait after the first failure; each wait is half again
	// the one before (with jitter of half either way), up to Max.
	First, Max time.Duration
	// Tries bounds the calls in all; 0 tries until the context ends.
	Tries uint
}

// The policies of the drive.
var (
	// Remote is a remote's transient failures: about half a minute in all.
	Remote = Policy{First: 100 * time.Millisecond, Max: 8 * time.Second, Tries: 6}
	// Ledger is the anchorer's: a ledger that is down delays anchoring,
	// for as long as it is down.
	Ledger = Policy{First: 500 * time.Millisecond, Max: 30 * time.Second}
	// Upload is a queued upload the remote refused: it stays queued and is
	// tried again until it goes up or the volume closes.
	Upload = Policy{First: time.Second, Max: 10 * time.Second}
	// Conflict is a transaction that lost a race to another one
	// (an MVCC conflict): simulated and submitted again at once.
	Conflict = Policy{Tries: 6}
)

// Backoff is the policy's sequence of waits, for a loop that waits itself
// (and can be woken early).
func (p Policy) Backoff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{InitialInterval: p.First, MaxInterval: p.Max,
		Multiplier: 1.5, RandomizationFactor: 0.5}
	if p.First == 0 {
		b.RandomizationFactor = 0
	}
	b.Reset()
	return b
}

// Permanent marks an error that trying again will not mend.
func Permanent(err error) error { return backoff.Permanent(err) }

// Do calls op until it succeeds, returns an error transient says is not
// worth another try (or one marked Permanent), the policy's tries run out
// or ctx ends; notify (may be nil) hears of each failure and the wait
// after it. It returns op's last error, or ctx's.
func Do(ctx context.Context, p Policy, transient func(error) bool, notify func(error, time.Duration), op func() error) error {
	opts := []backoff.RetryOption{backoff.WithBackOff(p.Backoff()), backoff.WithMaxElapsedTime(0)}
	if p.Tries > 0 {
		opts = append(opts, backoff.WithMaxTries(p.Tries))
	}
	if notify != nil {
		opts = append(opts, backoff.WithNotify(notify))
	}
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := op()
		if err != nil && transient != nil && !transient(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, opts...)
	return err
}
