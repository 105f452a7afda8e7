package remote

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestBandwidthLimit: rclone's --bwlimit syntax sets the upload and
// download rates of the moment's slot; a transfer past a second's worth
// waits for the rest; a bad limit is refused; off lifts it.
func TestBandwidthLimit(t *testing.T) {
	defer SetBandwidth("")
	if err := SetBandwidth("1M:off"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tx, rx := bandwidth.limiters(now)
	if tx == nil || rx != nil || tx.Limit() != 1<<20 {
		t.Fatalf("1M:off: up %v, down %v", tx, rx)
	}
	r := tx.ReserveN(now, 1<<20)
	if d := tx.ReserveN(now, 1<<20).DelayFrom(now); !r.OK() || d < 900*time.Millisecond {
		t.Fatalf("a second MiB at 1M/s may go after %v", d)
	}
	if err := SetBandwidth("Mon-00:00,512k Tue-00:00,2M"); err != nil {
		t.Fatal(err)
	}
	monday := time.Date(2026, 11, 30, 12, 0, 0, 0, time.Local)
	if tx, rx := bandwidth.limiters(monday); tx == nil || tx.Limit() != 512<<10 || rx.Limit() != 512<<10 {
		t.Fatalf("Monday's slot: %v %v", tx, rx)
	}
	if tx, _ := bandwidth.limiters(monday.Add(24 * time.Hour)); tx.Limit() != 2<<20 {
		t.Fatalf("Tuesday's slot: %v", tx.Limit())
	}
	if err := SetBandwidth("fast"); err == nil || !strings.Contains(err.Error(), "--bwlimit syntax") {
		t.Fatalf("a bad limit: %v", err)
	}
	if err := SetBandwidth("off"); err != nil {
		t.Fatal(err)
	}
	if tx, rx := bandwidth.limiters(now); tx != nil || rx != nil {
		t.Fatal("off left a limit")
	}
}

// TestAPacedReaderWaitsBetweenPieces: under a limit a transfer is read a
// piece at a time, each counted against the limiter; without one the
// reader is the transfer's own.
func TestAPacedReaderWaitsBetweenPieces(t *testing.T) {
	defer SetBandwidth("")
	src := strings.NewReader(strings.Repeat("x", 100<<10))
	if r := bandwidth.paced(t.Context(), true, src); r != io.Reader(src) {
		t.Fatal("no limit, yet the reader is wrapped")
	}
	if err := SetBandwidth("64M"); err != nil {
		t.Fatal(err)
	}
	r := bandwidth.paced(t.Context(), true, src)
	buf := make([]byte, 1<<20)
	n, err := r.Read(buf)
	if err != nil || n != pace {
		t.Fatalf("a read under a limit took %d bytes (%v), want one piece of %d", n, err, pace)
	}
	tx, _ := bandwidth.limiters(time.Now())
	// At a moment before the limiter's last event its tokens are those it
	// held then, with nothing refilled since: the count does not race the clock.
	if tokens := tx.TokensAt(time.Time{}); tokens > float64(tx.Burst()-pace) {
		t.Fatalf("the piece was not counted: %v tokens left of %d", tokens, tx.Burst())
	}
}
