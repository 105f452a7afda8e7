package home_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/anchorfs/anchorfs/home"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network/embedded"
	"github.com/anchorfs/anchorfs/sharing"
)

func identity(t *testing.T) *keyring.Identity {
	t.Helper()
	id, err := keyring.Create(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newHome is an empty home in a temporary folder.
func newHome(t *testing.T) home.Home {
	return home.Home{Dir: filepath.Join(t.TempDir(), "home")}
}

// readConfig reads what Save wrote, failing the test when there is none.
func readConfig(t *testing.T, h home.Home) home.Config {
	t.Helper()
	b, err := os.ReadFile(h.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	var c home.Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func noConfig(t *testing.T, h home.Home) {
	t.Helper()
	if _, err := os.Stat(h.ConfigPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed call left %s: %v", h.ConfigPath(), err)
	}
}

// volumeOn inits a volume on a new local-folder remote anchored on a new
// embedded ledger, owned by id.
func volumeOn(t *testing.T, id *keyring.Identity) (h home.Home, r home.Initialized) {
	t.Helper()
	h = newHome(t)
	c := home.Config{Remotes: []string{filepath.Join(t.TempDir(), "remote")}, Ledger: "embedded:" + t.TempDir()}
	r, err := h.Init(context.Background(), c, id, home.InitOptions{LedgerGiven: true})
	if err != nil {
		t.Fatal(err)
	}
	return h, r
}

func TestInitCreatesThenOpens(t *testing.T) {
	ctx := context.Background()
	id := identity(t)
	h, r := volumeOn(t, id)
	if r.Attached || r.Config.Volume == "" || r.Remote == "" {
		t.Fatalf("first init: %+v", r)
	}
	if got := readConfig(t, h); !reflect.DeepEqual(got, r.Config) {
		t.Fatalf("saved %+v, returned %+v", got, r.Config)
	}
	o, err := h.Open(ctx, r.Config, id, home.ReadWrite, home.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Volume.ID() != r.Config.Volume || o.Ledger == nil || o.Store == nil || o.Identity != id {
		t.Fatalf("opened %+v", o)
	}
	if _, err := o.Volume.Mkdir(o.Volume.Root(), "docs", 0o755, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.CacheDir(r.Config.Volume)); err != nil {
		t.Fatalf("no cache where the home keeps it: %v", err)
	}

	// A config that names another volume than the remote holds.
	c := r.Config
	c.Volume = "0000"
	if _, err := h.Open(ctx, c, id, home.ReadOnly, home.OpenOptions{}); err == nil ||
		!strings.Contains(err.Error(), "not 0000 named in "+h.ConfigPath()) {
		t.Fatalf("open of another volume id: %v", err)
	}
	// A config that names another ledger than the volume's.
	c = r.Config
	c.Ledger = "embedded:" + t.TempDir()
	if _, err := h.Open(ctx, c, id, home.ReadOnly, home.OpenOptions{}); err == nil ||
		!strings.HasPrefix(err.Error(), h.ConfigPath()+" names ledger "+c.Ledger+": ") {
		t.Fatalf("open on another ledger: %v", err)
	}
	// A volume on one remote opened with two.
	c = r.Config
	c.Remotes = append(c.Remotes, t.TempDir())
	if _, err := h.Open(ctx, c, id, home.ReadOnly, home.OpenOptions{}); err == nil || !strings.Contains(err.Error(), "is on one remote; 2 remotes given") {
		t.Fatalf("open with two remotes: %v", err)
	}
}

func TestInitAttaches(t *testing.T) {
	ctx := context.Background()
	id := identity(t)
	first, r := volumeOn(t, id)

	// A second home of the same owner, leaving the ledger out, takes the
	// volume's own.
	second := newHome(t)
	c := home.Config{Remotes: r.Config.Remotes, Ledger: "embedded"}
	a, err := second.Init(ctx, c, id, home.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Attached || a.Config.Volume != r.Config.Volume || a.Config.Ledger != r.Config.Ledger {
		t.Fatalf("second init: %+v, first %+v", a, r)
	}
	if got := readConfig(t, second); !reflect.DeepEqual(got, a.Config) {
		t.Fatalf("saved %+v, returned %+v", got, a.Config)
	}
	o, err := second.Open(ctx, a.Config, id, home.ReadOnly, home.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o.Close(ctx)
	// Attaching again is harmless; the first home still opens.
	if _, err := newHome(t).Init(ctx, c, id, home.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err = first.Open(ctx, r.Config, id, home.ReadWrite, home.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o.Close(ctx)
}

func TestInitRefuses(t *testing.T) {
	ctx := context.Background()
	id := identity(t)
	_, r := volumeOn(t, id)
	remotes := r.Config.Remotes

	// An embedded ledger folder that holds no ledger.
	h := newHome(t)
	_, err := h.Init(ctx, home.Config{Remotes: remotes, Ledger: "embedded"}, id, home.InitOptions{LedgerGiven: true})
	if err == nil || !strings.Contains(err.Error(), h.LedgerDir("embedded")+" holds no ledger: leave --ledger out to take the volume's") {
		t.Fatalf("init on an empty ledger folder: %v", err)
	}
	noConfig(t, h)
	if _, err := os.Stat(filepath.Join(h.LedgerDir("embedded"), "ledger.db")); err == nil {
		t.Fatal("the refused init made a ledger")
	}

	// A ledger that is not the volume's.
	other := t.TempDir()
	l, err := embedded.Open(other, id)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	h = newHome(t)
	_, err = h.Init(ctx, home.Config{Remotes: remotes, Ledger: "embedded:" + other}, id, home.InitOptions{LedgerGiven: true})
	if err == nil || !strings.Contains(err.Error(), "(--ledger embedded:"+other+"); leave --ledger out to take the volume's") {
		t.Fatalf("init on another ledger: %v", err)
	}
	noConfig(t, h)

	// Someone else's volume.
	h = newHome(t)
	_, err = h.Init(ctx, home.Config{Remotes: remotes, Ledger: "embedded"}, identity(t), home.InitOptions{})
	if err == nil || !strings.Contains(err.Error(), "which this identity cannot open") {
		t.Fatalf("init by a stranger: %v", err)
	}
	noConfig(t, h)
}

func TestJoin(t *testing.T) {
	ctx := context.Background()
	me, bob := identity(t), identity(t)
	h, r := volumeOn(t, me)
	o, err := h.Open(ctx, r.Config, me, home.ReadWrite, home.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Volume.Mkdir(o.Volume.Root(), "team", 0o755, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := o.Volume.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	owner := sharing.Owner{Volume: o.Volume, Ledger: o.Ledger, Me: me}
	if _, err := owner.Share(ctx, "/team", bob.Public(), true, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}

	c := home.Config{Volume: r.Config.Volume, Remotes: r.Config.Remotes, Ledger: r.Config.Ledger}
	var nothing *sharing.NothingShared
	stranger := newHome(t)
	if _, err := stranger.Join(ctx, c, identity(t), nil); !errors.As(err, &nothing) {
		t.Fatalf("a stranger's join: %v", err)
	}
	noConfig(t, stranger)
	wrong := c
	wrong.Volume = "0000"
	if _, err := newHome(t).Join(ctx, wrong, bob, nil); err == nil || err.Error() != "the remote holds volume "+c.Volume+", not 0000" {
		t.Fatalf("a join of another volume id: %v", err)
	}

	bobs := newHome(t)
	shares, err := bobs.Join(ctx, c, bob, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(shares) != 1 || shares[0].Path != "/team" || !shares[0].ReadOnly {
		t.Fatalf("shared with bob: %+v", shares)
	}
	saved := readConfig(t, bobs)
	want := c
	want.Shared = true
	if !reflect.DeepEqual(saved, want) {
		t.Fatalf("bob's config: %+v, want %+v", saved, want)
	}
	ob, err := bobs.Open(ctx, saved, bob, home.ReadOnly, home.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ob.Close(ctx)
}

func TestCheckLedgerSpec(t *testing.T) {
	for spec, ok := range map[string]bool{
		"none": true, "embedded": true, "embedded:/srv/ledger": true, "fabric:net.yaml": true,
		"": false, "fabric": false, "Embedded": false, "sqlite:/x": false,
	} {
		err := home.CheckLedgerSpec(spec)
		if (err == nil) != ok {
			t.Errorf("CheckLedgerSpec(%q) = %v", spec, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "--ledger ") {
			t.Errorf("CheckLedgerSpec(%q) says %q", spec, err)
		}
	}
	if _, err := (home.Home{Dir: t.TempDir()}).OpenLedger(context.Background(), "sqlite:/x", identity(t)); err == nil {
		t.Error("OpenLedger opened a spec CheckLedgerSpec refuses")
	}
}

func TestPaths(t *testing.T) {
	h := home.Home{Dir: "/h"}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ got, want string }{
		{h.ConfigPath(), "/h/config.yaml"},
		{h.KeyringDir(), "/h/keyring"},
		{h.SocketPath(), "/h/mount.sock"},
		{h.LogPath(), "/h/mount.log"},
		{h.CacheDir("v1"), "/h/cache/v1"},
		{h.LedgerDir("embedded"), "/h/ledger"},
		{h.LedgerDir("embedded:"), "/h/ledger"},
		{h.LedgerDir("embedded:/srv/l"), "/srv/l"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s, want %s", tc.got, tc.want)
		}
	}
	for spec, want := range map[string]string{
		"none":           "none",
		"embedded":       "embedded:/h/ledger",
		"embedded:rel":   "embedded:" + filepath.Join(wd, "rel"),
		"fabric:n.yaml":  "fabric:" + filepath.Join(wd, "n.yaml"),
		"embedded:/srv/": "embedded:/srv",
	} {
		if got, err := h.AbsoluteLedgerSpec(spec); err != nil || got != want {
			t.Errorf("AbsoluteLedgerSpec(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
	for spec, want := range map[string]string{
		"vault":            filepath.Join(wd, "vault"),
		"/srv/vault":       "/srv/vault",
		"s3:bucket/dir":    "s3:bucket/dir",
		":sftp,host=h:dir": ":sftp,host=h:dir",
	} {
		if got, err := home.AbsoluteRemote(spec); err != nil || got != want {
			t.Errorf("AbsoluteRemote(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
}

func TestSave(t *testing.T) {
	h := newHome(t)
	c := home.Config{Volume: "v1", Remotes: []string{"/srv/vault"}, RcloneConfig: "/etc/rclone.conf", Ledger: "embedded:/srv/l", Shared: true}
	if err := h.Save(c); err != nil {
		t.Fatal(err)
	}
	if got := readConfig(t, h); !reflect.DeepEqual(got, c) {
		t.Fatalf("read back %+v, saved %+v", got, c)
	}
	st, err := os.Stat(h.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config.yaml mode %v", st.Mode().Perm())
	}
	if st, err := os.Stat(h.Dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("home folder: %v %v", st, err)
	}
	if _, err := os.Stat(h.ConfigPath() + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Save left its temporary file: %v", err)
	}
	// The keys config.yaml has always had, which viper reads too.
	b, _ := os.ReadFile(h.ConfigPath())
	for _, key := range []string{"volume: v1", "remotes:", "rclone_config: /etc/rclone.conf", "ledger: embedded:/srv/l", "shared: true"} {
		if !strings.Contains(string(b), key) {
			t.Errorf("config.yaml lacks %q:\n%s", key, b)
		}
	}
	c.Shared = false
	if err := h.Save(c); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(h.ConfigPath()); strings.Contains(string(b), "shared") {
		t.Errorf("an owner's config names shared:\n%s", b)
	}
}
