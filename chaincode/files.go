package chaincode

import (
	"encoding/json"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"strconv"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// FilesContract anchors file versions: who replaced which version with which ciphertext.
type FilesContract struct {
	contractapi.Contract
}

// validateVersion checks an anchor before anything is written.
func validateVersion(v *wire.FileVersion) error {
	if err := checkID("volume", v.Volume); err != nil {
		return err
	}
	if err := checkID("file", v.File); err != nil {
		return err
	}
	if v.Version == 0 || v.Version != v.PrevVersion+1 {
		return fmt.Errorf("file %s: version %d must follow previous version %d", v.File, v.Version, v.PrevVersion)
	}
	if v.PrevManifestHash != "" {
		if v.PrevVersion == 0 {
			return fmt.Errorf("file %s: a first version replaces no manifest", v.File)
		}
		if err := checkHash("previous manifest hash", v.PrevManifestHash); err != nil {
			return err
		}
	}
	if err := checkHash("merkle root", v.MerkleRoot); err != nil {
		return err
	}
	if err := checkHash("manifest hash", v.ManifestHash); err != nil {
		return err
	}
	if v.Size < 0 {
		return fmt.Errorf("file %s: negative size", v.File)
	}
	if v.Domain != "" {
		if err := checkID("domain", v.Domain); err != nil {
			return err
		}
	}
	return nil
}

func fileKey(ctx contractapi.TransactionContextInterface, volume, file string) (string, error) {
	return ctx.GetStub().CreateCompositeKey(keyFile, []string{volume, file})
}

// AnchorBatch anchors many file versions in one transaction. A malformed
// anchor fails the whole call and writes nothing; a stale one, or one the
// volume's policy denies the caller (recorded as a "denied" event), is
// reported in its Outcome and does not stop the others. On a registered
// volume the owner may anchor anything; anyone else must have joined it and
// may anchor only in a domain its grant lets it write, and may not move a
// file out of the domain it is in.
func (c *FilesContract) AnchorBatch(ctx contractapi.TransactionContextInterface, anchorsJSON string) ([]wire.Outcome, error) {
	var anchors []wire.FileVersion
	if err := json.Unmarshal([]byte(anchorsJSON), &anchors); err != nil {
		return nil, fmt.Errorf("anchors are not a JSON list of file versions: %w", err)
	}
	out, err := c.commit(ctx, anchors, nil)
	if err != nil {
		return nil, err
	}
	return out.Versions, nil
}

// commit anchors file versions and heads in one transaction (AnchorBatch
// and Commit).
func (c *FilesContract) commit(ctx contractapi.TransactionContextInterface, anchors []wire.FileVersion, heads []wire.HeadVersion) (*wire.CommitOutcome, error) {
	if n := len(anchors) + len(heads); n == 0 || n > wire.MaxBatch {
		return nil, fmt.Errorf("a batch holds 1 to %d anchors and heads, not %d", wire.MaxBatch, n)
	}
	seen := map[string]bool{}
	for i := range anchors {
		if err := validateVersion(&anchors[i]); err != nil {
			return nil, fmt.Errorf("anchor %d: %w", i, err)
		}
		k := anchors[i].Volume + "/" + anchors[i].File
		if seen[k] {
			return nil, fmt.Errorf("anchor %d: file %s appears twice in one batch", i, anchors[i].File)
		}
		seen[k] = true
	}
	for i := range heads {
		if err := validateHead(&heads[i]); err != nil {
			return nil, fmt.Errorf("head %d: %w", i, err)
		}
	}
	actor, err := Actor(ctx)
	if err != nil {
		return nil, err
	}
	now, err := txTime(ctx)
	if err != nil {
		return nil, err
	}
	stub := ctx.GetStub()
	// Every file's latest version in one read, and the writes sent to the
	// peer together at the end: on Fabric each GetState and PutState is a
	// round trip to the peer, three per anchor otherwise.
	keys := make([]string, len(anchors))
	for i, a := range anchors {
		if keys[i], err = fileKey(ctx, a.Volume, a.File); err != nil {
			return nil, err
		}
	}
	current, err := stub.GetMultipleStates(keys...)
	if err != nil {
		return nil, err
	}
	stub.StartWriteBatch()
	out := make([]wire.Outcome, len(anchors))
	access := newWriteAccess(ctx, actor)
	bill, err := newBilling(ctx, now)
	if err != nil {
		return nil, err
	}
	var anchored []wire.FileVersion
	for i, a := range anchors {
		key := keys[i]
		cur, err := decodeVersion(key, current[i])
		if err != nil {
			return nil, err
		}
		reason, isOwner, err := access.deny(a.Volume, a.Domain)
		if reason == "" && !isOwner && cur != nil && cur.Domain != a.Domain {
			reason = fmt.Sprintf("file %s belongs to domain %q, not %s", a.File, cur.Domain, a.Domain)
		}
		if err != nil {
			return nil, err
		}
		if reason != "" {
			if err := putEvent(ctx, i, wire.Event{Time: now, Actor: actor, Action: "denied", Volume: a.Volume, File: a.File,
				Detail: map[string]string{"domain": a.Domain, "version": strconv.FormatUint(a.Version, 10), "reason": reason}}); err != nil {
				return nil, err
			}
			out[i] = wire.Outcome{Status: wire.StatusDenied, Reason: reason}
			continue
		}
		switch {
		case cur != nil && cur.Version == a.Version && cur.ManifestHash == a.ManifestHash:
			out[i] = wire.Outcome{Status: wire.StatusExists, Current: cur}
			continue
		case (cur == nil && a.PrevVersion != 0) || (cur != nil && cur.Version != a.PrevVersion) ||
			(cur != nil && a.PrevManifestHash != "" && cur.ManifestHash != a.PrevManifestHash):
			out[i] = wire.Outcome{Status: wire.StatusStale, Current: cur}
			continue
		}
		if reason, err := bill.unpaid(a); err != nil {
			return nil, err
		} else if reason != "" {
			if err := putEvent(ctx, i, wire.Event{Time: now, Actor: actor, Action: "unpaid", Volume: a.Volume, File: a.File,
				Detail: map[string]string{"version": strconv.FormatUint(a.Version, 10), "reason": reason}}); err != nil {
				return nil, err
			}
			out[i] = wire.Outcome{Status: wire.StatusUnpaid, Reason: reason}
			continue
		}
		a.Actor, a.TxID, a.Time = actor, stub.GetTxID(), now
		b, _ := json.Marshal(a)
		if err := stub.PutState(key, b); err != nil {
			return nil, err
		}
		if err := putEvent(ctx, i, wire.Event{Time: now, Actor: actor, Action: "anchor", Volume: a.Volume, File: a.File,
			Detail: map[string]string{"version": strconv.FormatUint(a.Version, 10), "manifestHash": a.ManifestHash}}); err != nil {
			return nil, err
		}
		out[i] = wire.Outcome{Status: wire.StatusAnchored}
		anchored = append(anchored, a)
		if err := bill.anchored(a, cur); err != nil {
			return nil, err
		}
	}
	if err := bill.settle(); err != nil {
		return nil, err
	}
	headOut, err := c.anchorHeads(ctx, access, heads, len(anchors), now)
	if err != nil {
		return nil, err
	}
	if len(anchored) > 0 {
		// One event per transaction is all Fabric keeps: it lists the versions.
		b, _ := json.Marshal(anchored)
		if err := stub.SetEvent("anchored", b); err != nil {
			return nil, err
		}
	}
	if err := stub.FinishWriteBatch(); err != nil {
		return nil, err
	}
	return &wire.CommitOutcome{Versions: out, Heads: headOut}, nil
}

// Anchor anchors one file version; a stale or denied one is an error (so a
// denial is not recorded: AnchorBatch records it).
func (c *FilesContract) Anchor(ctx contractapi.TransactionContextInterface, volume, file string, version, prevVersion uint64, merkleRoot, manifestHash string, size int64) error {
	b, _ := json.Marshal([]wire.FileVersion{{Volume: volume, File: file, Version: version, PrevVersion: prevVersion,
		MerkleRoot: merkleRoot, ManifestHash: manifestHash, Size: size}})
	out, err := c.AnchorBatch(ctx, string(b))
	if err != nil {
		return err
	}
	if out[0].Status == wire.StatusDenied {
		return fmt.Errorf("denied: %s", out[0].Reason)
	}
	if out[0].Status == wire.StatusStale {
		latest := uint64(0)
		if out[0].Current != nil {
			latest = out[0].Current.Version
		}
		return fmt.Errorf("stale version: file %s is at version %d, not %d", file, latest, prevVersion)
	}
	return nil
}

func (c *FilesContract) get(ctx contractapi.TransactionContextInterface, key string) (*wire.FileVersion, error) {
	b, err := ctx.GetStub().GetState(key)
	if err != nil {
		return nil, err
	}
	return decodeVersion(key, b)
}

// decodeVersion reads a stored anchor; nil when there is none.
func decodeVersion(key string, b []byte) (*wire.FileVersion, error) {
	if b == nil {
		return nil, nil
	}
	var v wire.FileVersion
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("stored anchor %q is corrupt: %w", key, err)
	}
	return &v, nil
}

// mayReadFile refuses a caller that may not read a file's records (the
// owner may; a joined grantee those of files in the folders granted to it).
func mayReadFile(ctx contractapi.TransactionContextInterface, volume, file string) error {
	r, err := reader(ctx, volume)
	if err != nil {
		return err
	}
	ok, err := r.file(file)
	if err == nil && !ok {
		err = r.denied("file " + file)
	}
	return err
}

// Latest returns the newest anchored version of a file, to the volume's members.
func (c *FilesContract) Latest(ctx contractapi.TransactionContextInterface, volume, file string) (*wire.FileVersion, error) {
	if err := checkID("volume", volume); err != nil {
		return nil, err
	}
	if err := checkID("file", file); err != nil {
		return nil, err
	}
	if err := mayReadFile(ctx, volume, file); err != nil {
		return nil, err
	}
	v, err := c.latest(ctx, volume, file)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, wire.Errorf(wire.NotAnchored, "file %s not anchored", file)
	}
	return v, nil
}

// latest is a file's newest anchored version, nil if none.
func (c *FilesContract) latest(ctx contractapi.TransactionContextInterface, volume, file string) (*wire.FileVersion, error) {
	key, err := fileKey(ctx, volume, file)
	if err != nil {
		return nil, err
	}
	return c.get(ctx, key)
}

// LatestMany returns the newest anchored version of each file of filesJSON
// (a JSON list of ids, at most wire.MaxQuery), in order, as a JSON list of
// wire.FileVersion; a file never anchored, or one the caller may not read,
// has version 0 (the caller learns nothing of it). One query instead of one
// per file, for a reader opening the files of a folder; only the volume's
// members may ask. The keys are read in one request to the ledger, and the
// answer is returned as JSON already made (no schema check of 512 records).
func (c *FilesContract) LatestMany(ctx contractapi.TransactionContextInterface, volume, filesJSON string) (string, error) {
	if err := checkID("volume", volume); err != nil {
		return "", err
	}
	var files []string
	if err := json.Unmarshal([]byte(filesJSON), &files); err != nil {
		return "", fmt.Errorf("files: %w", err)
	}
	if len(files) > wire.MaxQuery {
		return "", fmt.Errorf("%d files in one query: at most %d", len(files), wire.MaxQuery)
	}
	r, err := reader(ctx, volume)
	if err != nil {
		return "", err
	}
	keys := make([]string, len(files))
	for i, file := range files {
		if err := checkID("file", file); err != nil {
			return "", err
		}
		if keys[i], err = fileKey(ctx, volume, file); err != nil {
			return "", err
		}
	}
	stored, err := ctx.GetStub().GetMultipleStates(keys...)
	if err != nil {
		return "", err
	}
	if len(stored) != len(keys) {
		return "", fmt.Errorf("the ledger returned %d states for %d keys", len(stored), len(keys))
	}
	out := make([]wire.FileVersion, len(files))
	for i, file := range files {
		v, err := decodeVersion(keys[i], stored[i])
		if err != nil {
			return "", err
		}
		// A grantee reads a file's records when the file lies in a domain
		// it is granted (readAccess.file, from the record already read).
		if v == nil || !r.domain(v.Domain) {
			out[i] = wire.FileVersion{Volume: volume, File: file}
			continue
		}
		out[i] = *v
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// History returns every anchored version of a file, oldest first, to the
// volume's members.
func (c *FilesContract) History(ctx contractapi.TransactionContextInterface, volume, file string) ([]wire.FileVersion, error) {
	if err := checkID("volume", volume); err != nil {
		return nil, err
	}
	if err := checkID("file", file); err != nil {
		return nil, err
	}
	if err := mayReadFile(ctx, volume, file); err != nil {
		return nil, err
	}
	key, err := fileKey(ctx, volume, file)
	if err != nil {
		return nil, err
	}
	it, err := ctx.GetStub().GetHistoryForKey(key)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := []wire.FileVersion{}
	for it.HasNext() {
		m, err := it.Next()
		if err != nil {
			return nil, err
		}
		if m.IsDelete {
			continue
		}
		var v wire.FileVersion
		if err := json.Unmarshal(m.Value, &v); err != nil {
			return nil, fmt.Errorf("stored anchor is corrupt: %w", err)
		}
		out = append(out, v)
	}
	// Fabric returns history newest first; anchors are ordered by version.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if len(out) > 1 && out[0].Version > out[1].Version {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}
