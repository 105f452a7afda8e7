package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/home"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/sharing"
)

func newShareCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "share PATH IDENTITY",
		Short: "Share a folder with another person's identity",
		Long: `share gives the person whose identity (as ` + "`anchorfs identity`" + ` prints it) is IDENTITY access to the
folder PATH of the volume and everything in it, now and later. The first share of a folder
makes it a shared folder: everything in it is re-encrypted under the folder's own key, which
is then wrapped for the grantee and recorded with the grant on the ledger. The grantee attaches
with ` + "`anchorfs join`" + ` and mounts just the folders shared with them.

Shared folders cannot nest, and hold no hard links. Only the volume's owner can share.`,
		Example: `  anchorfs share /projects/acme anchorfs1.age1...
  anchorfs share /finance anchorfs1.age1... --read-only`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ro, _ := cmd.Flags().GetBool("read-only")
			return runPolicyOp(cmd, policyRequest{Op: "share", Path: args[0], Identity: args[1], ReadOnly: ro})
		},
	}
	c.Flags().Bool("read-only", false, "the grantee may read but not write")
	c.Flags().Bool("json", false, "print what was done as JSON")
	return c
}

func newRevokeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "revoke PATH IDENTITY",
		Short: "Revoke a grant and rotate the folder's key",
		Long: `revoke records on the ledger that IDENTITY no longer has access to the shared folder PATH,
from which moment the chaincode refuses its writes, and starts a new key for the folder:
everything written from now on is encrypted under a key the revoked identity never sees.
The remaining grantees receive the new key through their grants.

What the revoked identity could read before stays readable to it where it kept copies, or
kept the old keys and still reaches the remote: --rekey re-encrypts everything already in the
folder under the new key as well (each file gets a new version).`,
		Example: `  anchorfs revoke /projects/acme anchorfs1.age1...
  anchorfs revoke /projects/acme anchorfs1.age1... --rekey`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rekey, _ := cmd.Flags().GetBool("rekey")
			return runPolicyOp(cmd, policyRequest{Op: "revoke", Path: args[0], Identity: args[1], Rekey: rekey})
		},
	}
	c.Flags().Bool("rekey", false, "re-encrypt what the folder already holds under the new key")
	c.Flags().Bool("json", false, "print what was done as JSON")
	return c
}

// policyRequest is a share or revoke, done by the process that holds the
// volume (the running mount, or this one).
type policyRequest struct {
	Op       string `json:"op"`
	Path     string `json:"path"`
	Identity string `json:"identity"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	Rekey    bool   `json:"rekey,omitempty"`
}

func runPolicyOp(cmd *cobra.Command, req policyRequest) error {
	s, err := loadSettings(cmd)
	if err != nil {
		return err
	}
	c, err := s.config()
	if err != nil {
		return err
	}
	if c.Shared {
		return errors.New("this home joined folders shared with you: only the volume's owner can share or revoke")
	}
	req.Path = s.volumePath(req.Path)
	if c.Ledger == "none" {
		return errors.New("sharing needs a ledger, and this volume has none (--ledger none at init)")
	}
	if _, err := keyring.ParsePublic(req.Identity); err != nil {
		return usageError{err}
	}
	req.Path = path.Clean("/" + req.Path)
	var msg string
	if err := runVolumeOp(s, "policy", req, &msg); err != nil {
		return err
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return writeJSON(cmd.OutOrStdout(), struct {
			Op       string `json:"op"`
			Path     string `json:"path"`
			Identity string `json:"identity"`
			ReadOnly bool   `json:"readOnly,omitempty"`
			Message  string `json:"message"`
		}{req.Op, req.Path, req.Identity, req.ReadOnly, msg})
	}
	fmt.Fprintln(cmd.OutOrStdout(), msg)
	return nil
}

// policyOp shares or revokes on the open volume and says what it did.
func policyOp(ctx context.Context, o *home.Opened, req policyRequest, progress func(volume.Progress)) (string, error) {
	grantee, err := keyring.ParsePublic(req.Identity)
	if err != nil {
		return "", err
	}
	if o.Ledger == nil {
		return "", errors.New("sharing needs a ledger")
	}
	owner := sharing.Owner{Volume: o.Volume, Ledger: o.Ledger, Me: o.Identity}
	switch req.Op {
	case "share":
		rights := "rw"
		if req.ReadOnly {
			rights = "ro"
		}
		before := ""
		if gs, err := o.Ledger.Grants(ctx, o.Volume.ID(), ""); err == nil {
			for _, g := range gs {
				if p, err := o.Identity.OpenText(g.Path); err == nil && p == req.Path && g.GranteeID == grantee.KeyID() && !g.Revoked {
					before = g.Rights
				}
			}
		}
		if _, err := owner.Share(ctx, req.Path, grantee, req.ReadOnly, progress); err != nil {
			return "", err
		}
		switch {
		case before == rights:
			return fmt.Sprintf("%s already had %s on %s: granted again (the earlier grant is in grants --all)", grantee.KeyID(), rightsName(rights), req.Path), nil
		case before != "":
			return fmt.Sprintf("changed %s on %s from %s to %s (the earlier grant is in grants --all)", grantee.KeyID(), req.Path, rightsName(before), rightsName(rights)), nil
		}
		ledger := o.Config.Ledger
		if strings.HasPrefix(ledger, "fabric:") {
			ledger = "fabric:THEIR-PROFILE.yaml" // a grantee reaches the network as a user of its own organisation
		}
		return fmt.Sprintf("shared %s with %s (%s); they attach with:\n  anchorfs join --volume %s --remote %s --ledger %s",
			req.Path, grantee.KeyID(), rightsName(rights), o.Volume.ID(), strings.Join(o.Config.Remotes, " --remote "), ledger), nil
	case "revoke":
		r, err := owner.Revoke(ctx, req.Path, grantee, req.Rekey, progress)
		if err != nil {
			return "", err
		}
		what := "new writes"
		if req.Rekey {
			what = "everything in it"
		}
		return fmt.Sprintf("revoked %s on %s; %s now under key epoch %d, passed to %d remaining grantees",
			grantee.KeyID(), req.Path, what, r.Epoch, r.Kept), nil
	}
	return "", fmt.Errorf("unknown operation %q", req.Op)
}

func rightsName(r string) string {
	if r == "ro" {
		return "read-only"
	}
	return "read-write"
}

func newGrantsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "grants [PATH]",
		Short: "List who has access to which shared folder, from the ledger",
		Long: `grants lists the volume's grants as the ledger records them: folder, grantee (the ledger id
the ledger knows them by, as audit shows people; on Fabric, until they join, the short id of
their identity), rights, key epoch, when and by whom, and whether revoked. PATH keeps the
folders at or under it.`,
		Example: `  anchorfs grants
  anchorfs grants /projects --all --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			c, err := s.config()
			if err != nil {
				return err
			}
			all, _ := cmd.Flags().GetBool("all")
			under := "/"
			if len(args) == 1 {
				under = s.volumePath(args[0])
			}
			var grants []shownGrant
			if dialMount(s) != nil { // the mount holds the keys: no passphrase asked
				if err := runVolumeOp(s, "grants", grantsRequest{All: all}, &grants); err != nil {
					return err
				}
			} else {
				l, closeLedger, err := openHomeLedger(cmd, true)
				if err != nil {
					return err
				}
				defer closeLedger()
				id, err := s.loadIdentity()
				if err != nil {
					return err
				}
				if grants, err = listGrants(context.Background(), l, id, c.Volume, all); err != nil {
					return err
				}
			}
			// By folder (once its label is opened), grantee, then time.
			sort.SliceStable(grants, func(i, j int) bool {
				if grants[i].Path != grants[j].Path {
					return grants[i].Path < grants[j].Path
				}
				if grants[i].GranteeID != grants[j].GranteeID {
					return grants[i].GranteeID < grants[j].GranteeID
				}
				return grants[i].Time.Before(grants[j].Time)
			})
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				type row struct {
					Folder    string     `json:"folder"`
					Grantee   string     `json:"grantee"`   // the ledger id, once known
					GranteeID string     `json:"granteeId"` // the id of the grantee's key
					Rights    string     `json:"rights"`
					Epoch     uint32     `json:"epoch"`
					Granted   time.Time  `json:"granted"`
					GrantedBy string     `json:"grantedBy"`
					Revoked   *time.Time `json:"revoked,omitempty"`
					Replaced  *time.Time `json:"replaced,omitempty"`
				}
				rows := []row{}
				for _, g := range grants {
					if under != "/" && g.Path != under && !strings.HasPrefix(g.Path, under+"/") || g.Revoked && !all {
						continue
					}
					r := row{Folder: g.Path, Grantee: g.Person, GranteeID: g.GranteeID, Rights: rightsName(g.Rights), Epoch: g.Epoch, Granted: g.Time, GrantedBy: g.GrantedBy}
					if g.Revoked {
						r.Revoked = &g.RevokedAt
					}
					if !g.Replaced.IsZero() {
						r.Replaced = &g.Replaced
					}
					rows = append(rows, r)
				}
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FOLDER\tGRANTEE\tRIGHTS\tEPOCH\tGRANTED\tSTATE")
			for _, g := range grants {
				if under != "/" && g.Path != under && !strings.HasPrefix(g.Path, under+"/") {
					continue
				}
				state := "active"
				switch {
				case !g.Replaced.IsZero():
					state = "replaced " + g.Replaced.Local().Format(time.DateTime)
				case g.Revoked:
					if !all {
						continue
					}
					state = "revoked " + g.RevokedAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", g.Path, g.Person, rightsName(g.Rights), g.Epoch,
					g.Time.Local().Format(time.DateTime), state)
			}
			return tw.Flush()
		},
	}
	c.Flags().Bool("all", false, "include revoked grants, and those later grants replaced")
	c.Flags().Bool("json", false, "print a JSON array: folder, grantee, rights, epoch, granted, grantedBy, revoked, replaced")
	return c
}

func newJoinCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "join --volume ID --remote SPEC [--ledger SPEC]",
		Short: "Attach a volume whose folders are shared with you, from your own home",
		Long: `join sets up this home for the folders of someone else's volume that were shared with your
identity: it checks the ledger for grants to you, proves to the ledger that you hold the
identity (recorded as a join), and saves the settings. ` + "`anchorfs mount`" + ` then shows exactly
the folders shared with you, at their paths, and nothing else of the volume.`,
		Example: `  anchorfs join --volume 3f0c... --remote /srv/vault --ledger embedded:/srv/ledger
  anchorfs mount ~/Shared`,
		RunE: runJoin,
	}
	c.Flags().String("volume", "", "the volume's id, as the owner's share printed it")
	c.Flags().StringArray("remote", nil, "where the volume's objects are (local folder or rclone remote)")
	c.Flags().String("ledger", "embedded", "the owner's ledger: embedded:DIR or fabric:PROFILE.yaml")
	c.Flags().Bool("json", false, "print the folders shared with you as JSON")
	return c
}

func runJoin(cmd *cobra.Command, args []string) error {
	s, err := loadSettings(cmd)
	if err != nil {
		return err
	}
	if _, err := os.Stat(s.home.ConfigPath()); err == nil {
		return fmt.Errorf("%s already holds a volume (%s); use another --home for another volume", s.home.Dir, s.home.ConfigPath())
	}
	vol, _ := cmd.Flags().GetString("volume")
	remotes, _ := cmd.Flags().GetStringArray("remote")
	ledgerSpec := s.v.GetString("ledger")
	if vol == "" || len(remotes) == 0 {
		return usageError{errors.New("join needs --volume ID and --remote SPEC")}
	}
	if err := home.CheckLedgerSpec(ledgerSpec); err != nil || ledgerSpec == "none" {
		return usageError{fmt.Errorf("--ledger %q: join needs the owner's ledger (embedded:DIR or fabric:PROFILE.yaml)", ledgerSpec)}
	}
	if remotes, err = absoluteRemotes(remotes); err != nil {
		return err
	}
	cfg := home.Config{Volume: vol, Remotes: remotes, RcloneConfig: s.v.GetString("rclone-config"), Ledger: ledgerSpec}
	id, created, err := s.ensureIdentity(os.Stderr)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(cmd.OutOrStdout(), "created identity in %s\n", s.home.KeyringDir())
	}
	shares, err := s.home.Join(context.Background(), cfg, id, stderrLogf(false))
	if err != nil {
		return err
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		type row struct {
			Path   string `json:"path"`
			Rights string `json:"rights"`
		}
		rows := []row{}
		for _, sh := range shares {
			rows = append(rows, row{sh.Path, rightsName(map[bool]string{true: "ro"}[sh.ReadOnly])})
		}
		return writeJSON(cmd.OutOrStdout(), struct {
			Home   string `json:"home"`
			Shared []row  `json:"shared"`
		}{s.home.Dir, rows})
	}
	for _, sh := range shares {
		ro := "read-write"
		if sh.ReadOnly {
			ro = "read-only"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "shared with you: %s (%s)\n", sh.Path, ro)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "home %s is ready: anchorfs mount MOUNTPOINT\n", s.home.Dir)
	return nil
}

type grantsRequest struct {
	All bool `json:"all"`
}

// shownGrant is a grant as grants shows it: its folder's path opened, its
// grantee named as every output names people.
type shownGrant struct {
	network.Grant
	Person string `json:"person"`
}

// listGrants reads the volume's grants (with all, the revoked and the
// replaced ones too) and opens what id can of them.
func listGrants(ctx context.Context, l network.Ledger, id *keyring.Identity, volume string, all bool) ([]shownGrant, error) {
	if l == nil {
		return nil, errors.New("this volume runs without a ledger (ledger: none): there are no grants")
	}
	grants, err := l.Grants(ctx, volume, "")
	if err != nil {
		return nil, err
	}
	if all {
		replaced, err := l.GrantHistory(ctx, volume, "")
		if err != nil {
			return nil, err
		}
		grants = append(grants, replaced...)
	}
	ps, err := loadPeople(ctx, l, volume, id.Public())
	if err != nil {
		return nil, err
	}
	out := make([]shownGrant, len(grants))
	for i, g := range grants {
		if g.Path, err = id.OpenText(g.Path); err != nil {
			g.Path = "(sealed for others)"
		}
		out[i] = shownGrant{Grant: g, Person: ps.ofGrant(g)}
	}
	return out, nil
}
