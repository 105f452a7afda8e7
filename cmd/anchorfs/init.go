package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"os"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/home"
	"github.com/anchorfs/anchorfs/remote/shards"
)

func newInitCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "init --remote SPEC [--remote SPEC]... [--shards K+M]",
		Short: "Create an identity (if none) and a volume on a remote, or across several",
		Long: `init creates this home's identity when it has none, then a new, empty volume on the
remote. SPEC is rclone syntax: a local path, name:path from rclone.conf, or a connection
string such as :sftp,host=h,user=u:dir. If the remote already holds a volume this identity
can open (a second home with the same keyring), init attaches this home to it.

With several remotes each is a storage node: every chunk is cut into K data and M parity
shards (--shards K+M, K+M the number of remotes; default one parity shard), one per remote,
and any K of them read it back; metadata goes whole to every remote. A write counts as
stored once K+1 remotes have it (K when M is 1, so that one remote down does not stop
writes); a remote that is down or slow gets the rest later, from local disk; shards_stored: all in
config.yaml waits for every remote.

The ledger is embedded (HOME/ledger) unless --ledger says otherwise: embedded:DIR for a
ledger several homes on this machine share, or fabric:PROFILE.yaml for a Fabric network.
config.yaml is written last: a failed init leaves the home as it was.`,
		Example: `  anchorfs init --remote /srv/vault
  anchorfs init --remote s3:bucket/vault --ledger embedded:/srv/ledger
  ANCHORFS_PASSPHRASE= anchorfs init --remote :sftp,host=nas,user=me:vault
  anchorfs init --remote s3:bucket/v --remote gdrive:v --remote /mnt/nas/v --shards 2+1`,
		RunE: runInit,
	}
	c.Flags().StringArray("remote", nil, "remote to store ciphertext on (rclone syntax); repeat for several")
	c.Flags().String("ledger", "embedded", "embedded, embedded:DIR, fabric:PROFILE.yaml, or none (no anchoring)")
	c.Flags().String("shards", "", "with several remotes, K+M: each chunk cut into K data and M parity shards, one per remote, read back from any K (default: one parity shard)")
	c.Flags().String("starting-balance", wire.FormatTokens(home.DefaultStartingBalance), "tokens minted to you for a volume on a new embedded ledger you create (it gets the default prices: 0.02 per GiB-month, 0.01 per GiB read)")
	c.Flags().String("rclone-config", "", "rclone.conf for named remotes (default: rclone's own lookup)")
	c.Flags().Int("format", format.Version, fmt.Sprintf("on-remote format of a new volume: %d, or %d for one older builds open (anchorfs upgrade moves it on)", format.Version, format.Version1))
	return c
}

func runInit(cmd *cobra.Command, args []string) error {
	s, err := loadSettings(cmd)
	if err != nil {
		return err
	}
	if existing := s.v.GetString("volume"); existing != "" {
		return fmt.Errorf("%s already has volume %s; use another --home for another volume", s.home.Dir, existing)
	}
	remotes, _ := cmd.Flags().GetStringArray("remote")
	if len(remotes) == 0 {
		return usageError{errors.New("init needs --remote SPEC")}
	}
	var layout shards.Layout
	if spec, _ := cmd.Flags().GetString("shards"); spec != "" {
		if layout, err = shards.Parse(spec); err != nil {
			return usageError{err}
		}
		if layout.N() != len(remotes) {
			return usageError{fmt.Errorf("--shards %s puts one shard on each of %d remotes; %d --remote given", layout, layout.N(), len(remotes))}
		}
	}
	ledger := s.v.GetString("ledger")
	if err := home.CheckLedgerSpec(ledger); err != nil {
		return usageError{err}
	}
	volumeFormat, _ := cmd.Flags().GetInt("format")
	if volumeFormat != format.Version && volumeFormat != format.Version1 {
		return usageError{fmt.Errorf("--format %d: this build writes formats %d and %d", volumeFormat, format.Version1, format.Version)}
	}
	if len(remotes) > 1 && volumeFormat != format.Version {
		return usageError{fmt.Errorf("several remotes need format %d", format.Version)}
	}
	if remotes, err = absoluteRemotes(remotes); err != nil {
		return err
	}
	cfg := home.Config{Remotes: remotes, RcloneConfig: s.v.GetString("rclone-config"), Ledger: ledger}
	id, created, err := s.ensureIdentity(os.Stderr)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(cmd.OutOrStdout(), "created identity in %s\n", s.home.KeyringDir())
	}
	starting, err := wire.ParseTokens(s.v.GetString("starting-balance"))
	if err != nil || starting < 0 {
		return usageError{fmt.Errorf("--starting-balance %q: an amount of tokens, such as 100", s.v.GetString("starting-balance"))}
	}
	r, err := s.home.Init(context.Background(), cfg, id, home.InitOptions{LedgerGiven: s.v.IsSet("ledger"), Format: volumeFormat, Shards: layout,
		StartingBalance: starting, Logf: stderrLogf(false)})
	switch {
	case r.Config.Volume == "": // it failed before attaching or creating
	case r.Attached:
		fmt.Fprintf(cmd.OutOrStdout(), "attached to existing volume %s (ledger %s)\n", r.Config.Volume, r.Config.Ledger)
	default:
		fmt.Fprintf(cmd.OutOrStdout(), "created volume %s on %s\n", r.Config.Volume, r.Remote)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "home %s is ready: anchorfs mount MOUNTPOINT\n", s.home.Dir)
	return nil
}

// absoluteRemotes makes each local-path remote absolute (home.AbsoluteRemote).
func absoluteRemotes(specs []string) ([]string, error) {
	for i, r := range specs {
		var err error
		if specs[i], err = home.AbsoluteRemote(r); err != nil {
			return nil, err
		}
	}
	return specs, nil
}
