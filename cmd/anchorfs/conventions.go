package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func newCompletionCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print the shell completion script",
		Long: `completion prints a script that completes anchorfs's commands and flags in bash, zsh or
fish. ` + "`make install`" + ` installs them where each shell looks; by hand:`,
		Example: `  anchorfs completion bash > /etc/bash_completion.d/anchorfs
  anchorfs completion zsh > "${fpath[1]}/_anchorfs"
  anchorfs completion fish > ~/.config/fish/completions/anchorfs.fish`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh", "fish"},
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			}
			return usageError{fmt.Errorf("completion %q: bash, zsh or fish", args[0])}
		},
	}
}

// unmountWait bounds how long unmount waits for the mount to flush.
const unmountWait = 10 * time.Minute

func newUnmountCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "unmount MOUNTPOINT",
		Short: "Unmount a mount and wait until it has flushed everything",
		Long: `unmount unmounts the anchorfs mount at MOUNTPOINT (as fusermount3 -u or umount would) and,
when it is this home's mount, waits until the mount process has flushed everything to the
remote and exited. While files are open the kernel refuses; --lazy detaches the mount at once
(umount -l) and the process flushes once the last open file is closed.`,
		Example: `  anchorfs unmount ~/Vault
  anchorfs unmount --lazy ~/Vault`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			if !isAnchorfsMount(dir) {
				return fmt.Errorf("%s is not an anchorfs mount", dir)
			}
			lazy, _ := cmd.Flags().GetBool("lazy")
			// This home's mount, at dir: wait for it to flush and go.
			ours := false
			s, err := loadSettings(cmd)
			if err == nil {
				if c := dialMount(s); c != nil {
					info, err := c.info()
					ours = err == nil && info.Mountpoint == dir
				}
			}
			if err := unmount(dir, lazy); err != nil {
				return err
			}
			if !ours || lazy {
				return nil
			}
			sock := filepath.Join(s.home.Dir, "mount.sock")
			for deadline := time.Now().Add(unmountWait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if _, err := os.Stat(sock); os.IsNotExist(err) {
					return nil
				}
			}
			return fmt.Errorf("%s is unmounted; the mount process is still flushing (see %s)", dir, s.home.LogPath())
		},
	}
	c.Flags().Bool("lazy", false, "detach at once even with files open (umount -l); the flush follows their close")
	return c
}

// isAnchorfsMount reports whether dir is where an anchorfs mount is, by
// the kernel's table of mounts.
func isAnchorfsMount(dir string) bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return true // no table to look in (macOS): let unmount say
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == dir && strings.HasPrefix(f[2], "fuse") && strings.HasPrefix(f[0], "anchorfs") {
			return true
		}
	}
	return false
}

// mntDetach is Linux's MNT_DETACH (umount -l), which the syscall package
// does not name on other systems.
const mntDetach = 0x2

// unmount unmounts dir: directly as root, else through fusermount3 (or
// umount on macOS).
func unmount(dir string, lazy bool) error {
	if os.Geteuid() == 0 && !isDarwin() {
		flags := 0
		if lazy {
			flags = mntDetach
		}
		if err := syscall.Unmount(dir, flags); err != nil {
			if errors.Is(err, syscall.EBUSY) {
				return fmt.Errorf("unmounting %s: files are open in it: close them, or anchorfs unmount --lazy", dir)
			}
			return fmt.Errorf("unmounting %s: %w", dir, err)
		}
		return nil
	}
	args := []string{"-u", dir}
	name := "fusermount3"
	if lazy {
		args = []string{"-u", "-z", dir}
	}
	if isDarwin() {
		name, args = "umount", []string{dir}
	}
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("unmounting %s: %s", dir, strings.TrimSpace(string(out)))
	}
	return nil
}

func newManCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:     "man DIR",
		Short:   "Write a man page of every command into DIR (make man)",
		Example: `  anchorfs man man/ && man man/anchorfs-mount.1`,
		Hidden:  true,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root.DisableAutoGenTag = true
			return doc.GenManTree(root, &doc.GenManHeader{Title: "ANCHORFS", Section: "1", Source: versionLine()}, args[0])
		},
	}
}
