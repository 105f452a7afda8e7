package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/fs/volume"
)

func newInitCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "init --remote SPEC",
		Short: "Create an identity (if none) and a volume on a remote",
		Long: `init creates this home's identity when it has none, then a new, empty volume on the
remote. SPEC is rclone syntax: a local path, name:path from rclone.conf, or a connection
string such as :sftp,host=h,user=u:dir. If the remote already holds a volume this identity
can open (a second home with the same keyring), init attaches this home to it.

The ledger is embedded (HOME/ledger) unless --ledger says otherwise: embedded:DIR for a
ledger several homes on this machine share, or fabric:PROFILE.yaml for a Fabric network.
config.yaml is written last: a failed init leaves the home as it was.`,
		Example: `  anchorfs init --remote /srv/vault
  anchorfs init --remote s3:bucket/vault --ledger embedded:/srv/ledger
  ANCHORFS_PASSPHRASE= anchorfs init --remote :sftp,host=nas,user=me:vault`,
		RunE: runInit,
	}
	c.Flags().StringArray("remote", nil, "remote to store ciphertext on (rclone syntax); repeat for several")
	c.Flags().String("ledger", "embedded", "embedded, embedded:DIR, fabric:PROFILE.yaml, or none (no anchoring)")
	c.Flags().String("rclone-config", "", "rclone.conf for named remotes (default: rclone's own lookup)")
	return c
}

// mayBeLedger refuses, before opening it, an embedded ledger folder that
// holds no ledger at all when the volume names one (opening would make an
// empty ledger there).
func (s *settings) mayBeLedger(spec string, vc volume.Config, volumeSpec string) error {
	if !strings.HasPrefix(vc.Ledger, "embedded:") || (spec != "embedded" && !strings.HasPrefix(spec, "embedded:")) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(s.ledgerDir(spec), "ledger.db")); err == nil {
		return nil
	}
	where := ""
	if volumeSpec != "" {
		where = " at " + strings.TrimPrefix(volumeSpec, "embedded:")
	}
	return fmt.Errorf("volume %s anchors on the embedded ledger %s%s; %s holds no ledger: leave --ledger out to take the volume's",
		vc.Volume, vc.Ledger, where, s.ledgerDir(spec))
}

func runInit(cmd *cobra.Command, args []string) error {
	s, err := loadSettings(cmd)
	if err != nil {
		return err
	}
	if existing := s.v.GetString("volume"); existing != "" {
		return fmt.Errorf("%s already has volume %s; use another --home for another volume", s.home, existing)
	}
	remotes, _ := cmd.Flags().GetStringArray("remote")
	if len(remotes) == 0 {
		return usageError{errors.New("init needs --remote SPEC")}
	}
	if len(remotes) > 1 {
		return errSeveralRemotes
	}
	ledger := s.v.GetString("ledger")
	if err := checkLedgerSpec(ledger); err != nil {
		return usageError{err}
	}
	ledgerGiven := s.v.IsSet("ledger")
	for i, r := range remotes {
		if remotes[i], err = absoluteRemote(r); err != nil {
			return err
		}
	}
	cfg := Config{Remotes: remotes, RcloneConfig: s.v.GetString("rclone-config"), Ledger: ledger}
	ctx := context.Background()
	logf := stderrLogf(false)

	id, created, err := s.ensureIdentity(os.Stderr)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(cmd.OutOrStdout(), "created identity in %s\n", s.keyringDir())
	}
	store, err := openStore(ctx, cfg, logf)
	if err != nil {
		return err
	}
	defer store.Close()
	vc, err := volume.ReadConfig(ctx, store)
	attach := err == nil
	switch {
	case attach:
		// A second home of the same owner: attach if this identity opens it,
		// on the volume's own ledger.
		v, err := volume.Open(ctx, store, id.UnwrapKey, volume.Options{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("the remote already holds volume %s, which this identity cannot open (%v); to use folders shared with you, use `anchorfs join`", vc.Volume, err)
		}
		v.Close(ctx)
		spec, err := volume.LedgerSpec(ctx, store, id.UnwrapKey)
		if err != nil {
			return err
		}
		if !ledgerGiven && spec != "" {
			ledger = spec
		} else if err := s.mayBeLedger(ledger, vc, spec); err != nil {
			return err
		}
	case !errors.Is(err, volume.ErrNoVolume):
		return err
	}
	l, err := s.openLedger(ctx, ledger, id)
	if err != nil {
		return fmt.Errorf("opening the ledger: %w", err)
	}
	if l != nil {
		defer l.Close()
	}
	lid, err := ledgerID(ctx, l)
	if err != nil {
		return err
	}
	if attach {
		if vc.Ledger != "" && vc.Ledger != lid {
			return fmt.Errorf("volume %s anchors on ledger %s, not on %s (--ledger %s); leave --ledger out to take the volume's", vc.Volume, vc.Ledger, lid, ledger)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "attached to existing volume %s (ledger %s)\n", vc.Volume, ledger)
	} else {
		abs, err := s.absoluteLedgerSpec(ledger)
		if err != nil {
			return err
		}
		if vc, err = volume.Create(ctx, store, id.Wrap, volume.CreateOptions{Ledger: lid, LedgerSpec: abs}); err != nil {
			return fmt.Errorf("creating the volume: %w", err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created volume %s on %s\n", vc.Volume, store)
	}
	cfg.Volume, cfg.Ledger = vc.Volume, ledger
	if l != nil {
		// The ledger learns who owns the volume: only the owner may share it.
		if err := l.Register(ctx, cfg.Volume); err != nil {
			return fmt.Errorf("registering the volume on the ledger: %w", err)
		}
	}
	if err := s.saveConfig(cfg); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "home %s is ready: anchorfs mount MOUNTPOINT\n", s.home)
	return nil
}
