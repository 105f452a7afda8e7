// Package chaincode is the ledger's smart contracts: file anchors and audit events (and the shared parts policy and billing build on).
package chaincode

import (
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// Name is the chaincode's name on a channel.
const Name = "anchorfs"

// New returns the chaincode with all its contracts: Files (the default) and Audit.
func New() (*contractapi.ContractChaincode, error) {
	files := &FilesContract{}
	files.Name = "Files"
	audit := &AuditContract{}
	audit.Name = "Audit"
	cc, err := contractapi.NewChaincode(files, audit)
	if err != nil {
		return nil, err
	}
	cc.DefaultContract = files.Name
	cc.Info.Title = "anchorfs"
	cc.Info.Version = "1"
	return cc, nil
}
