package keyring_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorfs/anchorfs/keyring"
)

func TestCreateLoad(t *testing.T) {
	for _, pass := range []string{"", "correct horse"} {
		dir := filepath.Join(t.TempDir(), "keyring")
		id, err := keyring.Create(dir, []byte(pass))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keyring.Create(dir, []byte(pass)); err == nil {
			t.Fatal("Create overwrote an identity")
		}
		protected, err := keyring.IsProtected(dir)
		if err != nil || protected != (pass != "") {
			t.Fatalf("IsProtected = %v, %v with passphrase %q", protected, err, pass)
		}
		again, err := keyring.Load(dir, []byte(pass))
		if err != nil {
			t.Fatal(err)
		}
		if again.Public().String() != id.Public().String() {
			t.Fatal("a loaded identity differs from the created one")
		}
		st, _ := os.Stat(dir)
		if st.Mode().Perm() != 0o700 {
			t.Fatalf("keyring folder mode %v", st.Mode().Perm())
		}
		st, _ = os.Stat(filepath.Join(dir, "identity"))
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("identity file mode %v", st.Mode().Perm())
		}
	}
}

func TestWrongPassphraseAndDamage(t *testing.T) {
	dir := t.TempDir()
	if _, err := keyring.Load(dir, nil); !errors.Is(err, keyring.ErrNoIdentity) {
		t.Fatalf("empty folder: %v", err)
	}
	if _, err := keyring.Create(dir, []byte("right")); err != nil {
		t.Fatal(err)
	}
	for _, pass := range []string{"wrong", ""} {
		if _, err := keyring.Load(dir, []byte(pass)); !errors.Is(err, keyring.ErrWrongPassphrase) {
			t.Fatalf("passphrase %q: %v", pass, err)
		}
	}
	path := filepath.Join(dir, "identity")
	good, _ := os.ReadFile(path)
	for name, bad := range map[string][]byte{
		"truncated": good[:len(good)/2],
		"garbage":   []byte("not a key at all"),
		"empty":     nil,
	} {
		os.WriteFile(path, bad, 0o600)
		if _, err := keyring.Load(dir, []byte("right")); err == nil || errors.Is(err, keyring.ErrWrongPassphrase) && name != "truncated" {
			t.Errorf("%s identity file: %v", name, err)
		}
	}
}

// TestNoSecretOnDisk: with a passphrase, neither secret key appears in any
// file of the keyring, raw or in a common encoding.
func TestNoSecretOnDisk(t *testing.T) {
	dir := t.TempDir()
	id, err := keyring.Create(dir, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	plainDir := t.TempDir()
	if _, err := keyring.Create(plainDir, nil); err != nil {
		t.Fatal(err)
	}
	secret := keyring.SecretsForTest(id)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		for _, s := range secret {
			for _, enc := range [][]byte{s, []byte(hex.EncodeToString(s)), []byte(base64.StdEncoding.EncodeToString(s)), []byte(base64.RawURLEncoding.EncodeToString(s))} {
				if bytes.Contains(b, enc) {
					t.Fatalf("%s holds a secret key", e.Name())
				}
			}
		}
		if strings.Contains(string(b), "AGE-SECRET-KEY") {
			t.Fatalf("%s holds an age secret key", e.Name())
		}
	}
}

func TestPrintableIdentity(t *testing.T) {
	id, _ := keyring.Create(t.TempDir(), nil)
	other, _ := keyring.Create(t.TempDir(), nil)
	s := id.Public().String()
	p, err := keyring.ParsePublic("  " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != s || p.LedgerID() != id.Public().LedgerID() || !strings.HasPrefix(p.LedgerID(), "embedded/") {
		t.Fatalf("round trip: %s / %s", p.String(), p.LedgerID())
	}
	parts := strings.Split(s, ".")
	otherParts := strings.Split(other.Public().String(), ".")
	for name, bad := range map[string]string{
		"empty":          "",
		"no prefix":      strings.TrimPrefix(s, "anchorfs1."),
		"two parts":      strings.Join(parts[:3], "."),
		"spliced key":    strings.Join([]string{parts[0], parts[1], otherParts[2], parts[3]}, "."),
		"bad signature":  strings.Join([]string{parts[0], parts[1], parts[2], otherParts[3]}, "."),
		"bad recipient":  strings.Join([]string{parts[0], "age1xyz", parts[2], parts[3]}, "."),
		"flipped letter": s[:len(s)-3] + string(rune(s[len(s)-3]^1)) + s[len(s)-2:],
	} {
		if _, err := keyring.ParsePublic(bad); !errors.Is(err, keyring.ErrMalformedIdentity) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWrapUnwrap(t *testing.T) {
	a, _ := keyring.Create(t.TempDir(), nil)
	b, _ := keyring.Create(t.TempDir(), nil)
	c, _ := keyring.Create(t.TempDir(), nil)
	key := bytes.Repeat([]byte{9}, 32)
	w, err := keyring.WrapKey(key, a.Public(), b.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []*keyring.Identity{a, b} {
		got, err := id.UnwrapKey(w)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("unwrap: %x %v", got, err)
		}
	}
	if _, err := c.UnwrapKey(w); !errors.Is(err, keyring.ErrNotRecipient) {
		t.Fatalf("a non-recipient unwrapped: %v", err)
	}
	if bytes.Contains(w, key) {
		t.Fatal("the wrapped key holds the key")
	}
}

func TestCertificate(t *testing.T) {
	id, _ := keyring.Create(t.TempDir(), nil)
	der := id.Certificate()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert.PublicKey.(ed25519.PublicKey), id.Public().SigningKey) {
		t.Fatal("certificate is for another key")
	}
	if wire.ActorID("embedded", cert.RawSubjectPublicKeyInfo) != id.Public().LedgerID() {
		t.Fatal("the actor id from the certificate differs from LedgerID")
	}
	if !bytes.Equal(der, id.Certificate()) {
		t.Fatal("the certificate is not deterministic")
	}
	if !keyring.Verify(id.Public().SigningKey, []byte("m"), id.Sign([]byte("m"))) {
		t.Fatal("signature does not verify")
	}
}

func TestFolderKeysTravelWrapped(t *testing.T) {
	alice, _ := keyring.Create(t.TempDir(), nil)
	bob, _ := keyring.Create(t.TempDir(), nil)
	keys := map[uint32][]byte{1: bytes.Repeat([]byte{1}, 32), 2: bytes.Repeat([]byte{2}, 32)}
	blob, err := keyring.WrapFolderKeys(keys, bob.Public())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, keys[1]) || bytes.Contains(blob, keys[2]) {
		t.Fatal("a folder key is in the clear in the wrapped blob")
	}
	got, err := bob.UnwrapFolderKeys(blob)
	if err != nil || len(got) != 2 || !bytes.Equal(got[2], keys[2]) {
		t.Fatalf("unwrapped %v, %v", got, err)
	}
	if _, err := alice.UnwrapFolderKeys(blob); !errors.Is(err, keyring.ErrNotRecipient) {
		t.Fatalf("another identity unwraps: %v", err)
	}
	// A grant carries the recipient and the signing key: enough to wrap again.
	p, err := keyring.PublicFromParts(bob.Public().Recipient.String(), bob.Public().SigningKeyText())
	if err != nil || p.KeyID() != bob.Public().KeyID() {
		t.Fatalf("rebuilt %v %v", p.KeyID(), err)
	}
	if _, err := keyring.PublicFromParts("age1nope", bob.Public().SigningKeyText()); !errors.Is(err, keyring.ErrMalformedIdentity) {
		t.Fatalf("a bad recipient: %v", err)
	}
}
