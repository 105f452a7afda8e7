package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/chaincode"
	"github.com/anchorfs/anchorfs/home"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/embedded"
)

func newLedgerCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "ledger",
		Short: "Inspect and verify the ledger",
		Long:  `ledger shows the ledger this home anchors to, lists its blocks and verifies its chain.`,
		Example: `  anchorfs ledger info
  anchorfs ledger blocks --from 10
  anchorfs ledger verify`,
		Args: cobra.NoArgs,
	}
	info := &cobra.Command{
		Use:     "info",
		Short:   "Show the ledger's kind, place, height and newest block",
		Example: `  anchorfs ledger info --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, done, err := openHomeLedger(cmd)
			if err != nil {
				return err
			}
			defer done()
			i, err := l.Info(context.Background())
			if err != nil {
				return err
			}
			if j, _ := cmd.Flags().GetBool("json"); j {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(i)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kind:   %s\nwhere:  %s\nheight: %d\nhead:   %s\n", i.Kind, i.Where, i.Height, i.Head)
			if i.Signer != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "signer: %s\n", i.Signer)
			}
			return nil
		},
	}
	info.Flags().Bool("json", false, "print JSON")
	blocks := &cobra.Command{
		Use:     "blocks",
		Short:   "List blocks: number, time, hash, previous hash, transactions",
		Example: `  anchorfs ledger blocks --from 1 --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, done, err := openHomeLedger(cmd)
			if err != nil {
				return err
			}
			defer done()
			from, _ := cmd.Flags().GetUint64("from")
			asJSON, _ := cmd.Flags().GetBool("json")
			w := cmd.OutOrStdout()
			enc := json.NewEncoder(w)
			return l.Blocks(context.Background(), from, func(b network.Block) error {
				if asJSON {
					return enc.Encode(b)
				}
				fmt.Fprintf(w, "%6d  %s  %s  prev %s  %d txs\n", b.Number, b.Time.Format(time.RFC3339), short(b.Hash), short(b.PrevHash), len(b.TxIDs))
				return nil
			})
		},
	}
	blocks.Flags().Uint64("from", 0, "first block number")
	blocks.Flags().Bool("json", false, "one JSON object per block")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the hash chain, signatures and world state from the blocks",
		Long: `ledger verify checks every block of the embedded ledger: its hash, its link to the
previous block, the node's signature, each transaction's signature by its creator, and the
world state rebuilt from the valid transactions against the stored one. Exit 1 on a finding.`,
		Example: `  anchorfs ledger verify`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			c, err := s.config()
			if err != nil {
				return err
			}
			if strings.HasPrefix(c.Ledger, "fabric:") {
				return errors.New("ledger verify checks the embedded ledger; a Fabric network's peers validate its chain themselves")
			}
			dir := s.home.LedgerDir(c.Ledger)
			if err := embedded.VerifyDir(context.Background(), dir); err != nil {
				return fmt.Errorf("ledger %s does not verify: %w", dir, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ledger %s verified\n", dir)
			return nil
		},
	}
	c.AddCommand(info, blocks, verify)
	return c
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	if h == "" {
		return "-"
	}
	return h
}

// openHomeLedger opens this home's ledger with its identity.
func openHomeLedger(cmd *cobra.Command) (network.Ledger, func(), error) {
	s, err := loadSettings(cmd)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.config()
	if err != nil {
		return nil, nil, err
	}
	id, err := s.loadIdentity()
	if err != nil {
		return nil, nil, err
	}
	l, err := s.home.OpenLedger(context.Background(), c.Ledger, id)
	if err != nil {
		return nil, nil, err
	}
	if l == nil {
		return nil, nil, errors.New("this volume runs without a ledger (ledger: none)")
	}
	return l, func() { l.Close() }, nil
}

func newAuditCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Who did what to which file, and when, from the ledger",
		Long: `audit lists the ledger's events for this volume: anchors of file versions, integrity
failures, grants, revocations, joins and denials. Filters combine; times are RFC 3339 or a
date (2026-11-23). File ids are shown as paths where the volume still has them.
` + "`audit prove`" + ` writes a proof that a version was anchored, which ` + "`audit check`" + ` verifies offline.`,
		Example: `  anchorfs audit
  anchorfs audit --path /projects/report.pdf --format csv
  anchorfs audit --action integrity --since 2026-11-01
  anchorfs audit prove /projects/report.pdf > proof.json && anchorfs audit check proof.json`,
		Args: cobra.NoArgs,
		RunE: runAudit,
	}
	c.Flags().String("path", "", "only events of this file or folder")
	c.Flags().String("actor", "", "only events by this ledger identity")
	c.Flags().String("action", "", "only this action (anchor, read, integrity, ...)")
	c.Flags().String("since", "", "only events at or after this time")
	c.Flags().String("until", "", "only events at or before this time")
	c.Flags().String("format", "table", "table, json or csv")
	c.AddCommand(newProveCmd(), newCheckCmd())
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

func runAudit(cmd *cobra.Command, args []string) error {
	f := cmd.Flags()
	format, _ := f.GetString("format")
	if format != "table" && format != "json" && format != "csv" {
		return usageError{fmt.Errorf("--format %q: use table, json or csv", format)}
	}
	q := network.AuditQuery{}
	var err error
	s, _ := f.GetString("since")
	if q.Since, err = parseWhen(s); err != nil {
		return err
	}
	u, _ := f.GetString("until")
	if q.Until, err = parseWhen(u); err != nil {
		return err
	}
	q.Actor, _ = f.GetString("actor")
	q.Action, _ = f.GetString("action")
	st, err := loadSettings(cmd)
	if err != nil {
		return err
	}
	ctx := context.Background()
	o, err := st.openVolume(ctx, home.ReadOnly, stderrLogf(false))
	if err != nil {
		return err
	}
	defer o.Close(ctx)
	q.Volume = o.Config.Volume
	if p, _ := f.GetString("path"); p != "" {
		if q.File, err = o.Volume.FileID(p); err != nil {
			return err
		}
	}
	if o.Ledger == nil {
		return errors.New("this volume runs without a ledger (ledger: none): there is nothing to audit")
	}
	events, err := o.Ledger.Audit(ctx, q)
	if err != nil {
		return err
	}
	paths, _ := o.Volume.Paths(ctx)
	w := cmd.OutOrStdout()
	type row struct {
		network.Event
		Path string `json:"path,omitempty"`
	}
	rows := make([]row, len(events))
	for i, e := range events {
		rows[i] = row{Event: e, Path: paths[e.File]}
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"time", "actor", "action", "path", "file", "detail", "tx"})
		for _, r := range rows {
			cw.Write([]string{r.Time.Format(time.RFC3339Nano), r.Actor, r.Action, r.Path, r.File, details(r.Detail), r.TxID})
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tPATH\tDETAIL")
	for _, r := range rows {
		p := r.Path
		if p == "" {
			p = r.File
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05"), r.Actor, r.Action, p, details(r.Detail))
	}
	return tw.Flush()
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

func newChaincodeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "chaincode",
		Short:   "Run the chaincode for a Fabric peer",
		Args:    cobra.NoArgs,
		Example: `  CHAINCODE_ID=anchorfs_1:abc... CHAINCODE_SERVER_ADDRESS=127.0.0.1:9999 anchorfs chaincode serve`,
	}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the chaincode as a service (Chaincode-as-a-Service)",
		Long: `chaincode serve runs the anchorfs chaincode as an external service that a Fabric peer
connects to. It reads CHAINCODE_ID (the package id) and CHAINCODE_SERVER_ADDRESS
(host:port), and for TLS CHAINCODE_TLS_KEY, CHAINCODE_TLS_CERT and CHAINCODE_CLIENT_CA_CERT
(file names); flags override them.`,
		Example: `  anchorfs chaincode serve --id anchorfs_1:0a1b... --address 127.0.0.1:9999`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := chaincode.ServeConfigFromEnv()
			if v, _ := cmd.Flags().GetString("id"); v != "" {
				cfg.ID = v
			}
			if v, _ := cmd.Flags().GetString("address"); v != "" {
				cfg.Address = v
			}
			fmt.Fprintf(os.Stderr, "anchorfs chaincode %s serving on %s\n", cfg.ID, cfg.Address)
			return chaincode.Serve(cfg)
		},
	}
	serve.Flags().String("id", "", "package id (CHAINCODE_ID)")
	serve.Flags().String("address", "", "listen address host:port (CHAINCODE_SERVER_ADDRESS)")
	c.AddCommand(serve)
	return c
}
