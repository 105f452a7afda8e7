package main

import (
	"context"

	"github.com/anchorfs/anchorfs/home"
)

// openVolume opens this home's volume as its config and flags say, with the
// identity from its keyring (asking for the passphrase when it is protected).
func (s *settings) openVolume(ctx context.Context, mode home.Access, logf func(string, ...any)) (*home.Opened, error) {
	c, err := s.config()
	if err != nil {
		return nil, err
	}
	id, err := s.loadIdentity()
	if err != nil {
		return nil, err
	}
	return s.home.Open(ctx, c, id, mode, home.OpenOptions{NoAtime: s.v.GetBool("noatime") || s.v.GetBool("read-only"), Logf: logf})
}
