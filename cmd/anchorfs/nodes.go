package main

import (
	"context"
	"encoding/json"
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
	"github.com/anchorfs/anchorfs/remote"
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
holds.`,
		Example: `  anchorfs nodes
  anchorfs nodes --json`,
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
			}
			ids := o.Volume.NodeIDs()
			out := []nodeInfo{}
			for j, r := range o.Volume.Nodes() {
				n := nodeInfo{Node: j + 1, Remote: remoteName(o.Config.Remotes, j), Up: true}
				if j < len(ids) {
					n.ID = ids[j]
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
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tID\tREMOTE\tSTATE\tOBJECTS\tBYTES")
			for _, n := range out {
				state := "up"
				if !n.Up {
					state = "down: " + n.Error
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", n.Node, n.ID, n.Remote, state, n.Objects, humanBytes(n.Bytes))
			}
			return tw.Flush()
		},
	}
	c.Flags().Bool("json", false, "print JSON")
	return c
}
