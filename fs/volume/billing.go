package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/network"
)

// The volume pays for its storage through its lane on the ledger (one per
// home's mount; wire.Lane): the chaincode charges each anchor's lane what
// its bytes cost since it last paid, from what the lane reserved of the
// owner's balance, and refuses versions a lane cannot pay. The biller keeps
// the lane reserved ahead, and refuses new writes (EDQUOT) once the
// owner's balance cannot reserve more, so that nothing written is left
// waiting for an anchor the chaincode would refuse; a topup lets writes
// back in at the biller's next look.
const (
	billingEvery = 5 * time.Second
	// reserveAhead is how long the reserve is to pay for the lane's bytes.
	reserveAhead = time.Hour
	// minReserve is the least a lane keeps reserved while storage costs
	// anything: 0.01 token.
	minReserve = wire.Unit / 100
)

// laneID reads the home's lane id for the volume from the cache folder,
// making one on first use.
func laneID(cacheDir string) (string, error) {
	path := filepath.Join(cacheDir, "lane")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); len(id) == 32 {
			return id, nil
		}
	}
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

// overQuota is the error of a write refused for want of tokens.
func (v *Volume) overQuota() error {
	if v.unpaid.Load() {
		return syscall.EDQUOT
	}
	return nil
}

// biller looks at the lane every billingEvery until the volume closes.
func (v *Volume) biller() {
	defer v.bg.Done()
	ctx, cancel := v.untilClosed()
	defer cancel()
	t := time.NewTicker(billingEvery)
	defer t.Stop()
	for {
		v.bill(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// bill reserves for the lane what its bytes will cost over reserveAhead
// when less than half of it is left, and sets whether writes are refused.
// A ledger that cannot be asked changes nothing.
func (v *Volume) bill(ctx context.Context) {
	l := v.opt.Ledger
	prices, err := l.Prices(ctx)
	if err != nil {
		return
	}
	if prices.Storage == 0 {
		v.setUnpaid(false, "")
		return
	}
	v.laneMu.Lock()
	defer v.laneMu.Unlock()
	lane, err := l.Lane(ctx, v.id.String(), v.lane)
	if err != nil {
		return
	}
	ahead := max(cost(lane.Bytes, prices.Storage, reserveAhead), minReserve)
	left := lane.Reserved - lane.Due
	if left >= ahead/2 {
		v.setUnpaid(false, "")
		return
	}
	_, err = l.Reserve(ctx, v.id.String(), v.lane, 2*ahead-left)
	switch {
	case err == nil:
		v.setUnpaid(false, "")
	case errors.Is(err, network.ErrInsufficient) && left <= 0:
		v.setUnpaid(true, err.Error())
	case errors.Is(err, network.ErrInsufficient):
		v.logf("storage: %v; %s reserved is left, writes stop when it is spent", err, wire.FormatTokens(left))
	}
}

// cost is what bytes stored for d cost at price per GiB-month.
func cost(bytes, price int64, d time.Duration) int64 {
	c := new(big.Int).Mul(big.NewInt(max(bytes, 0)), big.NewInt(price))
	c.Mul(c, big.NewInt(int64(d)))
	c.Quo(c, new(big.Int).Mul(big.NewInt(wire.GiB), big.NewInt(int64(wire.Month))))
	return c.Int64()
}

func (v *Volume) setUnpaid(unpaid bool, why string) {
	if v.unpaid.Swap(unpaid) == unpaid {
		return
	}
	if unpaid {
		v.logf("storage: writes are refused (EDQUOT) until the volume owner's balance pays for more: %s (anchorfs balance; anchorfs topup)", why)
	} else {
		v.logf("storage: the reserve is paid again; writes are accepted")
	}
}
