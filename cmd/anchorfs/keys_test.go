package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPasswdExportImport: passwd changes the passphrase (the old one stops
// working); identity export writes a backup under a passphrase of its own,
// never over a file; a home without keys points at import; import restores
// the keys, and the restored home attaches the same volume and reads it.
func TestPasswdExportImport(t *testing.T) {
	env := newHome(t, "old")
	remote := remoteOf(t, env)
	var before struct{ Volume string }
	json.Unmarshal([]byte(mustRun(t, env, "info", "--json")), &before)
	withPass := func(env []string, pass string, extra ...string) []string {
		return append([]string{env[0], "ANCHORFS_PASSPHRASE=" + pass}, extra...)
	}
	if r := anchorfs(t, withPass(env, "old", "ANCHORFS_NEW_PASSPHRASE=new"), "passwd"); r.code != 0 {
		t.Fatalf("passwd: %+v", r)
	}
	if r := anchorfs(t, withPass(env, "old"), "verify"); r.code == 0 || !strings.Contains(r.err, "wrong passphrase") {
		t.Fatalf("the old passphrase after passwd: %+v", r)
	}
	mustRun(t, withPass(env, "new"), "verify")

	backup := filepath.Join(t.TempDir(), "keys.age")
	if r := anchorfs(t, withPass(env, "new", "ANCHORFS_EXPORT_PASSPHRASE="), "identity", "export", backup); r.code == 0 {
		t.Fatalf("an export without a passphrase: %+v", r)
	}
	mustRun(t, withPass(env, "new", "ANCHORFS_EXPORT_PASSPHRASE=backup"), "identity", "export", backup)
	if r := anchorfs(t, withPass(env, "new", "ANCHORFS_EXPORT_PASSPHRASE=backup"), "identity", "export", backup); r.code == 0 || !strings.Contains(r.err, "never overwritten") {
		t.Fatalf("an export over a file: %+v", r)
	}
	if b, _ := os.ReadFile(backup); !strings.HasPrefix(string(b), "age-encryption.org/v1") {
		t.Fatal("the backup is not an age file")
	}

	// The keyring lost: commands point at import, not at new keys.
	os.RemoveAll(filepath.Join(homeOf(env), "keyring"))
	if r := anchorfs(t, withPass(env, "new"), "verify"); r.code == 0 || !strings.Contains(r.err, "identity import") {
		t.Fatalf("a home without its keys: %+v", r)
	}
	mustRun(t, withPass(env, "restored", "ANCHORFS_EXPORT_PASSPHRASE=backup"), "identity", "import", backup)
	mustRun(t, withPass(env, "restored"), "verify")

	fresh := []string{"ANCHORFS_HOME=" + filepath.Join(t.TempDir(), "fresh"), "ANCHORFS_PASSPHRASE=again"}
	if r := anchorfs(t, append(fresh, "ANCHORFS_EXPORT_PASSPHRASE=nope"), "identity", "import", backup); r.code == 0 || !strings.Contains(r.err, "wrong passphrase") {
		t.Fatalf("an import with a wrong passphrase: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(homeOf(fresh), "keyring", "identity")); err == nil {
		t.Fatal("a failed import left keys behind")
	}
	out := mustRun(t, append(fresh, "ANCHORFS_EXPORT_PASSPHRASE=backup"), "identity", "import", backup)
	if !strings.Contains(out, "restored ") {
		t.Fatalf("import: %s", out)
	}
	if r := anchorfs(t, append(fresh, "ANCHORFS_EXPORT_PASSPHRASE=backup"), "identity", "import", backup); r.code == 0 || !strings.Contains(r.err, "already holds an identity") {
		t.Fatalf("an import over keys: %+v", r)
	}
	if out := mustRun(t, fresh, "init", "--remote", remote); !strings.Contains(out, "attached to existing volume "+before.Volume) {
		t.Fatalf("init with the restored keys: %s", out)
	}
}
