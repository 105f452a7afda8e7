package objects

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Remote is a storage node as a volume uses it directly (the config,
// heads, listings and removals), beyond what the Store needs.
type Remote interface {
	Backend
	Replace(ctx context.Context, name string, data []byte) error
	Delete(ctx context.Context, name string) error
	List(ctx context.Context, prefix string, fn func(name string, size int64) error) error
}

// Set is the remotes of a volume on several storage nodes, node j at index
// j, as one store of whole objects: each written to every node, read from
// the first that has it, listed as the union of what they hold. Until
// SetStored says otherwise, a write waits for every node.
type Set struct {
	nodes  []Remote
	stored atomic.Int32 // nodes a write must reach before it returns
}

// listGrace is how long a listing waits for the nodes beyond those it
// needs, and firstDelay how long a read waits on one node before it asks
// the next as well.
const (
	listGrace  = 2 * time.Second
	firstDelay = time.Second
)

// Several is a store on several storage nodes: a Set, or a type that
// embeds one.
type Several interface {
	Nodes() []Remote
	SetStored(n int)
}

// NewSet makes the set of nodes, in node order.
func NewSet(nodes ...Remote) *Set {
	s := &Set{nodes: nodes}
	s.stored.Store(int32(len(nodes)))
	return s
}

// Nodes are the set's remotes, in node order.
func (s *Set) Nodes() []Remote { return s.nodes }

// SetStored makes writes return once n nodes have taken them (the others
// still get them in the background, as long as the process runs), and
// listings wait only for enough nodes to see everything so stored.
func (s *Set) SetStored(n int) { s.stored.Store(int32(min(max(n, 1), len(s.nodes)))) }

// Put writes data to every node and returns once the stored number have
// taken it.
func (s *Set) Put(ctx context.Context, name string, data []byte) error {
	return s.some(int(s.stored.Load()), func(ctx context.Context, r Remote) error { return r.Put(ctx, name, data) })
}

// Replace writes data over name on every node; all must take it.
func (s *Set) Replace(ctx context.Context, name string, data []byte) error {
	return s.each(func(j int, r Remote) error { return r.Replace(ctx, name, data) })
}

// Flush flushes every node that needs it (Flusher).
func (s *Set) Flush(ctx context.Context) error {
	return s.each(func(j int, r Remote) error { return Flush(ctx, r) })
}

// Delete removes name from every node, returning once one has (a node that
// is down keeps its copy until gc finds it).
func (s *Set) Delete(ctx context.Context, name string) error {
	return s.some(1, func(ctx context.Context, r Remote) error { return r.Delete(ctx, name) })
}

// some runs op on every node at once and returns once need of them have
// succeeded, or with an error once that cannot be; the others go on in the
// background.
func (s *Set) some(need int, op func(ctx context.Context, r Remote) error) error {
	type result struct {
		j   int
		err error
	}
	results := make(chan result, len(s.nodes))
	for j, r := range s.nodes {
		go func() { results <- result{j, op(context.Background(), r)} }()
	}
	ok := 0
	var errs []error
	for range s.nodes {
		r := <-results
		if r.err == nil {
			if ok++; ok >= need {
				return nil
			}
			continue
		}
		errs = append(errs, fmt.Errorf("node %d (%v): %w", r.j+1, s.nodes[r.j], r.err))
		if len(errs) > len(s.nodes)-need {
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// Get returns name from the first node that has it (the caller checks
// what it gets), asking the next as well when one is slow to answer;
// missing everywhere wraps io/fs.ErrNotExist.
func (s *Set) Get(ctx context.Context, name string) ([]byte, error) {
	return s.first(ctx, func(ctx context.Context, r Remote) ([]byte, error) { return r.Get(ctx, name) })
}

// GetRange is Get of a byte range.
func (s *Set) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	return s.first(ctx, func(ctx context.Context, r Remote) ([]byte, error) { return r.GetRange(ctx, name, off, n) })
}

// first asks the nodes in turn, the next once one fails or has not
// answered within firstDelay, until one answers with the object.
func (s *Set) first(ctx context.Context, get func(context.Context, Remote) ([]byte, error)) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		b   []byte
		err error
	}
	results := make(chan result, len(s.nodes))
	var errs []error
	missing, next, running := 0, 0, 0
	for {
		if next < len(s.nodes) && running == 0 {
			r := s.nodes[next]
			go func() { b, err := get(ctx, r); results <- result{b, err} }()
			next++
			running++
		}
		var timer <-chan time.Time
		if next < len(s.nodes) {
			timer = time.After(firstDelay)
		}
		select {
		case r := <-results:
			running--
			if r.err == nil {
				return r.b, nil
			}
			if errors.Is(r.err, fs.ErrNotExist) {
				missing++
			}
			errs = append(errs, r.err)
			if running == 0 && next == len(s.nodes) {
				if missing == len(s.nodes) {
					return nil, errs[0]
				}
				return nil, errors.Join(errs...)
			}
		case <-timer:
			r := s.nodes[next]
			go func() { b, err := get(ctx, r); results <- result{b, err} }()
			next++
			running++
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// List calls fn once for every name any node holds under prefix, with the
// largest size a node gives. It waits for enough nodes to see every object
// stored on SetStored's number of them, and for the others up to
// listGrace more; nodes that cannot list are left out, unless none can.
func (s *Set) List(ctx context.Context, prefix string, fn func(name string, size int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		names map[string]int64
		err   error
	}
	results := make(chan result, len(s.nodes))
	for _, r := range s.nodes {
		go func() {
			names := map[string]int64{}
			err := r.List(ctx, prefix, func(name string, size int64) error {
				names[name] = size
				return nil
			})
			results <- result{names, err}
		}()
	}
	enough := len(s.nodes) - int(s.stored.Load()) + 1
	sizes := map[string]int64{}
	answered, failed := 0, 0
	var grace <-chan time.Time
	var firstErr error
	for answered < len(s.nodes) {
		select {
		case r := <-results:
			answered++
			if r.err != nil {
				failed++
				firstErr = cmp.Or(firstErr, r.err)
				continue
			}
			for name, size := range r.names {
				if old, ok := sizes[name]; !ok || size > old {
					sizes[name] = size
				}
			}
			if answered-failed >= enough && grace == nil {
				grace = time.After(listGrace)
			}
		case <-grace:
			answered = len(s.nodes)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if failed == len(s.nodes) {
		return firstErr
	}
	names := make([]string, 0, len(sizes))
	for name := range sizes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := fn(name, sizes[name]); err != nil {
			return err
		}
	}
	return nil
}

// String names the set by its nodes.
func (s *Set) String() string {
	out := ""
	for j, r := range s.nodes {
		if j > 0 {
			out += ", "
		}
		out += fmt.Sprint(r)
	}
	return out
}

// each runs op on every node at once; the error says which failed.
func (s *Set) each(op func(j int, r Remote) error) error {
	errs := make([]error, len(s.nodes))
	var wg sync.WaitGroup
	for j, r := range s.nodes {
		wg.Go(func() {
			if err := op(j, r); err != nil {
				errs[j] = fmt.Errorf("node %d (%v): %w", j+1, r, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
