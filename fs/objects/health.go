package objects

import (
	"errors"
	"io/fs"
	"sync"
	"time"
)

const (
	// hedgeMin and hedgeMax bound how long a read waits on one node before
	// it also asks others (for a shard: rebuilds it from parity).
	hedgeMin = 30 * time.Millisecond
	hedgeMax = 2 * time.Second
	// avoidFor is how long a node that failed or was slow is asked last
	// (its shards rebuilt from the others first); it doubles while the node
	// keeps failing, up to avoidMax.
	avoidFor = 2 * time.Second
	avoidMax = time.Minute
)

// health is what the reads and uploads of one node have seen.
type health struct {
	mu         sync.Mutex
	latency    time.Duration // moving average of answered requests
	avoidUntil time.Time
	strikes    int
	stat       NodeStat
}

// NodeStat is one node's record since the volume opened.
type NodeStat struct {
	Requests int64     `json:"requests"`
	Failures int64     `json:"failures"`
	Missing  int64     `json:"missing"` // objects or shards it should hold and did not
	Corrupt  int64     `json:"corrupt"` // objects or shards it served altered
	Hedged   int64     `json:"hedged"`  // reads that did not wait for it
	LastErr  string    `json:"lastError,omitempty"`
	LastAt   time.Time `json:"lastErrorAt,omitzero"`
	Down     bool      `json:"down"` // failing or slow now: read around
}

// after records a request that started at start and ended with err.
func (h *health) after(start time.Time, err error) {
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		h.took(time.Since(start))
		return
	}
	h.failed(err)
}

// took records a request answered in d.
func (h *health) took(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stat.Requests++
	if h.latency == 0 {
		h.latency = d
	} else {
		h.latency = (7*h.latency + d) / 8
	}
	h.strikes = 0
}

// failed records a request that failed.
func (h *health) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stat.Requests++
	h.stat.Failures++
	h.stat.LastErr, h.stat.LastAt = err.Error(), time.Now()
	h.strike()
}

// strike puts off asking the node first, for longer each time in a row.
// Called with h.mu held.
func (h *health) strike() {
	h.avoidUntil = time.Now().Add(min(avoidFor<<min(h.strikes, 10), avoidMax))
	h.strikes++
}

// slow records a read that was hedged because the node did not answer.
func (h *health) slow() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stat.Hedged++
	h.strike()
}

func (h *health) missing() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stat.Missing++
}

func (h *health) corrupt() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stat.Corrupt++
}

// avoid reports whether reads should go around the node now.
func (h *health) avoid(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return now.Before(h.avoidUntil)
}

// hedgeDelay is how long to wait for the node before asking others: a few
// times its usual answer.
func (h *health) hedgeDelay() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return min(max(4*h.latency, hedgeMin), hedgeMax)
}

// NodeStats is each node's record since the volume opened.
func (o *Store) NodeStats() []NodeStat {
	out := make([]NodeStat, len(o.nodes))
	now := time.Now()
	for j, nd := range o.nodes {
		nd.health.mu.Lock()
		out[j] = nd.health.stat
		out[j].Down = now.Before(nd.health.avoidUntil)
		nd.health.mu.Unlock()
	}
	return out
}
