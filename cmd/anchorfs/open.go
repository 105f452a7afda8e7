package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/remote"
	"github.com/anchorfs/anchorfs/sharing"
)

// absoluteRemote makes a local-path spec absolute, so the volume can be
// reached from any working folder later; rclone specs with a colon stay.
func absoluteRemote(spec string) (string, error) {
	if strings.Contains(spec, ":") {
		return spec, nil
	}
	return filepath.Abs(spec)
}

// openStore opens the volume's remote.
func openStore(ctx context.Context, c Config, logf func(string, ...any)) (*remote.Store, error) {
	if len(c.Remotes) > 1 {
		return nil, errSeveralRemotes
	}
	return remote.Open(ctx, c.Remotes[0], remote.Options{ConfigPath: c.RcloneConfig, Logf: logf})
}

var errSeveralRemotes = fmt.Errorf("erasure coding across several remotes is not supported yet: give one --remote")

// ledgerDir is where an embedded ledger lives: HOME/ledger, or the folder
// named by "embedded:DIR".
func (s *settings) ledgerDir(spec string) string {
	if dir, ok := strings.CutPrefix(spec, "embedded:"); ok && dir != "" {
		return dir
	}
	return filepath.Join(s.home, "ledger")
}

// checkLedgerSpec validates a --ledger value.
func checkLedgerSpec(spec string) error {
	switch {
	case spec == "none", spec == "embedded", strings.HasPrefix(spec, "embedded:"):
		return nil
	case strings.HasPrefix(spec, "fabric:"):
		return nil
	}
	return fmt.Errorf("--ledger %q: use embedded, embedded:DIR, fabric:PROFILE.yaml or none", spec)
}

// opened is everything a command needs to work on the volume.
type opened struct {
	cfg    Config
	id     *keyring.Identity
	store  *remote.Store
	ledger network.Ledger
	vol    *volume.Volume
}

func (o *opened) close(ctx context.Context) error {
	var err error
	if o.vol != nil {
		err = o.vol.Close(ctx)
	}
	if o.ledger != nil {
		o.ledger.Close()
	}
	if o.store != nil {
		o.store.Close()
	}
	return err
}

// access is how a command opens a volume.
type access int

const (
	readWrite access = iota
	readOnly
	// inspect is readOnly that opens a remote rolled back too (the volume
	// logs it), to look at or to verify.
	inspect
)

// openVolume opens identity, remote, ledger and volume.
func (s *settings) openVolume(ctx context.Context, mode access, logf func(string, ...any)) (*opened, error) {
	c, err := s.config()
	if err != nil {
		return nil, err
	}
	o := &opened{cfg: c}
	if o.id, err = s.loadIdentity(); err != nil {
		return nil, err
	}
	if o.store, err = openStore(ctx, c, logf); err != nil {
		return nil, err
	}
	if o.ledger, err = s.openLedger(ctx, c.Ledger, o.id); err != nil {
		o.close(ctx)
		return nil, err
	}
	lid, err := ledgerID(ctx, o.ledger)
	if err != nil {
		o.close(ctx)
		return nil, err
	}
	host, _ := os.Hostname()
	opt := volume.Options{CacheDir: s.cacheDir(c.Volume), Ledger: o.ledger, LedgerID: lid, Actor: o.id.Public().LedgerID(), Host: host,
		ReadOnly: mode != readWrite, AcceptRollback: mode == inspect, NoAtime: s.v.GetBool("noatime"), Logf: logf}
	if o.ledger != nil {
		opt.Actor = o.ledger.Actor()
	}
	if c.Shared {
		// A grantee's home: the folders the ledger says are shared with it.
		var shares []volume.Shared
		if o.ledger == nil {
			err = errors.New("a joined home needs its ledger")
		} else {
			shares, err = sharing.Granted(ctx, o.ledger, o.id, c.Volume)
		}
		if err == nil {
			opt.Shares = func(ctx context.Context) ([]volume.Shared, error) {
				return sharing.GrantsTo(ctx, o.ledger, o.id, c.Volume)
			}
			o.vol, err = volume.OpenShared(ctx, o.store, shares, opt)
		}
	} else {
		o.vol, err = volume.Open(ctx, o.store, o.id.UnwrapKey, opt)
	}
	var other *volume.OtherLedgerError
	if errors.As(err, &other) {
		o.close(ctx)
		return nil, fmt.Errorf("%s names ledger %s: %w", s.configPath(), c.Ledger, err)
	}
	var rolledBack *volume.RollbackError
	if errors.As(err, &rolledBack) {
		o.close(ctx)
		return nil, err // it names the volume
	}
	if err != nil {
		o.close(ctx)
		return nil, fmt.Errorf("opening volume %s: %w", c.Volume, err)
	}
	if o.vol.ID() != c.Volume {
		o.close(ctx)
		return nil, fmt.Errorf("the remote holds volume %s, not %s named in %s", o.vol.ID(), c.Volume, s.configPath())
	}
	return o, nil
}
