package broker

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// One fuzz target per family of request types, each seeded (testdata/fuzz/
// <Target>/, written by TestFuzzSeedCorpus with SLUICE_UPDATE_FUZZ_SEEDS=1)
// with real encoded requests of every key of the family at its lowest and
// highest served version, fields filled in. Whatever the bytes, a frame
// must be answered or close the connection, never panic or spin (the
// Kafka decoders' counts are bounded by the bytes left; see
// TestForgedApiVersionsTagCount).

var fuzzFamilies = map[string][]int16{
	"FuzzProduceFetchFrame": {0, 1, 2, 3, 23},
	"FuzzGroupFrame":        {8, 9, 10, 11, 12, 13, 14, 15, 16, 42, 47, 68, 69},
	"FuzzTxnFrame":          {22, 24, 25, 26, 28, 61, 65, 66},
	"FuzzAdminFrame":        {19, 20, 21, 29, 30, 31, 32, 33, 34, 35, 37, 44, 48, 49, 50, 51, 60},
	"FuzzShareFrame":        {76, 77, 78, 79, 90, 91, 92},
}

func FuzzProduceFetchFrame(f *testing.F) { fuzzFamily(f, "FuzzProduceFetchFrame") }
func FuzzGroupFrame(f *testing.F)        { fuzzFamily(f, "FuzzGroupFrame") }
func FuzzTxnFrame(f *testing.F)          { fuzzFamily(f, "FuzzTxnFrame") }
func FuzzAdminFrame(f *testing.F)        { fuzzFamily(f, "FuzzAdminFrame") }
func FuzzShareFrame(f *testing.F)        { fuzzFamily(f, "FuzzShareFrame") }

// fuzzFamily feeds frames of the family's API keys to a live broker, with
// what would make one run slow or fill the disk bounded: a Fetch's wait,
// and the partition counts of CreateTopics and CreatePartitions. Those
// are decoded, bounded and encoded again; every other frame is served as
// the fuzzer made it.
func fuzzFamily(f *testing.F, target string) {
	in := map[int16]bool{}
	for _, k := range fuzzFamilies[target] {
		in[k] = true
	}
	tb := startBroker(f, "", map[string]string{"auto.create.topics.enable": "false", "group.initial.rebalance.delay.ms": "0"})
	c := newConn(tb.Broker, discardConn{})
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 4 {
			return
		}
		key := int16(frame[0])<<8 | int16(frame[1])
		if !in[key] {
			return
		}
		if key == 1 || key == 19 || key == 37 || key == 78 {
			version := int16(frame[2])<<8 | int16(frame[3])
			req := kmsg.RequestForKey(key)
			req.SetVersion(version)
			if h, ok := handlers[key]; !ok || version < h.min || version > h.max {
				c.handleFrame(frame) // a refused version
				return
			}
			if !decodeBody(frame, req) {
				// decodeBody is stricter than the broker (it takes no
				// header tags), so the broker might still serve this
				// frame unbounded: a long poll or thousands of
				// partitions. Skip it.
				return
			}
			boundRequest(req)
			frame = formatter.AppendRequest(nil, req, 1)[4:]
		}
		c.handleFrame(frame)
	})
}

// decodeBody decodes the body of frame (a request header v1 or v2, then
// the body) into req.
func decodeBody(frame []byte, req kmsg.Request) bool {
	if len(frame) < 10 {
		return false
	}
	b := frame[8:]
	if len(b) < 2 {
		return false
	}
	n := int(int16(b[0])<<8 | int16(b[1]))
	b = b[2:]
	if n > 0 {
		if n > len(b) {
			return false
		}
		b = b[n:]
	}
	if req.IsFlexible() {
		if len(b) < 1 || b[0] != 0 {
			return false // header tags: only none, for simplicity
		}
		b = b[1:]
	}
	return req.ReadFrom(b) == nil
}

// boundRequest bounds what would make one fuzz iteration slow or large.
func boundRequest(req kmsg.Request) {
	switch r := req.(type) {
	case *kmsg.FetchRequest:
		r.MaxWaitMillis = 0
	case *kmsg.ShareFetchRequest:
		r.MaxWaitMillis = 0
	case *kmsg.CreateTopicsRequest:
		for i := range r.Topics {
			t := &r.Topics[i]
			if t.NumPartitions < 1 || t.NumPartitions > 4 {
				t.NumPartitions = 1
			}
			if len(t.ReplicaAssignment) > 4 {
				t.ReplicaAssignment = t.ReplicaAssignment[:4]
			}
		}
	case *kmsg.CreatePartitionsRequest:
		for i := range r.Topics {
			t := &r.Topics[i]
			if t.Count < 1 || t.Count > 8 {
				t.Count = 2
			}
			if len(t.Assignment) > 4 {
				t.Assignment = t.Assignment[:4]
			}
		}
	}
}

// familySeeds are the family's seed frames: each served key at its lowest
// and highest version, every field filled in (fill), with a real record
// batch in a Produce and consumer-protocol metadata in a JoinGroup.
func familySeeds(target string) [][]byte {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("seed"))
	var out [][]byte
	for _, k := range fuzzFamilies[target] {
		h, ok := handlers[k]
		if !ok {
			continue
		}
		versions := []int16{h.min}
		if h.max != h.min {
			versions = append(versions, h.max)
		}
		for _, v := range versions {
			req := kmsg.RequestForKey(k)
			fill(reflect.ValueOf(req).Elem(), 0)
			req.SetVersion(v)
			switch r := req.(type) {
			case *kmsg.ProduceRequest:
				r.TransactionID = nil
				r.Acks = -1
				for i := range r.Topics {
					for j := range r.Topics[i].Partitions {
						r.Topics[i].Partitions[j].Partition = 0
						r.Topics[i].Partitions[j].Records = buildBatch(-1, -1, -1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
							rawRecord{key: []byte("k"), value: []byte("v"), headers: [][2]string{{"h", "x"}}})
					}
				}
			case *kmsg.JoinGroupRequest:
				for i := range r.Protocols {
					r.Protocols[i].Metadata = consumerMeta([]byte("u"), "seed")
				}
			case *kmsg.SyncGroupRequest:
				for i := range r.GroupAssignment {
					r.GroupAssignment[i].MemberAssignment = consumerAssignment("seed", nil, 0)
				}
			}
			out = append(out, formatter.AppendRequest(nil, req, 1)[4:])
		}
	}
	return out
}

// fill sets every exported field of v to a plausible non-zero value: "seed"
// strings, 1 for numbers, true, a few bytes, one element per slice.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if !t.Field(i).IsExported() || t.Field(i).Name == "Version" || t.Field(i).Name == "UnknownTags" {
				continue
			}
			fill(v.Field(i), depth+1)
		}
	case reflect.String:
		v.SetString("seed")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float64:
		v.SetFloat(1)
	case reflect.Pointer:
		if depth < 8 {
			p := reflect.New(v.Type().Elem())
			fill(p.Elem(), depth+1)
			v.Set(p)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("seed"))
			return
		}
		if depth < 8 {
			s := reflect.MakeSlice(v.Type(), 1, 1)
			fill(s.Index(0), depth+1)
			v.Set(s)
		}
	}
}

// TestFuzzSeedCorpus checks each family's committed seed corpus holds a
// seed of every key of the family (SLUICE_UPDATE_FUZZ_SEEDS=1 writes the
// corpora from familySeeds and saslSeeds).
func TestFuzzSeedCorpus(t *testing.T) {
	if os.Getenv("SLUICE_UPDATE_FUZZ_SEEDS") == "1" {
		targets := map[string][][]byte{"FuzzUnauthenticatedFrame": saslSeeds()}
		for target := range fuzzFamilies {
			for _, s := range familySeeds(target) {
				targets[target] = append(targets[target], corpusEntry(s))
			}
		}
		for target, entries := range targets {
			dir := filepath.Join("testdata", "fuzz", target)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				sum := sha256.Sum256(e)
				if err := os.WriteFile(filepath.Join(dir, "seed-"+hex.EncodeToString(sum[:8])), e, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for target, keys := range fuzzFamilies {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", target, "seed-*"))
		have := map[int16]bool{}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitN(string(b), "\n", 3)
			if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
				t.Fatalf("%s: not a fuzz corpus file", name)
			}
			frame, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
			if err != nil || len(frame) < 2 {
				t.Fatalf("%s: %v", name, err)
			}
			have[int16(frame[0])<<8|int16(frame[1])] = true
		}
		for _, k := range keys {
			if _, served := handlers[k]; served && !have[k] {
				t.Errorf("%s: no committed seed of %s (SLUICE_UPDATE_FUZZ_SEEDS=1 go test -run TestFuzzSeedCorpus writes them)", target, kmsg.NameForKey(k))
			}
		}
	}
	if files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzUnauthenticatedFrame", "seed-*")); len(files) == 0 {
		t.Error("FuzzUnauthenticatedFrame: no committed seeds")
	}
}

// corpusEntry is a one-argument fuzz corpus file of b.
func corpusEntry(b ...[]byte) []byte {
	s := "go test fuzz v1\n"
	for _, x := range b {
		s += "[]byte(" + strconv.Quote(string(x)) + ")\n"
	}
	return []byte(s)
}

// saslSeeds are FuzzUnauthenticatedFrame's: a first frame (ApiVersions,
// SaslHandshake v0 and v1, SaslAuthenticate) and a token (a SCRAM
// client-first message, a PLAIN message).
func saslSeeds() [][]byte {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("seed"))
	var firsts [][]byte
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "seed", "1.0"
	firsts = append(firsts, formatter.AppendRequest(nil, av, 1)[4:])
	for _, v := range []int16{0, 1} {
		for _, m := range []string{"SCRAM-SHA-256", "PLAIN"} {
			hs := kmsg.NewPtrSASLHandshakeRequest()
			hs.Version, hs.Mechanism = v, m
			firsts = append(firsts, formatter.AppendRequest(nil, hs, 1)[4:])
		}
	}
	sa := kmsg.NewPtrSASLAuthenticateRequest()
	sa.Version, sa.SASLAuthBytes = 2, []byte("n,,n=alice,r=seed")
	firsts = append(firsts, formatter.AppendRequest(nil, sa, 1)[4:])
	var out [][]byte
	for _, first := range firsts {
		for _, tok := range []string{"n,,n=alice,r=seednonce", "\x00alice\x00secret"} {
			out = append(out, corpusEntry(first, []byte(tok)))
		}
	}
	return out
}

// TestForgedApiVersionsTagCount: an ApiVersions v3 body of two compact
// strings and the tag count ff ff ff ff 0f (4,294,967,295 tags in five
// bytes), before any authentication, must be answered at once; kmsg
// v1.15.0 looped over the count for tens of seconds. The bound is
// generous: the point is that it returns at all.
func TestForgedApiVersionsTagCount(t *testing.T) {
	tb := startBroker(t, "", nil)
	c := newConn(tb.Broker, discardConn{})
	frame := []byte("\x00\x12\x00\x03\x00\x00\x00\x01\x00\x04fuzz\x00" + // header v2, no tags
		"\x05seed\x041.0" + // ClientSoftwareName, ClientSoftwareVersion
		"\xff\xff\xff\xff\x0f") // the forged tag count
	done := make(chan bool, 1)
	go func() { done <- c.handleFrame(frame) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a forged ApiVersions tag count kept the broker busy for over 10 s")
	}
}
