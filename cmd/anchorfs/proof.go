package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/home"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/embedded"
	"github.com/anchorfs/anchorfs/network/fabric"
)

func newProveCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "prove PATH",
		Short: "Write a proof, checkable offline, that a file version was anchored",
		Long: `audit prove writes a proof that a version of the file at PATH (the newest, or --version) was
anchored: the ledger block that holds the anchoring transaction, exactly as stored, and what ties
the block to the ledger (the embedded node's signature; on Fabric, the headers of every later
block up to the head). ` + "`anchorfs audit check`" + ` verifies it anywhere, without the ledger. With the
file's manifest hash and Merkle root it shows that those very bytes were the file then.`,
		Example: `  anchorfs audit prove /contracts/2026.pdf > proof.json
  anchorfs audit prove /contracts/2026.pdf --version 3 --out proof.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			ctx := context.Background()
			o, err := s.openVolume(ctx, home.ReadOnly, stderrLogf(false))
			if err != nil {
				return err
			}
			defer o.Close(ctx)
			if o.Ledger == nil {
				return errors.New("this volume runs without a ledger (ledger: none): there is nothing to prove")
			}
			prover, ok := o.Ledger.(network.Prover)
			if !ok {
				return errors.New("this ledger cannot make proofs")
			}
			file, err := o.Volume.FileID(s.volumePath(args[0]))
			if err != nil {
				return err
			}
			history, err := o.Ledger.History(ctx, o.Config.Volume, file)
			if err != nil {
				return err
			}
			if len(history) == 0 {
				return fmt.Errorf("%s has no anchored version yet (anchorfs sync anchors what is pending)", args[0])
			}
			a := history[len(history)-1]
			if v, _ := cmd.Flags().GetUint64("version"); v != 0 {
				found := false
				for _, h := range history {
					if h.Version == v {
						a, found = h, true
					}
				}
				if !found {
					return fmt.Errorf("%s has no anchored version %d (versions 1 to %d)", args[0], v, history[len(history)-1].Version)
				}
			}
			p, err := prover.Prove(ctx, a)
			if err != nil {
				return err
			}
			p.Path = args[0]
			b, _ := json.MarshalIndent(p, "", "  ")
			if out, _ := cmd.Flags().GetString("out"); out != "" {
				return os.WriteFile(out, append(b, '\n'), 0o644)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return err
		},
	}
	c.Flags().Uint64("version", 0, "the version to prove (default: the newest anchored)")
	c.Flags().String("out", "", "write the proof to this file instead of standard output")
	return c
}

func newCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check PROOF",
		Short: "Check a proof made by audit prove, offline",
		Long: `audit check verifies a proof file without a ledger, a remote or a home: the block's hash
and its signature (embedded) or its chain of headers (Fabric), the anchoring transaction's validity,
and its write of exactly the anchored version. It prints what the proof establishes, including the
hash of the last block it reaches: compare that (or the embedded node's key) with what the ledger's
keeper shows in ` + "`anchorfs ledger info`" + `. Exit 1 if the proof does not hold.`,
		Example: `  anchorfs audit check proof.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var p network.Proof
			if err := json.Unmarshal(b, &p); err != nil {
				return fmt.Errorf("%s is not a proof: %w", args[0], err)
			}
			var c network.ProofCheck
			switch p.Kind {
			case "embedded":
				c, err = embedded.CheckProof(p)
			case "fabric":
				c, err = fabric.CheckProof(p)
			default:
				err = fmt.Errorf("%w: unknown ledger kind %q", network.ErrBadProof, p.Kind)
			}
			if err != nil {
				return err
			}
			a := p.Anchor
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "proof holds: version %d of file %s (volume %s)", a.Version, a.File, a.Volume)
			if p.Path != "" {
				fmt.Fprintf(w, ", said to be %s", p.Path)
			}
			fmt.Fprintf(w, "\n  manifest %s, Merkle root %s, %d bytes\n", a.ManifestHash, a.MerkleRoot, a.Size)
			fmt.Fprintf(w, "  anchored by %s at %s in transaction %s\n", c.Actor, c.Time.Format("2006-01-02 15:04:05 MST"), a.TxID)
			fmt.Fprintf(w, "  block %d (%s)\n", c.Block, c.BlockHash)
			if c.Signer != "" {
				fmt.Fprintf(w, "  signed by the ledger node key %s\n", c.Signer)
			}
			if c.Head != c.Block {
				fmt.Fprintf(w, "  linked to block %d (%s)\n", c.Head, c.HeadHash)
			}
			return nil
		},
	}
}
