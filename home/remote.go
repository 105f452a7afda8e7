package home

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

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

// remoteSet is the storage nodes of a volume on several remotes, in node
// order, with the specs they were opened from.
type remoteSet struct {
	*objects.Set
	stores []*remote.Store
}

func (s *remoteSet) Close() error {
	var errs []error
	for _, st := range s.stores {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// OpenStore opens the volume's remotes, the ones config c names: one
// remote, or several as the set of the volume's storage nodes, ordered as
// the volume's config orders its nodes (each remote says which node it is).
// It returns the remotes' specs in that order.
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
	set := &remoteSet{}
	for _, spec := range c.Remotes {
		st, err := remote.Open(ctx, spec, opt)
		if err != nil {
			set.Close()
			return nil, nil, err
		}
		set.stores = append(set.stores, st)
	}
	specs, err := set.order(ctx, c.Remotes)
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
// stores without a volume yet stay as given.
func (s *remoteSet) order(ctx context.Context, specs []string) ([]string, error) {
	var cfg *format.Config
	for _, st := range s.stores {
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
	stores := make([]*remote.Store, len(s.stores))
	ordered := make([]string, len(specs))
	for i, st := range s.stores {
		b, err := st.Get(ctx, format.NodeName)
		var m format.NodeMarker
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		j, ok := at[m.Node]
		if err != nil || !ok || m.Volume != cfg.Volume || stores[j] != nil {
			return nil, fmt.Errorf("remote %s is not a storage node of volume %s", st, cfg.Volume)
		}
		stores[j], ordered[j] = st, specs[i]
	}
	s.stores = stores
	return ordered, nil
}
