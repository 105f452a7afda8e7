package format

// SealWithNonce lets the vector tests seal deterministically.
var SealWithNonce = sealWithNonce

// OpenWithNonce opens a bare AES-256-GCM ciphertext with a given nonce.
func OpenWithNonce(key, aad, nonce, sealed []byte) ([]byte, error) {
	return gcm(key).Open(nil, nonce, sealed, aad)
}

// DecodeCanonicalManifest is Decode's reader of manifests in Encode's form.
var DecodeCanonicalManifest = decodeCanonicalManifest
