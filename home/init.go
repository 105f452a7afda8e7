package home

import (
	"context"
	"errors"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"

	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/remote/shards"
)

// InitOptions shape Init.
type InitOptions struct {
	// LedgerGiven says the config's ledger was asked for: attaching to a
	// volume on another ledger then fails. Without it Init takes the
	// existing volume's own ledger.
	LedgerGiven bool
	// Format is the format of a volume Init creates (0: format.Version).
	Format int
	// Shards is the layout of a volume Init creates on several remotes
	// (zero: one parity shard, the rest data).
	Shards shards.Layout
	// StartingBalance is minted (in micro-tokens) to the owner of a volume
	// Init creates on an embedded ledger the owner operates; with it the
	// ledger gets DefaultPrices if it has none yet.
	StartingBalance int64
	// Logf receives the remote's diagnostics; nil discards them.
	Logf func(string, ...any)
}

// DefaultPrices are an embedded ledger's first prices: 0.02 token per
// GiB-month stored, 0.01 per GiB read.
var DefaultPrices = network.Prices{Storage: wire.Unit / 50, Read: wire.Unit / 100}

// DefaultStartingBalance is what a new volume's owner is given on its own
// embedded ledger: 100 tokens.
const DefaultStartingBalance = 100 * wire.Unit

// Initialized is what Init did.
type Initialized struct {
	// Config is the home's config with the volume and the ledger Init took;
	// its Volume is empty when Init neither attached nor created one.
	Config Config
	// Attached is true when the remote already held a volume this identity
	// opens, false when Init created the volume.
	Attached bool
	// Remote is where the volume is, as the store names itself.
	Remote string
}

// Init makes this home the home of a volume on the remote that c names:
// the volume already there when identity id opens it (a second home of the
// same owner), on the volume's own ledger, or else a new one on c.Ledger.
// It registers the volume on the ledger, then saves c last, so a failed
// Init leaves the home as it was. When registering or saving fails, the
// Initialized returned with the error still says what volume Init attached
// to or created.
func (h Home) Init(ctx context.Context, c Config, id *keyring.Identity, opt InitOptions) (Initialized, error) {
	var r Initialized
	store, specs, err := OpenStore(ctx, c, opt.Logf)
	if err != nil {
		return r, err
	}
	defer store.Close()
	c.Remotes = specs // in node order
	ledger := c.Ledger
	vc, err := volume.ReadConfig(ctx, store)
	attach := err == nil
	switch {
	case attach:
		// A second home of the same owner: attach if this identity opens it,
		// on the volume's own ledger.
		v, err := volume.Open(ctx, store, id.UnwrapKey, volume.Options{ReadOnly: true})
		if err != nil {
			return r, fmt.Errorf("the remote already holds volume %s, which this identity cannot open (%v); to use folders shared with you, use `anchorfs join`", vc.Volume, err)
		}
		v.Close(ctx)
		spec, err := volume.LedgerSpec(ctx, store, id.UnwrapKey)
		if err != nil {
			return r, err
		}
		if !opt.LedgerGiven && spec != "" {
			ledger = spec
		} else if err := h.mayBeLedger(ledger, vc, spec); err != nil {
			return r, err
		}
	case !errors.Is(err, volume.ErrNoVolume):
		return r, err
	}
	l, err := h.OpenLedger(ctx, ledger, id)
	if err != nil {
		return r, fmt.Errorf("opening the ledger: %w", err)
	}
	if l != nil {
		defer l.Close()
	}
	lid, err := LedgerID(ctx, l)
	if err != nil {
		return r, err
	}
	if attach {
		if vc.Ledger != "" && vc.Ledger != lid {
			return r, fmt.Errorf("volume %s anchors on ledger %s, not on %s (--ledger %s); leave --ledger out to take the volume's", vc.Volume, vc.Ledger, lid, ledger)
		}
	} else {
		abs, err := h.AbsoluteLedgerSpec(ledger)
		if err != nil {
			return r, err
		}
		layout := opt.Shards
		if n := len(c.Remotes); n > 1 && layout.N() == 0 {
			layout = shards.Layout{K: n - 1, M: 1}
		}
		if n := len(c.Remotes); layout.N() != 0 && layout.N() != n {
			return r, fmt.Errorf("shards %s need %d remotes; %d given", layout, layout.N(), n)
		}
		if vc, err = volume.Create(ctx, store, id.Wrap, volume.CreateOptions{Ledger: lid, LedgerSpec: abs, Format: opt.Format, Shards: layout}); err != nil {
			return r, fmt.Errorf("creating the volume: %w", err)
		}
	}
	c.Volume, c.Ledger = vc.Volume, ledger
	r = Initialized{Config: c, Attached: attach, Remote: store.String()}
	if l != nil {
		// The ledger learns who owns the volume: only the owner may share it.
		if err := l.Register(ctx, c.Volume); err != nil {
			return r, fmt.Errorf("registering the volume on the ledger: %w", err)
		}
		if len(vc.Nodes) > 0 {
			if err := RegisterNodes(ctx, l, c.Volume, vc.Nodes, dataShards(vc.Shards), nil); err != nil {
				return r, err
			}
		}
		if !attach && opt.StartingBalance > 0 {
			if err := startTokens(ctx, l, opt.StartingBalance); err != nil {
				return r, err
			}
		}
	}
	return r, h.Save(c)
}

// startTokens mints a starting balance to the caller, and sets the default
// prices where none are, on an embedded ledger the caller operates (on any
// other, tokens are the operator's business).
func startTokens(ctx context.Context, l network.Ledger, amount int64) error {
	info, err := l.Info(ctx)
	if err != nil || info.Kind != "embedded" {
		return err
	}
	if op, err := l.Operator(ctx); err != nil || op != l.Actor() {
		return err
	}
	if err := l.Mint(ctx, l.Actor(), amount); err != nil {
		return fmt.Errorf("minting the starting balance: %w", err)
	}
	if p, err := l.Prices(ctx); err != nil || !p.Since.IsZero() {
		return err
	}
	if err := l.SetPrices(ctx, DefaultPrices); err != nil {
		return fmt.Errorf("setting the default prices: %w", err)
	}
	return nil
}

// dataShards is the K of a layout written "K+M" (0 for none).
func dataShards(layout string) int {
	l, err := shards.Parse(layout)
	if err != nil {
		return 0
	}
	return l.K
}

// RegisterNodes records the volume's storage nodes on the ledger, in
// order, with the layout's data shards (0: whole copies), keeping each
// one's payee (payees by node id; nodes the ledger already has keep theirs
// unless given).
func RegisterNodes(ctx context.Context, l network.Ledger, vol string, ids []string, dataShards int, payees map[string]string) error {
	known := map[string]string{}
	if have, err := l.Nodes(ctx, vol); err == nil {
		for _, n := range have {
			known[n.ID] = n.Payee
		}
	}
	nodes := make([]network.Node, len(ids))
	for j, id := range ids {
		payee, ok := payees[id]
		if !ok {
			payee = known[id]
		}
		nodes[j] = network.Node{ID: id, Position: j + 1, Payee: payee, DataShards: dataShards}
	}
	if err := l.SetNodes(ctx, vol, nodes); err != nil {
		return fmt.Errorf("recording the storage nodes on the ledger: %w", err)
	}
	return nil
}
