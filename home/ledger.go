package home

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/embedded"
	"github.com/anchorfs/anchorfs/network/fabric"
)

// CheckLedgerSpec validates a --ledger value.
func CheckLedgerSpec(spec string) error {
	switch {
	case spec == "none", spec == "embedded", strings.HasPrefix(spec, "embedded:"):
		return nil
	case strings.HasPrefix(spec, "fabric:"):
		return nil
	}
	return fmt.Errorf("--ledger %q: use embedded, embedded:DIR, fabric:PROFILE.yaml or none", spec)
}

// OpenLedger opens the ledger named by spec for identity id; "none" is a
// nil ledger and no error.
func (h Home) OpenLedger(ctx context.Context, spec string, id *keyring.Identity) (network.Ledger, error) {
	if err := CheckLedgerSpec(spec); err != nil {
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
	var signer embedded.Signer
	if id != nil { // nil: a reader of what the ledger tells anyone (its blocks)
		signer = id
	}
	l, err := embedded.Open(h.LedgerDir(spec), signer)
	if err != nil {
		return nil, fmt.Errorf("embedded ledger %s: %w", h.LedgerDir(spec), err)
	}
	return l, nil
}

// LedgerID is the ID a volume's config records for ledger l (nil: none).
func LedgerID(ctx context.Context, l network.Ledger) (string, error) {
	if l == nil {
		return "none", nil
	}
	info, err := l.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("asking the ledger for its id: %w", err)
	}
	return info.ID, nil
}

// AbsoluteLedgerSpec is spec with its folder or profile made absolute, as
// a volume's config keeps it for other homes.
func (h Home) AbsoluteLedgerSpec(spec string) (string, error) {
	switch {
	case spec == "none":
		return spec, nil
	case strings.HasPrefix(spec, "fabric:"):
		p, err := filepath.Abs(strings.TrimPrefix(spec, "fabric:"))
		return "fabric:" + p, err
	}
	p, err := filepath.Abs(h.LedgerDir(spec))
	return "embedded:" + p, err
}

// mayBeLedger refuses, before opening it, an embedded ledger folder that
// holds no ledger at all when the volume names one (opening would make an
// empty ledger there).
func (h Home) mayBeLedger(spec string, vc volume.Config, volumeSpec string) error {
	if !strings.HasPrefix(vc.Ledger, "embedded:") || (spec != "embedded" && !strings.HasPrefix(spec, "embedded:")) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(h.LedgerDir(spec), "ledger.db")); err == nil {
		return nil
	}
	where := ""
	if volumeSpec != "" {
		where = " at " + strings.TrimPrefix(volumeSpec, "embedded:")
	}
	return fmt.Errorf("volume %s anchors on the embedded ledger %s%s; %s holds no ledger: leave --ledger out to take the volume's",
		vc.Volume, vc.Ledger, where, h.LedgerDir(spec))
}
