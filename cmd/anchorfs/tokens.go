package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
)

// ledgerIdentity reads an identity argument: a ledger id (MSP/hex, as
// `anchorfs identity` prints on its "ledger id:" line), or on the embedded
// ledger a printable anchorfs identity, whose ledger id it names.
func ledgerIdentity(l network.Ledger, s string) (string, error) {
	if strings.HasPrefix(s, "anchorfs1.") {
		p, err := keyring.ParsePublic(s)
		if err != nil {
			return "", usageError{err}
		}
		if !strings.HasPrefix(l.Actor(), keyring.EmbeddedMSP+"/") {
			return "", usageError{fmt.Errorf("on this ledger an identity is its ledger id (MSP/hex): ask for the \"ledger id:\" line of its `anchorfs identity`")}
		}
		return p.LedgerID(), nil
	}
	if !isLedgerID(s) {
		return "", usageError{fmt.Errorf("identity %q: a ledger id (MSP/32 hex digits, the \"ledger id:\" line of `anchorfs identity`) or an anchorfs1... identity", s)}
	}
	return s, nil
}

// isLedgerID reports whether s is written as a ledger id: MSP/32 hex digits.
func isLedgerID(s string) bool {
	msp, hexid, ok := strings.Cut(s, "/")
	return ok && msp != "" && len(hexid) == 32 && strings.Trim(hexid, "0123456789abcdef") == ""
}

func parseAmount(s string) (int64, error) {
	v, err := wire.ParseTokens(s)
	if err != nil {
		return 0, usageError{err}
	}
	if v <= 0 {
		return 0, usageError{fmt.Errorf("amount %q: more than 0", s)}
	}
	return v, nil
}

func newBalanceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "balance [IDENTITY]",
		Short: "Your tokens on the ledger: balance, reserved for storage, available",
		Long: `balance prints this home's identity's tokens: the balance (what it was given and received,
less what it paid and what its volumes' storage cost so far), the part of it its mounts have
reserved to pay for storage as they write, and what is available to transfer. The ledger's
operator may ask of any identity. Amounts are in tokens (6 decimals).`,
		Example: `  anchorfs balance
  anchorfs balance --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, done, err := openHomeLedger(cmd, true)
			if err != nil {
				return err
			}
			defer done()
			who := ""
			if len(args) == 1 {
				if who, err = ledgerIdentity(l, args[0]); err != nil {
					return err
				}
			}
			a, err := l.Balance(context.Background(), who)
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"identity": a.Identity,
					"balance": tokens(a.Balance), "reserved": tokens(a.Reserved), "accrued": tokens(a.Accrued),
					"available": tokens(a.Available), "operator": a.Operator})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "identity:  %s\n", a.Identity)
			fmt.Fprintf(w, "balance:   %s\n", wire.FormatTokens(a.Balance))
			fmt.Fprintf(w, "reserved:  %s (set aside by mounts to pay for storage)\n", wire.FormatTokens(a.Reserved))
			fmt.Fprintf(w, "available: %s\n", wire.FormatTokens(a.Available))
			if a.Operator {
				fmt.Fprintln(w, "operator:  yes (mints tokens, sets prices)")
			}
			return nil
		},
	}
	c.Flags().Bool("json", false, "print JSON")
	return c
}

// tokens is micro-tokens as a JSON number of tokens.
func tokens(micro int64) float64 { return float64(micro) / wire.Unit }

func newTopupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "topup IDENTITY AMOUNT",
		Short: "Mint tokens to an identity (the ledger's operator only)",
		Long: `topup mints AMOUNT tokens to IDENTITY (a ledger id, or on the embedded ledger an anchorfs1...
identity). Only the ledger's operator may: the identity that created the embedded ledger, or the
one the Fabric network's deploy named; anyone else is refused, and the refusal is on the ledger.`,
		Example: `  anchorfs topup embedded/3f9a0c1d2e3f405162738495a6b7c8d9 100
  anchorfs topup Org1MSP/0a1b2c3d4e5f60718293a4b5c6d7e8f9 12.5`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return tokenCall(cmd, args, false, func(l network.Ledger, to string, amount int64) error {
				if err := l.Mint(context.Background(), to, amount); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "minted %s to %s\n", wire.FormatTokens(amount), to)
				return nil
			})
		},
	}
}

func newTransferCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "transfer IDENTITY AMOUNT|all",
		Short: "Pay another identity tokens of your balance",
		Long: `transfer pays AMOUNT tokens ("all": the whole balance) of this home's identity's balance to
IDENTITY (a ledger id, or on the embedded ledger an anchorfs1... identity). What mounts reserved for storage is taken back
for it when the available part does not cover it; their writes then stop (EDQUOT) until the
balance pays again.`,
		Example: `  anchorfs transfer Org2MSP/0a1b2c3d4e5f60718293a4b5c6d7e8f9 5`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return tokenCall(cmd, args, true, func(l network.Ledger, to string, amount int64) error {
				if err := l.Transfer(context.Background(), to, amount); err != nil {
					return err
				}
				what := wire.FormatTokens(amount)
				if amount == wire.All {
					what = "the whole balance"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "transferred %s to %s\n", what, to)
				return nil
			})
		},
	}
}

// tokenCall runs a mint or transfer of args IDENTITY AMOUNT (with
// allowAll, "all": the whole balance).
func tokenCall(cmd *cobra.Command, args []string, allowAll bool, call func(l network.Ledger, to string, amount int64) error) error {
	amount := int64(wire.All)
	var err error
	if args[1] != "all" || !allowAll {
		if amount, err = parseAmount(args[1]); err != nil {
			return err
		}
	}
	l, done, err := openHomeLedger(cmd, true)
	if err != nil {
		return err
	}
	defer done()
	to, err := ledgerIdentity(l, args[0])
	if err != nil {
		return err
	}
	return call(l, to, amount)
}

func newPricesCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "prices",
		Short: "The price list: per GiB-month stored, per GiB read",
		Long: `prices prints the ledger's price list, in tokens: per GiB stored for a month of 30 days
(parity included, on several remotes) and per GiB read. With --set the operator changes it
from now on: storage already stored is charged at each price for the time it was in force.`,
		Example: `  anchorfs prices
  anchorfs prices --set storage=0.02,read=0.01`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, done, err := openHomeLedger(cmd, true)
			if err != nil {
				return err
			}
			defer done()
			ctx := context.Background()
			p, err := l.Prices(ctx)
			if err != nil {
				return err
			}
			if set, _ := cmd.Flags().GetString("set"); set != "" {
				for _, kv := range strings.Split(set, ",") {
					k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
					price, err := wire.ParseTokens(v)
					if err != nil || price < 0 {
						return usageError{fmt.Errorf("--set %q: storage=TOKENS,read=TOKENS", set)}
					}
					switch k {
					case "storage":
						p.Storage = price
					case "read":
						p.Read = price
					default:
						return usageError{fmt.Errorf("--set: %q is not a price (storage, read)", k)}
					}
				}
				if err := l.SetPrices(ctx, p); err != nil {
					return err
				}
				if p, err = l.Prices(ctx); err != nil {
					return err
				}
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"storage": tokens(p.Storage), "read": tokens(p.Read), "since": p.Since})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "storage: %s per GiB-month\n", wire.FormatTokens(p.Storage))
			fmt.Fprintf(w, "read:    %s per GiB\n", wire.FormatTokens(p.Read))
			return nil
		},
	}
	c.Flags().String("set", "", "set prices (the operator only): storage=TOKENS,read=TOKENS")
	c.Flags().Bool("json", false, "print JSON")
	return c
}

func newUsageCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "usage",
		Short: "Your statement: what was charged and credited, when, for what",
		Long: `usage lists every change of this home's identity's balance: mints, transfers, storage
(each time a mount's lane paid what its bytes cost since it last paid: bytes, seconds) and
reads (bytes), and what it earned as a payee. Amounts are in tokens; columns in docs/AUDIT.md.`,
		Example: `  anchorfs usage --since 2026-11-01
  anchorfs usage --format csv > statement.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, _ := cmd.Flags().GetString("format")
			if format != "table" && format != "json" && format != "csv" {
				return usageError{fmt.Errorf("--format %q: use table, json or csv", format)}
			}
			s, _ := cmd.Flags().GetString("since")
			since, err := parseWhen(s)
			if err != nil {
				return err
			}
			l, done, err := openHomeLedger(cmd, true)
			if err != nil {
				return err
			}
			defer done()
			charges, err := l.Usage(context.Background(), "", since)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch format {
			case "json":
				type row struct {
					network.Charge
					Amount float64 `json:"amount"`
				}
				rows := make([]row, len(charges))
				for i, c := range charges {
					rows[i] = row{Charge: c, Amount: tokens(c.Amount)}
				}
				return writeJSON(w, rows)
			case "csv":
				cw := csv.NewWriter(w)
				cw.Write([]string{"time", "kind", "amount", "volume", "bytes", "seconds", "counterparty", "tx"})
				for _, c := range charges {
					cw.Write([]string{c.Time.Format(time.RFC3339Nano), c.Kind, wire.FormatTokens(c.Amount), c.Volume,
						strconv.FormatInt(c.Bytes, 10), strconv.FormatFloat(c.Seconds, 'f', -1, 64), c.Counterparty, c.TxID})
				}
				cw.Flush()
				return cw.Error()
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tKIND\tAMOUNT\tBYTES\tCOUNTERPARTY")
			var sum int64
			for _, c := range charges {
				sum += c.Amount
				b := ""
				if c.Bytes != 0 {
					b = humanBytes(c.Bytes)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Time.Local().Format("2006-01-02 15:04:05"), c.Kind, wire.FormatTokens(c.Amount), b, c.Counterparty)
			}
			fmt.Fprintf(tw, "\ttotal\t%s\t\t\n", wire.FormatTokens(sum))
			return tw.Flush()
		},
	}
	c.Flags().String("since", "", "only charges at or after this time (RFC 3339 or a date)")
	c.Flags().String("format", "table", "table, json or csv")
	return c
}
