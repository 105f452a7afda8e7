package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/home"
)

func newVersionsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "versions PATH | --deleted [FOLDER]",
		Short: "List a file's anchored versions, or the files deleted from a folder",
		Long: `versions lists every version of the file at PATH that the ledger anchors, oldest first:
its number, size, when and by whom it was anchored, its transaction, and whether its objects
are still on the remote (restorable: gc removes old versions its retention does not keep;
the ledger keeps every anchor). PATH is a path in the volume, or a path inside this home's
mount. A file deleted from the volume is found at the path it had.

With --deleted, versions lists the files deleted from below FOLDER (the whole volume by
default) that the tree no longer holds, under the path each had, with its last version:
anchorfs restore brings one back.`,
		Example: `  anchorfs versions /docs/report.odt
  anchorfs versions ./report.odt --json     # from inside the mount
  anchorfs versions --deleted /docs`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadVolumeSettings(cmd)
			if err != nil {
				return err
			}
			asJSON, _ := cmd.Flags().GetBool("json")
			w := cmd.OutOrStdout()
			if deleted, _ := cmd.Flags().GetBool("deleted"); deleted {
				dir := "/"
				if len(args) == 1 {
					dir = s.volumePath(args[0])
				}
				var files []volume.DeletedFile
				if err := runVolumeOp(s, "deleted", deletedRequest{Dir: dir}, &files); err != nil {
					return err
				}
				if asJSON {
					if files == nil {
						files = []volume.DeletedFile{}
					}
					return writeJSON(w, files)
				}
				if len(files) == 0 {
					fmt.Fprintf(w, "no file deleted from %s that the ledger knows of\n", dir)
					return nil
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PATH\tLAST VERSION\tDELETED\tBY")
				for _, f := range files {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", f.Path, f.Version, f.Time.Local().Format(time.DateTime), f.Actor)
				}
				return tw.Flush()
			}
			if len(args) != 1 {
				return usageError{fmt.Errorf("versions needs a PATH, or --deleted")}
			}
			var h volume.FileHistory
			if err := runVolumeOp(s, "versions", versionsRequest{Path: s.volumePath(args[0])}, &h); err != nil {
				return err
			}
			if asJSON {
				if h.Versions == nil {
					h.Versions = []volume.FileVersion{}
				}
				return writeJSON(w, h)
			}
			state := ""
			if h.Deleted {
				state = ", deleted"
			}
			fmt.Fprintf(w, "%s (file %s%s): %d anchored versions\n", h.Path, h.File, state, len(h.Versions))
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tSIZE\tANCHORED\tBY\tTX\tRESTORABLE")
			for _, fv := range h.Versions {
				r := "no (removed by gc)"
				switch {
				case fv.Current:
					r = "current"
				case fv.Restorable:
					r = "yes"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", fv.Version, humanBytes(fv.Size), fv.Time.Local().Format(time.DateTime), fv.Actor, short(fv.TxID), r)
			}
			return tw.Flush()
		},
	}
	c.Flags().Bool("deleted", false, "list the files deleted from below FOLDER instead")
	c.Flags().Bool("json", false, "print JSON")
	return c
}

func newRestoreCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "restore PATH",
		Short: "Bring back an anchored version of a file",
		Long: `restore brings back version --version of the file at PATH (by default the one before the
current version; for a deleted file, its last): as the file's newest version, anchored as any
write (the versions in between stay), or with --to into a new file outside the volume. A
deleted file comes back at the path it had, as a new file (and the folders on its way that
went with it); when another file has that name now, restore it --to elsewhere. anchorfs
versions lists what can be restored.`,
		Example: `  anchorfs restore /docs/report.odt --version 3
  anchorfs restore /docs/old-notes.txt                 # deleted: its last version
  anchorfs restore /docs/report.odt --version 2 --to /tmp/report-v2.odt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadVolumeSettings(cmd)
			if err != nil {
				return err
			}
			req := restoreRequest{Path: s.volumePath(args[0])}
			req.Version, _ = cmd.Flags().GetUint64("version")
			if to, _ := cmd.Flags().GetString("to"); to != "" {
				if req.To, err = filepath.Abs(to); err != nil {
					return err
				}
			}
			var r volume.Restored
			if err := runVolumeOp(s, "restore", req, &r); err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			if r.To != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "version %d of %s (%s) written to %s\n", r.Version, r.Path, humanBytes(r.Size), r.To)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: version %d restored as version %d (%s)\n", r.Path, r.Version, r.NewVersion, humanBytes(r.Size))
			return nil
		},
	}
	c.Flags().Uint64("version", 0, "the version to bring back (anchorfs versions PATH lists them; default the one before the current)")
	c.Flags().String("to", "", "write the version to this new file outside the volume instead")
	c.Flags().Bool("json", false, "print JSON")
	return c
}

// Retention defaults: ten versions of each file, and every version of the
// last week.
const (
	defaultKeepVersions = 10
	defaultKeepWithin   = "7d"
)

// retention is gc's retention: flags, then config.yaml, then the defaults.
func retention(cmd *cobra.Command, cfg home.Config) (volume.Retention, error) {
	r := volume.Retention{Versions: defaultKeepVersions}
	if cfg.KeepVersions != 0 {
		r.Versions = cfg.KeepVersions
	}
	if cmd.Flags().Changed("keep-versions") {
		r.Versions, _ = cmd.Flags().GetInt("keep-versions")
	}
	within := defaultKeepWithin
	if cfg.KeepWithin != "" {
		within = cfg.KeepWithin
	}
	if cmd.Flags().Changed("keep-within") {
		within, _ = cmd.Flags().GetString("keep-within")
	}
	if r.Versions < 1 {
		return r, usageError{fmt.Errorf("keep_versions %d: at least 1 (the current version)", r.Versions)}
	}
	d, err := parseAge(within)
	if err != nil {
		return r, usageError{fmt.Errorf("keep_within %q: %v", within, err)}
	}
	r.Within = d
	return r, nil
}

// parseAge reads a length of time as Go writes durations ("36h", "90m")
// or in days and weeks ("7d", "2w"); "0" is none.
func parseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for unit, d := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("a length of time such as 7d, 2w or 36h")
			}
			return time.Duration(v * float64(d)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("a length of time such as 7d, 2w or 36h")
	}
	return d, nil
}

func newGCCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "gc",
		Short: "Delete objects on the remote that the volume no longer uses",
		Long: `gc removes from the remote the objects of file versions that retention does not keep,
replaced folder objects, and the chunks of deleted files. Retention keeps, of each file, its
newest keep_versions versions (the current one counted; --keep-versions, default 10) and
every version that was current within keep_within (--keep-within, default 7d: a version
replaced or a file deleted less than a week ago stays restorable); config.yaml may set
either. --dry-run says what would go and deletes nothing.

What stays provable after gc: the ledger keeps every version's anchor (its manifest hash,
Merkle root, size, who and when) for good, so anchorfs audit and audit prove still answer
for a removed version, and a copy of it kept elsewhere can still be checked against its anchor;
what gc removes is the ciphertext, so anchorfs restore can no longer bring it back.

Run it where no other home is writing the same volume at the time.`,
		Example: `  anchorfs gc --dry-run
  anchorfs gc --keep-versions 3 --keep-within 30d
  anchorfs gc --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadVolumeSettings(cmd)
			if err != nil {
				return err
			}
			cfg, _ := s.config()
			opt := volume.GCOptions{}
			if opt.Retention, err = retention(cmd, cfg); err != nil {
				return err
			}
			opt.DryRun, _ = cmd.Flags().GetBool("dry-run")
			var res volume.GCResult
			if err := runVolumeOp(s, "gc", opt, &res); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				if res.Versions == nil {
					res.Versions = []volume.GoneVersion{}
				}
				return writeJSON(w, res)
			}
			verb := "removed"
			if res.DryRun {
				verb = "would remove"
				for _, g := range res.Versions {
					fmt.Fprintf(w, "%s: version %d\n", g.Path, g.Version)
				}
			}
			fmt.Fprintf(w, "%s %d objects (%s): %d old versions; %d old versions kept by retention\n",
				verb, res.Objects, humanBytes(res.Bytes), len(res.Versions), res.Kept)
			return nil
		},
	}
	c.Flags().Bool("dry-run", false, "say what would be removed, remove nothing")
	c.Flags().Int("keep-versions", defaultKeepVersions, "keep each file's newest N versions, the current one counted (config keep_versions)")
	c.Flags().String("keep-within", defaultKeepWithin, "keep every version that was current within this long: 7d, 2w, 36h, 0 for none (config keep_within)")
	c.Flags().Bool("json", false, "print JSON")
	return c
}
