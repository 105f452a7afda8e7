package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errFlaky = errors.New("flaky")

func TestDo(t *testing.T) {
	ctx := context.Background()
	quick := Policy{First: time.Millisecond, Max: 2 * time.Millisecond, Tries: 4}
	calls := 0
	err := Do(ctx, quick, nil, nil, func() error {
		if calls++; calls < 3 {
			return errFlaky
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("a call that works the third time: %v after %d calls", err, calls)
	}

	calls = 0
	var waits []time.Duration
	err = Do(ctx, quick, nil, func(_ error, d time.Duration) { waits = append(waits, d) }, func() error { calls++; return errFlaky })
	if !errors.Is(err, errFlaky) || calls != 4 || len(waits) != 3 {
		t.Fatalf("a call that never works: %v after %d calls, %d waits", err, calls, len(waits))
	}

	calls = 0
	bad := errors.New("bad input")
	err = Do(ctx, quick, func(err error) bool { return err == errFlaky }, nil, func() error { calls++; return bad })
	if !errors.Is(err, bad) || calls != 1 {
		t.Fatalf("an error not worth another try: %v after %d calls", err, calls)
	}
	calls = 0
	err = Do(ctx, quick, nil, nil, func() error { calls++; return Permanent(bad) })
	if !errors.Is(err, bad) || calls != 1 {
		t.Fatalf("a permanent error: %v after %d calls", err, calls)
	}

	cctx, cancel := context.WithCancel(ctx)
	calls = 0
	err = Do(cctx, Policy{First: time.Hour, Max: time.Hour}, nil, nil, func() error { calls++; cancel(); return errFlaky })
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("a context that ends: %v after %d calls", err, calls)
	}

	calls = 0
	err = Do(ctx, Conflict, nil, nil, func() error { calls++; return errFlaky })
	if calls != 6 || !errors.Is(err, errFlaky) {
		t.Fatalf("Conflict: %d calls (%v)", calls, err)
	}
}
