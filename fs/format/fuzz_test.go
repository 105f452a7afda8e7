package format_test

import (
	"reflect"
	"testing"

	"github.com/anchorfs/anchorfs/fs/format"
)

// FuzzDecodeObjects feeds every kind of metadata object (folder, manifest,
// head, link table, config) arbitrary bytes: decoding and validating never
// panic, and what decodes encodes to bytes that decode to the same value.
func FuzzDecodeObjects(f *testing.F) {
	v := makeVectors()
	for _, pt := range []string{v.Manifest.Plaintext, v.Dir.Plaintext, v.Head.Plaintext, v.DomainHead.Plaintext, v.DomainManifest.Plaintext} {
		for kind := byte(0); kind < 5; kind++ {
			f.Add(kind, []byte(pt))
		}
	}
	f.Add(byte(4), []byte(`{"format":1,"volume":"00112233445566778899aabbccddeeff","chunkSize":1048576,"created":"x","keyCheck":"ab","ownerKey":"AA==","ledger":"embedded:00"}`))
	f.Add(byte(0), []byte(`{"format":1,"dir":"fedcba9876543210fedcba9876543210","entries":[{"name":"","rawName":"/w==","id":"x","type":"fifo","mode":0,"uid":0,"gid":0,"mtime":0,"ctime":0}]}`))
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		var obj any
		switch kind % 5 {
		case 0:
			obj = &format.Dir{}
		case 1:
			obj = &format.Manifest{}
		case 2:
			obj = &format.Head{}
		case 3:
			obj = &format.Links{}
		default:
			obj = &format.Config{}
		}
		if err := format.Decode(data, obj); err != nil {
			return
		}
		switch o := obj.(type) {
		case *format.Manifest:
			o.Validate(format.DefaultChunkSize)
		case *format.Config:
			o.Validate()
		}
		again := reflect.New(reflect.TypeOf(obj).Elem()).Interface()
		if err := format.Decode(format.Encode(obj), again); err != nil {
			t.Fatalf("re-encoded %T does not decode: %v", obj, err)
		}
		if !reflect.DeepEqual(normalized(obj), normalized(again)) {
			t.Fatalf("%T changed through encode and decode:\n%+v\n%+v", obj, obj, again)
		}
	})
}

// normalized is v encoded: empty and absent fields compare equal.
func normalized(v any) string { return string(format.Encode(v)) }
