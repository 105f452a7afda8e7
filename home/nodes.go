package home

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/objects"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/remote"
	"github.com/anchorfs/anchorfs/remote/shards"
)

// remoteHolds is what a remote given to become a storage node holds.
type remoteHolds struct {
	marker *format.NodeMarker // its node marker, if any
	volume string             // the volume of its config, if any
	empty  bool               // no objects at all
}

// inspect says what remote r holds.
func inspect(ctx context.Context, r objects.Remote) (remoteHolds, error) {
	var h remoteHolds
	if b, err := r.Get(ctx, format.NodeName); err == nil {
		var m format.NodeMarker
		if json.Unmarshal(b, &m) == nil {
			h.marker = &m
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return h, err
	}
	if b, err := r.Get(ctx, format.ConfigName); err == nil {
		var c format.Config
		if json.Unmarshal(b, &c) == nil {
			h.volume = c.Volume
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return h, err
	}
	h.empty = true
	err := r.List(ctx, format.ObjectsDir, func(string, int64) error {
		h.empty = false
		return errors.New("stop")
	})
	if err != nil && h.empty {
		return h, err
	}
	return h, nil
}

// openConfig opens the volume's remotes (OpenStore) and reads its config.
func openConfig(ctx context.Context, c Config, logf func(string, ...any)) (Store, []string, *format.Config, error) {
	store, specs, err := OpenStore(ctx, c, logf)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := volume.LoadConfig(ctx, store)
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	return store, specs, cfg, nil
}

// nodesOf are the stores of a set in node order, nil where a node is down.
func nodesOf(store Store) []objects.Remote {
	set, ok := store.(*remoteSet)
	if !ok {
		return []objects.Remote{store}
	}
	out := make([]objects.Remote, len(set.stores))
	for j, st := range set.stores {
		if l, ok := st.(*laterStore); ok {
			if _, err := l.store(context.Background()); err != nil {
				continue
			}
		}
		out[j] = st
	}
	return out
}

// ReplaceRemote makes spec, an empty remote, storage node n (1-based) of
// volume c in place of the remote there (which may be gone): the node gets
// a new id, the other nodes' config says so, the ledger records it, and
// config.yaml names spec. It returns the home's new config; anchorfs
// repair then fills the node. Run again (a crash between steps, or a
// second home of the owner), it finishes what is left.
func (h Home) ReplaceRemote(ctx context.Context, c Config, id *keyring.Identity, n int, spec string, logf func(string, ...any)) (Config, error) {
	spec, err := AbsoluteRemote(spec)
	if err != nil {
		return c, err
	}
	store, _, cfg, err := openConfig(ctx, c, logf)
	if err != nil {
		return c, err
	}
	defer store.Close()
	if len(cfg.Nodes) == 0 {
		return c, errors.New("the volume is on one remote: anchorfs reshard moves it to others")
	}
	if n < 1 || n > len(cfg.Nodes) {
		return c, fmt.Errorf("node %d: the volume has nodes 1 to %d", n, len(cfg.Nodes))
	}
	nr, err := remote.Open(ctx, spec, remote.Options{ConfigPath: c.RcloneConfig, Logf: logf})
	if err != nil {
		return c, err
	}
	defer nr.Close()
	holds, err := inspect(ctx, nr)
	if err != nil {
		return c, fmt.Errorf("remote %s: %w", nr, err)
	}
	newID := ""
	switch {
	case holds.marker != nil && holds.marker.Volume == cfg.Volume && holds.marker.Node == cfg.Nodes[n-1]:
		newID = cfg.Nodes[n-1] // replaced already (by another home, or before a crash)
	case holds.marker != nil && holds.marker.Volume == cfg.Volume && !slices.Contains(cfg.Nodes, holds.marker.Node):
		newID = holds.marker.Node // a replace that stopped before the config
	case holds.volume != "" || holds.marker != nil:
		return c, fmt.Errorf("remote %s holds a volume already (%s); give an empty one", nr, holds.volume)
	case !holds.empty:
		return c, fmt.Errorf("remote %s is not empty; give an empty one", nr)
	default:
		newID = format.NewID().String()
	}
	cfg.Nodes[n-1] = newID
	remotes := nodesOf(store)
	remotes[n-1] = nr
	if err := volume.StoreConfig(ctx, cfg, remotes); err != nil {
		return c, fmt.Errorf("writing the config with the new node: %w (run the replace again)", err)
	}
	if err := h.recordNodes(ctx, c, id, cfg); err != nil {
		return c, err
	}
	c.Remotes = slices.Clone(c.Remotes)
	c.Remotes[n-1] = spec
	return c, h.Save(c)
}

// recordNodes puts the volume's nodes on its ledger, when it has one.
func (h Home) recordNodes(ctx context.Context, c Config, id *keyring.Identity, cfg *format.Config) error {
	l, err := h.OpenLedger(ctx, c.Ledger, id)
	if err != nil || l == nil {
		return err
	}
	defer l.Close()
	return RegisterNodes(ctx, l, cfg.Volume, cfg.Nodes, cfg.DataShards, nil)
}

// Reshard moves volume c to layout (zero: one remote) on the remotes
// specs, one per node: every file gets a new version in the new layout,
// and the volume then lives on those remotes only. The remotes it leaves
// keep their objects (they can be emptied afterwards). While it runs the
// volume is on the old and the new nodes at once (config.yaml says so too),
// so a reshard stopped halfway goes on when run again with the same
// arguments. It returns the home's new config.
func (h Home) Reshard(ctx context.Context, c Config, id *keyring.Identity, layout shards.Layout, specs []string, progress func(volume.Progress), logf func(string, ...any)) (Config, error) {
	if layout.N() > 0 && layout.N() != len(specs) {
		return c, fmt.Errorf("shards %s need %d remotes; %d given", layout, layout.N(), len(specs))
	}
	if layout.N() == 0 && len(specs) != 1 {
		return c, fmt.Errorf("without --shards the volume moves to one remote; %d given", len(specs))
	}
	for i := range specs {
		var err error
		if specs[i], err = AbsoluteRemote(specs[i]); err != nil {
			return c, err
		}
	}
	union, err := h.reshardStart(ctx, c, id, layout, specs, logf)
	if err != nil {
		return c, err
	}
	c.Remotes = union
	if err := h.Save(c); err != nil {
		return c, err
	}
	// Every file anew, on the old and the new nodes at once.
	o, err := h.Open(ctx, c, id, ReadWrite, OpenOptions{Logf: logf})
	if err != nil {
		return c, err
	}
	done := filepath.Join(h.CacheDir(c.Volume), "reshard-done")
	if _, err := o.Volume.Rewrite(ctx, done, progress); err != nil {
		o.Close(ctx)
		return c, err
	}
	// Whole objects the rewrite did not touch (folders without files) onto
	// every node.
	rep, err := o.Volume.Scrub(ctx, volume.ScrubOptions{Repair: true, Progress: progress})
	if cerr := o.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return c, err
	}
	if len(rep.Unrecoverable) > 0 {
		return c, fmt.Errorf("%s: %s (nothing was moved off the old remotes)", rep.Unrecoverable[0].Path, rep.Unrecoverable[0].Problem)
	}
	// The volume on the new nodes alone.
	store, _, cfg, err := openConfig(ctx, c, logf)
	if err != nil {
		return c, err
	}
	defer store.Close()
	remotes := nodesOf(store)[:len(specs)]
	if layout.N() == 0 {
		cfg.Nodes, cfg.DataShards, cfg.ParityShards = nil, 0, 0
	} else {
		cfg.Nodes = cfg.Nodes[:len(specs)]
	}
	if err := volume.StoreConfig(ctx, cfg, remotes); err != nil {
		return c, fmt.Errorf("writing the config of the new layout: %w (run the reshard again)", err)
	}
	if len(specs) == 1 {
		remotes[0].Delete(ctx, format.NodeName)
	}
	if err := h.recordNodes(ctx, c, id, cfg); err != nil {
		return c, err
	}
	os.Remove(done)
	c.Remotes = specs
	return c, h.Save(c)
}

// reshardStart puts the volume on the old and the new nodes at once, with
// the new layout: the new remotes first, in the order given, then the old
// ones that stay only until the rewrite is done. It returns the remotes of
// that union, in node order.
func (h Home) reshardStart(ctx context.Context, c Config, id *keyring.Identity, layout shards.Layout, specs []string, logf func(string, ...any)) ([]string, error) {
	store, oldSpecs, cfg, err := openConfig(ctx, c, logf)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	if cfg.Format < format.Version {
		return nil, fmt.Errorf("the volume is in format %d: anchorfs upgrade first", cfg.Format)
	}
	old := nodesOf(store)
	oldIDs := cfg.Nodes
	if len(oldIDs) == 0 {
		oldIDs = []string{format.NewID().String()}
	}
	var ids []string
	var remotes []objects.Remote
	var closers []*remote.Store
	defer func() {
		for _, r := range closers {
			r.Close()
		}
	}()
	kept := map[int]bool{} // old nodes that are new nodes too
	for _, spec := range specs {
		if i := slices.Index(oldSpecs, spec); i >= 0 {
			if old[i] == nil {
				return nil, fmt.Errorf("remote %s does not answer", remote.Redact(spec))
			}
			ids, remotes, kept[i] = append(ids, oldIDs[i]), append(remotes, old[i]), true
			continue
		}
		r, err := remote.Open(ctx, spec, remote.Options{ConfigPath: c.RcloneConfig, Logf: logf})
		if err != nil {
			return nil, err
		}
		closers = append(closers, r)
		holds, err := inspect(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("remote %s: %w", r, err)
		}
		switch {
		case holds.marker != nil && holds.marker.Volume == cfg.Volume:
			ids = append(ids, holds.marker.Node) // from a reshard that stopped
		case holds.volume != "" || holds.marker != nil:
			return nil, fmt.Errorf("remote %s holds another volume (%s); give an empty one", r, holds.volume)
		case !holds.empty:
			return nil, fmt.Errorf("remote %s is not empty; give an empty one", r)
		default:
			ids = append(ids, format.NewID().String())
		}
		remotes = append(remotes, r)
	}
	union := slices.Clone(specs)
	for i, spec := range oldSpecs {
		if kept[i] || slices.Contains(ids, oldIDs[i]) {
			continue
		}
		if old[i] == nil {
			return nil, fmt.Errorf("remote %s does not answer: its shards are needed to move the volume", remote.Redact(spec))
		}
		ids, remotes, union = append(ids, oldIDs[i]), append(remotes, old[i]), append(union, spec)
	}
	cfg.Nodes, cfg.DataShards, cfg.ParityShards = ids, layout.K, layout.M
	if err := volume.StoreConfig(ctx, cfg, remotes); err != nil {
		return nil, fmt.Errorf("putting the volume on the new remotes: %w (run the reshard again)", err)
	}
	return union, nil
}
