package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/envelope"
	"github.com/sluice-io/sluice/internal/vfs"
)

// ACLManager is implemented by authorizers that keep ACLs; the CreateAcls,
// DescribeAcls and DeleteAcls handlers use it (without one, Kafka answers
// SECURITY_DISABLED).
type ACLManager interface {
	// CreateACLs adds valid ACLs (see ACL.Validate); ACLs that exist
	// already are left as they are. Nothing changes when it fails.
	CreateACLs(acls []ACL) error
	// DescribeACLs returns the ACLs the filter selects, sorted.
	DescribeACLs(f ACLFilter) []ACL
	// DeleteACLs removes the ACLs every filter selects and returns them per
	// filter (an ACL selected by several filters is reported by the first).
	// Nothing changes when it fails.
	DeleteACLs(filters []ACLFilter) ([][]ACL, error)
}

// ACLConfig configures an ACLAuthorizer.
type ACLConfig struct {
	// FS and Dir locate acls.json; an empty Dir keeps ACLs in memory only.
	FS  vfs.FS
	Dir string
	// SuperUsers are principals ("User:admin") allowed everything.
	SuperUsers []string
	// AllowEveryoneIfNoACLFound allows any operation on a resource no ACL
	// pattern matches (allow.everyone.if.no.acl.found).
	AllowEveryoneIfNoACLFound bool
	// Logger receives denials (debug) and ACL changes (info).
	Logger *slog.Logger
}

// ACLAuthorizer is Kafka's StandardAuthorizer: super users are allowed
// everything; otherwise a DENY entry matching the principal (or User:*),
// the host (or *) and the operation (or ALL) on any pattern that matches
// the resource denies; else a matching ALLOW entry (or one implying the
// operation) allows; else the request is allowed only when no ACL pattern
// matches the resource at all and AllowEveryoneIfNoACLFound is set.
//
// Authorize reads an immutable index through an atomic pointer and takes
// no lock, so an ACL change is seen by the next request of every
// connection; mutations are serialized and persisted before they are
// published.
type ACLAuthorizer struct {
	superUsers    map[Principal]bool
	allowEveryone bool
	file          *aclFile // nil: in memory
	logger        *slog.Logger

	mu  sync.Mutex // serializes mutations
	idx atomic.Pointer[aclIndex]

	// shared, when set, replaces the file (cluster mode: an etcd key,
	// aclshared.go); rev is the revision of the ACLs idx holds, guarded
	// by pubMu.
	shared envelope.Shared
	pubMu  sync.Mutex
	rev    int64

	deniedMu sync.Mutex
	denied   map[denialKey]time.Time // when each denial was last logged at info
}

var _ ACLManager = (*ACLAuthorizer)(nil)

// NewACLAuthorizer loads the persisted ACLs (a corrupt file is an error
// wrapping ErrCorruptACLs) and returns the authorizer.
func NewACLAuthorizer(cfg ACLConfig) (*ACLAuthorizer, error) {
	a := &ACLAuthorizer{superUsers: map[Principal]bool{}, allowEveryone: cfg.AllowEveryoneIfNoACLFound, logger: cfg.Logger}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	for _, s := range cfg.SuperUsers {
		p, err := ParsePrincipal(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("super.users: %w", err)
		}
		a.superUsers[p] = true
	}
	var acls []ACL
	if cfg.Dir != "" {
		fsys := cfg.FS
		if fsys == nil {
			fsys = vfs.Default
		}
		a.file = newACLFile(fsys, cfg.Dir)
		var err error
		if acls, err = a.file.load(); err != nil {
			return nil, err
		}
	}
	a.idx.Store(buildIndex(acls))
	return a, nil
}

// Authorize implements Authorizer.
func (a *ACLAuthorizer) Authorize(s Subject, op Operation, res Resource) bool {
	if a.superUsers[s.Principal] {
		return true
	}
	v := a.idx.Load().check(s.Principal, s.Host.Unmap(), op, res)
	switch {
	case v.denied:
	case v.allowed:
		return true
	case !v.found && a.allowEveryone:
		return true
	}
	a.logDenied(s, op, res, v.found)
	return false
}

// denialLogInterval is how often one denial (principal, operation,
// resource) is logged at info level; repeats in between are logged at
// debug, so a client retrying, or listing topics it may not see, cannot
// flood the log.
const denialLogInterval = time.Minute

type denialKey struct {
	p   Principal
	op  Operation
	res Resource
}

func (a *ACLAuthorizer) logDenied(s Subject, op Operation, res Resource, matched bool) {
	level := slog.LevelDebug
	now := time.Now()
	k := denialKey{s.Principal, op, res}
	a.deniedMu.Lock()
	if last, ok := a.denied[k]; !ok || now.Sub(last) >= denialLogInterval {
		if a.denied == nil || len(a.denied) >= 10000 {
			a.denied = map[denialKey]time.Time{}
		}
		a.denied[k] = now
		level = slog.LevelInfo
	}
	a.deniedMu.Unlock()
	if a.logger.Enabled(context.Background(), level) {
		a.logger.Log(context.Background(), level, "authorization denied", "principal", s.Principal.String(), "host", s.Host.String(),
			"operation", op.String(), "resource", res.Type.String()+":"+res.Name, "matching_acls", matched)
	}
}

// ACLs returns every ACL, sorted.
func (a *ACLAuthorizer) ACLs() []ACL { return a.DescribeACLs(MatchAll) }

// MatchAll is the filter that selects every ACL.
var MatchAll = ACLFilter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}

// CreateACLs implements ACLManager.
func (a *ACLAuthorizer) CreateACLs(acls []ACL) error {
	for _, acl := range acls {
		if err := acl.Validate(); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var added []ACL
	if a.shared != nil {
		if err := a.updateShared(func(cur []ACL) []ACL {
			var next []ACL
			next, added = addACLs(cur, acls)
			return next
		}); err != nil {
			return err
		}
	} else {
		var next []ACL
		next, added = addACLs(a.idx.Load().acls, acls)
		if len(added) == 0 {
			return nil
		}
		if err := a.publish(next); err != nil {
			return err
		}
	}
	for _, acl := range added {
		a.logger.Info("created ACL", "acl", acl.String())
	}
	return nil
}

// addACLs is cur with the acls it lacks appended (a new slice; cur is
// not modified) and those added; next is nil when none is.
func addACLs(cur, acls []ACL) (next, added []ACL) {
	have := make(map[ACL]bool, len(cur))
	for _, acl := range cur {
		have[acl] = true
	}
	next = cur[:len(cur):len(cur)]
	for _, acl := range acls {
		if !have[acl] {
			have[acl] = true
			next = append(next, acl)
			added = append(added, acl)
		}
	}
	if len(added) == 0 {
		return nil, nil
	}
	return next, added
}

// DescribeACLs implements ACLManager.
func (a *ACLAuthorizer) DescribeACLs(f ACLFilter) []ACL {
	var out []ACL
	for _, acl := range a.idx.Load().acls {
		if f.Matches(acl) {
			out = append(out, acl)
		}
	}
	sortACLs(out)
	return out
}

// DeleteACLs implements ACLManager.
func (a *ACLAuthorizer) DeleteACLs(filters []ACLFilter) ([][]ACL, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out [][]ACL
	if a.shared != nil {
		if err := a.updateShared(func(cur []ACL) []ACL {
			var next []ACL
			next, out = removeACLs(cur, filters)
			return next
		}); err != nil {
			return nil, err
		}
	} else {
		var next []ACL
		if next, out = removeACLs(a.idx.Load().acls, filters); next == nil {
			return out, nil
		}
		if err := a.publish(next); err != nil {
			return nil, err
		}
	}
	for _, acls := range out {
		for _, acl := range acls {
			a.logger.Info("deleted ACL", "acl", acl.String())
		}
	}
	return out, nil
}

// removeACLs is cur without the ACLs the filters select (a new slice) and
// those removed, per filter; next is nil when none is.
func removeACLs(cur []ACL, filters []ACLFilter) (next []ACL, out [][]ACL) {
	out = make([][]ACL, len(filters))
	gone := make([]bool, len(cur))
	n := 0
	for i, f := range filters {
		for j, acl := range cur {
			if !gone[j] && f.Matches(acl) {
				gone[j] = true
				out[i] = append(out[i], acl)
				n++
			}
		}
	}
	if n == 0 {
		return nil, out
	}
	next = make([]ACL, 0, len(cur)-n)
	for j, acl := range cur {
		if !gone[j] {
			next = append(next, acl)
		}
	}
	return next, out
}

// publish persists acls and then makes them the ones Authorize uses;
// called with mu held.
func (a *ACLAuthorizer) publish(acls []ACL) error {
	if a.file != nil {
		if err := a.file.save(acls); err != nil {
			return err
		}
	}
	a.idx.Store(buildIndex(acls))
	return nil
}

// Authorizer class names accepted in authorizer.class.name.
var aclAuthorizerNames = []string{
	"org.apache.kafka.metadata.authorizer.StandardAuthorizer",
	"kafka.security.authorizer.AclAuthorizer",
	"acl",
}

// FromBrokerConfig returns the authorizer the broker configs ask for: the
// ACL authorizer, persisted in dir, when authorizer.class.name names it (a
// name in aclAuthorizerNames) or super.users is set; nil when neither is
// (the caller keeps AllowAll). super.users is a semicolon-separated list
// of principals; allow.everyone.if.no.acl.found defaults to false.
func FromBrokerConfig(kafka map[string]string, fsys vfs.FS, dir string, logger *slog.Logger) (*ACLAuthorizer, error) {
	class := strings.TrimSpace(kafka["authorizer.class.name"])
	var supers []string
	for s := range strings.SplitSeq(kafka["super.users"], ";") {
		if s = strings.TrimSpace(s); s != "" {
			supers = append(supers, s)
		}
	}
	if class == "" && len(supers) == 0 {
		return nil, nil
	}
	if class != "" && !slicesContainsFold(aclAuthorizerNames, class) {
		return nil, fmt.Errorf("authorizer.class.name %q: this broker's authorizer is %s (or %q)", class, aclAuthorizerNames[0], "acl")
	}
	allowEveryone := false
	if v, ok := kafka["allow.everyone.if.no.acl.found"]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("allow.everyone.if.no.acl.found %q: want true or false", v)
		}
		allowEveryone = b
	}
	a, err := NewACLAuthorizer(ACLConfig{FS: fsys, Dir: dir, SuperUsers: supers, AllowEveryoneIfNoACLFound: allowEveryone, Logger: logger})
	if err != nil {
		return nil, err
	}
	if logger != nil {
		logger.Info("ACL authorizer enabled", "acls", len(a.idx.Load().acls), "super_users", supers, "allow_everyone_if_no_acl_found", allowEveryone)
	}
	return a, nil
}

func slicesContainsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

var _ TypeAuthorizer = (*ACLAuthorizer)(nil)

// AuthorizeAny implements TypeAuthorizer as Kafka's default
// Authorizer.authorizeByResourceType does: allowed when a check on an
// arbitrary name of the type is allowed (super users, allow-everyone), or
// when an ALLOW of op (or ALL) for the principal (or User:*) from the host
// exists on the wildcard name, or on a literal name or prefix that no DENY
// dominates (the same literal name, or a prefix of it); a DENY on the
// literal wildcard denies. Implied operations are not considered, as in
// Kafka.
func (a *ACLAuthorizer) AuthorizeAny(s Subject, op Operation, rt ResourceType) bool {
	if a.Authorize(s, op, Resource{rt, "hardcode"}) {
		return true
	}
	host := s.Host.Unmap()
	denyLiteral, denyPrefix := map[string]bool{}, map[string]bool{}
	var allowLiteral, allowPrefix []string
	wildcardAllow := false
	for _, acl := range a.idx.Load().acls {
		if acl.ResourceType != rt || (acl.Operation != op && acl.Operation != OpAll) {
			continue
		}
		if acl.Host != WildcardHost {
			if h, err := netip.ParseAddr(acl.Host); err != nil || h.Unmap() != host {
				continue
			}
		}
		if p, _ := ParsePrincipal(acl.Principal); p != s.Principal && acl.Principal != WildcardPrincipal {
			continue
		}
		switch {
		case acl.Permission == PermissionDeny && acl.PatternType == PatternLiteral && acl.ResourceName == WildcardResource:
			return false
		case acl.Permission == PermissionDeny && acl.PatternType == PatternLiteral:
			denyLiteral[acl.ResourceName] = true
		case acl.Permission == PermissionDeny:
			denyPrefix[acl.ResourceName] = true
		case acl.PatternType == PatternLiteral && acl.ResourceName == WildcardResource:
			wildcardAllow = true
		case acl.PatternType == PatternLiteral:
			allowLiteral = append(allowLiteral, acl.ResourceName)
		default:
			allowPrefix = append(allowPrefix, acl.ResourceName)
		}
	}
	if wildcardAllow {
		return true
	}
	dominated := func(name string) bool {
		for i := 1; i <= len(name); i++ {
			if denyPrefix[name[:i]] {
				return true
			}
		}
		return false
	}
	for _, n := range allowLiteral {
		if !denyLiteral[n] && !dominated(n) {
			return true
		}
	}
	for _, n := range allowPrefix {
		if !dominated(n) {
			return true
		}
	}
	return false
}
