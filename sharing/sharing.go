// Package sharing is the sharing protocol: a grant wraps a shared folder's keys for a grantee and records it on the ledger, a revocation rotates the folder's key and wraps it again for the grantees that remain, and a grantee joins a volume and unwraps what is granted to it.
package sharing

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/keyring"
	"github.com/anchorfs/anchorfs/network"
)

// Owner is a volume's owner at work: the open volume, its ledger and the
// owner's identity.
type Owner struct {
	Volume *volume.Volume
	Ledger network.Ledger
	Me     *keyring.Identity
}

// ErrOwnIdentity is a share with oneself.
var ErrOwnIdentity = errors.New("that is your own identity")

// Share makes the folder at path a shared folder (if it is not one yet:
// its objects are re-sealed in its own key domain) and grants it to
// grantee, read-only or read-write; it returns the folder's keys as
// granted.
func (o Owner) Share(ctx context.Context, path string, grantee keyring.Public, readOnly bool, progress func(volume.Progress)) (volume.DomainKeys, error) {
	if grantee.KeyID() == o.Me.Public().KeyID() {
		return volume.DomainKeys{}, ErrOwnIdentity
	}
	if err := o.Ledger.Register(ctx, o.Volume.ID()); err != nil {
		return volume.DomainKeys{}, fmt.Errorf("registering the volume on the ledger: %w", err)
	}
	keys, err := o.Volume.Share(ctx, path, progress)
	if err != nil {
		return volume.DomainKeys{}, err
	}
	rights := wire.RightsReadWrite
	if readOnly {
		rights = wire.RightsReadOnly
	}
	return keys, o.grant(ctx, keys, path, grantee, rights)
}

// Revoked is what a revocation left.
type Revoked struct {
	Epoch uint32 // the folder's key epoch now
	Kept  int    // grantees that hold it
}

// Revoke ends grantee's grant on the shared folder at path: the revoke is
// recorded, the folder's key rotated (with rekey, everything in it is
// sealed again under the new key; otherwise what is written from now on),
// and the new key wrapped for every grantee that remains.
func (o Owner) Revoke(ctx context.Context, path string, grantee keyring.Public, rekey bool, progress func(volume.Progress)) (Revoked, error) {
	keys, ok, err := o.Volume.SharedFolder(path)
	if err != nil {
		return Revoked{}, err
	}
	if !ok {
		return Revoked{}, fmt.Errorf("%s is not a shared folder", path)
	}
	vol := o.Volume.ID()
	if err := o.Ledger.Revoke(ctx, vol, keys.Domain, grantee.SigningKeyText()); err != nil {
		return Revoked{}, fmt.Errorf("revoking on the ledger: %w", err)
	}
	if keys, err = o.Volume.Rotate(ctx, path, rekey, progress); err != nil {
		return Revoked{}, fmt.Errorf("the grant is revoked, but rotating the folder's key failed (run revoke again): %w", err)
	}
	grants, err := o.Ledger.Grants(ctx, vol, keys.Domain)
	if err != nil {
		return Revoked{}, err
	}
	out := Revoked{Epoch: keys.Epoch}
	for _, g := range grants {
		if g.Revoked {
			continue
		}
		p, err := keyring.PublicFromParts(g.Recipient, g.GranteeKey)
		if err != nil {
			return out, fmt.Errorf("grant of %s: %w", g.GranteeID, err)
		}
		if err := o.grant(ctx, keys, path, p, g.Rights); err != nil {
			return out, err
		}
		out.Kept++
	}
	return out, nil
}

// grant wraps a shared folder's keys for a grantee and records the grant;
// the folder's path goes on the ledger sealed for the two of them only.
func (o Owner) grant(ctx context.Context, keys volume.DomainKeys, path string, grantee keyring.Public, rights string) error {
	blob, err := keyring.WrapFolderKeys(keys.Keys, grantee)
	if err != nil {
		return err
	}
	sealed, err := keyring.SealText(path, o.Me.Public(), grantee)
	if err != nil {
		return err
	}
	g := network.Grant{Volume: o.Volume.ID(), Domain: keys.Domain, Path: sealed, GranteeKey: grantee.SigningKeyText(),
		Recipient: grantee.Recipient.String(), Rights: rights, Keys: blob, Epoch: keys.Epoch}
	if err := o.Ledger.Grant(ctx, g); err != nil {
		return fmt.Errorf("recording the grant on the ledger: %w", err)
	}
	return nil
}

// NothingShared is a volume of which nothing is granted to this identity.
type NothingShared struct{ Volume, KeyID string }

func (e *NothingShared) Error() string {
	return fmt.Sprintf("nothing of volume %s is shared with identity %s (give the owner what `anchorfs identity` prints)", e.Volume, e.KeyID)
}

// Join binds the caller's ledger identity to me's key on volume (proving it
// holds the key) and returns the folders granted to it; nothing granted is
// a *NothingShared.
func Join(ctx context.Context, l network.Ledger, me *keyring.Identity, vol string) ([]volume.Shared, error) {
	sig := base64.RawURLEncoding.EncodeToString(me.Sign(wire.JoinMessage(vol, l.Actor())))
	if err := l.Join(ctx, vol, me.Public().SigningKeyText(), sig); errors.Is(err, network.ErrDenied) {
		return nil, &NothingShared{Volume: vol, KeyID: me.Public().KeyID()}
	} else if err != nil {
		return nil, fmt.Errorf("joining on the ledger: %w", err)
	}
	return Granted(ctx, l, me, vol)
}

// Granted reads the active grants of a volume to me and unwraps their
// keys; none is a *NothingShared.
func Granted(ctx context.Context, l network.Ledger, me *keyring.Identity, vol string) ([]volume.Shared, error) {
	out, err := GrantsTo(ctx, l, me, vol)
	if err == nil && len(out) == 0 {
		err = &NothingShared{Volume: vol, KeyID: me.Public().KeyID()}
	}
	return out, err
}

// GrantsTo reads the active grants of a volume to me and unwraps their keys.
func GrantsTo(ctx context.Context, l network.Ledger, me *keyring.Identity, vol string) ([]volume.Shared, error) {
	grants, err := l.Grants(ctx, vol, "")
	if err != nil {
		return nil, fmt.Errorf("reading grants from the ledger: %w", err)
	}
	mine := me.Public().KeyID()
	var out []volume.Shared
	for _, g := range grants {
		if g.GranteeID != mine || g.Revoked {
			continue
		}
		p, err := me.OpenText(g.Path)
		if err != nil {
			return nil, fmt.Errorf("the folder of the grant on shared folder %s: %w", g.Domain, err)
		}
		keys, err := me.UnwrapFolderKeys(g.Keys)
		if err != nil {
			return nil, fmt.Errorf("the keys of the grant on %s: %w", p, err)
		}
		out = append(out, volume.Shared{Domain: g.Domain, Path: p, ReadOnly: g.Rights == wire.RightsReadOnly, Keys: keys})
	}
	return out, nil
}
