// Package fabric reaches a Hyperledger Fabric network through the Fabric Gateway and implements the drive's ledger on it.
package fabric

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/hash"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/invoke"
	"github.com/anchorfs/anchorfs/retry"
)

// Profile is how a client reaches a network: written by the test network's
// `network-up`, or by hand for a production network.
type Profile struct {
	// Gateway is the peer's address (host:port) the Gateway service runs on.
	Gateway string `yaml:"gateway"`
	// TLSCACert is the PEM file of the CA that signed the peer's TLS certificate.
	TLSCACert string `yaml:"tlsCACert"`
	// ServerName overrides the TLS server name (when Gateway is an IP).
	ServerName string `yaml:"serverName"`
	// MSPID, Certificate (PEM file) and PrivateKey (PEM file) are the user.
	MSPID       string `yaml:"mspID"`
	Certificate string `yaml:"certificate"`
	PrivateKey  string `yaml:"privateKey"`
	// Channel and Chaincode name where anchorfs's chaincode runs.
	Channel   string `yaml:"channel"`
	Chaincode string `yaml:"chaincode"`
}

// LoadProfile reads and checks a profile; relative file names are relative to it.
func LoadProfile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("Fabric profile: %w", err)
	}
	var p Profile
	if err := yaml.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("Fabric profile %s is not valid YAML: %v", path, err)
	}
	var missing []string
	for name, v := range map[string]*string{"gateway": &p.Gateway, "tlsCACert": &p.TLSCACert, "mspID": &p.MSPID,
		"certificate": &p.Certificate, "privateKey": &p.PrivateKey, "channel": &p.Channel, "chaincode": &p.Chaincode} {
		if *v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("Fabric profile %s lacks %s", path, strings.Join(missing, ", "))
	}
	for _, f := range []*string{&p.TLSCACert, &p.Certificate, &p.PrivateKey} {
		if !filepath.IsAbs(*f) {
			*f = filepath.Join(filepath.Dir(path), *f)
		}
	}
	return &p, nil
}

// Ledger is anchorfs's chaincode on a Fabric channel: the chaincode's
// calls (invoke.Client) over the Fabric Gateway.
type Ledger struct {
	invoke.Client
	actor    string
	network  *client.Network
	profile  *Profile
	conn     *grpc.ClientConn
	gw       *client.Gateway
	contract *client.Contract
	qscc     *client.Contract
}

var _ network.Ledger = (*Ledger)(nil)

// maxMessage bounds a gateway message either way: the peers' own default
// (core.yaml's maxRecvMsgSize and maxSendMsgSize, 100 MiB), not gRPC's
// 4 MiB, which the endorsement of a full batch (wire.BatchSize versions,
// 4-5 MB) and a block holding it pass.
const maxMessage = 100 << 20

// Open connects to the network a profile names. It does not wait for the
// network: a network that is down makes calls fail with network.ErrUnavailable.
func Open(profilePath string) (*Ledger, error) {
	p, err := LoadProfile(profilePath)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(p.TLSCACert)
	if err != nil {
		return nil, fmt.Errorf("TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("TLS CA %s holds no certificate", p.TLSCACert)
	}
	certPEM, err := os.ReadFile(p.Certificate)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", p.Certificate, err)
	}
	id, err := identity.NewX509Identity(p.MSPID, cert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(p.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", p.PrivateKey, err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(p.Gateway, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, p.ServerName)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)))
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", p.Gateway, err)
	}
	gw, err := client.Connect(id, client.WithSign(sign), client.WithHash(hash.SHA256), client.WithClientConnection(conn),
		client.WithEvaluateTimeout(10*time.Second), client.WithEndorseTimeout(30*time.Second),
		client.WithSubmitTimeout(10*time.Second), client.WithCommitStatusTimeout(time.Minute))
	if err != nil {
		conn.Close()
		return nil, err
	}
	nw := gw.GetNetwork(p.Channel)
	actor := wire.ActorID(p.MSPID, cert.RawSubjectPublicKeyInfo)
	l := &Ledger{actor: actor, network: nw, profile: p, conn: conn, gw: gw, contract: nw.GetContract(p.Chaincode), qscc: nw.GetContract("qscc")}
	l.Client = invoke.Client{T: l}
	return l, nil
}

// Follow calls fn with the file versions of every "anchored" chaincode
// event the network commits from now on, until ctx ends.
func (l *Ledger) Follow(ctx context.Context, fn func([]network.Anchor)) error {
	events, err := l.network.ChaincodeEvents(ctx, l.profile.Chaincode)
	if err != nil {
		return classify(err)
	}
	for ev := range events {
		if ev.EventName != "anchored" {
			continue
		}
		var anchors []network.Anchor
		if err := json.Unmarshal(ev.Payload, &anchors); err != nil {
			continue // not ours to judge: a later chaincode may say more
		}
		fn(anchors)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: the chaincode event stream ended", network.ErrUnavailable)
}

// Actor is how the chaincode names this client.
func (l *Ledger) Actor() string { return l.actor }

// Close disconnects.
func (l *Ledger) Close() error {
	l.gw.Close()
	return l.conn.Close()
}

// classify turns gateway errors into the drive's: unreachable is
// ErrUnavailable; the chaincode's own message is kept.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return fmt.Errorf("%w: %v", network.ErrUnavailable, err)
		}
	}
	var ee *client.EndorseError
	if errors.As(err, &ee) {
		var msgs []string
		for _, d := range ee.Details() {
			msgs = append(msgs, d.GetMessage())
		}
		if len(msgs) > 0 {
			return fmt.Errorf("%v: %s", err, strings.Join(msgs, "; "))
		}
	}
	return err
}

// Submit runs a chaincode function as a transaction, again when it lost an MVCC race.
func (l *Ledger) Submit(ctx context.Context, fn string, args ...string) ([]byte, error) {
	var out []byte
	lostRace := func(err error) bool {
		var ce *client.CommitError
		return errors.As(err, &ce) && ce.Code == peer.TxValidationCode_MVCC_READ_CONFLICT
	}
	err := retry.Do(ctx, retry.Conflict, lostRace, nil, func() error {
		var err error
		out, err = l.contract.SubmitWithContext(ctx, fn, client.WithArguments(args...))
		return err
	})
	return out, classify(err)
}

// Evaluate runs a chaincode function without committing anything.
func (l *Ledger) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	out, err := l.contract.EvaluateWithContext(ctx, fn, client.WithArguments(args...))
	return out, classify(err)
}

// Ready endorses a call that commits nothing (the contract API's
// GetMetadata) on as many organisations as the chaincode's endorsement
// policy needs. It fails until the gateway peer knows such peers: a network
// that has just started learns them through gossip within seconds.
func (l *Ledger) Ready(ctx context.Context) error {
	p, err := l.contract.NewProposal("org.hyperledger.fabric:GetMetadata")
	if err != nil {
		return err
	}
	_, err = p.EndorseWithContext(ctx)
	return classify(err)
}

// Info asks the channel's query system chaincode for the chain's height.
func (l *Ledger) Info(ctx context.Context) (network.Info, error) {
	out, err := l.qscc.EvaluateWithContext(ctx, "GetChainInfo", client.WithArguments(l.profile.Channel))
	if err != nil {
		return network.Info{}, classify(err)
	}
	var ci common.BlockchainInfo
	if err := proto.Unmarshal(out, &ci); err != nil {
		return network.Info{}, err
	}
	out, err = l.qscc.EvaluateWithContext(ctx, "GetBlockByNumber", client.WithArguments(l.profile.Channel, "0"))
	if err != nil {
		return network.Info{}, classify(err)
	}
	first, err := blockOf(out)
	if err != nil {
		return network.Info{}, fmt.Errorf("the channel's first block: %w", err)
	}
	return network.Info{Kind: "fabric", ID: "fabric:" + l.profile.Channel + "/" + l.profile.Chaincode + ":" + first.Hash,
		Where: l.profile.Gateway + " channel " + l.profile.Channel, Height: ci.Height, Head: hex.EncodeToString(ci.CurrentBlockHash)}, nil
}

// Blocks calls fn for each block from number from on, read through qscc.
func (l *Ledger) Blocks(ctx context.Context, from uint64, fn func(network.Block) error) error {
	info, err := l.Info(ctx)
	if err != nil {
		return err
	}
	for n := from; n < info.Height; n++ {
		out, err := l.qscc.EvaluateWithContext(ctx, "GetBlockByNumber", client.WithArguments(l.profile.Channel, strconv.FormatUint(n, 10)))
		if err != nil {
			return classify(err)
		}
		b, err := blockOf(out)
		if err != nil {
			return fmt.Errorf("block %d: %w", n, err)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// blockOf reads what the drive shows of a Fabric block.
func blockOf(raw []byte) (network.Block, error) {
	var blk common.Block
	if err := proto.Unmarshal(raw, &blk); err != nil {
		return network.Block{}, err
	}
	b := network.Block{Number: blk.GetHeader().GetNumber(), Hash: hex.EncodeToString(BlockHeaderHash(blk.GetHeader())),
		PrevHash: hex.EncodeToString(blk.GetHeader().GetPreviousHash()), TxIDs: []string{}}
	for _, data := range blk.GetData().GetData() {
		var env common.Envelope
		var pl common.Payload
		var ch common.ChannelHeader
		if proto.Unmarshal(data, &env) != nil || proto.Unmarshal(env.Payload, &pl) != nil ||
			proto.Unmarshal(pl.GetHeader().GetChannelHeader(), &ch) != nil {
			continue
		}
		b.TxIDs = append(b.TxIDs, ch.TxId)
		if t := ch.GetTimestamp(); t != nil && b.Time.IsZero() {
			b.Time = t.AsTime()
		}
	}
	return b, nil
}
