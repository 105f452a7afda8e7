package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/keyring"
)

// secretFrom reads a passphrase from the first line of the file named by
// flag, else from the environment variable env, else asks on the terminal
// (twice: to be sure of a new one); with none of them it says how to give it.
func secretFrom(cmd *cobra.Command, flag, env, question string, twice bool) ([]byte, error) {
	if file, _ := cmd.Flags().GetString(flag); file != "" {
		p, err := firstLine(file)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		return p, nil
	}
	if p, ok := os.LookupEnv(env); ok {
		return []byte(p), nil
	}
	p, err := prompt(question)
	if errors.Is(err, errNoPassphrase) {
		return nil, fmt.Errorf("no terminal to ask on: give --%s FILE or set %s", flag, env)
	}
	if err != nil || !twice {
		return p, err
	}
	again, err := prompt("Repeat it: ")
	if err != nil {
		return nil, err
	}
	if string(again) != string(p) {
		return nil, errors.New("the passphrases differ; nothing was changed")
	}
	return p, nil
}

func newPasswdCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "passwd",
		Short: "Change the keyring's passphrase",
		Long: `passwd re-protects this home's keyring with a new passphrase: the current one comes as for
every command (a terminal prompt, --passphrase-file, ANCHORFS_PASSPHRASE), the new one from
--new-passphrase-file, ANCHORFS_NEW_PASSPHRASE, or the terminal (asked twice). An empty new
passphrase leaves the keys protected by file mode only. A running mount keeps working: it holds
the keys already.`,
		Example: `  anchorfs passwd
  ANCHORFS_PASSPHRASE=old ANCHORFS_NEW_PASSPHRASE=new anchorfs passwd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			id, err := s.loadIdentity()
			if err != nil {
				return err
			}
			next, err := secretFrom(cmd, "new-passphrase-file", "ANCHORFS_NEW_PASSPHRASE", "New passphrase for "+s.home.KeyringDir()+" (empty: file mode only): ", true)
			if err != nil {
				return err
			}
			if err := keyring.Save(id, s.home.KeyringDir(), next); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "the passphrase of %s is changed\n", s.home.KeyringDir())
			return nil
		},
	}
	c.Flags().String("new-passphrase-file", "", "read the new passphrase from the first line of this file (env ANCHORFS_NEW_PASSPHRASE)")
	return c
}

func newIdentityExportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "export FILE",
		Short: "Write a passphrase-protected backup of your keys",
		Long: `identity export writes this home's secret keys to FILE, encrypted with a passphrase of its
own (age, scrypt): from --export-passphrase-file, ANCHORFS_EXPORT_PASSPHRASE or the terminal
(asked twice); it may not be empty. Keep it apart from the home: without the keys, nobody,
you included, can open the volumes they made. ` + "`identity import`" + ` restores it.`,
		Example: `  anchorfs identity export /media/usb/anchorfs-keys.age`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			id, err := s.loadIdentity()
			if err != nil {
				return err
			}
			pass, err := secretFrom(cmd, "export-passphrase-file", "ANCHORFS_EXPORT_PASSPHRASE", "Passphrase for the backup: ", true)
			if err != nil {
				return err
			}
			b, err := id.Export(pass)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(args[0], os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("backup: %w (it is never overwritten)", err)
			}
			if _, err = f.Write(b); err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(args[0])
				return fmt.Errorf("backup: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "the keys of %s are in %s\n", id.Public().LedgerID(), args[0])
			return nil
		},
	}
	c.Flags().String("export-passphrase-file", "", "read the backup's passphrase from the first line of this file (env ANCHORFS_EXPORT_PASSPHRASE)")
	return c
}

func newIdentityImportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Restore your keys from a backup into this home",
		Long: `identity import restores the keys of a backup made by ` + "`identity export`" + ` into this home's
keyring, which must not hold an identity yet. The backup's passphrase comes from
--export-passphrase-file, ANCHORFS_EXPORT_PASSPHRASE or the terminal; the keyring is then
protected by the home's passphrase as for every command (--passphrase-file,
ANCHORFS_PASSPHRASE, or asked twice). Then ` + "`anchorfs init --remote SAME-REMOTE`" + ` attaches the volume.`,
		Example: `  anchorfs identity import /media/usb/anchorfs-keys.age && anchorfs init --remote /srv/vault`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			pass, err := secretFrom(cmd, "export-passphrase-file", "ANCHORFS_EXPORT_PASSPHRASE", "Passphrase of the backup: ", false)
			if err != nil {
				return err
			}
			next, given, err := s.givenPassphrase()
			if err != nil {
				return err
			}
			if !given {
				if next, err = secretFrom(cmd, "passphrase-file", "ANCHORFS_PASSPHRASE", "New passphrase for "+s.home.KeyringDir()+" (empty: file mode only): ", true); err != nil {
					return err
				}
			}
			id, err := keyring.Import(s.home.KeyringDir(), b, pass, next)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s\n%s\n", id.Public().LedgerID(), s.home.KeyringDir(), id.Public())
			return nil
		},
	}
	c.Flags().String("export-passphrase-file", "", "read the backup's passphrase from the first line of this file (env ANCHORFS_EXPORT_PASSPHRASE)")
	return c
}
