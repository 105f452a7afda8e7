package home

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/remote"
)

// AbsoluteRemote makes a local-path spec absolute, so the volume can be
// reached from any working folder later; rclone specs with a colon stay.
func AbsoluteRemote(spec string) (string, error) {
	if strings.Contains(spec, ":") {
		return spec, nil
	}
	return filepath.Abs(spec)
}

// Store is where a volume's objects are: one remote, or the set of its
// storage nodes.
type Store interface {
	volume.ObjectStore
	Close() error
	String() string
}

// nodeStore is one storage node's remote.
type nodeStore interface {
	objects.Remote
	Close() error
	String() string
}

// remoteSet is the storage nodes of a volume on several remotes, in node
// order.
type remoteSet struct {
	*objects.Set
	stores []nodeStore
}

func (s *remoteSet) Close() error {
	var errs []error
	for _, st := range s.stores {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// nodeRetries is how often a storage node's failures are retried before
// the others answer instead.
const nodeRetries = 2

// OpenStore opens the volume's remotes, the ones config c names: one
// remote, or several as the set of the volume's storage nodes, ordered as
// the volume's config orders its nodes (each remote says which node it is).
// A storage node that does not answer is opened later, when it does (the
// others serve meanwhile); with one down, the order is config.yaml's. It
// returns the remotes' specs in node order.
func OpenStore(ctx context.Context, c Config, logf func(string, ...any)) (Store, []string, error) {
	opt := remote.Options{ConfigPath: c.RcloneConfig, Logf: logf}
	if len(c.Remotes) <= 1 {
		spec := ""
		if len(c.Remotes) == 1 {
			spec = c.Remotes[0]
		}
		st, err := remote.Open(ctx, spec, opt)
		return st, c.Remotes, err
	}
	opt.Retries = nodeRetries
	set := &remoteSet{}
	down := 0
	for _, spec := range c.Remotes {
		st, err := remote.Open(ctx, spec, opt)
		if err != nil {
			if logf != nil {
				logf("%v; going on with the other remotes", err)
			}
			set.stores = append(set.stores, &laterStore{spec: spec, opt: opt, err: err, tried: time.Now()})
			down++
			continue
		}
		set.stores = append(set.stores, st)
	}
	if down == len(set.stores) {
		err := set.stores[0].(*laterStore).err
		set.Close()
		return nil, nil, err
	}
	specs, err := set.order(ctx, c.Remotes, down > 0)
	if err != nil {
		set.Close()
		return nil, nil, err
	}
	nodes := make([]objects.Remote, len(set.stores))
	for j, st := range set.stores {
		nodes[j] = st
	}
	set.Set = objects.NewSet(nodes...)
	return set, specs, nil
}

// order puts the stores in node order, by the node each one says it is;
// stores without a volume yet stay as given. With some down (asGiven), the
// order is the one given, checked against the nodes that answer.
func (s *remoteSet) order(ctx context.Context, specs []string, asGiven bool) ([]string, error) {
	var cfg *format.Config
	for _, st := range s.stores {
		if _, ok := st.(*laterStore); ok {
			continue
		}
		b, err := st.Get(ctx, format.ConfigName)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("remote %s: reading the volume config: %w", st, err)
		}
		var c format.Config
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("remote %s: the volume config is corrupt: %w", st, err)
		}
		cfg = &c
		break
	}
	if cfg == nil {
		if asGiven {
			return nil, fmt.Errorf("no volume on the remotes that answer, and %s does not", firstDown(s.stores))
		}
		return specs, nil
	}
	if len(cfg.Nodes) == 0 {
		return nil, fmt.Errorf("volume %s is on one remote; %d remotes given", cfg.Volume, len(s.stores))
	}
	if len(cfg.Nodes) != len(s.stores) {
		return nil, fmt.Errorf("volume %s is on %d storage nodes; %d remotes given", cfg.Volume, len(cfg.Nodes), len(s.stores))
	}
	at := map[string]int{}
	for j, id := range cfg.Nodes {
		at[id] = j
	}
	stores := make([]nodeStore, len(s.stores))
	ordered := make([]string, len(specs))
	markers := make([]*format.NodeMarker, len(s.stores))
	for i, st := range s.stores {
		if _, ok := st.(*laterStore); ok {
			continue
		}
		b, err := st.Get(ctx, format.NodeName)
		if errors.Is(err, fs.ErrNotExist) {
			if _, cerr := st.Get(ctx, format.ConfigName); errors.Is(cerr, fs.ErrNotExist) {
				asGiven = true // a remote emptied: the node is where config.yaml says
				continue
			}
		}
		var m format.NodeMarker
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			return nil, fmt.Errorf("remote %s is not a storage node of volume %s", st, cfg.Volume)
		}
		markers[i] = &m
	}
	for i, st := range s.stores {
		if markers[i] == nil {
			stores[i], ordered[i] = st, specs[i]
			continue
		}
		m := *markers[i]
		j, ok := at[m.Node]
		if !ok || m.Volume != cfg.Volume {
			return nil, fmt.Errorf("remote %s is not a storage node of volume %s", st, cfg.Volume)
		}
		if asGiven {
			if j != i {
				return nil, fmt.Errorf("remote %s is node %d of volume %s, not node %d as %s lists it", st, j+1, cfg.Volume, i+1, "config.yaml")
			}
			stores[i], ordered[i] = st, specs[i]
			continue
		}
		if stores[j] != nil {
			return nil, fmt.Errorf("remote %s is not a storage node of volume %s", st, cfg.Volume)
		}
		stores[j], ordered[j] = st, specs[i]
	}
	s.stores = stores
	return ordered, nil
}

// firstDown names the first remote that did not answer.
func firstDown(stores []nodeStore) string {
	for _, st := range stores {
		if l, ok := st.(*laterStore); ok {
			return remote.Redact(l.spec)
		}
	}
	return "?"
}

// reconnectEvery is how often a storage node that did not answer is tried
// again.
const reconnectEvery = 10 * time.Second

// laterStore is a storage node that did not answer when the volume opened:
// it is opened again at most every reconnectEvery, and until it opens,
// everything asked of it fails at once.
type laterStore struct {
	spec string
	opt  remote.Options

	mu    sync.Mutex
	st    *remote.Store
	err   error
	tried time.Time
}

// store is the node's remote, once it answers.
func (l *laterStore) store(ctx context.Context) (*remote.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil {
		return l.st, nil
	}
	if time.Since(l.tried) < reconnectEvery {
		return nil, l.err
	}
	l.tried = time.Now()
	st, err := remote.Open(ctx, l.spec, l.opt)
	if err != nil {
		l.err = err
		return nil, err
	}
	l.st = st
	return st, nil
}

func (l *laterStore) Put(ctx context.Context, name string, data []byte) error {
	st, err := l.store(ctx)
	if err != nil {
		return err
	}
	return st.Put(ctx, name, data)
}

func (l *laterStore) Replace(ctx context.Context, name string, data []byte) error {
	st, err := l.store(ctx)
	if err != nil {
		return err
	}
	return st.Replace(ctx, name, data)
}

func (l *laterStore) Get(ctx context.Context, name string) ([]byte, error) {
	st, err := l.store(ctx)
	if err != nil {
		return nil, err
	}
	return st.Get(ctx, name)
}

func (l *laterStore) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	st, err := l.store(ctx)
	if err != nil {
		return nil, err
	}
	return st.GetRange(ctx, name, off, n)
}

// Flush flushes the store once it is open (nothing was written before).
func (l *laterStore) Flush(ctx context.Context) error {
	l.mu.Lock()
	st := l.st
	l.mu.Unlock()
	if st == nil {
		return nil
	}
	return st.Flush(ctx)
}

func (l *laterStore) Delete(ctx context.Context, name string) error {
	st, err := l.store(ctx)
	if err != nil {
		return err
	}
	return st.Delete(ctx, name)
}

func (l *laterStore) List(ctx context.Context, prefix string, fn func(name string, size int64) error) error {
	st, err := l.store(ctx)
	if err != nil {
		return err
	}
	return st.List(ctx, prefix, fn)
}

func (l *laterStore) String() string { return remote.Redact(l.spec) }

func (l *laterStore) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil {
		return l.st.Close()
	}
	return nil
}
