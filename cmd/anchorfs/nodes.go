package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/fs/format"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/home"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/remote"
	"github.com/anchorfs/anchorfs/remote/shards"
)

func newScrubCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "scrub",
		Short: "Check every object and shard on every storage node against its hash",
		Long: `scrub reads every object of the volume from every remote that should hold it: each
folder object, manifest and current head from each remote, each chunk's shard from its
remote (or the whole chunk from each, on a volume of one remote), and checks it against its
hash, at most --rate bytes a second. It prints what each remote holds missing or altered and
exits 1 when it found anything (anchorfs repair rewrites it from the other remotes). It reads
only: it runs beside a mount, which may hold uploads that are not on every remote yet (run
anchorfs sync first). Run again, it checks everything again.`,
		Example: `  anchorfs scrub
  anchorfs scrub --rate 50MB/s --json`,
		RunE: func(cmd *cobra.Command, args []string) error { return runScrub(cmd, false) },
	}
	c.Flags().String("rate", "", "read at most this many bytes a second (50MB/s, 1GiB/s; default: no bound)")
	c.Flags().Bool("json", false, "print JSON")
	return c
}

func newNodesPayeeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "payee NODE IDENTITY",
		Short: "Set who is paid for holding a storage node's shards",
		Long: `payee records on the ledger the identity that is paid for what storage node NODE (its
number in anchorfs nodes) holds; an empty IDENTITY ("") makes it the ledger's operator again.`,
		Example: `  anchorfs nodes payee 2 Org1MSP/3f2a...`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadVolumeSettings(cmd)
			if err != nil {
				return err
			}
			ctx := context.Background()
			o, err := s.openVolume(ctx, home.Inspect, stderrLogf(false))
			if err != nil {
				return err
			}
			defer o.Close(ctx)
			ids := o.Volume.NodeIDs()
			var j int
			if _, err := fmt.Sscan(args[0], &j); err != nil || j < 1 || j > len(ids) {
				return usageError{fmt.Errorf("NODE %q: a node number from 1 to %d (anchorfs nodes)", args[0], len(ids))}
			}
			if o.Ledger == nil {
				return errors.New("the volume has no ledger to record a payee on")
			}
			if err := home.RegisterNodes(ctx, o.Ledger, o.Volume.ID(), ids, o.Volume.Shards().K, map[string]string{ids[j-1]: args[1]}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %d (%s): what it holds is paid to %s\n", j, ids[j-1], cmp.Or(args[1], "the operator"))
			return nil
		},
	}
}

func newRepairCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "repair",
		Short: "Rewrite missing or altered objects and shards from the other storage nodes",
		Long: `repair does what scrub does and rewrites, on each remote, what it finds missing or
altered there: a whole object from a copy on another remote, a shard rebuilt from the
others. It exits 1 when something could not be rebuilt (too few intact copies or shards)
and names it. A remote that does not answer is left for a later run; run again, repair
rewrites only what is still missing.`,
		Example: `  anchorfs repair
  anchorfs repair --json`,
		RunE: func(cmd *cobra.Command, args []string) error { return runScrub(cmd, true) },
	}
	c.Flags().String("rate", "", "read at most this many bytes a second (50MB/s; default: no bound)")
	c.Flags().Bool("json", false, "print JSON")
	return c
}

// parseRate reads a --rate such as 50MB/s.
func parseRate(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := humanize.ParseBytes(strings.TrimSuffix(strings.TrimSpace(s), "/s"))
	if err != nil || n == 0 {
		return 0, fmt.Errorf("--rate %q: want bytes a second, such as 50MB/s", s)
	}
	return int64(n), nil
}

func runScrub(cmd *cobra.Command, repair bool) error {
	s, err := loadVolumeSettings(cmd)
	if err != nil {
		return err
	}
	rateSpec, _ := cmd.Flags().GetString("rate")
	limit, err := parseRate(rateSpec)
	if err != nil {
		return usageError{err}
	}
	ctx := context.Background()
	o, err := s.openVolume(ctx, home.Inspect, stderrLogf(false))
	if err != nil {
		return err
	}
	defer o.Close(ctx)
	bar := newProgressBar()
	rep, err := o.Volume.Scrub(ctx, volume.ScrubOptions{Repair: repair, Rate: limit, Progress: bar.update})
	bar.done()
	if err != nil {
		return err
	}
	asJSON, _ := cmd.Flags().GetBool("json")
	w := cmd.OutOrStdout()
	if err := recordScrub(ctx, o, rep); err != nil {
		fmt.Fprintf(os.Stderr, "anchorfs: %v\n", err)
	}
	if asJSON {
		json.NewEncoder(w).Encode(rep)
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tREMOTE\tCHECKED\tREAD\tMISSING\tALTERED\tUNREACHABLE\tREPAIRED")
		for j, n := range rep.Nodes {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\t%d\t%d\t%d\n", n.Node, remoteName(o.Config.Remotes, j), n.Checked, humanBytes(n.Bytes), n.Missing, n.Corrupt, n.Failed, n.Repaired)
		}
		tw.Flush()
		for _, f := range rep.Unrecoverable {
			fmt.Fprintf(w, "%s: %s\n", f.Path, f.Problem)
		}
	}
	damaged := int64(0)
	for _, n := range rep.Nodes {
		damaged += n.Missing + n.Corrupt - n.Repaired
	}
	switch {
	case len(rep.Unrecoverable) > 0:
		if !asJSON {
			fmt.Fprintf(os.Stderr, "anchorfs: %d objects cannot be rebuilt from what the remotes hold\n", len(rep.Unrecoverable))
		}
		return findingsError{len(rep.Unrecoverable)}
	case damaged > 0 && !repair:
		if !asJSON {
			fmt.Fprintf(os.Stderr, "anchorfs: %d objects or shards are missing or altered on their remotes; anchorfs repair rewrites them\n", damaged)
		}
		return findingsError{int(damaged)}
	case damaged > 0:
		if !asJSON {
			fmt.Fprintf(os.Stderr, "anchorfs: %d objects or shards could not be written back (a remote did not take them); run repair again\n", damaged)
		}
		return findingsError{int(damaged)}
	}
	if !asJSON {
		fmt.Fprintf(w, "%d objects checked: every remote holds what it should\n", rep.Objects)
	}
	return nil
}

// recordScrub puts what a scrub found on each storage node on the ledger,
// so that each node's record is there.
func recordScrub(ctx context.Context, o *home.Opened, rep volume.ScrubReport) error {
	if o.Ledger == nil || len(o.Volume.NodeIDs()) == 0 {
		return nil
	}
	var results []network.ScrubResult
	for _, n := range rep.Nodes {
		results = append(results, network.ScrubResult{Node: n.ID, Checked: n.Checked, Missing: n.Missing, Corrupt: n.Corrupt, Unreachable: n.Failed, Repaired: n.Repaired})
	}
	if err := o.Ledger.RecordScrub(ctx, o.Volume.ID(), results); err != nil {
		return fmt.Errorf("recording the scrub on the ledger: %w", err)
	}
	return nil
}

// remoteName is node j's remote as the home names it, secrets hidden.
func remoteName(specs []string, j int) string {
	if j < len(specs) {
		return remote.Redact(specs[j])
	}
	return "?"
}

func newNodesCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "nodes",
		Short: "Show each storage node: whether it answers, what it holds",
		Long: `nodes lists the volume's storage nodes (its remotes, one per shard) in order, with each
one's id, whether it answers now (and its error when not), and how many objects and bytes it
holds; and its record on the ledger: who is paid for what it holds (its payee), and the
scrubs that checked it (each scrub records what it found on each node there).`,
		Example: `  anchorfs nodes
  anchorfs nodes --json
  anchorfs nodes payee 2 IDENTITY`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadVolumeSettings(cmd)
			if err != nil {
				return err
			}
			ctx := context.Background()
			o, err := s.openVolume(ctx, home.Inspect, stderrLogf(false))
			if err != nil {
				return err
			}
			defer o.Close(ctx)
			type nodeInfo struct {
				Node    int    `json:"node"`
				ID      string `json:"id"`
				Remote  string `json:"remote"`
				Up      bool   `json:"up"`
				Error   string `json:"error,omitempty"`
				Objects int64  `json:"objects"`
				Bytes   int64  `json:"bytes"`
				// Ledger is the node's record on the ledger: payee and scrubs.
				Ledger *network.Node `json:"ledger,omitempty"`
			}
			ids := o.Volume.NodeIDs()
			onLedger := map[string]network.Node{}
			if o.Ledger != nil && len(ids) > 0 {
				have, err := o.Ledger.Nodes(ctx, o.Volume.ID())
				if err != nil {
					fmt.Fprintf(os.Stderr, "anchorfs: the ledger's record of the nodes: %v\n", err)
				}
				for _, n := range have {
					onLedger[n.ID] = n
				}
			}
			out := []nodeInfo{}
			for j, r := range o.Volume.Nodes() {
				n := nodeInfo{Node: j + 1, Remote: remoteName(o.Config.Remotes, j), Up: true}
				if j < len(ids) {
					n.ID = ids[j]
					if rec, ok := onLedger[n.ID]; ok {
						n.Ledger = &rec
					}
				}
				lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := r.List(lctx, format.ObjectsDir, func(name string, size int64) error {
					n.Objects++
					n.Bytes += size
					return nil
				})
				cancel()
				if err != nil {
					n.Up, n.Error = false, err.Error()
				}
				out = append(out, n)
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(out)
			}
			if l := o.Volume.Shards(); l.N() > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "shards %s: each chunk on %d nodes, any %d of them read it back\n", l, l.N(), l.K)
			} else if len(ids) > 1 {
				fmt.Fprintln(cmd.OutOrStdout(), "every chunk whole on every node")
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tID\tREMOTE\tSTATE\tOBJECTS\tBYTES\tPAYEE\tSCRUBS\tLAST SCRUB")
			for _, n := range out {
				state := "up"
				if !n.Up {
					state = "down: " + n.Error
				}
				payee, scrubs, last := "-", "-", "-"
				if l := n.Ledger; l != nil {
					payee, scrubs = cmp.Or(l.Payee, "operator"), fmt.Sprintf("%d (%d missing, %d altered in all)", l.Scrubs, l.Missing, l.Corrupt)
					if l.Last != nil {
						last = fmt.Sprintf("%s: %d checked, %d missing, %d altered", l.Last.Time.Local().Format(time.DateTime), l.Last.Checked, l.Last.Missing, l.Last.Corrupt)
					}
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", n.Node, n.ID, n.Remote, state, n.Objects, humanBytes(n.Bytes), payee, scrubs, last)
			}
			return tw.Flush()
		},
	}
	c.Flags().Bool("json", false, "print JSON")
	c.AddCommand(newNodesPayeeCmd())
	return c
}

// unmountedOwner is the home's config and identity for a change of its
// storage nodes, refused while a mount of the home runs (it holds the
// nodes as they were).
func (s *settings) unmountedOwner(what string) (home.Config, *keyring.Identity, error) {
	if dialMount(s) != nil {
		return home.Config{}, nil, fmt.Errorf("a mount of %s is running: unmount it before %s", s.home.Dir, what)
	}
	cfg, err := s.config()
	if err != nil {
		return cfg, nil, err
	}
	id, err := s.loadIdentity()
	return cfg, id, err
}

func newRemoteCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "remote",
		Short:   "Change the volume's remotes",
		Example: `  anchorfs remote replace 2 sftp:newbox/vault`,
		Args:    cobra.NoArgs,
	}
	replace := &cobra.Command{
		Use:   "replace NODE SPEC",
		Short: "Put an empty remote in the place of storage node NODE, and fill it",
		Long: `replace makes SPEC, an empty remote, storage node NODE (its number in anchorfs nodes) in
place of the remote there, which may be gone for good: the node gets a new id, recorded in
the other remotes' config and on the ledger, config.yaml names SPEC, and a repair rebuilds
on it every shard and object it should hold. Stopped halfway, run it again; a second home
of the owner runs it too, to learn of the new remote (it then only repairs what is left).
Unmount this home first.`,
		Example: `  anchorfs remote replace 2 sftp:newbox/vault`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadVolumeSettings(cmd)
			if err != nil {
				return err
			}
			var n int
			if _, err := fmt.Sscan(args[0], &n); err != nil || n < 1 {
				return usageError{fmt.Errorf("NODE %q: a node number (anchorfs nodes)", args[0])}
			}
			cfg, id, err := s.unmountedOwner("replacing a remote")
			if err != nil {
				return err
			}
			ctx := context.Background()
			if _, err := s.home.ReplaceRemote(ctx, cfg, id, n, args[1], stderrLogf(false)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %d is now %s; repairing it\n", n, remote.Redact(args[1]))
			return runScrub(cmd, true)
		},
	}
	replace.Flags().String("rate", "", "read at most this many bytes a second while repairing (50MB/s; default: no bound)")
	replace.Flags().Bool("json", false, "print the repair's report as JSON")
	c.AddCommand(replace)
	return c
}

func newReshardCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "reshard --remote SPEC... [--shards K+M]",
		Short: "Move the volume to another layout, on other remotes",
		Long: `reshard moves the volume to the remotes given, one per node, with each chunk cut into K
data and M parity shards (--shards K+M, K+M the number of remotes), or, without --shards
and with one --remote, onto that single remote. A remote the volume is on already may be
among them; new ones must be empty. Every file gets a new version written in the new
layout (anchored as usual), the objects that stay as they are are copied where the new
layout wants them, and the volume then lives on the new remotes only: the ones it left
keep their objects, which can be deleted. While it runs the volume is on the old and the
new remotes at once, so stopped halfway (a crash, Ctrl-C, a remote gone), it goes on from
where it was when run again with the same arguments. Unmount this home first.`,
		Example: `  anchorfs reshard --shards 2+1 --remote /srv/a --remote /srv/b --remote sftp:box/v
  anchorfs reshard --remote /srv/vault`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadVolumeSettings(cmd)
			if err != nil {
				return err
			}
			specs, _ := cmd.Flags().GetStringArray("remote")
			if len(specs) == 0 {
				return usageError{errors.New("reshard needs --remote SPEC, one per node")}
			}
			var layout shards.Layout
			if spec, _ := cmd.Flags().GetString("shards"); spec != "" {
				if layout, err = shards.Parse(spec); err != nil {
					return usageError{err}
				}
			}
			switch {
			case layout.N() > 0 && layout.N() != len(specs):
				return usageError{fmt.Errorf("--shards %s puts one shard on each of %d remotes; %d --remote given", layout, layout.N(), len(specs))}
			case layout.N() == 0 && len(specs) > 1:
				return usageError{errors.New("several remotes need --shards K+M")}
			}
			cfg, id, err := s.unmountedOwner("resharding")
			if err != nil {
				return err
			}
			bar := newProgressBar()
			cfg, err = s.home.Reshard(context.Background(), cfg, id, layout, specs, bar.update, stderrLogf(false))
			bar.done()
			if err != nil {
				return err
			}
			what := "one remote"
			if layout.N() > 0 {
				what = fmt.Sprintf("shards %s", layout)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "volume %s is on %s: %s\n", cfg.Volume, what, strings.Join(redactAll(cfg.Remotes), ", "))
			return nil
		},
	}
	c.Flags().StringArray("remote", nil, "a remote of the new layout (rclone syntax), one per node, in node order")
	c.Flags().String("shards", "", "K+M: each chunk cut into K data and M parity shards, one per remote")
	return c
}

// redactAll is specs with their secrets hidden.
func redactAll(specs []string) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = remote.Redact(s)
	}
	return out
}
