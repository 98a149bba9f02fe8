package codec

import (
	stdjson "encoding/json"
	"math"
	"net"
	"reflect"
	"testing"
	"time"
)

// The JSON codec must write what encoding/json writes and accept what it
// accepts: these compare the two on values and (fuzzed) inputs.

type jsonText struct{ v string }

func (t jsonText) MarshalText() ([]byte, error) { return []byte("T:" + t.v), nil }
func (t *jsonText) UnmarshalText(b []byte) error {
	t.v = string(b)
	return nil
}

type jsonKitchen struct {
	jsonUser
	HTML   string               `json:"html"`
	Bad    string               `json:"bad"`
	F      float64              `json:"f"`
	F32    float32              `json:"f32"`
	Raw    stdjson.RawMessage   `json:"raw,omitempty"`
	Num    stdjson.Number       `json:"num,omitempty"`
	Text   jsonText             `json:"text"`
	TMap   map[jsonText]int     `json:"tmap"`
	IP     net.IP               `json:"ip"`
	Dur    time.Duration        `json:"dur"`
	Ptrs   []*int               `json:"ptrs"`
	Nested map[string][]float64 `json:"nested"`
	Iface  any                  `json:"iface"`
	Zero   time.Time            `json:"zero,omitzero"`
}

func kitchenValues() []jsonKitchen {
	one := 1
	email := "x@y.z"
	return []jsonKitchen{
		{},
		{
			jsonUser: jsonUser{Name: "ada", Age: 3, Email: &email, Tags: []string{}, Meta: map[string]int{"b": 2, "a": 1, "c": 3},
				At: time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600)), Key: []byte{0, 255, 3}, Count: -7, Size: 1e21,
				Set: map[int]jsonInner{10: {1}, 2: {2}}, jsonEmbedded: jsonEmbedded{Emb: "e"}},
			HTML: "<a href=\"x\">&amp;</a>\u2028\u2029", Bad: "a\xffb\xc3", F: 1e-7, F32: 3.14159,
			Raw: stdjson.RawMessage(`{"k":[1,2]}`), Num: "12.50", Text: jsonText{"t"}, TMap: map[jsonText]int{{"b"}: 2, {"a"}: 1},
			IP: net.IPv4(10, 0, 0, 1), Dur: time.Second, Ptrs: []*int{&one, nil},
			Nested: map[string][]float64{"z": {0.1, -0, 5e-324}, "y": nil}, Iface: map[string]any{"q": []any{true, nil, "s", 1.5}},
		},
	}
}

func TestJSONMatchesEncodingJSON(t *testing.T) {
	c := JSON[jsonKitchen]()
	for i, v := range kitchenValues() {
		want, err := stdjson.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Encode(v)
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		if string(got) != string(want) {
			t.Fatalf("value %d:\n got %s\nwant %s", i, got, want)
		}
		var wantV jsonKitchen
		if err := stdjson.Unmarshal(want, &wantV); err != nil {
			t.Fatal(err)
		}
		gotV, err := c.Decode(want)
		if err != nil {
			t.Fatalf("value %d decode: %v", i, err)
		}
		if !reflect.DeepEqual(gotV, wantV) {
			t.Fatalf("value %d decoded:\n got %+v\nwant %+v", i, gotV, wantV)
		}
	}
	// Non-finite floats are errors in both.
	if _, err := JSON[float64]().Encode(math.NaN()); err == nil {
		t.Fatal("NaN encoded")
	}
}

// FuzzJSONDecode decodes arbitrary bytes with the codec and with
// encoding/json: both must fail, or both succeed with equal values.
func FuzzJSONDecode(f *testing.F) {
	c := JSON[jsonKitchen]()
	for _, v := range kitchenValues() {
		b, _ := stdjson.Marshal(v)
		f.Add(b)
	}
	for _, s := range []string{`{"name":1}`, `{"tags":[1]}`, `{} x`, `{"at":"2026-13-01T00:00:00Z"}`, `{"count":"12"}`, `{"count":12}`, `{"age":-1}`, `{"age":256}`, `{"NAME":"x"}`, `[`, `{"key":"!!"}`, `{"f":1e999}`, "\xef\xbb\xbf{}", `{"html":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want jsonKitchen
		wantErr := stdjson.Unmarshal(b, &want)
		got, err := c.Decode(b)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("input %q: codec error %v, encoding/json error %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("input %q:\n got %+v\nwant %+v", b, got, want)
		}
	})
}

type benchJSONLine struct {
	SKU   string  `json:"sku"`
	Qty   int32   `json:"qty"`
	Price float64 `json:"price"`
}

type benchJSONRecord struct {
	ID       int64             `json:"id"`
	Customer string            `json:"customer"`
	Email    *string           `json:"email"`
	Placed   time.Time         `json:"placed"`
	Lines    []benchJSONLine   `json:"lines"`
	Attrs    map[string]string `json:"attrs"`
}

// BenchmarkJSON compares the JSON codec with encoding/json on a typical
// record.
func BenchmarkJSON(b *testing.B) {
	email := "ada@example.com"
	v := benchJSONRecord{ID: 123456789, Customer: "Ada Lovelace", Email: &email, Placed: time.UnixMilli(1_700_000_000_123).UTC(),
		Attrs: map[string]string{"channel": "web", "region": "eu-central"}}
	for i := range 8 {
		v.Lines = append(v.Lines, benchJSONLine{SKU: "SKU-0001", Qty: int32(i + 1), Price: 9.99 * float64(i+1)})
	}
	data, _ := stdjson.Marshal(v)
	c := JSON[benchJSONRecord]()
	b.Run("encode/encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := stdjson.Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/codec", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := c.Encode(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var out benchJSONRecord
			if err := stdjson.Unmarshal(data, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/codec", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := c.Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
