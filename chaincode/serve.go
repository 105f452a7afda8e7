package chaincode

import (
	"errors"
	"fmt"
	"os"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
)

// ServeConfig is how a Fabric peer reaches the chaincode running as a
// service (Chaincode-as-a-Service).
type ServeConfig struct {
	// ID is the package id the peer knows the chaincode by (CHAINCODE_ID).
	ID string
	// Address is where to listen, host:port (CHAINCODE_SERVER_ADDRESS).
	Address string
	// TLS: the server's key and certificate and the client CA, PEM files;
	// all empty serves without TLS.
	KeyFile, CertFile, ClientCAFile string
}

// ServeConfigFromEnv reads the variables fabric-samples' CCaaS examples use.
func ServeConfigFromEnv() ServeConfig {
	return ServeConfig{
		ID: os.Getenv("CHAINCODE_ID"), Address: os.Getenv("CHAINCODE_SERVER_ADDRESS"),
		KeyFile: os.Getenv("CHAINCODE_TLS_KEY"), CertFile: os.Getenv("CHAINCODE_TLS_CERT"),
		ClientCAFile: os.Getenv("CHAINCODE_CLIENT_CA_CERT"),
	}
}

// Serve runs the chaincode as a service until the server fails.
func Serve(cfg ServeConfig) error {
	if cfg.ID == "" || cfg.Address == "" {
		return errors.New("chaincode serve needs the package id (CHAINCODE_ID) and an address (CHAINCODE_SERVER_ADDRESS)")
	}
	cc, err := New()
	if err != nil {
		return err
	}
	tls := shim.TLSProperties{Disabled: true}
	if cfg.KeyFile != "" || cfg.CertFile != "" {
		key, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("TLS key: %w", err)
		}
		cert, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		tls = shim.TLSProperties{Key: key, Cert: cert}
		if cfg.ClientCAFile != "" {
			if tls.ClientCACerts, err = os.ReadFile(cfg.ClientCAFile); err != nil {
				return fmt.Errorf("client CA: %w", err)
			}
		}
	}
	srv := &shim.ChaincodeServer{CCID: cfg.ID, Address: cfg.Address, CC: cc, TLSProps: tls}
	return srv.Start()
}
