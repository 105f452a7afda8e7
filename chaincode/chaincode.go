// Package chaincode is the ledger's smart contracts: file and head anchors, audit events, the sharing policy, storage nodes, and the token that pays for storage and reads.
package chaincode

import (
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// Name is the chaincode's name on a channel.
const Name = "anchorfs"

// New returns the chaincode with all its contracts: Files (the default), Audit, Policy, Nodes and Tokens.
func New() (*contractapi.ContractChaincode, error) {
	files := &FilesContract{}
	files.Name = "Files"
	audit := &AuditContract{}
	audit.Name = "Audit"
	policy := &PolicyContract{}
	policy.Name = "Policy"
	nodes := &NodesContract{}
	nodes.Name = "Nodes"
	tokens := &TokensContract{}
	tokens.Name = "Tokens"
	for _, c := range []*contractapi.Contract{&files.Contract, &audit.Contract, &policy.Contract, &nodes.Contract, &tokens.Contract} {
		c.TransactionContextHandler = new(txContext)
		c.AfterTransaction = writeEventIndexes
	}
	cc, err := contractapi.NewChaincode(files, audit, policy, nodes, tokens)
	if err != nil {
		return nil, err
	}
	cc.DefaultContract = files.Name
	cc.Info.Title = "anchorfs"
	cc.Info.Version = "1"
	return cc, nil
}
