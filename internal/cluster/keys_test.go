package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestKeys(t *testing.T) {
	k := newKeys("c1")
	tp := TopicPartition{TopicID: [16]byte{0xff, 0xfe, 15: 1}, Partition: 12}
	if got := k.indexEntry(tp, 42); got != "/sluice/c1/index/__4AAAAAAAAAAAAAAAAAAQ/12/00000000000000000042" {
		t.Fatalf("index key %q", got)
	}
	if got := k.broker(3); got != "/sluice/c1/brokers/3" {
		t.Fatalf("broker key %q", got)
	}
	back, err := parseTP(strings.TrimPrefix(k.leader(tp), k.leaders()))
	if err != nil || back != tp {
		t.Fatalf("parseTP: %v %v", back, err)
	}
	btp, base, err := parseIndexKey(strings.TrimPrefix(k.indexEntry(tp, 1<<62), k.indexAll()))
	if err != nil || btp != tp || base != 1<<62 {
		t.Fatalf("parseIndexKey: %v %d %v", btp, base, err)
	}
	// Offsets sort as keys.
	if !(k.indexEntry(tp, 9) < k.indexEntry(tp, 10)) {
		t.Fatal("index keys do not sort by offset")
	}
	for _, bad := range []string{"", "x", "AAAA/1", "__4AAAAAAAAAAAAAAAAAAQ/-1", "__4AAAAAAAAAAAAAAAAAAQ/x", "__4AAAAAAAAAAAAAAAAAAQ/99999999999"} {
		if _, err := parseTP(bad); !errors.Is(err, ErrBadValue) {
			t.Errorf("parseTP(%q): %v", bad, err)
		}
	}
	if _, _, err := parseIndexKey("__4AAAAAAAAAAAAAAAAAAQ/1/x"); !errors.Is(err, ErrBadValue) {
		t.Errorf("parseIndexKey: %v", err)
	}
}

func TestDecodeVersion(t *testing.T) {
	var v offsetValue
	if err := decode("k", []byte(encodeOffset(5)), &v); err != nil || v.Offset != 5 {
		t.Fatalf("decode: %+v %v", v, err)
	}
	for _, bad := range []string{`{"v":2,"offset":5}`, `{"offset":5}`, `not json`, ``} {
		if err := decode("k", []byte(bad), &v); !errors.Is(err, ErrBadValue) {
			t.Errorf("decode(%q): %v", bad, err)
		}
	}
	// The commit compares hw values as bytes.
	if encodeOffset(7) != `{"v":1,"offset":7}` {
		t.Fatalf("hw encoding %s", encodeOffset(7))
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{context.DeadlineExceeded, ErrUnavailable},
		{fmt.Errorf("x: %w", context.Canceled), ErrUnavailable},
		{rpctypes.ErrNoLeader, ErrUnavailable},
		{rpctypes.ErrCompacted, ErrUnavailable},
		{rpctypes.ErrTimeout, ErrUnavailable},
		{status.Error(codes.Unavailable, "connection refused"), ErrUnavailable},
		{status.Error(codes.Unknown, "context deadline exceeded"), ErrUnavailable},
		{status.Error(codes.Unknown, "context canceled"), ErrUnavailable},
		{rpctypes.ErrTooManyOps, ErrTxnTooLarge},
		{rpctypes.ErrRequestTooLarge, ErrTxnTooLarge},
		{status.Error(codes.ResourceExhausted, "grpc: trying to send message larger than max (5000 vs. 4096)"), ErrTxnTooLarge},
		{status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5000 vs. 4096)"), ErrTxnTooLarge},
		{rpctypes.ErrLeaseNotFound, ErrLeaseLost},
	} {
		if got := classify(tc.err); !errors.Is(got, tc.want) || !errors.Is(got, tc.err) {
			t.Errorf("classify(%v) = %v, want %v wrapping it", tc.err, got, tc.want)
		}
	}
	for _, err := range []error{rpctypes.ErrPermissionDenied, status.Error(codes.Unknown, "some other failure")} {
		if got := classify(err); Retriable(got) {
			t.Errorf("%v is retriable: %v", err, got)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	for _, cfg := range []Config{
		{ClusterID: "c"},
		{Endpoints: []string{"http://127.0.0.1:1"}},
		{Endpoints: []string{"http://127.0.0.1:1"}, ClusterID: "c", LeaseTTL: 500e6},
		{Endpoints: []string{"http://127.0.0.1:1"}, ClusterID: "c", MaxTxnOps: 2},
	} {
		if c, err := Open(cfg); err == nil {
			c.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}
