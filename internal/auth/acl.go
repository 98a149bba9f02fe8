package auth

// ACLs as Kafka's StandardAuthorizer keeps them: an ACL binds a resource
// pattern (type, name, LITERAL or PREFIXED) to an entry (principal, host,
// operation, ALLOW or DENY). A filter (for DescribeAcls and DeleteAcls)
// selects ACLs with ANY and MATCH wildcards.

import (
	"fmt"
	"net/netip"
	"strings"
)

// More of Kafka's resource types (the authorizer seam's handlers use the
// ones in auth.go).
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// More of Kafka's operations: the filter wildcard and the token operations.
const (
	OpUnknown        Operation = 0
	OpAny            Operation = 1
	OpCreateTokens   Operation = 13
	OpDescribeTokens Operation = 14
)

// PatternType is how an ACL's resource name matches (ResourcePatternType
// on the wire).
type PatternType int8

// Kafka's pattern types. ANY and MATCH appear only in filters.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Permission is an ACL's permission type.
type Permission int8

// Kafka's permission types. ANY appears only in filters.
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1
	PermissionDeny    Permission = 2
	PermissionAllow   Permission = 3
)

// WildcardResource is the literal resource name that matches every
// resource of its type; WildcardHost matches every host; WildcardPrincipal
// ("User:*") matches every principal.
const (
	WildcardResource  = "*"
	WildcardHost      = "*"
	WildcardPrincipal = "User:*"
)

var (
	resourceTypeNames = map[ResourceType]string{ResourceUnknown: "UNKNOWN", ResourceAny: "ANY", ResourceTopic: "TOPIC", ResourceGroup: "GROUP",
		ResourceCluster: "CLUSTER", ResourceTransactionalID: "TRANSACTIONAL_ID", ResourceDelegationToken: "DELEGATION_TOKEN", ResourceUser: "USER"}
	operationNames = map[Operation]string{OpUnknown: "UNKNOWN", OpAny: "ANY", OpAll: "ALL", OpRead: "READ", OpWrite: "WRITE", OpCreate: "CREATE",
		OpDelete: "DELETE", OpAlter: "ALTER", OpDescribe: "DESCRIBE", OpClusterAction: "CLUSTER_ACTION", OpDescribeConfigs: "DESCRIBE_CONFIGS",
		OpAlterConfigs: "ALTER_CONFIGS", OpIdempotentWrite: "IDEMPOTENT_WRITE", OpCreateTokens: "CREATE_TOKENS", OpDescribeTokens: "DESCRIBE_TOKENS"}
	patternNames    = map[PatternType]string{PatternUnknown: "UNKNOWN", PatternAny: "ANY", PatternMatch: "MATCH", PatternLiteral: "LITERAL", PatternPrefixed: "PREFIXED"}
	permissionNames = map[Permission]string{PermissionUnknown: "UNKNOWN", PermissionAny: "ANY", PermissionDeny: "DENY", PermissionAllow: "ALLOW"}
)

func enumName[T ~int8](names map[T]string, v T) string {
	if s, ok := names[v]; ok {
		return s
	}
	return "UNKNOWN"
}

func parseEnum[T ~int8](names map[T]string, s string) (T, bool) {
	for v, n := range names {
		if strings.EqualFold(n, s) && n != "UNKNOWN" {
			return v, true
		}
	}
	return 0, false
}

func (t ResourceType) String() string { return enumName(resourceTypeNames, t) }
func (o Operation) String() string    { return enumName(operationNames, o) }
func (p PatternType) String() string  { return enumName(patternNames, p) }
func (p Permission) String() string   { return enumName(permissionNames, p) }

// known reports whether v is one of Kafka's values (UNKNOWN is not).
func known[T ~int8](names map[T]string, v T) bool {
	_, ok := names[v]
	return ok && v != 0
}

// ACL is one access-control entry bound to a resource pattern. Principal
// is "Type:Name" as on the wire; Host is "*" or an IP address.
type ACL struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType
	Principal    string
	Host         string
	Operation    Operation
	Permission   Permission
}

func (a ACL) String() string {
	return fmt.Sprintf("(pattern=%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		a.ResourceType, a.PatternType, a.ResourceName, a.Principal, a.Host, a.Operation, a.Permission)
}

// ParsePrincipal splits "Type:Name" at its first colon, as Kafka's
// SecurityUtils.parseKafkaPrincipal does.
func ParsePrincipal(s string) (Principal, error) {
	typ, name, ok := strings.Cut(s, ":")
	if !ok || typ == "" {
		return Principal{}, fmt.Errorf("could not parse principal from `%s` (no colon is present separating the principal type from the principal name)", s)
	}
	return Principal{Type: typ, Name: name}, nil
}

// Validate checks a new ACL as Kafka's AclControlManager and the broker's
// CreateAcls path do; the error's text is the INVALID_REQUEST message.
func (a ACL) Validate() error {
	switch {
	case !known(resourceTypeNames, a.ResourceType) || a.ResourceType == ResourceAny:
		return fmt.Errorf("Invalid resourceType %s", a.ResourceType)
	case a.PatternType != PatternLiteral && a.PatternType != PatternPrefixed:
		return fmt.Errorf("Invalid patternType %s", a.PatternType)
	case !known(operationNames, a.Operation) || a.Operation == OpAny:
		return fmt.Errorf("Invalid operation %s", a.Operation)
	case a.Permission != PermissionAllow && a.Permission != PermissionDeny:
		return fmt.Errorf("Invalid permissionType %s", a.Permission)
	case a.ResourceName == "":
		return fmt.Errorf("Resource name should not be empty")
	case a.ResourceType == ResourceCluster && a.ResourceName != ClusterName:
		return fmt.Errorf("The only valid name for the CLUSTER resource is %s", ClusterName)
	case a.Host == "":
		return fmt.Errorf("Host should not be empty (use * for every host)")
	}
	if _, err := ParsePrincipal(a.Principal); err != nil {
		return fmt.Errorf("Could not parse principal from `%s` (no colon is present separating the principal type from the principal name)", a.Principal)
	}
	if a.Host != WildcardHost {
		if _, err := netip.ParseAddr(a.Host); err != nil {
			return fmt.Errorf("Invalid host %q: want * or an IP address", a.Host)
		}
	}
	return nil
}

// ACLFilter selects ACLs. Nil strings match anything; ResourceAny,
// PatternAny, OpAny and PermissionAny match any value; PatternMatch with a
// name selects every ACL that applies to that resource (literal equal name,
// the literal wildcard "*", and prefixes of the name).
type ACLFilter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Validate rejects filters with UNKNOWN elements, as Kafka does.
func (f ACLFilter) Validate() error {
	switch {
	case !known(resourceTypeNames, f.ResourceType):
		return fmt.Errorf("Unknown patternFilter: resource type %d", f.ResourceType)
	case !known(patternNames, f.PatternType):
		return fmt.Errorf("Unknown patternFilter: pattern type %d", f.PatternType)
	case !known(operationNames, f.Operation):
		return fmt.Errorf("Unknown entryFilter: operation %d", f.Operation)
	case !known(permissionNames, f.Permission):
		return fmt.Errorf("Unknown entryFilter: permission type %d", f.Permission)
	}
	return nil
}

// Matches reports whether the filter selects a (Kafka's AclBindingFilter).
func (f ACLFilter) Matches(a ACL) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != a.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != a.PatternType {
		return false
	}
	if f.ResourceName != nil {
		name := *f.ResourceName
		switch {
		case f.PatternType == PatternAny || f.PatternType == a.PatternType:
			if name != a.ResourceName {
				return false
			}
		case a.PatternType == PatternLiteral:
			if name != a.ResourceName && a.ResourceName != WildcardResource {
				return false
			}
		case a.PatternType == PatternPrefixed:
			if !strings.HasPrefix(name, a.ResourceName) {
				return false
			}
		default:
			return false
		}
	}
	if f.Principal != nil && *f.Principal != a.Principal {
		return false
	}
	if f.Host != nil && *f.Host != a.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != a.Operation {
		return false
	}
	return f.Permission == PermissionAny || f.Permission == a.Permission
}

// TransactionalID is a transactional id resource.
func TransactionalID(id string) Resource { return Resource{ResourceTransactionalID, id} }

// TypeAuthorizer is implemented by authorizers that answer Kafka's
// authorizeByResourceType: may the subject perform op on at least one
// resource of type rt? (InitProducerId lets an idempotent producer in with
// WRITE on any topic, KIP-679.)
type TypeAuthorizer interface {
	AuthorizeAny(s Subject, op Operation, rt ResourceType) bool
}
