package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/fs/anchoring"
	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/home"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/remote"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func newSyncCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "sync",
		Short: "Wait until everything written is on the remote and anchored",
		Long: `sync returns once every file version written so far is on the remote and committed on
the ledger. It asks the running mount of this home; with no mount running it opens the
volume itself and finishes what an earlier mount left (pending anchors). Progress shows on
a terminal. With --timeout, a sync not done by then exits 1 saying what is still queued
and why (the remote's last error); what is queued stays queued and goes later.`,
		Example: `  cp -r ~/photos ~/Vault/ && anchorfs sync
  anchorfs sync --timeout 5m --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadVolumeSettings(cmd)
			if err != nil {
				return err
			}
			var req syncRequest
			req.Timeout, _ = cmd.Flags().GetDuration("timeout")
			var res syncResult
			if err := runVolumeOp(s, "sync", req, &res); err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			return nil
		},
	}
	c.Flags().Duration("timeout", 0, "give up after this long (30s, 5m), saying what is still queued; 0 waits as long as it takes")
	c.Flags().Bool("json", false, "print what the sync uploaded and anchored, and what is pending, as JSON")
	return c
}

// onVolume runs a long operation, with its progress on a terminal: by the
// running mount of this home (the control socket's path), or, with none
// running, on the volume opened here (local). From a mount it returns the
// mount's last word.
func onVolume(s *settings, path string, local func(ctx context.Context, v *volume.Volume, progress func(volume.Progress)) error) (*streamLine, error) {
	bar := newProgressBar()
	defer bar.done()
	if c := dialMount(s); c != nil {
		if ownerActions[strings.TrimPrefix(path, "/")] {
			var err error
			if c.passphrase, err = s.passphrase(); err != nil {
				return nil, err
			}
		}
		last, err := c.call(path, func(l streamLine) {
			if l.Progress != nil {
				bar.update(*l.Progress)
			}
		})
		return &last, err
	}
	ctx := context.Background()
	o, err := s.openVolume(ctx, home.ReadWrite, stderrLogf(false))
	if err != nil {
		return nil, err
	}
	err = local(ctx, o.Volume, bar.update)
	if cerr := o.Close(ctx); err == nil {
		err = cerr
	}
	return nil, err
}

func newInfoCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "info",
		Short: "Show the volume, its remotes, ledger, identity and pending work",
		Example: `  anchorfs info
  anchorfs info --json | jq .pending`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			cfg, err := s.config()
			if err != nil {
				return err
			}
			out := struct {
				Volume     string       `json:"volume"`
				Remotes    []string     `json:"remotes"`
				Ledger     string       `json:"ledger"`
				Identity   string       `json:"identity"`
				Role       string       `json:"role"` // owner, or grantee for a joined home
				Mountpoint string       `json:"mountpoint"`
				Pending    volume.Stats `json:"pending"`
				// Space is what df shows on the mount, and where it comes from.
				Space *volume.Space `json:"space,omitempty"`
			}{Volume: cfg.Volume, Ledger: cfg.Ledger, Remotes: []string{}, Role: "owner"}
			if cfg.Shared {
				out.Role = "grantee"
			}
			for _, r := range cfg.Remotes {
				out.Remotes = append(out.Remotes, remote.Redact(r))
			}
			if b, err := os.ReadFile(s.home.KeyringDir() + "/identity.pub"); err == nil {
				out.Identity = string(trimNewline(b))
			}
			if c := dialMount(s); c != nil {
				if r, err := c.info(); err == nil {
					out.Mountpoint, out.Pending, out.Space = r.Mountpoint, r.Pending, r.Space
				}
			} else {
				out.Pending.PendingAnchors = anchoring.Pending(s.home.CacheDir(cfg.Volume))
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "volume:     %s\n", out.Volume)
			for _, r := range out.Remotes {
				fmt.Fprintf(w, "remote:     %s\n", r)
			}
			fmt.Fprintf(w, "ledger:     %s\n", out.Ledger)
			fmt.Fprintf(w, "identity:   %s\n", out.Identity)
			fmt.Fprintf(w, "role:       %s\n", out.Role)
			mp := out.Mountpoint
			if mp == "" {
				mp = "(not mounted)"
			}
			fmt.Fprintf(w, "mountpoint: %s\n", mp)
			fmt.Fprintf(w, "pending:    %d uploads (%d bytes), %d anchors\n", out.Pending.PendingUploads, out.Pending.PendingBytes, out.Pending.PendingAnchors)
			if sp := out.Space; sp != nil {
				fmt.Fprintf(w, "space:      %s, %s free of %s (what df shows on the mount)\n", sp.Source, humanBytes(sp.Free), humanBytes(sp.Total))
			}
			return nil
		},
	}
	c.Flags().Bool("json", false, "print JSON")
	return c
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func newIdentityCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "identity",
		Short: "Print your public identity (creating it on first use)",
		Long: `identity prints this home's public identity: the one line to give to someone who wants
to share a folder with you, and before it the ledger id the home's ledger knows you by (what
audit, usage, balance and grants show; on Fabric, that of the home's Fabric certificate). In a
home without an identity it creates one first (asking for a passphrase on a terminal, or
taking --passphrase-file / ANCHORFS_PASSPHRASE); otherwise it needs no passphrase. The
identity is always the last line of the output.`,
		Example: `  anchorfs identity
  ANCHORFS_HOME=/tmp/bob anchorfs identity | tail -1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			pub, err := keyring.LoadPublic(s.home.KeyringDir())
			if errors.Is(err, keyring.ErrNoIdentity) {
				id, _, err := s.ensureIdentity(os.Stderr)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created identity in %s\n", s.home.KeyringDir())
				pub = id.Public()
			} else if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					Identity string `json:"identity"`
					LedgerID string `json:"ledgerId"`
				}{pub.String(), s.ledgerIDOf(pub)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ledger id: %s\n", s.ledgerIDOf(pub))
			fmt.Fprintln(cmd.OutOrStdout(), pub.String())
			return nil
		},
	}
	c.Flags().Bool("json", false, "print the identity and ledger id as JSON")
	c.AddCommand(newIdentityExportCmd(), newIdentityImportCmd())
	return c
}

func newVerifyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "verify [PATH]",
		Short: "Check every object below PATH against its hashes and the ledger",
		Long: `verify fetches every folder object, manifest and chunk below PATH (the whole volume by
default) from the remote, checks its hash and authentication, and compares each file's
version with the one anchored on the ledger, and the remote's heads (the tree as a whole,
and each shared folder's) with the newest ones anchored: a remote that serves an earlier
state of the tree (rolled back) is a problem too. It prints one line per problem, naming
the path, and exits 1 if it found any. A running mount of this home does the work itself.`,
		Example: `  anchorfs verify
  anchorfs verify /projects/acme --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadVolumeSettings(cmd)
			if err != nil {
				return err
			}
			path := "/"
			if len(args) == 1 {
				path = s.volumePath(args[0])
			}
			bar := newProgressBar()
			var findings []volume.Finding
			if c := dialMount(s); c != nil {
				_, err = c.call("/verify?path="+url.QueryEscape(path), func(l streamLine) {
					if l.Progress != nil {
						bar.update(*l.Progress)
					}
					if l.Finding != nil {
						findings = append(findings, *l.Finding)
					}
				})
			} else {
				ctx := context.Background()
				var o *home.Opened
				// A remote rolled back opens, to be reported as a finding.
				if o, err = s.openVolume(ctx, home.Inspect, stderrLogf(false)); err != nil {
					bar.done()
					return err
				}
				findings, err = o.Volume.Verify(ctx, path, bar.update)
				o.Close(ctx)
			}
			bar.done()
			if err != nil {
				return err
			}
			asJSON, _ := cmd.Flags().GetBool("json")
			w := cmd.OutOrStdout()
			if asJSON {
				if findings == nil {
					findings = []volume.Finding{}
				}
				json.NewEncoder(w).Encode(map[string]any{"path": path, "findings": findings})
			} else {
				for _, f := range findings {
					fmt.Fprintf(w, "%s: %s\n", f.Path, f.Problem)
				}
			}
			if len(findings) > 0 {
				if !asJSON {
					fmt.Fprintf(os.Stderr, "anchorfs: verify found %d problems\n", len(findings))
				}
				return findingsError{len(findings)}
			}
			if !asJSON {
				fmt.Fprintf(w, "%s: everything verified\n", path)
			}
			return nil
		},
	}
	c.Flags().Bool("json", false, "print JSON")
	return c
}

func newUpgradeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "upgrade",
		Short: "Move the volume to the newest on-remote format",
		Long: `upgrade moves a volume made by an older anchorfs to the newest on-remote format
(docs/FORMAT.md). The config says so first: from then on builds that read only the older
format refuse the volume instead of meeting objects they cannot read, and every new file
version is written in the new format. Then each file whose current version is in the older
layout gets a new version with every chunk sealed anew (anchored like any other version;
the older versions stay until gc removes them). Files done already are skipped: an upgrade
stopped halfway (Ctrl-C, a crash, a remote gone) goes on where it was when run again.

With the volume mounted, the mount does the work while it goes on serving files; without, the
command opens the volume itself. Only the owner's home can upgrade (it holds every folder's
keys). A volume in the newest format already has nothing to do.`,
		Example: `  anchorfs upgrade
  anchorfs upgrade --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadVolumeSettings(cmd)
			if err != nil {
				return err
			}
			var res volume.UpgradeResult
			last, err := onVolume(s, "/upgrade", func(ctx context.Context, v *volume.Volume, progress func(volume.Progress)) error {
				var err error
				res, err = v.Upgrade(ctx, progress)
				return err
			})
			if last != nil && last.Upgraded != nil {
				res = *last.Upgraded
			}
			if err != nil {
				return err
			}
			if s.v.GetBool("json") {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "volume format %d -> %d: %d files rewritten, %d already in format %d\n",
				res.From, res.To, res.Files, res.Skipped, res.To)
			return nil
		},
	}
	c.Flags().Bool("json", false, "print JSON")
	return c
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of anchorfs and of its on-remote format",
		Example: `  anchorfs version`,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return nil
		},
	}
}

// versionLine is what `anchorfs version` and `anchorfs --version` print.
func versionLine() string {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return fmt.Sprintf("anchorfs %s (format %d, %s, %s/%s)", v, format.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
