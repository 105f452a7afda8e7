package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var binary string

// TestMain builds the anchorfs binary once; the tests run it like a user.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "anchorfs-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "anchorfs")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	out, err string
	code     int
}

// anchorfs runs the binary with a clean environment plus env.
func anchorfs(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return anchorfsIn(t, "", env, args...)
}

// newHome inits a home with a local-folder remote and returns its env.
func newHome(t *testing.T, pass string) []string {
	env := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "home"), "ANCHORFS_PASSPHRASE=" + pass}
	r := anchorfs(t, env, "init", "--remote", filepath.Join(t.TempDir(), "remote"))
	if r.code != 0 {
		t.Fatalf("init: %d %s %s", r.code, r.out, r.err)
	}
	return env
}

func TestInitInfoIdentity(t *testing.T) {
	env := newHome(t, "")
	r := anchorfs(t, env, "info", "--json")
	var info struct {
		Volume   string   `json:"volume"`
		Remotes  []string `json:"remotes"`
		Ledger   string   `json:"ledger"`
		Identity string   `json:"identity"`
		Pending  struct {
			Uploads, Anchors int
		} `json:"pending"`
	}
	if err := json.Unmarshal([]byte(r.out), &info); err != nil || r.code != 0 {
		t.Fatalf("info --json: %v %q %s", err, r.out, r.err)
	}
	if len(info.Volume) != 32 || len(info.Remotes) != 1 || info.Ledger != "embedded" || !strings.HasPrefix(info.Identity, "anchorfs1.") {
		t.Fatalf("info: %+v", info)
	}
	id := anchorfs(t, env, "identity")
	lines := strings.Split(strings.TrimSpace(id.out), "\n")
	if id.code != 0 || lines[len(lines)-1] != info.Identity {
		t.Fatalf("identity's last line %q, info says %q", lines[len(lines)-1], info.Identity)
	}
	// A second init in the same home refuses and changes nothing.
	again := anchorfs(t, env, "init", "--remote", t.TempDir())
	if again.code != 1 || !strings.Contains(again.err, "already has volume") {
		t.Fatalf("second init: %+v", again)
	}
	if r2 := anchorfs(t, env, "info", "--json"); r2.out != r.out {
		t.Fatal("a refused init changed the home")
	}
}

func TestIdentityInAnEmptyHome(t *testing.T) {
	env := []string{"ANCHORFS_HOME=" + t.TempDir()}
	r := anchorfs(t, env, "identity")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != 0 || !strings.HasPrefix(lines[len(lines)-1], "anchorfs1.") {
		t.Fatalf("identity in an empty home: %+v", r)
	}
	if again := anchorfs(t, env, "identity"); !strings.HasSuffix(strings.TrimSpace(again.out), lines[len(lines)-1]) {
		t.Fatal("a second call made another identity")
	}
}

func TestWrongPassphrase(t *testing.T) {
	env := newHome(t, "right one")
	env[1] = "ANCHORFS_PASSPHRASE=wrong"
	r := anchorfs(t, env, "verify")
	if r.code != 1 || !strings.Contains(r.err, "wrong passphrase") {
		t.Fatalf("wrong passphrase: %+v", r)
	}
	// No terminal and no passphrase: a clear error, not a hang.
	r = anchorfs(t, env[:1], "verify")
	if r.code != 1 || !strings.Contains(r.err, "passphrase") {
		t.Fatalf("no passphrase: %+v", r)
	}
	pf := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pf, []byte("right one\n"), 0o600)
	if r := anchorfs(t, env[:1], "--passphrase-file", pf, "verify"); r.code != 0 {
		t.Fatalf("passphrase file: %+v", r)
	}
}

func TestCorruptConfig(t *testing.T) {
	env := newHome(t, "")
	home := strings.TrimPrefix(env[0], "ANCHORFS_HOME=")
	os.WriteFile(filepath.Join(home, "config.yaml"), []byte("volume: [unclosed\n"), 0o600)
	r := anchorfs(t, env, "info")
	if r.code != 1 || !strings.Contains(r.err, "config.yaml") || !strings.Contains(r.err, "corrupt") {
		t.Fatalf("corrupt config: %+v", r)
	}
}

func TestPrecedence(t *testing.T) {
	env := newHome(t, "")
	home := strings.TrimPrefix(env[0], "ANCHORFS_HOME=")
	other := newHome(t, "")
	otherHome := strings.TrimPrefix(other[0], "ANCHORFS_HOME=")
	volume := func(r result) string {
		var v struct{ Volume string }
		json.Unmarshal([]byte(r.out), &v)
		return v.Volume
	}
	fromEnv := volume(anchorfs(t, env, "info", "--json"))
	fromFlag := volume(anchorfs(t, env, "--home", otherHome, "info", "--json"))
	if fromEnv == "" || fromFlag == "" || fromEnv == fromFlag {
		t.Fatalf("--home did not override ANCHORFS_HOME: %q %q", fromEnv, fromFlag)
	}
	// The environment overrides config.yaml.
	r := anchorfs(t, append(env, "ANCHORFS_LEDGER=embedded:/elsewhere"), "info", "--json")
	if !strings.Contains(r.out, `"ledger": "embedded:/elsewhere"`) {
		t.Fatalf("ANCHORFS_LEDGER did not override config.yaml: %s", r.out)
	}
	_ = home
}

func TestMountErrors(t *testing.T) {
	env := newHome(t, "")
	r := anchorfs(t, env, "mount", filepath.Join(t.TempDir(), "missing"))
	if r.code != 1 || !strings.Contains(r.err, "does not exist") {
		t.Fatalf("missing mount point: %+v", r)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if r := anchorfs(t, env, "mount", f); r.code != 1 || !strings.Contains(r.err, "not a folder") {
		t.Fatalf("mount point is a file: %+v", r)
	}
	if r := anchorfs(t, env, "mount"); r.code != 2 {
		t.Fatalf("mount without a mount point: %+v", r)
	}
	if r := anchorfs(t, env, "mount", "/proc"); r.code != 1 || !strings.Contains(r.err, "busy") {
		t.Fatalf("mount on a mount point: %+v", r)
	}
	empty := []string{"ANCHORFS_HOME=" + t.TempDir()}
	if r := anchorfs(t, empty, "mount", t.TempDir()); r.code != 1 || !strings.Contains(r.err, "anchorfs init") {
		t.Fatalf("mount without a volume: %+v", r)
	}
}

func TestUnreachableRemote(t *testing.T) {
	env := []string{"ANCHORFS_HOME=" + t.TempDir(), "ANCHORFS_PASSPHRASE="}
	r := anchorfs(t, env, "init", "--remote", ":webdav,url='http://127.0.0.1:1':")
	if r.code != 1 || !strings.Contains(r.err, "unreachable") {
		t.Fatalf("unreachable remote: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimPrefix(env[0], "ANCHORFS_HOME="), "config.yaml")); err == nil {
		t.Fatal("a failed init wrote config.yaml")
	}
	// An S3 endpoint that refuses connections is that, not "a file" (as
	// rclone says of a bucket path it cannot look at).
	r = anchorfs(t, env, "init", "--remote", ":s3,provider=Minio,endpoint='http://127.0.0.1:1',access_key_id=a,secret_access_key=b:bucket/dir")
	if r.code != 1 || !strings.Contains(r.err, "connection refused") || strings.Contains(r.err, "is a file") {
		t.Fatalf("an S3 endpoint that refuses connections: %+v", r)
	}
	// A URL in a connection string needs quoting: the error says so.
	r = anchorfs(t, env, "init", "--remote", ":s3,provider=Minio,endpoint=http://127.0.0.1:1:bucket/dir")
	if r.code != 1 || !strings.Contains(r.err, "quote it, as in endpoint='http://host:port'") {
		t.Fatalf("an unquoted URL in a connection string: %+v", r)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"nosuchcommand"}, {"info", "--nosuchflag"}, {"init", "--remote", "x", "--shards", "bad"}, {"verify", "a", "b"}} {
		if r := anchorfs(t, nil, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.err)
		}
	}
	// A usage error names the help of its own command.
	if r := anchorfs(t, nil, "transfer", "x"); r.code != 2 || !strings.Contains(r.err, "Run 'anchorfs transfer --help'") {
		t.Errorf("transfer x: %+v", r)
	}
	env := newHome(t, "")
	if r := anchorfs(t, env, "ledger", "blocks", "--from", "9999"); r.code != 2 || !strings.Contains(r.err, "past the ledger's head") {
		t.Errorf("ledger blocks --from past the head: %+v", r)
	}
	// An unknown setting in config.yaml is a warning; a known flag's is not.
	cfg := filepath.Join(homeOf(env), "config.yaml")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("\nnoatime: true\ncolour: blue\n")...), 0o600)
	if r := anchorfs(t, env, "info"); r.code != 0 || !strings.Contains(r.err, `unknown setting "colour"`) || strings.Contains(r.err, "noatime") {
		t.Errorf("info with an unknown setting: %+v", r)
	}
}

// TestHelpHasExamples: every command documents itself with an example.
func TestHelpHasExamples(t *testing.T) {
	cmds := [][]string{{}}
	for _, c := range newRootCmd().Commands() {
		cmds = append(cmds, []string{c.Name()})
		for _, sub := range c.Commands() {
			cmds = append(cmds, []string{c.Name(), sub.Name()})
		}
	}
	for _, c := range cmds {
		r := anchorfs(t, nil, append(c, "--help")...)
		if r.code != 0 || !strings.Contains(r.out, "Examples:") {
			t.Errorf("anchorfs %v --help has no example:\n%s", c, r.out)
		}
	}
}

// TestMountSyncAuditVerify drives a whole session through the CLI: mount in
// the background, write with ordinary tools, sync, find the versions in the
// audit and the blocks, verify; then damage an object and see verify fail.
func TestMountSyncAuditVerify(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting needs root")
	}
	env := newHome(t, "pass")
	home := strings.TrimPrefix(env[0], "ANCHORFS_HOME=")
	mnt := t.TempDir()
	if r := anchorfs(t, env, "mount", mnt, "--background"); r.code != 0 {
		t.Fatalf("mount --background: %+v", r)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	if out, err := exec.Command("bash", "-c", "mkdir "+mnt+"/docs && seq 1 200000 > "+mnt+"/docs/numbers.txt && echo more >> "+mnt+"/docs/numbers.txt").CombinedOutput(); err != nil {
		t.Fatalf("%s %v", out, err)
	}
	if r := anchorfs(t, env, "sync"); r.code != 0 {
		t.Fatalf("sync: %+v", r)
	}
	info := anchorfs(t, env, "info", "--json")
	if !strings.Contains(info.out, `"mountpoint": "`+mnt+`"`) || !strings.Contains(info.out, `"anchors": 0`) {
		t.Fatalf("info while mounted: %s", info.out)
	}
	audit := anchorfs(t, env, "audit", "--path", "/docs/numbers.txt", "--format", "json")
	var events []struct{ Action, Path string }
	json.Unmarshal([]byte(audit.out), &events)
	if audit.code != 0 || len(events) != 2 || events[0].Action != "anchor" || events[1].Path != "/docs/numbers.txt" {
		t.Fatalf("audit: %+v", audit)
	}
	if r := anchorfs(t, env, "ledger", "blocks"); r.code != 0 || strings.Count(r.out, "\n") < 3 {
		t.Fatalf("ledger blocks: %+v", r)
	}
	if r := anchorfs(t, env, "verify"); r.code != 0 {
		t.Fatalf("verify: %+v", r)
	}
	// A proof of the file's newest version, checked offline, and a forged one.
	proof := filepath.Join(t.TempDir(), "proof.json")
	if r := anchorfs(t, env, "audit", "prove", "/docs/numbers.txt", "--out", proof); r.code != 0 {
		t.Fatalf("audit prove: %+v", r)
	}
	li := anchorfs(t, env, "ledger", "info")
	chk := anchorfs(t, nil, "audit", "check", proof)
	signer := li.out[strings.Index(li.out, "signer: ")+8:]
	if chk.code != 0 || !strings.Contains(chk.out, "proof holds: version 2") || !strings.Contains(chk.out, strings.TrimSpace(signer)) {
		t.Fatalf("audit check: %+v (ledger info %s)", chk, li.out)
	}
	pb, _ := os.ReadFile(proof)
	var p map[string]any
	json.Unmarshal(pb, &p)
	p["anchor"].(map[string]any)["size"] = 7
	forged, _ := json.Marshal(p)
	os.WriteFile(proof, forged, 0o644)
	if r := anchorfs(t, nil, "audit", "check", proof); r.code != 1 || !strings.Contains(r.err, "does not hold") {
		t.Fatalf("audit check of a forged proof: %+v", r)
	}
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %s", out)
	}
	for i := 0; i < 100; i++ { // the mount flushes and exits
		if _, err := os.Stat(filepath.Join(home, "mount.sock")); os.IsNotExist(err) {
			break
		}
		exec.Command("sleep", "0.05").Run()
	}
	if r := anchorfs(t, env, "ledger", "verify"); r.code != 0 {
		t.Fatalf("ledger verify: %+v", r)
	}
	// Damage the largest object: the file's first chunk.
	var biggest string
	var size int64
	var cfg struct{ Remotes []string }
	json.Unmarshal([]byte(info.out), &cfg)
	filepath.Walk(filepath.Join(cfg.Remotes[0], "objects"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Size() > size {
			biggest, size = p, fi.Size()
		}
		return nil
	})
	b, _ := os.ReadFile(biggest)
	b[100] ^= 0xff
	os.WriteFile(biggest, b, 0o644)
	r := anchorfs(t, env, "verify")
	if r.code != 1 || !strings.Contains(r.out, "/docs/numbers.txt") {
		t.Fatalf("verify after damage: %+v", r)
	}
}
