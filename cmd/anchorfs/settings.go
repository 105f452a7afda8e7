package main

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/spf13/pflag"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"golang.org/x/term"

	"github.com/anchorfs/anchorfs/home"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/remote"
)

// settings are one command's resolved settings: flags, then ANCHORFS_*
// environment variables, then HOME/config.yaml.
type settings struct {
	v    *viper.Viper
	home home.Home
}

func loadSettings(cmd *cobra.Command) (*settings, error) {
	v := viper.New()
	v.SetEnvPrefix("ANCHORFS")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return nil, err
	}
	dir := v.GetString("home")
	if dir == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("no --home given and no home folder: %w", err)
		}
		dir = filepath.Join(h, ".anchorfs")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &settings{v: v, home: home.Home{Dir: dir}}
	path := s.home.ConfigPath()
	if _, err := os.Stat(path); err == nil {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config file %s is corrupt: %v", path, err)
		}
		for _, k := range unknownKeys(cmd.Root(), v.AllKeys()) {
			fmt.Fprintf(os.Stderr, "anchorfs: warning: %s: unknown setting %q, ignored\n", path, k)
		}
	}
	// After the config file: bwlimit may be set there too.
	if err := remote.SetBandwidth(v.GetString("bwlimit")); err != nil {
		return nil, usageError{err}
	}
	return s, nil
}

// unknownKeys are the keys of a config file that are neither the home's
// settings nor any command's flag (dashes or underscores alike).
func unknownKeys(root *cobra.Command, keys []string) []string {
	known := map[string]bool{}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[home.Config]()) {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		known[name] = true
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { known[strings.ReplaceAll(f.Name, "-", "_")] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { known[strings.ReplaceAll(f.Name, "-", "_")] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	var out []string
	for _, k := range keys {
		if top, _, _ := strings.Cut(k, "."); !known[strings.ReplaceAll(top, "-", "_")] {
			out = append(out, k)
		}
	}
	return out
}

// loadVolumeSettings is loadSettings for a command on the home's volume: a
// home without one is an error that says what to do.
func loadVolumeSettings(cmd *cobra.Command) (*settings, error) {
	s, err := loadSettings(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := s.config(); err != nil {
		return nil, err
	}
	return s, nil
}

// config returns the volume settings; a home without a volume is an error
// that says what to do.
func (s *settings) config() (home.Config, error) {
	var c home.Config
	if err := s.v.Unmarshal(&c); err != nil {
		return c, fmt.Errorf("config file %s is corrupt: %v", s.home.ConfigPath(), err)
	}
	if c.Volume == "" {
		return c, fmt.Errorf("no volume in %s: run `anchorfs init --remote SPEC` first", s.home.Dir)
	}
	if len(c.Remotes) == 0 {
		return c, fmt.Errorf("config file %s names no remote", s.home.ConfigPath())
	}
	if c.Ledger == "" {
		c.Ledger = "embedded"
	}
	return c, nil
}

var errNoPassphrase = errors.New("the keyring is protected by a passphrase: give --passphrase-file FILE or set ANCHORFS_PASSPHRASE (no terminal to ask on)")

// givenPassphrase returns a passphrase from --passphrase-file or
// ANCHORFS_PASSPHRASE (set but empty means the empty passphrase).
func (s *settings) givenPassphrase() ([]byte, bool, error) {
	if file := s.v.GetString("passphrase-file"); file != "" {
		p, err := firstLine(file)
		if err != nil {
			return nil, false, fmt.Errorf("passphrase file: %w", err)
		}
		return p, true, nil
	}
	if p, ok := os.LookupEnv("ANCHORFS_PASSPHRASE"); ok {
		return []byte(p), true, nil
	}
	return nil, false, nil
}

// firstLine is the first line of a file, without its line end: what a
// passphrase file holds.
func firstLine(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	return []byte(strings.TrimRight(line, "\r\n")), nil
}

// prompt asks on the terminal without echo.
func prompt(question string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return nil, errNoPassphrase
	}
	defer tty.Close()
	fmt.Fprint(tty, question)
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	return p, err
}

// loadIdentity opens this home's identity, asking for the passphrase when it is protected.
func (s *settings) loadIdentity() (*keyring.Identity, error) {
	dir := s.home.KeyringDir()
	if !keyring.Exists(dir) {
		return nil, fmt.Errorf("no identity in %s: restore yours from a backup with `anchorfs identity import BACKUP` (a new identity, made by `anchorfs init` or `anchorfs identity`, cannot open volumes made with the old one)", s.home.Dir)
	}
	pass, err := s.passphrase()
	if err != nil {
		return nil, err
	}
	return keyring.Load(dir, pass)
}

// passphrase is the keyring's passphrase, given or asked for; nil for a
// keyring it does not protect.
func (s *settings) passphrase() ([]byte, error) {
	dir := s.home.KeyringDir()
	protected, err := keyring.IsProtected(dir)
	if err != nil || !protected {
		return nil, err
	}
	p, given, err := s.givenPassphrase()
	if err != nil || given {
		return p, err
	}
	return prompt("Passphrase for " + dir + ": ")
}

// ensureIdentity loads the identity, creating it on first use.
func (s *settings) ensureIdentity(stderr *os.File) (*keyring.Identity, bool, error) {
	dir := s.home.KeyringDir()
	if keyring.Exists(dir) {
		id, err := s.loadIdentity()
		return id, false, err
	}
	pass, given, err := s.givenPassphrase()
	if err != nil {
		return nil, false, err
	}
	if !given {
		p, err := prompt("New passphrase for " + dir + " (empty: protected by file mode only): ")
		switch {
		case errors.Is(err, errNoPassphrase):
			fmt.Fprintln(stderr, "anchorfs: no terminal and no passphrase given: the new keyring is protected by file mode only")
			p = nil
		case err != nil:
			return nil, false, err
		default:
			again, err := prompt("Repeat the passphrase: ")
			if err != nil {
				return nil, false, err
			}
			if string(again) != string(p) {
				return nil, false, errors.New("the passphrases differ; nothing was created")
			}
		}
		pass = p
	}
	id, err := keyring.Create(dir, pass)
	return id, true, err
}

// logPath is where a mount logs: --log-file, or HOME/mount.log.
func (s *settings) logPath() string {
	if p := s.v.GetString("log-file"); p != "" {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return p
	}
	return s.home.LogPath()
}
