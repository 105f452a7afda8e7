package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/chaincode"
	"github.com/anchorfs/anchorfs/keyring"
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
			l, done, err := openHomeLedger(cmd, false)
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
			l, done, err := openHomeLedger(cmd, false)
			if err != nil {
				return err
			}
			defer done()
			from, _ := cmd.Flags().GetUint64("from")
			if info, err := l.Info(context.Background()); err == nil && from >= info.Height {
				return usageError{fmt.Errorf("--from %d is past the ledger's head: it has blocks 0 to %d", from, info.Height-1)}
			}
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

// openHomeLedger opens this home's ledger, signed: with its identity
// (asking for the passphrase), for what the ledger tells only a volume's
// members or records; unsigned for what it tells anyone (info, blocks).
func openHomeLedger(cmd *cobra.Command, signed bool) (network.Ledger, func(), error) {
	s, err := loadSettings(cmd)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.config()
	if err != nil {
		return nil, nil, err
	}
	var id *keyring.Identity
	if signed {
		if id, err = s.loadIdentity(); err != nil {
			return nil, nil, err
		}
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

// ledgerIDOf is the id this home's ledger knows its identity pub by: on
// Fabric, that of the home's Fabric certificate (read, no call made).
func (s *settings) ledgerIDOf(pub keyring.Public) string {
	if c, err := s.config(); err == nil && strings.HasPrefix(c.Ledger, "fabric:") {
		if l, err := s.home.OpenLedger(context.Background(), c.Ledger, nil); err == nil && l != nil {
			defer l.Close()
			return l.Actor()
		}
	}
	return pub.LedgerID()
}
