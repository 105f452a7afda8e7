package main

import (
	"context"
	"fmt"
	"path/filepath"
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

// ledgerID is the ID a volume's config records for ledger l (nil: none).
func ledgerID(ctx context.Context, l network.Ledger) (string, error) {
	if l == nil {
		return "none", nil
	}
	info, err := l.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("asking the ledger for its id: %w", err)
	}
	return info.ID, nil
}

// absoluteLedgerSpec is spec with its folder or profile made absolute, as
// a volume's config keeps it for other homes.
func (s *settings) absoluteLedgerSpec(spec string) (string, error) {
	switch {
	case spec == "none":
		return spec, nil
	case strings.HasPrefix(spec, "fabric:"):
		p, err := filepath.Abs(strings.TrimPrefix(spec, "fabric:"))
		return "fabric:" + p, err
	}
	p, err := filepath.Abs(s.ledgerDir(spec))
	return "embedded:" + p, err
}
