package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/embedded"
	"github.com/anchorfs/anchorfs/network/fabric"
)

// openLedger opens the ledger named by spec for identity id.
func (s *settings) openLedger(ctx context.Context, spec string, id *keyring.Identity) (network.Ledger, error) {
	if err := checkLedgerSpec(spec); err != nil {
		return nil, err
	}
	if spec == "none" {
		return nil, nil // encryption only: no anchoring, no ledger checks
	}
	if profile, ok := strings.CutPrefix(spec, "fabric:"); ok {
		l, err := fabric.Open(profile)
		if err != nil {
			return nil, fmt.Errorf("Fabric ledger: %w", err)
		}
		return l, nil
	}
	l, err := embedded.Open(s.ledgerDir(spec), id)
	if err != nil {
		return nil, fmt.Errorf("embedded ledger %s: %w", s.ledgerDir(spec), err)
	}
	return l, nil
}
