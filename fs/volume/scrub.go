package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"

	"golang.org/x/time/rate"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/remote/shards"
)

// scrubWorkers is how many objects scrub checks at once.
const scrubWorkers = 4

// NodeReport is what a scrub or repair found on one storage node.
type NodeReport struct {
	Node     int    `json:"node"` // 1-based, in the config's order
	ID       string `json:"id"`   // "" on a volume of one remote
	Checked  int64  `json:"checked"`
	Bytes    int64  `json:"bytes"`
	Missing  int64  `json:"missing"`
	Corrupt  int64  `json:"corrupt"`
	Failed   int64  `json:"unreachable"` // reads that failed: the node did not answer
	Repaired int64  `json:"repaired"`
}

// ScrubReport is what Scrub did.
type ScrubReport struct {
	Objects int64        `json:"objects"` // objects and chunks checked, each on every node that holds a part
	Nodes   []NodeReport `json:"nodes"`
	// Unrecoverable are the objects no node, or too few, hold intact.
	Unrecoverable []Finding `json:"unrecoverable"`
}

// ScrubOptions shape Scrub.
type ScrubOptions struct {
	// Repair rewrites what is missing or corrupt on a node from the other
	// nodes: a whole object from an intact copy, a shard rebuilt.
	Repair bool
	// Rate bounds the bytes read per second (0: no bound).
	Rate     int64
	Progress func(Progress)
}

// Nodes are the volume's storage nodes' remotes, in node order: one for a
// volume on one remote.
func (v *Volume) Nodes() []objects.Remote {
	if s, ok := v.store.(objects.Several); ok {
		return s.Nodes()
	}
	return []objects.Remote{v.store}
}

// Shards is how new chunks are cut across the storage nodes (zero on one
// remote, or with every chunk whole on every node).
func (v *Volume) Shards() shards.Layout { return v.shards }

// NodeIDs are the storage nodes' ids, in node order (none on one remote).
func (v *Volume) NodeIDs() []string { return append([]string(nil), v.nodeIDs...) }

// scrubTarget is one object to check on every node: whole (name, hash) or
// a sharded chunk (place).
type scrubTarget struct {
	path  string
	name  string
	hash  format.Hash
	place *objects.Place
}

// Scrub checks every object of the volume on every storage node against
// its hash: each folder object, manifest, head and link table on each
// node, each chunk's shard on its node (or the whole chunk on each). With
// Repair it rewrites what it finds missing or corrupt. Objects queued for
// upload by a running mount may be reported missing until it has synced.
func (v *Volume) Scrub(ctx context.Context, opt ScrubOptions) (ScrubReport, error) {
	if v.rootKey == nil {
		return ScrubReport{}, errors.New("scrub needs the volume's owner: a share does not see what else the volume holds")
	}
	nodes := v.Nodes()
	rep := ScrubReport{Nodes: make([]NodeReport, len(nodes)), Unrecoverable: []Finding{}}
	for j := range nodes {
		rep.Nodes[j].Node = j + 1
		if j < len(v.nodeIDs) {
			rep.Nodes[j].ID = v.nodeIDs[j]
		}
	}
	var limit *rate.Limiter
	if opt.Rate > 0 {
		limit = rate.NewLimiter(rate.Limit(opt.Rate), int(min(opt.Rate, 4<<20)))
	}
	var (
		mu           sync.Mutex
		done, total  atomic.Int64
		unrecovered  []Finding
		targets      = make(chan scrubTarget, 64)
		wg           sync.WaitGroup
		walkProblems []Finding
	)
	for range scrubWorkers {
		wg.Go(func() {
			for t := range targets {
				var got []NodeReport
				var err error
				if t.place != nil {
					got, err = v.scrubShards(ctx, nodes, t, opt.Repair, limit)
				} else {
					got, err = v.scrubWhole(ctx, nodes, t, opt.Repair, limit)
				}
				mu.Lock()
				for j := range got {
					r := &rep.Nodes[j]
					r.Checked += got[j].Checked
					r.Bytes += got[j].Bytes
					r.Missing += got[j].Missing
					r.Corrupt += got[j].Corrupt
					r.Failed += got[j].Failed
					r.Repaired += got[j].Repaired
				}
				if err != nil {
					unrecovered = append(unrecovered, Finding{Path: t.path, Problem: err.Error()})
				}
				mu.Unlock()
				d := done.Add(1)
				if opt.Progress != nil {
					opt.Progress(Progress{Phase: map[bool]string{false: "scrubbing", true: "repairing"}[opt.Repair], Done: d, Total: total.Load()})
				}
			}
		})
	}
	for j, nr := range v.scrubConfig(ctx, nodes, opt.Repair) {
		r := &rep.Nodes[j]
		r.Checked, r.Missing, r.Corrupt, r.Failed, r.Repaired = nr.Checked, nr.Missing, nr.Corrupt, nr.Failed, nr.Repaired
	}
	send := func(t scrubTarget) bool {
		total.Add(1)
		select {
		case targets <- t:
			return true
		case <-ctx.Done():
			return false
		}
	}
	err := v.scrubTargets(ctx, send, func(p string, err error) {
		mu.Lock()
		walkProblems = append(walkProblems, Finding{Path: p, Problem: err.Error()})
		mu.Unlock()
	})
	close(targets)
	wg.Wait()
	rep.Objects = done.Load()
	rep.Unrecoverable = append(append(rep.Unrecoverable, walkProblems...), unrecovered...)
	if err == nil {
		err = ctx.Err()
	}
	return rep, err
}

// scrubConfig checks that each node holds the volume's config and says
// which node it is, and with repair writes them where they are missing
// (a remote emptied).
func (v *Volume) scrubConfig(ctx context.Context, nodes []objects.Remote, repair bool) []NodeReport {
	out := make([]NodeReport, len(nodes))
	cfg, err := readConfig(ctx, v.store)
	if err != nil {
		return out
	}
	for j, r := range nodes {
		out[j].Checked = 1
		_, err := r.Get(ctx, format.ConfigName)
		if err == nil && j < len(cfg.Nodes) {
			_, err = r.Get(ctx, format.NodeName)
		}
		switch {
		case err == nil:
			continue
		case !errors.Is(err, fs.ErrNotExist):
			out[j].Failed = 1
			continue
		}
		out[j].Missing = 1
		if repair {
			one := make([]objects.Remote, len(nodes))
			one[j] = r
			if StoreConfig(ctx, cfg, one) == nil {
				out[j].Repaired = 1
			}
		}
	}
	return out
}

// scrubTargets sends every object of the volume to check: heads, the link
// table, folder objects, manifests and chunks.
func (v *Volume) scrubTargets(ctx context.Context, send func(scrubTarget) bool, onErr func(string, error)) error {
	// The heads this volume opened: older ones go once their writers see
	// the newer, and are not copied back.
	v.mu.Lock()
	heads := map[string]string{}
	if v.headHash != "" {
		heads[format.HeadsDir+"/"+v.headHash] = v.headHash
	}
	for _, d := range v.domains {
		d.mu.Lock()
		if d.headHash != "" {
			heads[d.headName(d.headHash)] = d.headHash
		}
		d.mu.Unlock()
	}
	links := v.linksHash
	v.mu.Unlock()
	for name, hash := range heads {
		if h, err := format.ParseHash(hash); err == nil && !send(scrubTarget{path: name, name: name, hash: h}) {
			return ctx.Err()
		}
	}
	whole := func(p, hash string) bool {
		h, err := format.ParseHash(hash)
		if err != nil {
			onErr(p, err)
			return true
		}
		return send(scrubTarget{path: p, name: format.ObjectName(h), hash: h})
	}
	if links != "" && !whole("(link table)", links) {
		return ctx.Err()
	}
	return v.walk(ctx, "/", func(vi visit) error {
		switch {
		case vi.typ == format.TypeDir && vi.tree != "" && !vi.n.synthetic:
			if !whole(vi.path, vi.tree) {
				return ctx.Err()
			}
		case vi.typ == format.TypeFile && vi.version > 0:
			if !whole(vi.path, vi.manifest) {
				return ctx.Err()
			}
			m, err := v.readManifest(ctx, vi.n.dom, vi.n.id, vi.version, vi.manifest)
			if err != nil {
				onErr(vi.path, err)
				return nil
			}
			for i, c := range m.Chunks {
				if c.Hash == "" || c.Data != nil {
					continue
				}
				p := fmt.Sprintf("%s (chunk %d)", vi.path, i)
				if len(c.Shards) == 0 {
					if !whole(p, c.Hash) {
						return ctx.Err()
					}
					continue
				}
				pl, err := place(c)
				if err != nil {
					onErr(p, err)
					continue
				}
				if !send(scrubTarget{path: p, name: format.ObjectName(pl.Hash), hash: pl.Hash, place: &pl}) {
					return ctx.Err()
				}
			}
		}
		return nil
	}, onErr)
}

// wait takes n bytes from the rate limit.
func wait(ctx context.Context, limit *rate.Limiter, n int) {
	for limit != nil && n > 0 {
		take := min(n, limit.Burst())
		if limit.WaitN(ctx, take) != nil {
			return
		}
		n -= take
	}
}

// fetchFrom is one node's copy of name, with what was wrong with it.
func fetchFrom(ctx context.Context, r objects.Remote, name string, check func([]byte) bool, limit *rate.Limiter) (b []byte, nr NodeReport) {
	nr.Checked = 1
	b, err := r.Get(ctx, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		nr.Missing = 1
		return nil, nr
	case err != nil:
		nr.Failed = 1
		return nil, nr
	}
	nr.Bytes = int64(len(b))
	wait(ctx, limit, len(b))
	if !check(b) {
		nr.Corrupt = 1
		return nil, nr
	}
	return b, nr
}

// scrubWhole checks a whole object on every node and, with repair,
// rewrites it on those that lack it or hold it altered.
func (v *Volume) scrubWhole(ctx context.Context, nodes []objects.Remote, t scrubTarget, repair bool, limit *rate.Limiter) ([]NodeReport, error) {
	out := make([]NodeReport, len(nodes))
	var good []byte
	for j, r := range nodes {
		var b []byte
		b, out[j] = fetchFrom(ctx, r, t.name, func(b []byte) bool { return format.HashOf(b) == t.hash }, limit)
		if b != nil {
			good = b
		}
	}
	if good == nil {
		return out, fmt.Errorf("%s: no storage node holds it intact", t.name)
	}
	if repair {
		for j, r := range nodes {
			if out[j].Missing+out[j].Corrupt > 0 && r.Replace(ctx, t.name, good) == nil {
				out[j].Repaired = 1
			}
		}
	}
	return out, nil
}

// scrubShards checks each shard of a chunk on its node and, with repair,
// rebuilds the missing or altered ones from the others.
func (v *Volume) scrubShards(ctx context.Context, nodes []objects.Remote, t scrubTarget, repair bool, limit *rate.Limiter) ([]NodeReport, error) {
	p := t.place
	l := p.Layout
	out := make([]NodeReport, len(nodes))
	if l.N() > len(nodes) {
		return out, fmt.Errorf("%s: %d shards but %d storage nodes", t.name, l.N(), len(nodes))
	}
	have := make([][]byte, l.N())
	for j := range l.N() {
		want := l.Len(j, p.Size, format.SealedSegmentSize)
		have[j], out[j] = fetchFrom(ctx, nodes[j], format.ObjectName(p.Shards[j]), func(b []byte) bool {
			return len(b) == want && format.HashOf(b) == p.Shards[j]
		}, limit)
	}
	bad := 0
	for j := range l.N() {
		if have[j] == nil {
			bad++
		}
	}
	if bad == 0 || !repair {
		if bad > l.M {
			return out, fmt.Errorf("%s: %d of its %d shards are missing or altered; %d are needed", t.name, bad, l.N(), l.K)
		}
		return out, nil
	}
	obj, err := l.Join(have, p.Size, format.SealedSegmentSize)
	if err != nil {
		return out, fmt.Errorf("%s: %d of its %d shards are missing or altered; %d are needed", t.name, bad, l.N(), l.K)
	}
	parts, err := l.Split(obj, format.SealedSegmentSize)
	if err != nil {
		return out, err
	}
	for j := range l.N() {
		if have[j] != nil || out[j].Failed > 0 {
			continue
		}
		if format.HashOf(parts[j]) != p.Shards[j] {
			return out, fmt.Errorf("%s: its shards do not rebuild shard %d (parity and data disagree)", t.name, j+1)
		}
		if nodes[j].Replace(ctx, format.ObjectName(p.Shards[j]), parts[j]) == nil {
			out[j].Repaired = 1
		}
	}
	return out, nil
}
