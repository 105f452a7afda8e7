package fabric

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/anchorfs/anchorfs/network"
)

var _ network.Prover = (*Ledger)(nil)

// Prove makes the proof of an anchored version: the block holding its
// transaction, read through qscc, and the headers of every later block.
func (l *Ledger) Prove(ctx context.Context, a network.Anchor) (network.Proof, error) {
	raw, err := l.qscc.EvaluateWithContext(ctx, "GetBlockByTxID", client.WithArguments(l.profile.Channel, a.TxID))
	if err != nil {
		return network.Proof{}, classify(err)
	}
	var blk common.Block
	if err := proto.Unmarshal(raw, &blk); err != nil {
		return network.Proof{}, err
	}
	info, err := l.Info(ctx)
	if err != nil {
		return network.Proof{}, err
	}
	p := network.Proof{Format: 1, Kind: "fabric", Anchor: a, Block: raw}
	for n := blk.GetHeader().GetNumber() + 1; n < info.Height; n++ {
		out, err := l.qscc.EvaluateWithContext(ctx, "GetBlockByNumber", client.WithArguments(l.profile.Channel, strconv.FormatUint(n, 10)))
		if err != nil {
			return network.Proof{}, classify(err)
		}
		var later common.Block
		if err := proto.Unmarshal(out, &later); err != nil {
			return network.Proof{}, err
		}
		h, err := proto.Marshal(later.GetHeader())
		if err != nil {
			return network.Proof{}, err
		}
		p.Headers = append(p.Headers, h)
	}
	if _, err := CheckProof(p); err != nil {
		return network.Proof{}, fmt.Errorf("the network's own block does not prove the anchor: %w", err)
	}
	return p, nil
}

// CheckProof checks a Fabric proof with nothing but the proof: the block's
// data hash, the anchoring transaction in it marked valid, its write of
// exactly the anchored version, and the chain of later headers. It does not
// check the orderers' signatures: compare the head hash it reports with the
// channel's (anchorfs ledger info, or any peer).
func CheckProof(p network.Proof) (network.ProofCheck, error) {
	bad := func(why string) (network.ProofCheck, error) {
		return network.ProofCheck{}, fmt.Errorf("%w: %s", network.ErrBadProof, why)
	}
	if p.Format != 1 || p.Kind != "fabric" {
		return bad("not a Fabric proof of format 1")
	}
	var blk common.Block
	if err := proto.Unmarshal(p.Block, &blk); err != nil || blk.GetHeader() == nil {
		return bad("the block is not readable")
	}
	sum := sha256.Sum256(bytes.Join(blk.GetData().GetData(), nil))
	if !bytes.Equal(sum[:], blk.GetHeader().GetDataHash()) {
		return bad("the block's data does not match its header")
	}
	var flags []byte
	if md := blk.GetMetadata().GetMetadata(); len(md) > int(common.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		flags = md[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
	}
	var check *network.ProofCheck
	for i, data := range blk.GetData().GetData() {
		var env common.Envelope
		var pl common.Payload
		var ch common.ChannelHeader
		if proto.Unmarshal(data, &env) != nil || proto.Unmarshal(env.GetPayload(), &pl) != nil ||
			proto.Unmarshal(pl.GetHeader().GetChannelHeader(), &ch) != nil || ch.GetTxId() != p.Anchor.TxID {
			continue
		}
		if i >= len(flags) || flags[i] != byte(peer.TxValidationCode_VALID) {
			return bad("the transaction was not valid")
		}
		if got, ok := anchorWritten(pl.GetData(), p.Anchor); ok {
			check = &network.ProofCheck{Time: got.Time, Actor: got.Actor}
			break
		}
		return bad("the transaction does not write this anchor")
	}
	if check == nil {
		return bad("the block does not hold the transaction")
	}
	hash := BlockHeaderHash(blk.GetHeader())
	check.Block, check.BlockHash = blk.GetHeader().GetNumber(), hex.EncodeToString(hash)
	prev, head := hash, blk.GetHeader().GetNumber()
	for _, raw := range p.Headers {
		var h common.BlockHeader
		if err := proto.Unmarshal(raw, &h); err != nil {
			return bad("a later header is not readable")
		}
		if h.GetNumber() != head+1 || !bytes.Equal(h.GetPreviousHash(), prev) {
			return bad(fmt.Sprintf("block %d does not follow block %d", h.GetNumber(), head))
		}
		prev, head = BlockHeaderHash(&h), h.GetNumber()
	}
	check.Head, check.HeadHash = head, hex.EncodeToString(prev)
	return *check, nil
}

// anchorWritten looks through an endorsed transaction's write sets for the
// write of anchor a.
func anchorWritten(txBytes []byte, a network.Anchor) (network.Anchor, bool) {
	var tx peer.Transaction
	if proto.Unmarshal(txBytes, &tx) != nil {
		return network.Anchor{}, false
	}
	for _, act := range tx.GetActions() {
		var cap peer.ChaincodeActionPayload
		var prp peer.ProposalResponsePayload
		var cca peer.ChaincodeAction
		var rws rwset.TxReadWriteSet
		if proto.Unmarshal(act.GetPayload(), &cap) != nil ||
			proto.Unmarshal(cap.GetAction().GetProposalResponsePayload(), &prp) != nil ||
			proto.Unmarshal(prp.GetExtension(), &cca) != nil || proto.Unmarshal(cca.GetResults(), &rws) != nil {
			continue
		}
		for _, ns := range rws.GetNsRwset() {
			var kv kvrwset.KVRWSet
			if proto.Unmarshal(ns.GetRwset(), &kv) != nil {
				continue
			}
			for _, w := range kv.GetWrites() {
				if got, ok := network.MatchesAnchor(w.GetValue(), a); ok {
					return got, true
				}
			}
		}
	}
	return network.Anchor{}, false
}
