package home

import (
	"context"
	"fmt"

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
	l, err := h.OpenLedger(ctx, c.Ledger, id)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, errJoinedWithoutLedger
	}
	defer l.Close()
	shares, err := sharing.Join(ctx, l, id, c.Volume)
	if err != nil {
		return nil, err
	}
	return shares, h.Save(c)
}
