package auth

import (
	"net/netip"
	"slices"
	"strings"
)

// aclIndex is an immutable snapshot of every ACL, indexed for Authorize:
// per resource type, literal patterns by exact name (the wildcard "*" is
// one of them) and prefixed patterns by prefix, with the distinct prefix
// lengths listed so a lookup tries name[:n] for each length n instead of
// scanning every prefix. At each pattern the entries are grouped by
// principal, so a check reads only the entries of the asking principal and
// of User:*. A check therefore costs a few map lookups plus one per
// distinct prefix length, however many ACLs there are.
type aclIndex struct {
	acls   []ACL // every ACL, in creation order
	byType map[ResourceType]*typeIndex
}

type typeIndex struct {
	literal    map[string]*patternEntries
	prefixed   map[string]*patternEntries
	prefixLens []int // distinct prefix lengths, ascending
}

// patternEntries are the entries of one resource pattern.
type patternEntries struct {
	byPrincipal map[Principal][]entry
}

// entry is an ACL's entry, with its host parsed.
type entry struct {
	anyHost    bool
	host       netip.Addr
	op         Operation
	permission Permission
}

var wildcardPrincipal = Principal{Type: "User", Name: "*"}

func buildIndex(acls []ACL) *aclIndex {
	idx := &aclIndex{acls: acls, byType: map[ResourceType]*typeIndex{}}
	for _, a := range acls {
		ti := idx.byType[a.ResourceType]
		if ti == nil {
			ti = &typeIndex{literal: map[string]*patternEntries{}, prefixed: map[string]*patternEntries{}}
			idx.byType[a.ResourceType] = ti
		}
		m := ti.literal
		if a.PatternType == PatternPrefixed {
			m = ti.prefixed
		}
		pe := m[a.ResourceName]
		if pe == nil {
			pe = &patternEntries{byPrincipal: map[Principal][]entry{}}
			m[a.ResourceName] = pe
			if a.PatternType == PatternPrefixed {
				if n := len(a.ResourceName); !slices.Contains(ti.prefixLens, n) {
					ti.prefixLens = append(ti.prefixLens, n)
				}
			}
		}
		p, _ := ParsePrincipal(a.Principal) // validated on the way in
		e := entry{anyHost: a.Host == WildcardHost, op: a.Operation, permission: a.Permission}
		if !e.anyHost {
			e.host, _ = netip.ParseAddr(a.Host)
			e.host = e.host.Unmap()
		}
		pe.byPrincipal[p] = append(pe.byPrincipal[p], e)
	}
	for _, ti := range idx.byType {
		slices.Sort(ti.prefixLens)
	}
	return idx
}

// verdict accumulates the entries that apply to one check.
type verdict struct {
	found   bool // some ACL's pattern matches the resource
	allowed bool
	denied  bool
}

// check evaluates the ACLs of the resource res for principal p from host
// h wanting op. Deny wins: the walk stops at the first matching DENY.
func (idx *aclIndex) check(p Principal, h netip.Addr, op Operation, res Resource) verdict {
	var v verdict
	ti := idx.byType[res.Type]
	if ti == nil {
		return v
	}
	v.apply(ti.literal[res.Name], p, h, op)
	if !v.denied && res.Name != WildcardResource {
		v.apply(ti.literal[WildcardResource], p, h, op)
	}
	for _, n := range ti.prefixLens {
		if v.denied || n > len(res.Name) {
			break
		}
		v.apply(ti.prefixed[res.Name[:n]], p, h, op)
	}
	return v
}

func (v *verdict) apply(pe *patternEntries, p Principal, h netip.Addr, op Operation) {
	if pe == nil {
		return
	}
	v.found = true
	v.entries(pe.byPrincipal[p], h, op)
	if p != wildcardPrincipal {
		v.entries(pe.byPrincipal[wildcardPrincipal], h, op)
	}
}

func (v *verdict) entries(es []entry, h netip.Addr, op Operation) {
	for _, e := range es {
		if !e.anyHost && e.host != h {
			continue
		}
		if e.permission == PermissionDeny {
			if e.op == op || e.op == OpAll {
				v.denied = true
				return
			}
			continue
		}
		if !v.allowed && (e.op == op || e.op == OpAll || implies(e.op, op)) {
			v.allowed = true
		}
	}
}

// implies reports whether an ALLOW of granted also allows op: READ, WRITE,
// DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS
// (Kafka's AclEntry.supportedOperations / StandardAuthorizerData).
func implies(granted, op Operation) bool {
	switch op {
	case OpDescribe:
		return granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case OpDescribeConfigs:
		return granted == OpAlterConfigs
	}
	return false
}

// sortACLs orders ACLs for stable listings: by resource type, pattern
// type, name, principal, host, operation, permission.
func sortACLs(acls []ACL) {
	slices.SortFunc(acls, func(a, b ACL) int {
		switch {
		case a.ResourceType != b.ResourceType:
			return int(a.ResourceType) - int(b.ResourceType)
		case a.PatternType != b.PatternType:
			return int(a.PatternType) - int(b.PatternType)
		case a.ResourceName != b.ResourceName:
			return strings.Compare(a.ResourceName, b.ResourceName)
		case a.Principal != b.Principal:
			return strings.Compare(a.Principal, b.Principal)
		case a.Host != b.Host:
			return strings.Compare(a.Host, b.Host)
		case a.Operation != b.Operation:
			return int(a.Operation) - int(b.Operation)
		}
		return int(a.Permission) - int(b.Permission)
	})
}
