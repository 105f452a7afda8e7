package keyring

// SecretsForTest exposes an identity's secret key bytes to the tests.
func SecretsForTest(id *Identity) [][]byte {
	return [][]byte{id.signing.Seed(), []byte(id.x25519.String())}
}
