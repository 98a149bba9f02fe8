package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
	"github.com/sluice-io/sluice/internal/vfs/errorfs"
)

func subj(principal, host string) Subject {
	p, err := ParsePrincipal(principal)
	if err != nil {
		panic(err)
	}
	return Subject{Principal: p, Host: netip.MustParseAddr(host)}
}

func allow(rt ResourceType, name string, pt PatternType, principal, host string, op Operation) ACL {
	return ACL{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: PermissionAllow}
}

func deny(rt ResourceType, name string, pt PatternType, principal, host string, op Operation) ACL {
	a := allow(rt, name, pt, principal, host, op)
	a.Permission = PermissionDeny
	return a
}

func TestAuthorizeMatrix(t *testing.T) {
	const alice, bob, admin = "User:alice", "User:bob", "User:admin"
	tests := []struct {
		name          string
		acls          []ACL
		allowEveryone bool
		subj          Subject
		op            Operation
		res           Resource
		want          bool
	}{
		{"no acls, default deny", nil, false, subj(alice, "10.0.0.1"), OpRead, Topic("t"), false},
		{"no acls, allow everyone", nil, true, subj(alice, "10.0.0.1"), OpRead, Topic("t"), true},
		{"super user", []ACL{deny(ResourceTopic, "t", PatternLiteral, admin, "*", OpAll)}, false, subj(admin, "10.0.0.1"), OpRead, Topic("t"), true},
		{"literal allow", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("t"), true},
		{"literal other name", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("t2"), false},
		{"literal other principal", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead)}, false, subj(bob, "10.0.0.1"), OpRead, Topic("t"), false},
		{"literal other op", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead)}, false, subj(alice, "10.0.0.1"), OpWrite, Topic("t"), false},
		{"other resource type", []ACL{allow(ResourceGroup, "t", PatternLiteral, alice, "*", OpRead)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("t"), false},
		{"acl on resource stops allow-everyone", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead)}, true, subj(bob, "10.0.0.1"), OpRead, Topic("t"), false},
		{"acl on other resource keeps allow-everyone", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead)}, true, subj(bob, "10.0.0.1"), OpRead, Topic("u"), true},
		{"wildcard resource", []ACL{allow(ResourceTopic, "*", PatternLiteral, alice, "*", OpRead)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("anything"), true},
		{"wildcard principal", []ACL{allow(ResourceTopic, "t", PatternLiteral, "User:*", "*", OpRead)}, false, subj(bob, "10.0.0.1"), OpRead, Topic("t"), true},
		{"prefixed allow", []ACL{allow(ResourceTopic, "orders-", PatternPrefixed, alice, "*", OpWrite)}, false, subj(alice, "10.0.0.1"), OpWrite, Topic("orders-eu"), true},
		{"prefixed equal name", []ACL{allow(ResourceTopic, "orders-", PatternPrefixed, alice, "*", OpWrite)}, false, subj(alice, "10.0.0.1"), OpWrite, Topic("orders-"), true},
		{"prefixed not a prefix", []ACL{allow(ResourceTopic, "orders-", PatternPrefixed, alice, "*", OpWrite)}, false, subj(alice, "10.0.0.1"), OpWrite, Topic("orders"), false},
		{"prefixed is not a wildcard", []ACL{allow(ResourceTopic, "*", PatternPrefixed, alice, "*", OpWrite)}, false, subj(alice, "10.0.0.1"), OpWrite, Topic("orders"), false},
		{"deny wins over allow", []ACL{
			allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead),
			deny(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("t"), false},
		{"prefixed deny wins over literal allow", []ACL{
			allow(ResourceTopic, "secret-x", PatternLiteral, alice, "*", OpRead),
			deny(ResourceTopic, "secret-", PatternPrefixed, alice, "*", OpRead)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("secret-x"), false},
		{"wildcard principal deny wins", []ACL{
			allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead),
			deny(ResourceTopic, "t", PatternLiteral, "User:*", "*", OpAll)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("t"), false},
		{"deny read does not deny describe", []ACL{
			allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpDescribe),
			deny(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead)}, false, subj(alice, "10.0.0.1"), OpDescribe, Topic("t"), true},
		{"all allows read", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpAll)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("t"), true},
		{"read implies describe", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead)}, false, subj(alice, "10.0.0.1"), OpDescribe, Topic("t"), true},
		{"write implies describe", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpWrite)}, false, subj(alice, "10.0.0.1"), OpDescribe, Topic("t"), true},
		{"delete implies describe", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpDelete)}, false, subj(alice, "10.0.0.1"), OpDescribe, Topic("t"), true},
		{"alter implies describe", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpAlter)}, false, subj(alice, "10.0.0.1"), OpDescribe, Topic("t"), true},
		{"create does not imply describe", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpCreate)}, false, subj(alice, "10.0.0.1"), OpDescribe, Topic("t"), false},
		{"alter_configs implies describe_configs", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpAlterConfigs)}, false, subj(alice, "10.0.0.1"), OpDescribeConfigs, Topic("t"), true},
		{"describe does not imply read", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpDescribe)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("t"), false},
		{"host match", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "10.0.0.1", OpRead)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("t"), true},
		{"host mismatch", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "10.0.0.1", OpRead)}, false, subj(alice, "10.0.0.2"), OpRead, Topic("t"), false},
		{"ipv4-mapped host", []ACL{allow(ResourceTopic, "t", PatternLiteral, alice, "10.0.0.1", OpRead)}, false, subj(alice, "::ffff:10.0.0.1"), OpRead, Topic("t"), true},
		{"deny from one host only", []ACL{
			allow(ResourceTopic, "t", PatternLiteral, alice, "*", OpRead),
			deny(ResourceTopic, "t", PatternLiteral, alice, "10.0.0.9", OpRead)}, false, subj(alice, "10.0.0.1"), OpRead, Topic("t"), true},
		{"cluster", []ACL{allow(ResourceCluster, ClusterName, PatternLiteral, alice, "*", OpIdempotentWrite)}, false, subj(alice, "10.0.0.1"), OpIdempotentWrite, Cluster(), true},
		{"group prefixed", []ACL{allow(ResourceGroup, "app-", PatternPrefixed, alice, "*", OpRead)}, false, subj(alice, "10.0.0.1"), OpRead, Group("app-1"), true},
		{"transactional id", []ACL{allow(ResourceTransactionalID, "tx", PatternLiteral, alice, "*", OpWrite)}, false, subj(alice, "10.0.0.1"), OpWrite, Resource{ResourceTransactionalID, "tx"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewACLAuthorizer(ACLConfig{SuperUsers: []string{admin}, AllowEveryoneIfNoACLFound: tc.allowEveryone})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.CreateACLs(tc.acls); err != nil {
				t.Fatal(err)
			}
			if got := a.Authorize(tc.subj, tc.op, tc.res); got != tc.want {
				t.Errorf("Authorize(%v, %v, %v) = %v, want %v", tc.subj, tc.op, tc.res, got, tc.want)
			}
		})
	}
}

func TestACLValidate(t *testing.T) {
	good := allow(ResourceTopic, "t", PatternLiteral, "User:alice", "*", OpRead)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(a *ACL){
		"any resource type":   func(a *ACL) { a.ResourceType = ResourceAny },
		"unknown resource":    func(a *ACL) { a.ResourceType = 42 },
		"match pattern":       func(a *ACL) { a.PatternType = PatternMatch },
		"any pattern":         func(a *ACL) { a.PatternType = PatternAny },
		"any operation":       func(a *ACL) { a.Operation = OpAny },
		"unknown operation":   func(a *ACL) { a.Operation = 99 },
		"any permission":      func(a *ACL) { a.Permission = PermissionAny },
		"empty name":          func(a *ACL) { a.ResourceName = "" },
		"principal no colon":  func(a *ACL) { a.Principal = "alice" },
		"bad host":            func(a *ACL) { a.Host = "example.com" },
		"empty host":          func(a *ACL) { a.Host = "" },
		"cluster wrong name":  func(a *ACL) { a.ResourceType, a.ResourceName = ResourceCluster, "c" },
		"unknown permission":  func(a *ACL) { a.Permission = 0 },
		"unknown patterntype": func(a *ACL) { a.PatternType = 9 },
	}
	for name, mutate := range bad {
		a := good
		mutate(&a)
		if err := a.Validate(); err == nil {
			t.Errorf("%s: %v validated", name, a)
		}
	}
}

func TestACLFilterMatches(t *testing.T) {
	lit := allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead)
	wild := allow(ResourceTopic, "*", PatternLiteral, "User:bob", "*", OpWrite)
	pre := deny(ResourceTopic, "ord", PatternPrefixed, "User:alice", "10.0.0.1", OpRead)
	grp := allow(ResourceGroup, "orders", PatternLiteral, "User:alice", "*", OpRead)
	all := []ACL{lit, wild, pre, grp}
	s := func(v string) *string { return &v }
	tests := []struct {
		name string
		f    ACLFilter
		want []ACL
	}{
		{"all", MatchAll, all},
		{"topic any", ACLFilter{ResourceTopic, nil, PatternAny, nil, nil, OpAny, PermissionAny}, []ACL{lit, wild, pre}},
		{"literal by name", ACLFilter{ResourceTopic, s("orders"), PatternLiteral, nil, nil, OpAny, PermissionAny}, []ACL{lit}},
		{"any with name is exact", ACLFilter{ResourceAny, s("orders"), PatternAny, nil, nil, OpAny, PermissionAny}, []ACL{lit, grp}},
		{"match", ACLFilter{ResourceTopic, s("orders"), PatternMatch, nil, nil, OpAny, PermissionAny}, []ACL{lit, wild, pre}},
		{"match other", ACLFilter{ResourceTopic, s("x"), PatternMatch, nil, nil, OpAny, PermissionAny}, []ACL{wild}},
		{"prefixed exact", ACLFilter{ResourceTopic, s("ord"), PatternPrefixed, nil, nil, OpAny, PermissionAny}, []ACL{pre}},
		{"principal", ACLFilter{ResourceAny, nil, PatternAny, s("User:bob"), nil, OpAny, PermissionAny}, []ACL{wild}},
		{"host", ACLFilter{ResourceAny, nil, PatternAny, nil, s("10.0.0.1"), OpAny, PermissionAny}, []ACL{pre}},
		{"op", ACLFilter{ResourceAny, nil, PatternAny, nil, nil, OpWrite, PermissionAny}, []ACL{wild}},
		{"permission", ACLFilter{ResourceAny, nil, PatternAny, nil, nil, OpAny, PermissionDeny}, []ACL{pre}},
	}
	for _, tc := range tests {
		var got []ACL
		for _, a := range all {
			if tc.f.Matches(a) {
				got = append(got, a)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if err := (ACLFilter{ResourceUnknown, nil, PatternAny, nil, nil, OpAny, PermissionAny}).Validate(); err == nil {
		t.Error("UNKNOWN resource type filter validated")
	}
	if err := (ACLFilter{ResourceAny, nil, PatternAny, nil, nil, OpAny, PermissionUnknown}).Validate(); err == nil {
		t.Error("UNKNOWN permission filter validated")
	}
}

func TestACLCreateDeleteIdempotent(t *testing.T) {
	a, _ := NewACLAuthorizer(ACLConfig{})
	x := allow(ResourceTopic, "t", PatternLiteral, "User:alice", "*", OpRead)
	y := deny(ResourceTopic, "t", PatternPrefixed, "User:bob", "*", OpWrite)
	if err := a.CreateACLs([]ACL{x, x, y}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateACLs([]ACL{x}); err != nil {
		t.Fatal(err)
	}
	if got := a.ACLs(); len(got) != 2 {
		t.Fatalf("ACLs = %v, want 2", got)
	}
	del, err := a.DeleteACLs([]ACLFilter{MatchAll, MatchAll})
	if err != nil {
		t.Fatal(err)
	}
	if len(del[0]) != 2 || len(del[1]) != 0 {
		t.Fatalf("deleted %v", del)
	}
	if got := a.ACLs(); len(got) != 0 {
		t.Fatalf("ACLs after delete = %v", got)
	}
}

func TestACLPersistence(t *testing.T) {
	dir := t.TempDir()
	a, err := NewACLAuthorizer(ACLConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	x := allow(ResourceTopic, "t", PatternLiteral, "User:alice", "*", OpRead)
	y := deny(ResourceGroup, "g-", PatternPrefixed, "User:bob", "10.1.2.3", OpAll)
	z := allow(ResourceCluster, ClusterName, PatternLiteral, "User:*", "*", OpIdempotentWrite)
	if err := a.CreateACLs([]ACL{x, y, z}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteACLs([]ACLFilter{{ResourceType: ResourceCluster, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}}); err != nil {
		t.Fatal(err)
	}
	b, err := NewACLAuthorizer(ACLConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(b.ACLs()), fmt.Sprint(a.ACLs()); got != want || !strings.Contains(got, "g-") || strings.Contains(got, "CLUSTER") {
		t.Fatalf("reloaded %s, want %s", got, want)
	}
	if !b.Authorize(subj("User:alice", "1.1.1.1"), OpRead, Topic("t")) {
		t.Error("reloaded ACL does not allow")
	}

	// A damaged file stops start-up and is left in place.
	path := filepath.Join(dir, aclFileName)
	data, _ := os.ReadFile(path)
	for name, bad := range map[string][]byte{
		"flipped byte":  []byte(strings.Replace(string(data), `"t"`, `"u"`, 1)),
		"truncated":     data[:len(data)/2],
		"bad version":   []byte(strings.Replace(string(data), `"version":1`, `"version":7`, 1)),
		"trailing data": append(append([]byte{}, data...), '{', '}'),
	} {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewACLAuthorizer(ACLConfig{Dir: dir}); !errors.Is(err, ErrCorruptACLs) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want ErrCorruptACLs naming the file", name, err)
		}
	}
	// An invalid ACL with a correct checksum is corrupt too.
	enc, _ := encodeACLs([]ACL{{ResourceType: ResourceTopic, ResourceName: "t", PatternType: PatternMatch, Principal: "User:a", Host: "*", Operation: OpRead, Permission: PermissionAllow}})
	os.WriteFile(path, enc, 0o600)
	if _, err := NewACLAuthorizer(ACLConfig{Dir: dir}); !errors.Is(err, ErrCorruptACLs) {
		t.Errorf("invalid ACL: err = %v", err)
	}
}

func TestFromBrokerConfig(t *testing.T) {
	dir := t.TempDir()
	if a, err := FromBrokerConfig(map[string]string{}, nil, dir, nil); a != nil || err != nil {
		t.Fatalf("no settings: %v %v", a, err)
	}
	for _, class := range []string{"org.apache.kafka.metadata.authorizer.StandardAuthorizer", "acl"} {
		a, err := FromBrokerConfig(map[string]string{"authorizer.class.name": class}, nil, dir, nil)
		if err != nil || a == nil {
			t.Fatalf("%s: %v %v", class, a, err)
		}
		if a.Authorize(subj("User:x", "1.1.1.1"), OpRead, Topic("t")) {
			t.Error("default allow.everyone.if.no.acl.found must be false")
		}
	}
	a, err := FromBrokerConfig(map[string]string{"super.users": "User:admin; User:ops", "allow.everyone.if.no.acl.found": "true"}, nil, dir, nil)
	if err != nil || a == nil {
		t.Fatal(a, err)
	}
	if !a.Authorize(subj("User:ops", "1.1.1.1"), OpAlter, Cluster()) || !a.Authorize(subj("User:x", "1.1.1.1"), OpRead, Topic("t")) {
		t.Error("super user or allow-everyone not applied")
	}
	for _, bad := range []map[string]string{
		{"authorizer.class.name": "com.example.Other"},
		{"super.users": "admin"},
		{"authorizer.class.name": "acl", "allow.everyone.if.no.acl.found": "maybe"},
	} {
		if _, err := FromBrokerConfig(bad, nil, dir, nil); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// BenchmarkAuthorize10kACLs measures one check against 10,000 ACLs: 5,000
// literal and 4,000 prefixed topic ACLs over 1,000 principals, plus group
// and wildcard ACLs, checking a topic with a literal allow, prefix
// matches and a wildcard-principal deny elsewhere.
func BenchmarkAuthorize10kACLs(b *testing.B) {
	a, _ := NewACLAuthorizer(ACLConfig{})
	var acls []ACL
	for i := range 5000 {
		acls = append(acls, allow(ResourceTopic, fmt.Sprintf("topic-%d", i), PatternLiteral, fmt.Sprintf("User:u%d", i%1000), "*", OpRead))
	}
	for i := range 4000 {
		acls = append(acls, allow(ResourceTopic, fmt.Sprintf("team-%d-", i), PatternPrefixed, fmt.Sprintf("User:u%d", i%1000), "*", OpWrite))
	}
	for i := range 990 {
		acls = append(acls, allow(ResourceGroup, fmt.Sprintf("g-%d", i), PatternLiteral, fmt.Sprintf("User:u%d", i%1000), "*", OpRead))
	}
	for i := range 10 {
		acls = append(acls, deny(ResourceTopic, fmt.Sprintf("secret%d", i), PatternPrefixed, "User:*", "*", OpAll))
	}
	if err := a.CreateACLs(acls); err != nil {
		b.Fatal(err)
	}
	s := subj("User:u42", "10.0.0.1")
	cases := []struct {
		name string
		op   Operation
		res  Resource
		want bool
	}{
		{"literal-allow", OpRead, Topic("topic-42"), true},
		{"prefixed-allow", OpWrite, Topic("team-42-orders-eu-west-1"), true},
		{"no-match-deny", OpRead, Topic("unrelated-topic-name"), false},
		{"prefixed-deny", OpRead, Topic("secret3-payroll"), false},
	}
	for _, c := range cases {
		if got := a.Authorize(s, c.op, c.res); got != c.want {
			b.Fatalf("%s: got %v", c.name, got)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Authorize(s, c.op, c.res)
			}
		})
	}
}

type recordingHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// TestDenialLogged: a denial is logged at info once per interval, then at
// debug; allowed requests are not logged.
func TestDenialLogged(t *testing.T) {
	h := &recordingHandler{}
	a, _ := NewACLAuthorizer(ACLConfig{Logger: slog.New(h)})
	a.CreateACLs([]ACL{allow(ResourceTopic, "t", PatternLiteral, "User:alice", "*", OpRead)})
	alice := subj("User:alice", "10.0.0.1")
	a.Authorize(alice, OpRead, Topic("t"))
	a.Authorize(alice, OpWrite, Topic("t"))
	a.Authorize(alice, OpWrite, Topic("t"))
	var levels []slog.Level
	for _, r := range h.recs {
		if r.Message == "authorization denied" {
			levels = append(levels, r.Level)
		}
	}
	if len(levels) != 2 || levels[0] != slog.LevelInfo || levels[1] != slog.LevelDebug {
		t.Fatalf("denial log levels %v, want [INFO DEBUG]", levels)
	}
}

// TestACLWriteFailureChangesNothing: when acls.json cannot be written the
// change is refused and neither memory nor disk changes.
func TestACLWriteFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	var fail atomic.Bool
	fsys := errorfs.New(vfs.Default, func(op errorfs.Op, _ string) error {
		if fail.Load() && (op == errorfs.OpSync || op == errorfs.OpWrite) {
			return errorfs.ENOSPC
		}
		return nil
	})
	a, err := NewACLAuthorizer(ACLConfig{FS: fsys, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	x := allow(ResourceTopic, "t", PatternLiteral, "User:alice", "*", OpRead)
	y := allow(ResourceTopic, "u", PatternLiteral, "User:alice", "*", OpRead)
	if err := a.CreateACLs([]ACL{x}); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if err := a.CreateACLs([]ACL{y}); !errors.Is(err, errorfs.ENOSPC) {
		t.Fatalf("create on a full disk: %v", err)
	}
	if _, err := a.DeleteACLs([]ACLFilter{MatchAll}); !errors.Is(err, errorfs.ENOSPC) {
		t.Fatalf("delete on a full disk: %v", err)
	}
	if got := a.ACLs(); len(got) != 1 || got[0] != x {
		t.Fatalf("in memory after failures: %v", got)
	}
	if a.Authorize(subj("User:alice", "1.1.1.1"), OpRead, Topic("u")) || !a.Authorize(subj("User:alice", "1.1.1.1"), OpRead, Topic("t")) {
		t.Fatal("a refused change took effect")
	}
	fail.Store(false)
	b, err := NewACLAuthorizer(ACLConfig{Dir: dir})
	if err != nil || len(b.ACLs()) != 1 {
		t.Fatalf("on disk after failures: %v %v", b.ACLs(), err)
	}
}

// TestAuthorizeDuringChanges: checks run without locks while ACLs change
// (run with -race).
func TestAuthorizeDuringChanges(t *testing.T) {
	a, _ := NewACLAuthorizer(ACLConfig{})
	alice := subj("User:alice", "10.0.0.1")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					a.Authorize(alice, OpRead, Topic("t-7"))
				}
			}
		}()
	}
	for i := range 200 {
		x := allow(ResourceTopic, fmt.Sprintf("t-%d", i%10), PatternPrefixed, "User:alice", "*", OpRead)
		if err := a.CreateACLs([]ACL{x}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := a.DeleteACLs([]ACLFilter{MatchAll}); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}
