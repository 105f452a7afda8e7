package remote

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rclone/rclone/fs"
	"golang.org/x/time/rate"
)

// bandwidth is the process's limit on what its Stores upload and download
// (rclone's --bwlimit), shared by every remote as rclone shares it.
var bandwidth limiter

// limiter throttles bytes up and down by a timetable of rates.
type limiter struct {
	mu     sync.Mutex
	tt     fs.BwTimetable
	slot   fs.BwPair
	tx, rx *rate.Limiter // nil: unlimited
}

// SetBandwidth limits the bytes every Store uploads and downloads, in
// rclone's --bwlimit syntax: "10M" both ways, "10M:2M" up:down, a
// timetable "08:00,512k 19:00,10M Sat-00:00,off"; "" or "off" for none.
func SetBandwidth(spec string) error {
	var tt fs.BwTimetable
	if s := strings.TrimSpace(spec); s != "" && s != "off" {
		if err := tt.Set(s); err != nil {
			return fmt.Errorf("bandwidth limit %q: %v (rclone's --bwlimit syntax: 10M, 10M:2M, \"08:00,512k 19:00,off\")", spec, err)
		}
	}
	bandwidth.mu.Lock()
	defer bandwidth.mu.Unlock()
	bandwidth.tt, bandwidth.slot = tt, fs.BwPair{Tx: -1, Rx: -1}
	bandwidth.tx, bandwidth.rx = nil, nil
	return nil
}

// limiters are the rate limiters of this moment's slot (nil: unlimited).
func (l *limiter) limiters(now time.Time) (tx, rx *rate.Limiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tt) == 0 {
		return nil, nil
	}
	if b := l.tt.LimitAt(now).Bandwidth; b != l.slot {
		l.slot = b
		l.tx, l.rx = newRate(b.Tx), newRate(b.Rx)
	}
	return l.tx, l.rx
}

// newRate limits to perSecond bytes a second (nil for off); a second's
// worth may go at once.
func newRate(perSecond fs.SizeSuffix) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), int(perSecond))
}

// paced is r read no faster than the limit of the moment allows (up or
// down), a piece at a time, so that a transfer is spread over its time
// instead of going at line speed and waiting after.
func (l *limiter) paced(ctx context.Context, up bool, r io.Reader) io.Reader {
	if tx, rx := l.limiters(time.Now()); up && tx == nil || !up && rx == nil {
		return r
	}
	return &pacedReader{ctx: ctx, l: l, up: up, r: r}
}

// pace is how much of a transfer goes between two waits.
const pace = 32 << 10

type pacedReader struct {
	ctx context.Context
	l   *limiter
	up  bool
	r   io.Reader
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if len(b) > pace {
		b = b[:pace]
	}
	n, err := p.r.Read(b)
	if n > 0 {
		if werr := p.l.wait(p.ctx, p.up, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// wait blocks until n bytes may go up (or down).
func (l *limiter) wait(ctx context.Context, up bool, n int) error {
	tx, rx := l.limiters(time.Now())
	lim := rx
	if up {
		lim = tx
	}
	if lim == nil {
		return nil
	}
	for n > 0 {
		k := min(n, lim.Burst())
		if err := lim.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
