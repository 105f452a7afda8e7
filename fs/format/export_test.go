package format

// SealWithNonce lets the vector tests seal deterministically.
var SealWithNonce = sealWithNonce
