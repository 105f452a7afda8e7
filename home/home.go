// Package home is one user's anchorfs folder: its config, identity paths and cache, and the remote, ledger and volume the config names.
package home

import (
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Home is one anchorfs home folder: config.yaml, keyring/, cache/, and
// ledger/ for an embedded ledger of its own.
type Home struct {
	// Dir is the folder, an absolute path.
	Dir string
}

// Config is HOME/config.yaml.
type Config struct {
	Volume       string   `yaml:"volume" mapstructure:"volume"`
	Remotes      []string `yaml:"remotes" mapstructure:"remotes"`
	RcloneConfig string   `yaml:"rclone_config" mapstructure:"rclone_config"`
	Ledger       string   `yaml:"ledger" mapstructure:"ledger"`
	// Shared marks a home that joined folders shared with it (anchorfs join).
	Shared bool `yaml:"shared,omitempty" mapstructure:"shared"`
	// ShardsStored is "all" for writes to count as stored (fsync, sync,
	// anchoring) only once every storage node has them; otherwise once
	// shards.Layout.Stored nodes do.
	ShardsStored string `yaml:"shards_stored,omitempty" mapstructure:"shards_stored"`
	// KeepVersions and KeepWithin are gc's retention of old file versions
	// (0 and "" for the defaults; see anchorfs gc --help).
	KeepVersions int    `yaml:"keep_versions,omitempty" mapstructure:"keep_versions"`
	KeepWithin   string `yaml:"keep_within,omitempty" mapstructure:"keep_within"`
}

// ConfigPath is HOME/config.yaml.
func (h Home) ConfigPath() string { return filepath.Join(h.Dir, "config.yaml") }

// KeyringDir holds the home's identity.
func (h Home) KeyringDir() string { return filepath.Join(h.Dir, "keyring") }

// SocketPath is where a running mount of the home answers.
func (h Home) SocketPath() string { return filepath.Join(h.Dir, "mount.sock") }

// LogPath is HOME/mount.log, where a mount of the home logs.
func (h Home) LogPath() string { return filepath.Join(h.Dir, "mount.log") }

// CacheDir holds volume vol's local state (volume.Options.CacheDir).
func (h Home) CacheDir(vol string) string { return filepath.Join(h.Dir, "cache", vol) }

// LedgerDir is where an embedded ledger lives: HOME/ledger, or the folder
// named by "embedded:DIR".
func (h Home) LedgerDir(spec string) string {
	if dir, ok := strings.CutPrefix(spec, "embedded:"); ok && dir != "" {
		return dir
	}
	return filepath.Join(h.Dir, "ledger")
}

// Save writes config.yaml atomically, readable by its owner only.
func (h Home) Save(c Config) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return err
	}
	tmp := h.ConfigPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, h.ConfigPath())
}
