package envelope

import (
	"strings"
	"testing"
)

type payload struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func TestRoundTripAndCorruption(t *testing.T) {
	data, err := Encode(3, payload{"a", 7})
	if err != nil {
		t.Fatal(err)
	}
	var p payload
	if err := Decode(data, 3, &p); err != nil || p != (payload{"a", 7}) {
		t.Fatalf("round trip: %+v %v", p, err)
	}
	flipped := strings.Replace(string(data), `"n":7`, `"n":8`, 1)
	cases := map[string]struct {
		data    string
		version int
		want    string
	}{
		"checksum":      {flipped, 3, "checksum mismatch"},
		"version":       {string(data), 4, "unsupported format version 3"},
		"truncated":     {string(data[:len(data)/2]), 3, "bad JSON envelope"},
		"trailing":      {string(data) + "{}", 3, "trailing data"},
		"no version":    {`{"crc32c":1,"payload":{}}`, 3, `missing "version"`},
		"no checksum":   {`{"version":3,"payload":{}}`, 3, `missing "crc32c"`},
		"no payload":    {`{"version":3,"crc32c":1}`, 3, `missing "payload"`},
		"unknown field": {`{"version":3,"crc32c":1,"payload":{},"x":1}`, 3, "bad JSON envelope"},
	}
	for name, c := range cases {
		var p payload
		if err := Decode([]byte(c.data), c.version, &p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	// A payload with an unknown field is refused even with a right checksum.
	bad, _ := Encode(3, map[string]any{"name": "a", "extra": 1})
	if err := Decode(bad, 3, &p); err == nil || !strings.Contains(err.Error(), "bad JSON payload") {
		t.Errorf("unknown payload field: %v", err)
	}
}
