// Package chaincode is the ledger's smart contracts: file and head anchors, audit events and the sharing policy.
package chaincode

import (
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// Name is the chaincode's name on a channel.
const Name = "anchorfs"

// New returns the chaincode with all its contracts: Files (the default), Audit and Policy.
func New() (*contractapi.ContractChaincode, error) {
	files := &FilesContract{}
	files.Name = "Files"
	audit := &AuditContract{}
	audit.Name = "Audit"
	policy := &PolicyContract{}
	policy.Name = "Policy"
	cc, err := contractapi.NewChaincode(files, audit, policy)
	if err != nil {
		return nil, err
	}
	cc.DefaultContract = files.Name
	cc.Info.Title = "anchorfs"
	cc.Info.Version = "1"
	return cc, nil
}
