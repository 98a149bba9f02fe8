package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:     "plain",
		`a\tb\n`:    "a\tb\n",
		`\\t`:       `\t`,
		`\r\0`:      "\r\x00",
		"real\ttab": "real\ttab",
	} {
		if got, err := unescape(in); err != nil || got != want {
			t.Errorf("unescape(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`trailing\`, `\x`} {
		if _, err := unescape(in); err == nil {
			t.Errorf("unescape(%q): no error", in)
		}
	}
}

func TestRecordFormatter(t *testing.T) {
	r := &kgo.Record{
		Topic: "t", Partition: 2, Offset: 41, Key: nil, Value: []byte("v\"al"),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}},
		Timestamp: time.UnixMilli(1700000000123),
	}
	for format, want := range map[string]string{
		`%v\n`:                       "v\"al\n",
		`%t/%p/%o %k=%s %h %T|%K|%S`: "t/2/41 =v\"al a=1,b= 1700000000123|-1|4",
		`100%%`:                      "100%",
		"json":                       `{"topic":"t","partition":2,"offset":41,"timestamp":1700000000123,"key":null,"value":"v\"al","headers":{"a":"1","b":""}}` + "\n",
	} {
		f, err := newRecordFormatter(format)
		if err != nil {
			t.Fatalf("%q: %v", format, err)
		}
		var b bytes.Buffer
		f.write(&b, r)
		f.write(&b, r) // the buffer is reused
		if b.String() != want+want {
			t.Errorf("%q: got %q, want %q", format, b.String(), want)
		}
	}
	for _, bad := range []string{"%", "%x", `\q`} {
		if _, err := newRecordFormatter(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestLineParser(t *testing.T) {
	type want struct {
		key, value string // "<nil>" for null
		part       int32
		ts         int64
		err        string
	}
	show := func(b []byte) string {
		if b == nil {
			return "<nil>"
		}
		return string(b)
	}
	for _, tc := range []struct {
		format, keyDelim string
		line             string
		want             want
	}{
		{"", "", "just value", want{key: "<nil>", value: "just value", part: -1, ts: -1}},
		{"", ":", "k:v:w", want{key: "k", value: "v:w", part: -1, ts: -1}},
		{"", ":", "no delimiter", want{key: "<nil>", value: "no delimiter", part: -1, ts: -1}},
		{"", "::", "a::b", want{key: "a", value: "b", part: -1, ts: -1}},
		{`%k\t%v`, "", "k\tv\tw", want{key: "k", value: "v\tw", part: -1, ts: -1}},
		{`[%p] %T %k=%v`, "", "[3] 1700000000000 user=x=y", want{key: "user", value: "x=y", part: 3, ts: 1700000000000}},
		{`%v;`, "", "abc;", want{key: "<nil>", value: "abc", part: -1, ts: -1}},
		{`%k:`, "", "abc:", want{key: "abc", value: "", part: -1, ts: -1}},
		{`%k:%v`, "", "no colon", want{err: `expected ":" after %k`}},
		{`[%p] %v`, "", "[x] v", want{err: `partition "x"`}},
		{`%T %v`, "", "-5 v", want{err: `timestamp "-5"`}},
		{`<%v>`, "", "v>", want{err: `expected "<"`}},
		{`%v;`, "", "a;b", want{err: `unexpected "b" at the end`}},
	} {
		var lp *lineParser
		if tc.format != "" {
			var err error
			if lp, err = newLineParser(tc.format); err != nil {
				t.Fatalf("%q: %v", tc.format, err)
			}
		} else {
			lp = &lineParser{keyDelim: tc.keyDelim}
		}
		f, err := lp.parse([]byte(tc.line))
		if tc.want.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want.err) {
				t.Errorf("%q on %q: error %v, want %q", tc.format, tc.line, err, tc.want.err)
			}
			continue
		}
		got := want{key: show(f.key), value: show(f.value), part: -1, ts: -1}
		if f.hasPartition {
			got.part = f.partition
		}
		if f.hasTimestamp {
			got.ts = f.timestamp
		}
		if err != nil || got != tc.want {
			t.Errorf("%q/%q on %q: got %+v, %v; want %+v", tc.format, tc.keyDelim, tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{"%k%v", "%v %s", "literal only", "%p:%T"} {
		if _, err := newLineParser(bad); err == nil {
			t.Errorf("format %q: no error", bad)
		}
	}
}
