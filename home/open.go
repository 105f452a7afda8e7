package home

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/sharing"
)

var errJoinedWithoutLedger = errors.New("a joined home needs its ledger")

// Access is how a volume is opened.
type Access int

const (
	// ReadWrite opens the volume to change it: it takes the cache lock.
	ReadWrite Access = iota
	// ReadOnly writes nothing, so it opens beside a running mount.
	ReadOnly
	// Inspect is ReadOnly that opens a remote rolled back too (the volume
	// logs it), to look at or to verify.
	Inspect
)

// OpenOptions shape what Open opens.
type OpenOptions struct {
	// NoAtime keeps access times as they are (volume.Options.NoAtime).
	NoAtime bool
	// Logf receives the remote's and the volume's diagnostics; nil discards them.
	Logf func(string, ...any)
}

// Opened is everything a command needs to work on the volume.
type Opened struct {
	Config   Config
	Identity *keyring.Identity
	Store    Store
	// Ledger is nil for a volume without one (ledger: none).
	Ledger network.Ledger
	Volume *volume.Volume
}

// Close flushes and closes the volume, then the ledger and the remote.
func (o *Opened) Close(ctx context.Context) error {
	var err error
	if o.Volume != nil {
		err = o.Volume.Close(ctx)
	}
	if o.Ledger != nil {
		o.Ledger.Close()
	}
	if o.Store != nil {
		o.Store.Close()
	}
	return err
}

// Open opens the remote, ledger and volume that config c of this home
// names, as identity id: the whole volume for its owner, the folders the
// ledger says are shared with id in a joined home.
func (h Home) Open(ctx context.Context, c Config, id *keyring.Identity, mode Access, opt OpenOptions) (*Opened, error) {
	o := &Opened{Config: c, Identity: id}
	var err error
	if o.Store, _, err = OpenStore(ctx, c, opt.Logf); err != nil {
		return nil, err
	}
	if o.Ledger, err = h.OpenLedger(ctx, c.Ledger, id); err != nil {
		o.Close(ctx)
		return nil, err
	}
	lid, err := LedgerID(ctx, o.Ledger)
	if err != nil {
		o.Close(ctx)
		return nil, err
	}
	host, _ := os.Hostname()
	vopt := volume.Options{StoredAll: c.ShardsStored == "all", CacheDir: h.CacheDir(c.Volume), Ledger: o.Ledger, LedgerID: lid, Actor: id.Public().LedgerID(), Host: host,
		ReadOnly: mode != ReadWrite, AcceptRollback: mode == Inspect, NoAtime: opt.NoAtime, Logf: opt.Logf}
	if o.Ledger != nil {
		vopt.Actor = o.Ledger.Actor()
	}
	if c.Shared {
		// A grantee's home: the folders the ledger says are shared with it.
		var shares []volume.Shared
		if o.Ledger == nil {
			err = errJoinedWithoutLedger
		} else {
			shares, err = sharing.Granted(ctx, o.Ledger, id, c.Volume)
		}
		if err == nil {
			vopt.Shares = func(ctx context.Context) ([]volume.Shared, error) {
				return sharing.GrantsTo(ctx, o.Ledger, id, c.Volume)
			}
			o.Volume, err = volume.OpenShared(ctx, o.Store, shares, vopt)
		}
	} else {
		o.Volume, err = volume.Open(ctx, o.Store, id.UnwrapKey, vopt)
	}
	var other *volume.OtherLedgerError
	if errors.As(err, &other) {
		o.Close(ctx)
		return nil, fmt.Errorf("%s names ledger %s: %w", h.ConfigPath(), c.Ledger, err)
	}
	var rolledBack *volume.RollbackError
	if errors.As(err, &rolledBack) {
		o.Close(ctx)
		return nil, err // it names the volume
	}
	if err != nil {
		o.Close(ctx)
		return nil, fmt.Errorf("opening volume %s: %w", c.Volume, err)
	}
	if o.Volume.ID() != c.Volume {
		o.Close(ctx)
		return nil, fmt.Errorf("the remote holds volume %s, not %s named in %s", o.Volume.ID(), c.Volume, h.ConfigPath())
	}
	return o, nil
}
