package home

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/sharing"
)

// Join makes this home a grantee's home of volume c.Volume, whose folders
// were shared with identity id: it checks that the remote holds that
// volume, proves id to the ledger (sharing.Join, recorded as a join), and
// saves c, marked Shared. It returns the folders shared with id.
func (h Home) Join(ctx context.Context, c Config, id *keyring.Identity, logf func(string, ...any)) ([]volume.Shared, error) {
	c.Shared = true
	store, specs, err := OpenStore(ctx, c, logf)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	c.Remotes = specs // in node order
	vc, err := volume.ReadConfig(ctx, store)
	if err != nil {
		return nil, err
	}
	if vc.Volume != c.Volume {
		return nil, fmt.Errorf("the remote holds volume %s, not %s", vc.Volume, c.Volume)
	}
	// The volume's config names its ledger by id: another ledger (a new
	// empty one, by default) is refused, never made.
	hint := fmt.Sprintf("volume %s anchors on ledger %s: give the owner's with --ledger embedded:DIR (the folder the owner's ledger is in) or fabric:PROFILE.yaml", c.Volume, vc.Ledger)
	if c.Ledger == "none" {
		return nil, errJoinedWithoutLedger
	}
	if !strings.HasPrefix(c.Ledger, "fabric:") {
		if _, err := os.Stat(filepath.Join(h.LedgerDir(c.Ledger), "ledger.db")); err != nil {
			return nil, fmt.Errorf("no embedded ledger in %s; %s", h.LedgerDir(c.Ledger), hint)
		}
	}
	l, err := h.OpenLedger(ctx, c.Ledger, id)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if vc.Ledger != "" {
		got, err := LedgerID(ctx, l)
		if err != nil {
			return nil, err
		}
		if got != vc.Ledger {
			return nil, fmt.Errorf("ledger %s (%s) is not the volume's; %s", c.Ledger, got, hint)
		}
	}
	shares, err := sharing.Join(ctx, l, id, c.Volume)
	if err != nil {
		return nil, err
	}
	return shares, h.Save(c)
}
