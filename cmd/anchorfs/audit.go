package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/home"
	"github.com/anchorfs/anchorfs/network"
)

func newAuditCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Who did what to which file, and when, from the ledger",
		Long: `audit lists the ledger's events for this volume: reads (one per open for reading, with
the bytes it read), downloads (reads outside a mount: verify), anchors of file versions,
mounts and unmounts, integrity failures, grants, revocations, joins and denials. Filters
combine; times are RFC 3339 or a date (2026-11-23). The ledger holds ids only: audit shows
the path of each file this volume still has. The columns are in docs/AUDIT.md.
` + "`audit report`" + ` sums reads, bytes, writes and denials per person and file;
` + "`audit prove`" + ` writes a proof that a version was anchored, which ` + "`audit check`" + ` verifies offline.`,
		Example: `  anchorfs audit
  anchorfs audit --path /contracts/nda.pdf --since 2026-11-01 --format csv > nda-access.csv
  anchorfs audit --actor embedded/3f9a... --action read --format json
  anchorfs audit report --since 2026-11-01 --format csv`,
		Args: cobra.NoArgs,
		RunE: runAudit,
	}
	auditFilters(c, true)
	c.Flags().Bool("ledger-events", false, "the ledger's own events instead of the volume's (its operator's: refused mints and price changes)")
	c.AddCommand(newAuditReportCmd(), newProveCmd(), newCheckCmd())
	return c
}

// auditFilters adds the flags that select events.
func auditFilters(c *cobra.Command, action bool) {
	c.Flags().String("path", "", "only events of this file, or of the files in this folder")
	c.Flags().String("actor", "", "only events by this person: their identity (anchorfs1...), ledger id (as audit shows it) or grantee id (as grants shows it)")
	if action {
		c.Flags().String("action", "", "only this action (read, download, anchor, denied, mount, ...)")
	}
	c.Flags().String("since", "", "only events at or after this time")
	c.Flags().String("until", "", "only events at or before this time")
	c.Flags().String("format", "table", "table, json or csv")
}

func newAuditReportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "report",
		Short: "Reads, bytes read, writes and denials per person and file",
		Long: `audit report sums the ledger's events per person and file: reads (opens for reading),
bytes read, downloads and their bytes, writes (anchored versions) and denials. The same
filters as audit select the events summed.`,
		Example: `  anchorfs audit report --since 2026-11-01
  anchorfs audit report --path /contracts --format csv > contracts.csv`,
		Args: cobra.NoArgs,
		RunE: runAuditReport,
	}
	auditFilters(c, false)
	return c
}

func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError{fmt.Errorf("time %q: use RFC 3339 (2026-11-23T10:00:00Z) or a date (2026-11-23)", s)}
}

// auditRow is one event as audit prints it.
type auditRow struct {
	network.Event
	Path  string `json:"path,omitempty"`
	Bytes *int64 `json:"bytes,omitempty"`
}

// auditEvents reads the events the command's filters select, with the
// paths of their files.
func auditEvents(cmd *cobra.Command) ([]auditRow, string, error) {
	f := cmd.Flags()
	format, _ := f.GetString("format")
	if format != "table" && format != "json" && format != "csv" {
		return nil, "", usageError{fmt.Errorf("--format %q: use table, json or csv", format)}
	}
	q := network.AuditQuery{}
	var err error
	s, _ := f.GetString("since")
	if q.Since, err = parseWhen(s); err != nil {
		return nil, "", err
	}
	u, _ := f.GetString("until")
	if q.Until, err = parseWhen(u); err != nil {
		return nil, "", err
	}
	q.Actor, _ = f.GetString("actor")
	if f.Lookup("action") != nil {
		q.Action, _ = f.GetString("action")
	}
	st, err := loadSettings(cmd)
	if err != nil {
		return nil, "", err
	}
	ctx := context.Background()
	o, err := st.openVolume(ctx, home.ReadOnly, stderrLogf(false))
	if err != nil {
		return nil, "", err
	}
	defer o.Close(ctx)
	if o.Ledger == nil {
		return nil, "", errors.New("this volume runs without a ledger (ledger: none): there is nothing to audit")
	}
	if q.Actor != "" {
		ps, err := loadPeople(ctx, o.Ledger, o.Config.Volume, o.Identity.Public())
		if err != nil {
			return nil, "", err
		}
		if q.Actor, err = ps.actor(q.Actor); err != nil {
			return nil, "", err
		}
	}
	q.Volume = o.Config.Volume
	if f.Lookup("ledger-events") != nil {
		if own, _ := f.GetBool("ledger-events"); own {
			q.Volume = wire.LedgerVolume
		}
	}
	var events []network.Event
	if p, _ := f.GetString("path"); p != "" {
		ids, err := o.Volume.FileIDs(ctx, st.volumePath(p))
		if err != nil {
			return nil, "", err
		}
		if events, err = eventsOf(ctx, o.Ledger, q, ids); err != nil {
			return nil, "", err
		}
	} else if events, err = o.Ledger.Audit(ctx, q); err != nil {
		return nil, "", err
	}
	paths, _ := o.Volume.Paths(ctx)
	for _, e := range events {
		if _, ok := paths[e.File]; e.File != "" && !ok {
			// Files no longer in the tree: the path each had, as far as
			// this caller can open their delete events.
			if dels, err := o.Volume.Deleted(ctx, "/"); err == nil {
				for _, d := range dels {
					if _, ok := paths[d.File]; !ok {
						paths[d.File] = d.Path + " (deleted)"
					}
				}
			}
			break
		}
	}
	rows := make([]auditRow, len(events))
	for i, e := range events {
		rows[i] = auditRow{Event: e, Path: paths[e.File]}
		if b, err := strconv.ParseInt(e.Detail["bytes"], 10, 64); err == nil {
			rows[i].Bytes = &b
		}
	}
	return rows, format, nil
}

// perFileQueries bounds the files of a folder asked of the ledger one by
// one (by its index of files); a larger folder is one query of the
// volume's events, filtered here.
const perFileQueries = 64

// eventsOf asks the events of the files ids, oldest first.
func eventsOf(ctx context.Context, l network.Ledger, q network.AuditQuery, ids []string) ([]network.Event, error) {
	var out []network.Event
	if len(ids) <= perFileQueries {
		for _, id := range ids {
			q.File = id
			evs, err := l.Audit(ctx, q)
			if err != nil {
				return nil, err
			}
			out = append(out, evs...)
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
		return out, nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	all, err := l.Audit(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if want[e.File] {
			out = append(out, e)
		}
	}
	return out, nil
}

func runAudit(cmd *cobra.Command, args []string) error {
	rows, format, err := auditEvents(cmd)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	switch format {
	case "json":
		return writeJSON(w, rows)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"time", "actor", "action", "path", "file", "bytes", "detail", "tx"})
		for _, r := range rows {
			cw.Write([]string{r.Time.Format(time.RFC3339Nano), r.Actor, r.Action, r.Path, r.File, bytesCell(r.Bytes), details(r.Detail), r.TxID})
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tPATH\tBYTES\tDETAIL")
	for _, r := range rows {
		p := r.Path
		if p == "" {
			p = r.File
		}
		d := r.Detail
		if r.Bytes != nil {
			d = without(d, "bytes")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05"), r.Actor, r.Action, p, bytesCell(r.Bytes), details(d))
	}
	return tw.Flush()
}

func bytesCell(b *int64) string {
	if b == nil {
		return ""
	}
	return strconv.FormatInt(*b, 10)
}

func without(d map[string]string, key string) map[string]string {
	out := make(map[string]string, len(d))
	for k, v := range d {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// reportRow sums one person's events about one file ("" for those about
// no file: mounts, grants, ...).
type reportRow struct {
	Actor         string `json:"actor"`
	Path          string `json:"path,omitempty"`
	File          string `json:"file,omitempty"`
	Reads         int64  `json:"reads"`
	BytesRead     int64  `json:"bytesRead"`
	Downloads     int64  `json:"downloads"`
	BytesDownload int64  `json:"bytesDownloaded"`
	Writes        int64  `json:"writes"`
	Denials       int64  `json:"denials"`
}

func runAuditReport(cmd *cobra.Command, args []string) error {
	rows, format, err := auditEvents(cmd)
	if err != nil {
		return err
	}
	report := summarize(rows)
	w := cmd.OutOrStdout()
	switch format {
	case "json":
		return writeJSON(w, report)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"actor", "path", "file", "reads", "bytes_read", "downloads", "bytes_downloaded", "writes", "denials"})
		for _, r := range report {
			cw.Write([]string{r.Actor, r.Path, r.File, itoa(r.Reads), itoa(r.BytesRead), itoa(r.Downloads), itoa(r.BytesDownload), itoa(r.Writes), itoa(r.Denials)})
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ACTOR\tPATH\tREADS\tBYTES READ\tDOWNLOADS\tWRITES\tDENIALS\t")
	for _, r := range report {
		p := r.Path
		if p == "" {
			p = r.File
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", r.Actor, p, r.Reads, r.BytesRead, r.Downloads, r.Writes, r.Denials)
	}
	return tw.Flush()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// summarize sums events per actor and file, ordered by actor then path.
func summarize(rows []auditRow) []reportRow {
	type key struct{ actor, file string }
	sums := map[key]*reportRow{}
	for _, r := range rows {
		k := key{r.Actor, r.File}
		s := sums[k]
		if s == nil {
			s = &reportRow{Actor: r.Actor, File: r.File, Path: r.Path}
			sums[k] = s
		}
		var b int64
		if r.Bytes != nil {
			b = *r.Bytes
		}
		switch r.Action {
		case "read":
			s.Reads++
			s.BytesRead += b
		case "download":
			s.Downloads++
			s.BytesDownload += b
		case "anchor":
			s.Writes++
		case "denied":
			s.Denials++
		}
	}
	out := make([]reportRow, 0, len(sums))
	for _, s := range sums {
		if s.Reads+s.Downloads+s.Writes+s.Denials > 0 {
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Actor != out[j].Actor {
			return out[i].Actor < out[j].Actor
		}
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].File < out[j].File
	})
	return out
}

func details(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + d[k]
	}
	return strings.Join(parts, " ")
}
