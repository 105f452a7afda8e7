// Package keyring keeps a user's identity and wraps folder keys for recipients.
package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// ErrWrongPassphrase is returned by Load when the passphrase does not open the keyring.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// ErrNoIdentity is returned by Load when the folder holds no identity.
var ErrNoIdentity = errors.New("no identity")

// ErrNotRecipient is returned by UnwrapKey when the key was not wrapped for this identity.
var ErrNotRecipient = errors.New("this identity is not among the key's recipients")

// EmbeddedMSP is the MSP id the embedded ledger gives its callers.
const EmbeddedMSP = "embedded"

const (
	// identityFile holds the secret keys: an age file (scrypt) when a
	// passphrase protects them, plain JSON otherwise.
	identityFile = "identity"
	// publicFile holds the printable identity, for convenience.
	publicFile = "identity.pub"
	// scryptWorkFactor is log2 of scrypt's N: about a quarter of a second
	// here, a fair price once per mount against a guessing attacker.
	scryptWorkFactor = 16
	// ageHeader starts every age file.
	ageHeader = "age-encryption.org/v1"
)

// Identity is a user's secret half: an age X25519 identity that folder keys
// are wrapped for, and an Ed25519 key that signs ledger transactions.
type Identity struct {
	x25519  *age.X25519Identity
	signing ed25519.PrivateKey
}

// Public is the printable half of an Identity that others share with.
type Public struct {
	Recipient  *age.X25519Recipient
	SigningKey ed25519.PublicKey
	sig        []byte // the signing key's signature over bindingLabel || recipient
}

// secrets is the identity file's plaintext.
type secrets struct {
	X25519  string `json:"x25519"`  // AGE-SECRET-KEY-1...
	Ed25519 []byte `json:"ed25519"` // the 32-byte seed
}

// Exists reports whether dir holds an identity.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, identityFile))
	return err == nil
}

// IsProtected reports whether the identity in dir is passphrase protected.
func IsProtected(dir string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	if os.IsNotExist(err) {
		return false, fmt.Errorf("keyring %s: %w", dir, ErrNoIdentity)
	}
	if err != nil {
		return false, err
	}
	return bytes.HasPrefix(b, []byte(ageHeader)), nil
}

// Create makes a new identity in dir, protected by passphrase (empty: by
// file mode only). It refuses to overwrite an existing identity.
func Create(dir string, passphrase []byte) (*Identity, error) {
	if Exists(dir) {
		return nil, fmt.Errorf("keyring %s already holds an identity", dir)
	}
	x, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	id := &Identity{x25519: x, signing: sk}
	if err := id.save(dir, passphrase); err != nil {
		return nil, err
	}
	return id, nil
}

func (id *Identity) save(dir string, passphrase []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	content, err := id.sealed(passphrase)
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, identityFile), content, 0o600); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, publicFile), []byte(id.Public().String()+"\n"), 0o644)
}

// sealed is the identity file's content: the secret keys, as an age file
// encrypted to an scrypt recipient of passphrase (plain JSON when empty).
func (id *Identity) sealed(passphrase []byte) ([]byte, error) {
	plain, _ := json.Marshal(secrets{X25519: id.x25519.String(), Ed25519: id.signing.Seed()})
	if len(passphrase) == 0 {
		return plain, nil
	}
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(scryptWorkFactor)
	var b bytes.Buffer
	w, err := age.Encrypt(&b, r)
	if err != nil {
		return nil, err
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Export is a backup of the identity: the identity file's format,
// protected by passphrase, which may not be empty.
func (id *Identity) Export(passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("an export needs a passphrase: it holds the secret keys")
	}
	return id.sealed(passphrase)
}

// Import restores an export into dir, protected by newPassphrase; it
// refuses to overwrite an identity dir holds already.
func Import(dir string, export, passphrase, newPassphrase []byte) (*Identity, error) {
	if Exists(dir) {
		return nil, fmt.Errorf("keyring %s already holds an identity; importing would replace it", dir)
	}
	id, err := open(export, passphrase, "the export")
	if err != nil {
		return nil, err
	}
	return id, id.save(dir, newPassphrase)
}

// writeAtomic writes a file through a temporary name, fsyncing file and folder.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("keyring: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("keyring: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadPublic reads the public half of the identity in dir, which needs no
// passphrase.
func LoadPublic(dir string) (Public, error) {
	b, err := os.ReadFile(filepath.Join(dir, publicFile))
	if os.IsNotExist(err) {
		return Public{}, fmt.Errorf("keyring %s: %w", dir, ErrNoIdentity)
	}
	if err != nil {
		return Public{}, fmt.Errorf("keyring: %w", err)
	}
	return ParsePublic(string(b))
}

// Load opens the identity in dir.
func Load(dir string, passphrase []byte) (*Identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("keyring %s: %w", dir, ErrNoIdentity)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return open(b, passphrase, "keyring "+dir)
}

// open reads an identity file's content (what names it, for errors).
func open(b, passphrase []byte, what string) (*Identity, error) {
	plain := b
	if bytes.HasPrefix(b, []byte(ageHeader)) {
		si, err := age.NewScryptIdentity(string(passphrase))
		if err != nil {
			return nil, fmt.Errorf("%w for %s", ErrWrongPassphrase, what)
		}
		r, err := age.Decrypt(bytes.NewReader(b), si)
		if err != nil {
			var noMatch *age.NoIdentityMatchError
			if errors.As(err, &noMatch) {
				return nil, fmt.Errorf("%w for %s", ErrWrongPassphrase, what)
			}
			return nil, fmt.Errorf("%s is damaged: %v", what, err)
		}
		if plain, err = io.ReadAll(r); err != nil {
			return nil, fmt.Errorf("%s is damaged: %v", what, err)
		}
	}
	var s secrets
	if err := json.Unmarshal(plain, &s); err != nil || len(s.Ed25519) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s is damaged: the identity is not readable", what)
	}
	x, err := age.ParseX25519Identity(s.X25519)
	if err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", what, err)
	}
	return &Identity{x25519: x, signing: ed25519.NewKeyFromSeed(s.Ed25519)}, nil
}

// Save writes id into the keyring dir, protected by passphrase (empty: by
// file mode only), replacing what it held.
func Save(id *Identity, dir string, passphrase []byte) error { return id.save(dir, passphrase) }

// Public returns the shareable half.
func (id *Identity) Public() Public {
	r := id.x25519.Recipient()
	return Public{Recipient: r, SigningKey: id.signing.Public().(ed25519.PublicKey),
		sig: ed25519.Sign(id.signing, []byte(bindingLabel+r.String()))}
}

// Recipient is the age recipient keys are wrapped for.
func (id *Identity) Recipient() *age.X25519Recipient { return id.x25519.Recipient() }

// Sign signs msg with the identity's Ed25519 key.
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.signing, msg) }

// Verify checks an Ed25519 signature by pub.
func Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
}

// Certificate is a self-signed X.509 certificate (DER) for the signing key,
// used as the caller's identity by the embedded ledger. It is derived from
// the key alone, so it is the same every time.
func (id *Identity) Certificate() []byte {
	pub := id.signing.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(sum[:8]),
		Subject:               pkix.Name{CommonName: id.Public().LedgerID(), Organization: []string{"anchorfs"}},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, id.signing)
	if err != nil {
		panic(err) // only for malformed templates
	}
	return der
}

// CertificatePEM is Certificate in PEM.
func (id *Identity) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Certificate()})
}

// WrapKey encrypts key so that only the given recipients can unwrap it.
func WrapKey(key []byte, to ...Public) ([]byte, error) {
	if len(to) == 0 {
		return nil, errors.New("wrapping a key for nobody")
	}
	rs := make([]age.Recipient, len(to))
	for i, p := range to {
		rs[i] = p.Recipient
	}
	var b bytes.Buffer
	w, err := age.Encrypt(&b, rs...)
	if err != nil {
		return nil, err
	}
	w.Write(key)
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Wrap wraps key for this identity alone.
func (id *Identity) Wrap(key []byte) ([]byte, error) { return WrapKey(key, id.Public()) }

// UnwrapKey decrypts a key wrapped for this identity.
func (id *Identity) UnwrapKey(wrapped []byte) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(wrapped), id.x25519)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, ErrNotRecipient
		}
		return nil, fmt.Errorf("wrapped key is damaged: %w", err)
	}
	return io.ReadAll(r)
}

// Printable identities: "anchorfs1." recipient "." signing key "." signature,
// the keys and signature in unpadded base64url, the signature by the
// signing key over bindingLabel || recipient.
const (
	printablePrefix = "anchorfs1."
	bindingLabel    = "anchorfs identity v1\x00"
)

// String is the one-line printable identity.
func (p Public) String() string {
	return printablePrefix + p.Recipient.String() + "." + b64(p.SigningKey) + "." + b64(p.sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// LedgerID is the stable name the ledger knows this identity by.
func (p Public) LedgerID() string {
	spki, err := x509.MarshalPKIXPublicKey(p.SigningKey)
	if err != nil {
		return ""
	}
	return wire.ActorID(EmbeddedMSP, spki)
}

// ErrMalformedIdentity is returned by ParsePublic for strings that are not identities.
var ErrMalformedIdentity = errors.New("not an anchorfs identity")

// ParsePublic reads a printable identity, checking its binding signature.
func ParsePublic(s string) (Public, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (Public, error) {
		return Public{}, fmt.Errorf("%w (%s): expected anchorfs1.<age recipient>.<key>.<signature>, as `anchorfs identity` prints", ErrMalformedIdentity, why)
	}
	if !strings.HasPrefix(s, printablePrefix) {
		return bad("wrong prefix")
	}
	parts := strings.Split(strings.TrimPrefix(s, printablePrefix), ".")
	if len(parts) != 3 {
		return bad("wrong number of parts")
	}
	r, err := age.ParseX25519Recipient(parts[0])
	if err != nil {
		return bad("bad recipient")
	}
	key, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || len(key) != ed25519.PublicKeySize {
		return bad("bad signing key")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !ed25519.Verify(key, []byte(bindingLabel+parts[0]), sig) {
		return bad("the signature does not bind the recipient to the key")
	}
	return Public{Recipient: r, SigningKey: key, sig: sig}, nil
}
