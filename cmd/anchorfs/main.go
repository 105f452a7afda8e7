// Command anchorfs mounts an encrypted drive whose ciphertext lives on any rclone remote and whose file versions are anchored on a ledger.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// usageError marks a command line that does not parse: exit status 2.
type usageError struct{ error }

// findingsError marks a command that ran and found problems: exit status 1, no extra message.
type findingsError struct{ n int }

func (e findingsError) Error() string { return fmt.Sprintf("%d problems found", e.n) }

func main() {
	args := os.Args[1:]
	if filepath.Base(os.Args[0]) == mountHelperName {
		if os.Getenv("HOME") == "" { // mount(8) runs helpers without one
			if u, err := user.Current(); err == nil {
				os.Setenv("HOME", u.HomeDir)
			}
		}
		var err error
		if args, err = mountHelperArgs(args); err != nil {
			fmt.Fprintf(os.Stderr, "%v\n", err)
			os.Exit(2)
		}
	}
	os.Exit(run(args))
}

// commandLine is the command line run executes (after mount(8)'s helper
// call is translated), for a mount that runs itself again in the background.
var commandLine []string

// run executes the command line and returns the exit status.
func run(args []string) int {
	commandLine = args
	root := newRootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var ue usageError
	var fe findingsError
	switch {
	case errors.As(err, &fe):
		return 1
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command"):
		fmt.Fprintf(os.Stderr, "anchorfs: %v\n", err)
		fmt.Fprintf(os.Stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return 2
	}
	fmt.Fprintf(os.Stderr, "anchorfs: %v\n", err)
	return 1
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "anchorfs",
		Short: "An encrypted drive on any rclone remote, with every file version anchored on a ledger",
		Long: `anchorfs mounts an encrypted drive. Everything written into it is chunked and
encrypted inside the process; the ciphertext goes to any storage rclone can reach, and
every file version is anchored on a ledger (an embedded one by default, or Hyperledger
Fabric), so that reads are checked against what was anchored.

Settings come from flags, then ANCHORFS_* environment variables, then HOME/config.yaml.`,
		Example: `  anchorfs init --remote /srv/vault
  anchorfs mount ~/Vault
  anchorfs sync`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		Version:           versionLine(),
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true}, // newCompletionCmd
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().String("home", "", "folder holding config.yaml, keyring/, cache/ and ledger/ (env ANCHORFS_HOME, default ~/.anchorfs)")
	root.PersistentFlags().String("passphrase-file", "", "read the keyring passphrase from the first line of this file (env ANCHORFS_PASSPHRASE_FILE; or set ANCHORFS_PASSPHRASE)")
	root.PersistentFlags().String("bwlimit", "", "limit what goes to and from the remotes, in rclone's syntax: 10M, 10M:2M (up:down), \"08:00,512k 19:00,off\" (env ANCHORFS_BWLIMIT)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newInitCmd(), newMountCmd(), newSyncCmd(), newInfoCmd(), newIdentityCmd(),
		newVerifyCmd(), newVersionsCmd(), newRestoreCmd(), newGCCmd(), newUpgradeCmd(), newVersionCmd(), newLedgerCmd(), newAuditCmd(), newChaincodeCmd(),
		newShareCmd(), newRevokeCmd(), newGrantsCmd(), newJoinCmd(), newNodesCmd(), newScrubCmd(), newRepairCmd(), newRemoteCmd(), newReshardCmd(),
		newBalanceCmd(), newTopupCmd(), newTransferCmd(), newPricesCmd(), newUsageCmd(), newUnmountCmd(), newCompletionCmd(root), newManCmd(root), newPasswdCmd())
	var fix func(c *cobra.Command)
	fix = func(c *cobra.Command) {
		c.SilenceUsage = true
		if c.Args == nil {
			c.Args = cobra.NoArgs
		}
		wrapArgs(c)
		for _, sub := range c.Commands() {
			fix(sub)
		}
	}
	for _, c := range root.Commands() {
		fix(c)
	}
	return root
}

// wrapArgs turns argument validation failures into usage errors.
func wrapArgs(c *cobra.Command) {
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
