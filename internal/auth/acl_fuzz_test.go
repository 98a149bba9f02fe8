package auth

import (
	"fmt"
	"testing"
)

// FuzzDecodeACLs: acls.json decoding never panics, and whatever it accepts
// is valid and survives an encode/decode round trip.
func FuzzDecodeACLs(f *testing.F) {
	good, _ := encodeACLs([]ACL{
		allow(ResourceTopic, "t", PatternLiteral, "User:alice", "*", OpRead),
		deny(ResourceGroup, "g-", PatternPrefixed, "User:*", "10.0.0.1", OpAll),
	})
	empty, _ := encodeACLs(nil)
	f.Add(good)
	f.Add(empty)
	f.Add([]byte(`{"version":1,"crc32c":0,"payload":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		acls, err := decodeACLs(data)
		if err != nil {
			return
		}
		for _, a := range acls {
			if err := a.Validate(); err != nil {
				t.Fatalf("decoded an invalid ACL %v: %v", a, err)
			}
		}
		again, err := encodeACLs(acls)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeACLs(again)
		if err != nil || fmt.Sprint(back) != fmt.Sprint(acls) {
			t.Fatalf("round trip: %v, %v != %v", err, back, acls)
		}
	})
}
