package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorfs/anchorfs/fs"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/home"
)

// backgroundChild marks the re-executed mount process of --background; fd 3
// carries the passphrase in, fd 4 the "mounted" or error line out.
const backgroundChild = "ANCHORFS_BACKGROUND_CHILD"

func newMountCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "mount MOUNTPOINT",
		Short: "Mount the volume; stays in the foreground until unmounted",
		Long: `mount serves the volume at MOUNTPOINT. It stays in the foreground until the mount goes
away (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT, fusermount3 -u or umount), then flushes everything
to the remote and exits. It logs to the terminal and to HOME/mount.log; a terminal that
goes away stops only the terminal copy. With --background it returns once the mount is
live and logs to HOME/mount.log. What the remote cannot take at unmount (full, or down)
waits in the cache for the next mount.

A remote that serves an earlier state of the tree than the ledger anchored (rolled back,
restored from an old copy) is refused: nothing is mounted and the mount exits 1.
--allow-rollback mounts it read-only instead, to look at what it holds.

--allow-other lets other local users in, under the kernel's ordinary permission checks.
--log-file writes the log to another file than HOME/mount.log. --read-only serves the volume read-only (writes fail with EROFS; reads are still on the
ledger). A mount point that is not empty is refused, as rclone does, unless
--allow-non-empty: its files would be hidden under the mount.`,
		Example: `  anchorfs mount ~/Vault
  anchorfs mount ~/Vault --background && ls ~/Vault
  fusermount3 -u ~/Vault`,
		Args: cobra.ExactArgs(1),
		RunE: runMount,
	}
	c.Flags().Bool("background", false, "return once the mount is live; log to HOME/mount.log")
	c.Flags().Bool("allow-other", false, "let other local users in (with the kernel's permission checks)")
	c.Flags().Bool("allow-rollback", false, "mount a remote rolled back to an earlier state read-only, instead of refusing it")
	c.Flags().Bool("debug", false, "log every FUSE request (--log-level DEBUG)")
	c.Flags().String("log-level", "NOTICE", "how much to log, as rclone: DEBUG (every FUSE request too), INFO, NOTICE, ERROR (problems only)")
	c.Flags().Bool("read-only", false, "serve the volume read-only")
	c.Flags().String("log-file", "", "log to this file instead of HOME/mount.log")
	c.Flags().Bool("allow-non-empty", false, "mount over a folder that is not empty (its files are hidden while mounted)")
	c.Flags().Bool("noatime", false, "keep access times as they are (by default reads renew them as relatime does)")
	return c
}

// checkMountPoint gives a clear error for a mount point that cannot be used.
func checkMountPoint(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, syscall.ENOTCONN) {
			return fmt.Errorf("mount point %s is a dead mount (its process is gone): umount -l %s", dir, dir)
		}
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("mount point %s does not exist: create it first (mkdir -p %s)", dir, dir)
		}
		return fmt.Errorf("mount point %s: %v", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("mount point %s is not a folder", dir)
	}
	parent, err := os.Stat(filepath.Dir(dir))
	if err == nil && dir != "/" && !sameDevice(st, parent) {
		return fmt.Errorf("mount point %s is busy: something is already mounted there", dir)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil && !isDarwin() {
		return errors.New("no /dev/fuse: load the fuse kernel module (modprobe fuse)")
	}
	return nil
}

func runMount(cmd *cobra.Command, args []string) error {
	s, err := loadSettings(cmd)
	if err != nil {
		return err
	}
	if l := s.v.GetString("log-level"); !logLevels[strings.ToUpper(l)] {
		return usageError{fmt.Errorf("--log-level %q: DEBUG, INFO, NOTICE or ERROR", l)}
	}
	dir, err := filepath.Abs(args[0])
	if err != nil {
		return err
	}
	if _, err := s.config(); err != nil {
		return err
	}
	if err := checkMountPoint(dir); err != nil {
		return err
	}
	if !s.v.GetBool("allow-non-empty") {
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return fmt.Errorf("mount point %s is not empty (%s, ...): mount on an empty folder, or pass --allow-non-empty to hide its files under the mount", dir, entries[0].Name())
		}
	}
	if c := dialMount(s); c != nil && os.Getenv(backgroundChild) == "" {
		if info, err := c.info(); err == nil {
			return fmt.Errorf("this home's volume is mounted at %s already (anchorfs unmount %s first, or use another --home)", info.Mountpoint, info.Mountpoint)
		}
	}
	if os.Getenv(backgroundChild) == "" && s.v.GetBool("background") {
		return mountInBackground(s, dir)
	}
	ready := func(string) {}
	var logOut io.Writer
	if os.Getenv(backgroundChild) != "" {
		logOut = os.Stderr // mount.log, opened by the parent
		status := os.NewFile(4, "status")
		ready = func(line string) { fmt.Fprintln(status, line); status.Close() }
		pass, _ := io.ReadAll(os.NewFile(3, "passphrase"))
		os.Setenv("ANCHORFS_PASSPHRASE", string(pass))
		defer os.Unsetenv("ANCHORFS_PASSPHRASE")
	} else {
		// A foreground mount logs to the terminal and to HOME/mount.log: when
		// the terminal goes (closed, or a pipe whose reader left), the log
		// goes on in the file.
		f, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		logOut = &teeLog{file: f, term: os.Stderr}
	}
	err = serve(s, dir, logOut, ready)
	if err != nil {
		ready("error: " + err.Error())
	}
	return err
}

// mountMemoryLimit is the mount process's soft memory limit (GOMEMLIMIT
// sets another).
const mountMemoryLimit = 192 << 20

// serve mounts and blocks until the mount goes away.
func serve(s *settings, dir string, logOut io.Writer, ready func(string)) error {
	ctx := context.Background()
	if os.Getenv("GOMEMLIMIT") == "" {
		// A long write allocates two fresh 1 MiB buffers a chunk while
		// little of it stays live: without a limit the heap grows to
		// twice what is live and keeps pages it freed. The limit is soft:
		// a mount that needs more (many files written at once) gets it.
		debug.SetMemoryLimit(mountMemoryLimit)
	}
	logf := leveledLogf(logOut, s.v.GetString("log-level"))
	// For `go tool pprof` and `go tool trace`: the mount's CPU profile and
	// an execution trace (where its goroutines waited), written at unmount.
	for _, p := range []struct {
		env   string
		start func(io.Writer) error
		stop  func()
	}{{"ANCHORFS_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile}, {"ANCHORFS_TRACE", trace.Start, trace.Stop}} {
		stop, err := startProfile(os.Getenv(p.env), p.start, p.stop)
		if err != nil {
			return fmt.Errorf("%s: %w", p.env, err)
		}
		defer stop()
	}
	o, err := s.openVolume(ctx, home.ReadWrite, logf)
	var rolledBack *volume.RollbackError
	if errors.As(err, &rolledBack) {
		if !s.v.GetBool("allow-rollback") {
			return fmt.Errorf("%w. Nothing was mounted: put the missing objects back on the remote, or mount with --allow-rollback to look at what it holds, read-only", err)
		}
		logf("%v", err)
		o, err = s.openVolume(ctx, home.Inspect, logf)
	}
	if err != nil {
		return err
	}
	ro := rolledBack != nil || s.v.GetBool("read-only")
	if rolledBack != nil {
		logf("--allow-rollback: mounting read-only; the tree shown is the remote's earlier state, not the volume's newest")
	}
	srv, err := fs.Serve(o.Volume, dir, fs.MountOptions{AllowOther: s.v.GetBool("allow-other"), ReadOnly: ro, Debug: s.v.GetBool("debug") || strings.EqualFold(s.v.GetString("log-level"), "DEBUG"), Logf: logf})
	if err != nil {
		o.Close(ctx)
		return err
	}
	ctl, err := startControl(s, o, dir, logf)
	if err != nil {
		srv.Unmount()
		srv.Wait()
		o.Close(ctx)
		return err
	}
	// Every signal that ends a terminal session flushes and unmounts; a
	// closed stdout or stderr makes writes fail instead of killing the mount.
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	go func() {
		for sig := range sigs {
			logf("%v: unmounting %s", sig, dir)
			unmountPatiently(srv, dir, logf)
		}
	}()
	logf("volume %s mounted at %s", o.Config.Volume, dir)
	ready("mounted")
	srv.Wait()
	signal.Stop(sigs)
	// The control socket goes last: while it is there the process may
	// still write (to the remote, the cache, its log), and `sync` still
	// reaches the volume.
	defer ctl.stop()
	logf("flushing volume %s", o.Config.Volume)
	if err := o.Close(ctx); err != nil {
		return fmt.Errorf("flushing at unmount: %w", err)
	}
	logf("unmounted cleanly")
	return nil
}

// unmountPatiently unmounts, retrying while files are open; when they stay
// open, it detaches the mount (umount -l): the kernel lets the open files
// finish, and the mount flushes once they are closed.
func unmountPatiently(srv *fs.Server, dir string, logf func(string, ...any)) {
	for i := 0; i < 25; i++ {
		err := srv.Unmount()
		if err == nil {
			return
		}
		if i == 0 {
			logf("unmount: %v (retrying while files are open)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := fs.Detach(dir); err != nil {
		logf("detaching %s: %v", dir, err)
	} else {
		logf("files stay open in %s: detached; flushing once they are closed", dir)
	}
}

// teeLog writes the mount's log to a file and to the terminal, until
// writing to the terminal fails.
type teeLog struct {
	file    io.Writer
	term    io.Writer
	termErr bool
}

func (t *teeLog) Write(p []byte) (int, error) {
	if !t.termErr {
		if _, err := t.term.Write(p); err != nil {
			t.termErr = true
		}
	}
	t.file.Write(p)
	return len(p), nil
}

// mountInBackground re-executes the mount detached and waits for it to be live.
func mountInBackground(s *settings, dir string) error {
	var pass []byte
	if protected, err := isProtected(s); err != nil {
		return err
	} else if protected {
		p, given, err := s.givenPassphrase()
		if err != nil {
			return err
		}
		if !given {
			if p, err = prompt("Passphrase for " + s.home.KeyringDir() + ": "); err != nil {
				return err
			}
		}
		pass = p
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var args []string
	for _, a := range commandLine {
		if a != "--background" && a != "--background=true" {
			args = append(args, a)
		}
	}
	logPath := s.logPath()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	passR, passW, err := os.Pipe()
	if err != nil {
		return err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return err
	}
	child := exec.Command(exe, args...)
	child.Env = append(os.Environ(), backgroundChild+"=1", "ANCHORFS_HOME="+s.home.Dir)
	child.Stdout, child.Stderr = logFile, logFile
	child.ExtraFiles = []*os.File{passR, statusW}
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return err
	}
	passR.Close()
	statusW.Close()
	passW.Write(pass)
	passW.Close()
	line, _ := bufio.NewReader(statusR).ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "mounted" {
		fmt.Printf("mounted at %s (pid %d, log %s)\n", dir, child.Process.Pid, logPath)
		child.Process.Release()
		return nil
	}
	child.Wait()
	if msg, ok := strings.CutPrefix(line, "error: "); ok {
		return errors.New(msg)
	}
	return fmt.Errorf("the background mount exited; see %s", logPath)
}

// startProfile starts a profile written to path (none if path is empty)
// and returns what ends it.
func startProfile(path string, start func(io.Writer) error, stop func()) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		stop()
		f.Close()
	}, nil
}
