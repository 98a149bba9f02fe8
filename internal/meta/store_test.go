package meta

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenStore(nil, dir, nil)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return s
}

func mustCreate(t *testing.T, s *Store, tp Topic) Topic {
	t.Helper()
	got, err := s.CreateTopic(tp)
	if err != nil {
		t.Fatalf("CreateTopic(%s): %v", tp.Name, err)
	}
	return got
}

func TestStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by OpenStore
	s := openStore(t, dir)
	cid := s.ClusterID()
	if id, err := decodeUUID(cid); err != nil || id == ([16]byte{}) {
		t.Fatalf("cluster ID %q: %v", cid, err)
	}

	a := mustCreate(t, s, Topic{Name: "a", Partitions: 3, Configs: map[string]string{"retention.ms": "1000"}})
	explicit := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	off := mustCreate(t, s, Topic{Name: "__consumer_offsets", ID: explicit, Partitions: 50, Internal: true,
		Configs: map[string]string{"cleanup.policy": "compact"}})
	mustCreate(t, s, Topic{Name: "gone", Partitions: 1})
	if a.ID == ([16]byte{}) || a.ID[6]>>4 != 4 || a.ID[8]>>6 != 2 {
		t.Errorf("generated ID %x is not a v4 UUID", a.ID)
	}
	if off.ID != explicit {
		t.Errorf("explicit ID replaced: %x", off.ID)
	}
	if err := s.SetPartitions("a", 5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTopicConfigs("a", map[string]string{"segment.ms": "60000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	dyn := map[string]string{"log.retention.ms": "5000", "compression.type": "zstd"}
	if err := s.SetBrokerDynamic(dyn); err != nil {
		t.Fatal(err)
	}

	want := []Topic{
		{Name: "__consumer_offsets", ID: explicit, Partitions: 50, Internal: true, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: "a", ID: a.ID, Partitions: 5, Configs: map[string]string{"segment.ms": "60000"}},
	}
	if got := s.Topics(); !reflect.DeepEqual(got, want) {
		t.Fatalf("before reopen: %+v", got)
	}

	r := openStore(t, dir)
	if r.ClusterID() != cid {
		t.Errorf("cluster ID changed: %s -> %s", cid, r.ClusterID())
	}
	if got := r.Topics(); !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen: %+v\nwant %+v", got, want)
	}
	if got := r.BrokerDynamic(); !reflect.DeepEqual(got, dyn) {
		t.Errorf("broker dynamic after reopen: %v", got)
	}
	if got, ok := r.TopicByID(a.ID); !ok || got.Name != "a" {
		t.Errorf("TopicByID = %+v, %v", got, ok)
	}
	if _, ok := r.TopicByID(explicit); !ok {
		t.Error("TopicByID(explicit) missing")
	}
	if _, ok := r.Topic("gone"); ok {
		t.Error("deleted topic came back")
	}
}

func TestStoreClusterIDPersistedAtCreation(t *testing.T) {
	dir := t.TempDir()
	cid := openStore(t, dir).ClusterID()
	if len(cid) != 22 || strings.HasPrefix(cid, "-") {
		t.Errorf("cluster ID %q", cid)
	}
	if again := openStore(t, dir).ClusterID(); again != cid {
		t.Errorf("cluster ID regenerated: %s -> %s", cid, again)
	}
	if other := openStore(t, t.TempDir()).ClusterID(); other == cid {
		t.Error("two stores share a cluster ID")
	}
}

func TestStoreErrors(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	a := mustCreate(t, s, Topic{Name: "a", Partitions: 2})
	before, _ := os.ReadFile(filepath.Join(dir, metaFileName))

	cases := []struct {
		desc string
		err  error
		kind error
		msg  string
	}{
		{"duplicate", second(s.CreateTopic(Topic{Name: "a", Partitions: 1})), ErrTopicExists, "Topic 'a' already exists."},
		{"bad name", second(s.CreateTopic(Topic{Name: "a b", Partitions: 1})), ErrInvalidTopicName, ""},
		{"zero partitions", second(s.CreateTopic(Topic{Name: "b", Partitions: 0})), ErrInvalidPartitions,
			"Number of partitions was set to an invalid non-positive value."},
		{"bad config", second(s.CreateTopic(Topic{Name: "b", Partitions: 1, Configs: map[string]string{"retention.ms": "x"}})), ErrInvalidConfig, ""},
		{"unknown config", second(s.CreateTopic(Topic{Name: "b", Partitions: 1, Configs: map[string]string{"nope": "x"}})), ErrUnknownConfig, ""},
		{"duplicate id", second(s.CreateTopic(Topic{Name: "b", ID: a.ID, Partitions: 1})), ErrDuplicateTopicID, ""},
		{"delete unknown", second(s.DeleteTopic("zz")), ErrUnknownTopic, "Topic 'zz' does not exist."},
		{"shrink", s.SetPartitions("a", 1), ErrInvalidPartitions, "The topic a currently has 2 partition(s); 1 would not be an increase."},
		{"same count", s.SetPartitions("a", 2), ErrInvalidPartitions, "Topic already has 2 partition(s)."},
		{"partitions of unknown", s.SetPartitions("zz", 5), ErrUnknownTopic, ""},
		{"configs of unknown", s.SetTopicConfigs("zz", nil), ErrUnknownTopic, ""},
		{"invalid configs", s.SetTopicConfigs("a", map[string]string{"segment.bytes": "14"}), ErrInvalidConfig, ""},
		{"read-only dynamic", s.SetBrokerDynamic(map[string]string{"log.dirs": "/x"}), ErrReadOnlyConfig, ""},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.kind) || (c.msg != "" && c.err.Error() != c.msg) {
			t.Errorf("%s: got %v, want %v %q", c.desc, c.err, c.kind, c.msg)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, metaFileName))
	if !bytes.Equal(before, after) {
		t.Error("failed mutations rewrote the file")
	}
	if got := s.Topics(); len(got) != 1 || got[0].Partitions != 2 {
		t.Errorf("failed mutations changed state: %+v", got)
	}
}

func second[T any](_ T, err error) error { return err }

func TestStoreWriteFailureLeavesStateUnchanged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	s := openStore(t, dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic(Topic{Name: "a", Partitions: 1}); err == nil {
		t.Fatal("CreateTopic succeeded without a directory")
	}
	if _, ok := s.Topic("a"); ok {
		t.Error("unpersisted topic visible")
	}
}

func TestStoreReturnsCopies(t *testing.T) {
	s := openStore(t, t.TempDir())
	in := map[string]string{"retention.ms": "1"}
	created := mustCreate(t, s, Topic{Name: "a", Partitions: 1, Configs: in})
	in["retention.ms"] = "2"
	created.Configs["retention.ms"] = "3"
	got, _ := s.Topic("a")
	got.Configs["retention.ms"] = "4"
	s.Topics()[0].Configs["retention.ms"] = "5"
	byID, _ := s.TopicByID(created.ID)
	byID.Configs["retention.ms"] = "6"
	if v := s.Topics()[0].Configs["retention.ms"]; v != "1" {
		t.Errorf("store config mutated through a copy: %s", v)
	}
	dyn := map[string]string{"log.retention.ms": "1"}
	if err := s.SetBrokerDynamic(dyn); err != nil {
		t.Fatal(err)
	}
	dyn["log.retention.ms"] = "2"
	s.BrokerDynamic()["log.retention.ms"] = "3"
	if v := s.BrokerDynamic()["log.retention.ms"]; v != "1" {
		t.Errorf("broker dynamic mutated through a copy: %s", v)
	}
	if noCfg := mustCreate(t, s, Topic{Name: "b", Partitions: 1}); noCfg.Configs == nil {
		t.Error("nil Configs returned")
	}
}

func TestStoreConcurrentMutations(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	const writers, perWriter = 4, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter*2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				name := fmt.Sprintf("t-%d-%d", w, i)
				tp, err := s.CreateTopic(Topic{Name: name, Partitions: 1})
				if err != nil {
					errs <- err
					continue
				}
				if err := s.SetPartitions(name, 2); err != nil {
					errs <- err
				}
				if got, ok := s.TopicByID(tp.ID); !ok || got.Name != name {
					errs <- fmt.Errorf("TopicByID(%s) = %+v", name, got)
				}
			}
		}()
	}
	wg.Add(2)
	go func() { // a racing writer of broker configs
		defer wg.Done()
		for i := range perWriter {
			if err := s.SetBrokerDynamic(map[string]string{"log.retention.ms": fmt.Sprint(i)}); err != nil {
				errs <- err
			}
		}
	}()
	go func() { // a reader
		defer wg.Done()
		for range 50 {
			for _, tp := range s.Topics() {
				if _, ok := s.Topic(tp.Name); !ok {
					errs <- fmt.Errorf("topic %s listed but not found", tp.Name)
				}
			}
			_ = s.BrokerDynamic()
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r := openStore(t, dir)
	topics := r.Topics()
	ids := map[[16]byte]bool{}
	for _, tp := range topics {
		ids[tp.ID] = true
		if tp.Partitions != 2 {
			t.Errorf("%s has %d partitions after reopen", tp.Name, tp.Partitions)
		}
	}
	if len(topics) != writers*perWriter || len(ids) != len(topics) {
		t.Errorf("after reopen: %d topics, %d distinct IDs; want %d", len(topics), len(ids), writers*perWriter)
	}
	if got := r.BrokerDynamic()["log.retention.ms"]; got != fmt.Sprint(perWriter-1) {
		t.Errorf("broker dynamic after reopen: %q", got)
	}
}

// envelopeFile renders a file with a correct checksum for payload.
func envelopeFile(version int, payload string) []byte {
	return fmt.Appendf(nil, `{"version":%d,"crc32c":%d,"payload":%s}`, version,
		crc32.Checksum([]byte(payload), crc32.MakeTable(crc32.Castagnoli)), payload)
}

func TestStoreCorruptFile(t *testing.T) {
	// A valid file to damage.
	base := t.TempDir()
	s := openStore(t, base)
	mustCreate(t, s, Topic{Name: "orders", Partitions: 3, Configs: map[string]string{"retention.ms": "1000"}})
	good, err := os.ReadFile(filepath.Join(base, metaFileName))
	if err != nil {
		t.Fatal(err)
	}
	cid := s.ClusterID()
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x01
		return b
	}
	payloadAt := bytes.Index(good, []byte(`"orders"`)) + 2 // inside a name: still valid JSON
	okTopic := `{"name":"a","id":"AAAAAAAAAAAAAAAAAAAAAQ","partitions":1}`
	cases := []struct {
		desc string
		data []byte
		want string // in the message
	}{
		{"flipped payload byte", flip(payloadAt), "checksum mismatch"},
		{"flipped structural byte", flip(0), "bad JSON"},
		{"truncated", good[:len(good)/2], "bad JSON"},
		{"empty", nil, "bad JSON"},
		{"trailing garbage", append(bytes.Clone(good), "{}"...), "trailing data"},
		{"unknown version", envelopeFile(2, `{}`), "unsupported format version 2"},
		{"missing version", []byte(`{"crc32c":0,"payload":{}}`), `missing "version"`},
		{"missing checksum", []byte(`{"version":1,"payload":{}}`), `missing "crc32c"`},
		{"unknown envelope field", []byte(`{"version":1,"crc32c":0,"payload":{},"x":1}`), "bad JSON"},
		{"unknown payload field", envelopeFile(1, `{"cluster_id":"`+cid+`","topics":[],"broker_dynamic":{},"x":1}`), "bad JSON payload"},
		{"bad cluster id", envelopeFile(1, `{"cluster_id":"short","topics":[],"broker_dynamic":{}}`), "cluster_id"},
		{"duplicate topic", envelopeFile(1, `{"cluster_id":"`+cid+`","topics":[`+okTopic+`,`+strings.Replace(okTopic, "AQ", "Ag", 1)+`]}`), "duplicate topic name"},
		{"duplicate id", envelopeFile(1, `{"cluster_id":"`+cid+`","topics":[`+okTopic+`,`+strings.Replace(okTopic, `"a"`, `"b"`, 1)+`]}`), "has the ID of topic"},
		{"zero id", envelopeFile(1, `{"cluster_id":"`+cid+`","topics":[`+strings.Replace(okTopic, "AQ", "AA", 1)+`]}`), "bad id"},
		{"zero partitions", envelopeFile(1, `{"cluster_id":"`+cid+`","topics":[`+strings.Replace(okTopic, `"partitions":1`, `"partitions":0`, 1)+`]}`), "bad partition count"},
		{"bad topic name", envelopeFile(1, `{"cluster_id":"`+cid+`","topics":[`+strings.Replace(okTopic, `"a"`, `".."`, 1)+`]}`), "Topic name cannot be"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		path := filepath.Join(dir, metaFileName)
		if err := os.WriteFile(path, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := OpenStore(nil, dir, nil)
		if !errors.Is(err, ErrCorruptMetadata) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrCorruptMetadata naming %s and mentioning %q", c.desc, err, path, c.want)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, c.data) {
			t.Errorf("%s: corrupt file was modified", c.desc)
		}
	}
	// A hand-built valid file loads, proving the cases above fail for their stated reason.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, metaFileName), envelopeFile(1, `{"cluster_id":"`+cid+`","topics":[`+okTopic+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := openStore(t, dir); len(r.Topics()) != 1 || r.ClusterID() != cid {
		t.Errorf("valid hand-built file: %+v", r.Topics())
	}
}

func TestStoreLeftoverTempFile(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCreate(t, s, Topic{Name: "kept", Partitions: 1})
	// An interrupted write leaves a partial temporary file beside the real one.
	tmp := filepath.Join(dir, metaFileName+vfs.TempSuffix+"-12345")
	if err := os.WriteFile(tmp, []byte(`{"version":1,"crc32c":1,"payl`), 0o600); err != nil {
		t.Fatal(err)
	}
	// vfs.WriteFileAtomic's own temporary file.
	tmp2 := filepath.Join(dir, metaFileName+vfs.TempSuffix)
	if err := os.WriteFile(tmp2, []byte(`{"vers`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := openStore(t, dir)
	if _, ok := r.Topic("kept"); !ok || r.ClusterID() != s.ClusterID() {
		t.Error("state lost next to a leftover temp file")
	}
	for _, p := range []string{tmp, tmp2} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("leftover temp file %s not removed: %v", p, err)
		}
	}

	// A crash during the very first write leaves only a temp file: start empty.
	fresh := t.TempDir()
	if err := os.WriteFile(filepath.Join(fresh, metaFileName+vfs.TempSuffix+"-1"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if f := openStore(t, fresh); len(f.Topics()) != 0 || f.ClusterID() == "" {
		t.Error("fresh store after interrupted first write")
	}
}

func TestStoreFileLayout(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	tp := mustCreate(t, s, Topic{Name: "a", Partitions: 2, Internal: true, Configs: map[string]string{"retention.ms": "1"}})
	data, err := os.ReadFile(filepath.Join(dir, metaFileName))
	if err != nil {
		t.Fatal(err)
	}
	payload := `{"cluster_id":"` + s.ClusterID() + `","topics":[{"name":"a","id":"` + encodeUUID(tp.ID) +
		`","partitions":2,"internal":true,"configs":{"retention.ms":"1"}}],"broker_dynamic":{}}`
	if want := string(envelopeFile(1, payload)) + "\n"; string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only %s", len(entries), metaFileName)
	}
}

// CreateTopics stores the valid topics of a batch with one write and
// reports each other one's error.
func TestStoreCreateTopicsBatch(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, err := s.CreateTopic(Topic{Name: "old", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	created, errs, err := s.CreateTopics([]Topic{
		{Name: "a", Partitions: 3, Configs: map[string]string{"retention.ms": "1000"}},
		{Name: "old", Partitions: 1},
		{Name: "bad/name", Partitions: 1},
		{Name: "b", Partitions: 0},
		{Name: "c", Partitions: 2},
		{Name: "a", Partitions: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, ErrTopicExists, ErrInvalidTopicName, ErrInvalidPartitions, nil, ErrTopicExists} {
		if want == nil && errs[i] != nil || want != nil && !errors.Is(errs[i], want) {
			t.Fatalf("topic %d: %v, want %v", i, errs[i], want)
		}
	}
	if created[0].ID == ([16]byte{}) || created[0].ID == created[4].ID || created[4].Partitions != 2 {
		t.Fatalf("created %+v", created)
	}
	s2 := openStore(t, dir)
	for _, name := range []string{"a", "c", "old"} {
		if _, ok := s2.Topic(name); !ok {
			t.Fatalf("%s not persisted", name)
		}
	}
	if got, _ := s2.Topic("a"); got.Configs["retention.ms"] != "1000" || got.ID != created[0].ID {
		t.Fatalf("a reopened as %+v", got)
	}
	if len(s2.Topics()) != 3 {
		t.Fatalf("topics after reopen: %d, want 3", len(s2.Topics()))
	}
}
