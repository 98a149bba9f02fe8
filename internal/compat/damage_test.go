package compat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Damage to a stopped broker's files (#12), driven through the real binary:
// damage the files, restart, and check what it logs, serves and keeps. No
// intact record may ever be deleted.

const damageTopic = "dmg"

// damageArgs enable ACLs, so that acls.json exists, with everyone allowed
// where no ACL matches.
var damageArgs = []string{"--set", "authorizer.class.name=acl", "--set", "allow.everyone.if.no.acl.found=true", "--http-listen="}

// seedDamage fills a data directory the way the findings were reproduced:
// one partition of 30,000 records over several segments (1 MiB each), plus a
// SCRAM user, an ACL and a quota, so that every kind of file exists; the
// broker is stopped cleanly. It returns the directory.
func seedDamage(t *testing.T) string {
	t.Helper()
	s := startServer(t, "", damageArgs...)
	ctx := ctxT(t, 2*time.Minute)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(16<<10), kgo.DefaultProduceTopic(damageTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kmsg.StringPtr("1048576")}, damageTopic); err != nil {
		t.Fatal(err)
	}
	const n = 30000
	recs := make([]*kgo.Record, 0, n)
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: damageValue(i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Password: "secret"}}); err != nil {
		t.Fatal(err)
	}
	acl := kadm.NewACLs().Allow("User:bob").Topics("other").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	if _, err := adm.CreateACLs(ctx, acl); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: []kadm.ClientQuotaEntityComponent{{Type: "client-id", Name: kmsg.StringPtr("c1")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1 << 20}},
	}}); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	s.stop()
	return s.dir
}

// damageValue is record i's value: 90 bytes, not compressible to nothing.
func damageValue(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	v := make([]byte, 90)
	for j := range v {
		v[j] = 'a' + byte(rng.IntN(26))
	}
	return v
}

// segmentBases lists the base offsets of the topic's segments.
func segmentBases(t *testing.T, dir string) []int64 {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, damageTopic+"-0", "*.log"))
	var out []int64
	for _, p := range m {
		b, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(p), ".log"), 10, 64)
		if err == nil {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// proc is a broker process that may refuse to start.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	out    *server // only its stderr buffer and lock are used
	exited chan struct{}
}

func (p *proc) logs() string { return p.out.logs() }

// tryStart starts the broker on dir and reports whether it accepts
// connections (true) or exits during start-up (false).
func tryStart(t *testing.T, dir string) (*proc, bool) {
	t.Helper()
	p := &proc{addr: freePort(t), out: &server{t: t}, exited: make(chan struct{})}
	p.cmd = exec.Command(sluiceBin, append([]string{"serve", "--listen", p.addr, "--data-dir", dir}, withRegistryOff(damageArgs)...)...)
	p.cmd.Stderr = &lockedWriter{p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p, waitStarted(t, []string{p.addr}, p.logs, p.exited, 30*time.Second)
}

// stop stops a started broker with SIGTERM and waits for it.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("sluice did not stop within 20s of SIGTERM:\n%s", p.logs())
	}
}

// fileSet is the bytes of every regular file under a directory, by path.
type fileSet map[string][]byte

func snapshotFiles(t *testing.T, dir string) fileSet {
	t.Helper()
	out := fileSet{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// derivedFile reports files the broker rebuilds from the segments and may
// therefore rewrite or drop: indexes, producer snapshots and the
// clean-shutdown marker. Everything else is data.
func derivedFile(name string) bool {
	for _, ext := range []string{".index", ".timeindex", ".snapshot", ".clean_shutdown"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// lostData returns the data files of before whose bytes are found in no
// file of after (a file moved aside counts as kept; a segment may have
// grown).
func lostData(before, after fileSet, skip string) []string {
	have := map[[32]byte]bool{}
	for _, b := range after {
		have[sha256.Sum256(b)] = true
	}
	var lost []string
	for p, b := range before {
		if p == skip || derivedFile(p) || have[sha256.Sum256(b)] {
			continue
		}
		if a, ok := after[p]; ok && bytes.HasPrefix(a, b) {
			continue
		}
		lost = append(lost, p)
	}
	sort.Strings(lost)
	return lost
}

// readRange reads offsets [from, to) of the partition with raw fetches,
// checking that record i has key i and its value. It fails on any error
// (a damaged batch in an intact range is a failure).
func readRange(t *testing.T, ctx context.Context, cl *kgo.Client, from, to int64) {
	t.Helper()
	off := from
	for off < to {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes = 1 << 20
		req.MaxWaitMillis = 100
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = damageTopic, topicID(t, ctx, cl)
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = off
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("fetch at %d: %v", off, err)
		}
		p := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			t.Fatalf("fetch at %d (reading intact offsets [%d, %d)): %v", off, from, to, err)
		}
		recs, err := decodeRecords(p.RecordBatches)
		if err != nil {
			t.Fatalf("fetch at %d: %v", off, err)
		}
		if len(recs) == 0 {
			t.Fatalf("fetch at %d returned nothing (high watermark %d)", off, p.HighWatermark)
		}
		for _, r := range recs {
			if r.offset < off {
				continue
			}
			if r.offset != off || string(r.key) != strconv.FormatInt(off, 10) || !bytes.Equal(r.value, damageValue(int(off))) {
				t.Fatalf("record at offset %d: key %q, want offset %d", r.offset, r.key, off)
			}
			off++
			if off >= to {
				break
			}
		}
	}
}

type plainRecord struct {
	offset     int64
	key, value []byte
}

// decodeRecords decodes uncompressed v2 batches, checking CRCs.
func decodeRecords(b []byte) ([]plainRecord, error) {
	var out []plainRecord
	for len(b) >= 61 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			return out, nil // a partial trailing batch
		}
		size := int(rb.Length) + 12
		if size > len(b) {
			break
		}
		if !crcOK(b[:size]) {
			return nil, fmt.Errorf("batch at offset %d fails its CRC", rb.FirstOffset)
		}
		recs := rb.Records
		for i := range int(rb.NumRecords) {
			var r kmsg.Record
			if err := r.ReadFrom(recs); err != nil {
				return nil, fmt.Errorf("record %d of batch %d: %v", i, rb.FirstOffset, err)
			}
			n := recordLen(recs)
			recs = recs[n:]
			out = append(out, plainRecord{rb.FirstOffset + int64(r.OffsetDelta), r.Key, r.Value})
		}
		b = b[size:]
	}
	return out, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crcOK(b []byte) bool {
	return crc32.Checksum(b[21:], castagnoli) == binary.BigEndian.Uint32(b[17:21])
}

// recordLen is the encoded length of the record at the start of b.
func recordLen(b []byte) int {
	l, n := binary.Varint(b)
	return n + int(l)
}

type batchLoc struct {
	pos, base, last int64
	size            int64
}

// batchesOf walks the batch headers of a segment file.
func batchesOf(t *testing.T, path string) []batchLoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []batchLoc
	for pos := int64(0); pos+61 <= int64(len(b)); {
		h := b[pos:]
		base := int64(binary.BigEndian.Uint64(h))
		size := int64(binary.BigEndian.Uint32(h[8:])) + 12
		last := base + int64(int32(binary.BigEndian.Uint32(h[23:])))
		out = append(out, batchLoc{pos, base, last, size})
		pos += size
	}
	return out
}

func segPath(dir string, base int64) string {
	return filepath.Join(dir, damageTopic+"-0", fmt.Sprintf("%020d.log", base))
}

func xorByte(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustNotLose(t *testing.T, before fileSet, dir, skip string) {
	t.Helper()
	if lost := lostData(before, snapshotFiles(t, dir), skip); len(lost) > 0 {
		t.Fatalf("data files lost: %v", lost)
	}
}

func newRawClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// fetchCode fetches at off and returns the partition's error code.
func fetchCode(t *testing.T, ctx context.Context, cl *kgo.Client, off int64) (int16, []byte) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = damageTopic, topicID(t, ctx, cl)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = off
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.RecordBatches
}

// TestDamageMissingMetaJSON (#12.1): without meta.json the broker refuses
// to start, naming the file and the recovery command, and keeps every
// partition; sluice recover-metadata rebuilds it and every record is
// served again.
func TestDamageMissingMetaJSON(t *testing.T) {
	dir := seedDamage(t)
	if err := os.Remove(filepath.Join(dir, "meta.json")); err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, dir)
	p, started := tryStart(t, dir)
	if started {
		p.stop(t)
		mustNotLose(t, before, dir, "")
		t.Fatalf("started without meta.json:\n%s", tail(p.logs(), 20))
	}
	if logs := p.logs(); !strings.Contains(logs, "meta.json") || !strings.Contains(logs, "sluice recover-metadata") {
		t.Fatalf("refusal does not name meta.json and the recovery command:\n%s", logs)
	}
	mustNotLose(t, before, dir, "")

	out, err := exec.Command(sluiceBin, "recover-metadata", "--data-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("recover-metadata: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "topic "+damageTopic+": 1 partitions") {
		t.Fatalf("recover-metadata output:\n%s", out)
	}
	p, started = tryStart(t, dir)
	if !started {
		t.Fatalf("start after recover-metadata failed:\n%s", p.logs())
	}
	defer p.stop(t)
	readRange(t, ctxT(t, time.Minute), newRawClient(t, p.addr), 0, 30000)
	mustNotLose(t, before, dir, "")
}

// TestDamagePartitionMetadata (#12.2): an unreadable partition.metadata
// stops start-up naming the file; one without its trailing newline is
// accepted. The partition's data is kept either way.
func TestDamagePartitionMetadata(t *testing.T) {
	seed := seedDamage(t)
	pm := filepath.Join(damageTopic+"-0", "partition.metadata")
	for _, c := range []struct {
		name   string
		damage func(b []byte) []byte
		start  bool
	}{
		{"garbage", func(b []byte) []byte { return bytes.Repeat([]byte{0xa5}, len(b)) }, false},
		{"empty", func([]byte) []byte { return nil }, false},
		{"no trailing newline", func(b []byte) []byte { return bytes.TrimSuffix(b, []byte("\n")) }, true},
		{"another topic's id", func([]byte) []byte { return []byte("version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n") }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, seed)
			b, _ := os.ReadFile(filepath.Join(dir, pm))
			if err := os.WriteFile(filepath.Join(dir, pm), c.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshotFiles(t, dir)
			p, started := tryStart(t, dir)
			if started != c.start {
				if started {
					p.stop(t)
				}
				t.Fatalf("started=%v, want %v:\n%s", started, c.start, tail(p.logs(), 20))
			}
			switch {
			case started && c.name == "another topic's id":
				// A stale directory: moved aside whole, the
				// partition starts empty.
				p.stop(t)
				m, _ := filepath.Glob(filepath.Join(dir, damageTopic+"-0.stale-*"))
				if len(m) != 1 || !strings.Contains(p.logs(), "moved partition directory aside") {
					t.Fatalf("stale directory not moved aside (%v):\n%s", m, tail(p.logs(), 20))
				}
			case started:
				readRange(t, ctxT(t, time.Minute), newRawClient(t, p.addr), 0, 30000)
				p.stop(t)
			case !strings.Contains(p.logs(), "partition.metadata"):
				t.Fatalf("refusal does not name partition.metadata:\n%s", p.logs())
			}
			mustNotLose(t, before, dir, pm)
		})
	}
}

// TestDamageMissingMiddleSegment (#12.3): the segments after a lost one are
// kept and served; the gap is logged as an error.
func TestDamageMissingMiddleSegment(t *testing.T) {
	dir := seedDamage(t)
	bases := segmentBases(t, dir)
	if len(bases) < 3 {
		t.Fatalf("only %d segments", len(bases))
	}
	if err := os.Remove(segPath(dir, bases[1])); err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, dir)
	p, started := tryStart(t, dir)
	if !started {
		t.Fatalf("did not start:\n%s", p.logs())
	}
	ctx := ctxT(t, time.Minute)
	cl := newRawClient(t, p.addr)
	readRange(t, ctx, cl, 0, bases[1])
	readRange(t, ctx, cl, bases[2], 30000)
	if code, b := fetchCode(t, ctx, cl, bases[1]+5); code != 0 || len(b) == 0 {
		t.Fatalf("fetch in the gap: error %d, %d bytes", code, len(b))
	}
	p.stop(t)
	if !strings.Contains(p.logs(), "offsets do not continue") {
		t.Fatalf("gap not logged:\n%s", tail(p.logs(), 20))
	}
	mustNotLose(t, before, dir, "")
}

// TestDamageCorruptBelowRecoveryPoint (#12.4): after a kill -9, a damaged
// batch below the recovery point stops start-up naming segment and offset;
// nothing is truncated.
func TestDamageCorruptBelowRecoveryPoint(t *testing.T) {
	dir := seedDamage(t)
	s := startServer(t, dir, damageArgs...)
	s.kill9()
	bases := segmentBases(t, dir)
	last := segPath(dir, bases[len(bases)-1])
	bs := batchesOf(t, last)
	victim := bs[len(bs)/2]
	xorByte(t, last, victim.pos+victim.size-3)
	before := snapshotFiles(t, dir)
	p, started := tryStart(t, dir)
	if started {
		p.stop(t)
		mustNotLose(t, before, dir, "")
		t.Fatalf("started on damaged fsynced data:\n%s", tail(p.logs(), 20))
	}
	logs := p.logs()
	if !strings.Contains(logs, filepath.Base(last)) || !strings.Contains(logs, "offset "+strconv.FormatInt(victim.base, 10)) {
		t.Fatalf("refusal does not name segment %s and offset %d:\n%s", filepath.Base(last), victim.base, logs)
	}
	mustNotLose(t, before, dir, "")
	if fi, err := os.Stat(last); err != nil || fi.Size() != int64(len(before[filepath.Join(damageTopic+"-0", filepath.Base(last))])) {
		t.Fatalf("segment changed: %v", err)
	}
}

// TestDamageCorruptClosedSegment (#12.5): a damaged batch in a closed
// segment is never served: fetches stop before it, a fetch of it gets
// CORRUPT_MESSAGE (not KAFKA_STORAGE_ERROR), it is logged once, and the
// records after it are served.
func TestDamageCorruptClosedSegment(t *testing.T) {
	seed := seedDamage(t)
	for _, how := range []string{"flipped byte", "broken length"} {
		t.Run(how, func(t *testing.T) {
			dir := copyDir(t, seed)
			seg := segPath(dir, 0)
			bs := batchesOf(t, seg)
			victim := bs[len(bs)/2]
			if how == "flipped byte" {
				xorByte(t, seg, victim.pos+victim.size-3)
			} else {
				b, _ := os.ReadFile(seg)
				binary.BigEndian.PutUint32(b[victim.pos+8:], 1<<30)
				os.WriteFile(seg, b, 0o644)
			}
			before := snapshotFiles(t, dir)
			p, started := tryStart(t, dir)
			if !started {
				t.Fatalf("did not start:\n%s", p.logs())
			}
			ctx := ctxT(t, time.Minute)
			cl := newRawClient(t, p.addr)
			readRange(t, ctx, cl, 0, victim.base)
			for range 3 {
				if code, _ := fetchCode(t, ctx, cl, victim.base); code != kerr.CorruptMessage.Code {
					t.Fatalf("fetch of the damaged batch: error %d, want CORRUPT_MESSAGE", code)
				}
			}
			if how == "flipped byte" {
				readRange(t, ctx, cl, victim.last+1, 30000)
			}
			p.stop(t)
			if n := strings.Count(p.logs(), "corrupt data in log segment"); n != 1 {
				t.Fatalf("damage logged %d times, want once:\n%s", n, tail(p.logs(), 20))
			}
			mustNotLose(t, before, dir, "")
		})
	}
}

// copyDir copies a data directory to a new temporary one.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// topicID looks up the topic's id (kgo sends Fetch at v13+, by id).
func topicID(t *testing.T, ctx context.Context, cl *kgo.Client) [16]byte {
	t.Helper()
	td, err := kadm.NewClient(cl).ListTopics(ctx, damageTopic)
	if err != nil || td[damageTopic].Err != nil {
		t.Fatalf("metadata: %v %v", err, td[damageTopic].Err)
	}
	return td[damageTopic].ID
}

// TestDamageMatrix damages each kind of file a data directory holds in each
// of five ways and restarts the broker: it either starts and serves every
// intact record, or refuses with a message naming the file; and no data
// file's bytes are lost (a file moved aside is kept). Derived files
// (indexes, producer snapshots, the clean-shutdown marker) may be rebuilt.
// The outcomes are DESIGN.md's damage table.
func TestDamageMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the broker 60 times")
	}
	seed := seedDamage(t)
	bases := segmentBases(t, seed)
	if len(bases) < 3 {
		t.Fatalf("only %d segments", len(bases))
	}
	part := damageTopic + "-0"
	seg := func(b int64, ext string) string { return filepath.Join(part, fmt.Sprintf("%020d%s", b, ext)) }
	snaps, _ := filepath.Glob(filepath.Join(seed, part, "*.snapshot"))
	if len(snaps) == 0 {
		t.Fatal("no producer snapshot")
	}
	slices.Sort(snaps)
	type target struct {
		what, file string
		segment    int // index in bases of a damaged .log, or -1
	}
	targets := []target{
		{"meta.json", "meta.json", -1},
		{"partition.metadata", filepath.Join(part, "partition.metadata"), -1},
		{"closed segment .log", seg(bases[1], ".log"), 1},
		{"active segment .log", seg(bases[len(bases)-1], ".log"), len(bases) - 1},
		{".index", seg(bases[1], ".index"), -1},
		{".timeindex", seg(bases[1], ".timeindex"), -1},
		{".snapshot (newest)", filepath.Join(part, filepath.Base(snaps[len(snaps)-1])), -1},
		{".clean_shutdown", filepath.Join(part, ".clean_shutdown"), -1},
		{"producer_ids", "producer_ids", -1},
		{"credentials.json", "credentials.json", -1},
		{"acls.json", "acls.json", -1},
		{"quotas.json", "quotas.json", -1},
	}
	damages := []struct {
		name string
		fn   func(b []byte) ([]byte, bool) // new bytes; false: remove
	}{
		{"missing", func([]byte) ([]byte, bool) { return nil, false }},
		{"empty", func([]byte) ([]byte, bool) { return []byte{}, true }},
		{"truncated", func(b []byte) ([]byte, bool) { return b[:len(b)/2], true }},
		{"one byte flipped", func(b []byte) ([]byte, bool) {
			b = bytes.Clone(b)
			if len(b) > 0 {
				b[len(b)/2] ^= 0xff
			}
			return b, true
		}},
		{"garbage", func(b []byte) ([]byte, bool) {
			g := make([]byte, max(len(b), 64))
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range g {
				g[i] = byte(rng.Uint32())
			}
			return g, true
		}},
	}
	var table []string
	for _, tg := range targets {
		orig, err := os.ReadFile(filepath.Join(seed, tg.file))
		if err != nil {
			t.Fatalf("%s: %v", tg.what, err)
		}
		for _, dm := range damages {
			t.Run(tg.what+"/"+dm.name, func(t *testing.T) {
				dir := copyDir(t, seed)
				path := filepath.Join(dir, tg.file)
				b, keep := dm.fn(orig)
				if keep && bytes.Equal(b, orig) {
					table = append(table, fmt.Sprintf("| %s | %s | n/a (no change to a %d-byte file) |", tg.what, dm.name, len(orig)))
					return
				}
				if !keep {
					os.Remove(path)
				} else if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				before := snapshotFiles(t, dir)
				p, started := tryStart(t, dir)
				var outcome string
				if started {
					ctx := ctxT(t, time.Minute)
					cl := newRawClient(t, p.addr)
					if tg.segment >= 0 {
						readRange(t, ctx, cl, 0, bases[tg.segment])
						if tg.segment+1 < len(bases) {
							readRange(t, ctx, cl, bases[tg.segment+1], 30000)
						}
					} else {
						readRange(t, ctx, cl, 0, 30000)
					}
					p.stop(t)
					outcome = "starts, serves every intact record"
					if m, _ := filepath.Glob(filepath.Join(dir, "*.stale-*")); len(m) > 0 {
						outcome += "; moved aside: " + filepath.Base(m[0])
					}
					if w := firstLine(p.logs(), "level=ERROR", "level=WARN"); w != "" {
						outcome += "; logs: " + w
					}
				} else {
					logs := p.logs()
					if !strings.Contains(logs, filepath.Base(tg.file)) {
						t.Fatalf("refused without naming %s:\n%s", filepath.Base(tg.file), tail(logs, 10))
					}
					outcome = "refuses to start: " + firstLine(logs, "sluice serve:")
				}
				mustNotLose(t, before, dir, tg.file)
				outcome = strings.ReplaceAll(strings.ReplaceAll(outcome, dir+"/", ""), dir, "DIR")
				table = append(table, fmt.Sprintf("| %s | %s | %s |", tg.what, dm.name, outcome))
			})
		}
	}
	t.Logf("damage table:\n%s", strings.Join(table, "\n"))
}

// firstLine returns the message of the first log line containing any of
// subs, shortened.
func firstLine(logs string, subs ...string) string {
	for _, sub := range subs {
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, sub) {
				return truncate(l, 300)
			}
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
