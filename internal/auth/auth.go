// Package auth is the single authorization seam every request handler asks
// before it acts. Handlers describe what they want to do (an operation on a
// resource) and never decide policy themselves, so the security work (ACLs,
// super users) replaces the Authorizer without touching handler logic.
package auth

import "net/netip"

// Operation is a Kafka ACL operation, numbered as on the wire.
type Operation int8

// Kafka's ACL operations (AclOperation in the protocol).
const (
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
)

// ResourceType is a Kafka ACL resource type, numbered as on the wire.
type ResourceType int8

// Kafka's resource types.
const (
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
)

// ClusterName is the name Kafka gives the single cluster resource.
const ClusterName = "kafka-cluster"

// Resource names what an operation acts on.
type Resource struct {
	Type ResourceType
	Name string
}

// Topic, Group and Cluster build resources for handlers.
func Topic(name string) Resource { return Resource{ResourceTopic, name} }

// Group is a consumer group resource.
func Group(name string) Resource { return Resource{ResourceGroup, name} }

// Cluster is the cluster resource.
func Cluster() Resource { return Resource{ResourceCluster, ClusterName} }

// Principal is the authenticated identity of a connection, in Kafka's
// "Type:Name" form (User:ANONYMOUS for unauthenticated connections).
type Principal struct {
	Type string
	Name string
}

// Anonymous is the principal of a connection that did not authenticate.
var Anonymous = Principal{Type: "User", Name: "ANONYMOUS"}

func (p Principal) String() string { return p.Type + ":" + p.Name }

// Subject is who is asking: the connection's principal and address.
type Subject struct {
	Principal Principal
	Host      netip.Addr
}

// Authorizer decides whether subject may perform op on res.
type Authorizer interface {
	Authorize(s Subject, op Operation, res Resource) bool
}

// AllowAll permits everything; it is the policy of a broker started without
// security settings, as Kafka's is with no authorizer configured.
type AllowAll struct{}

// Authorize implements Authorizer.
func (AllowAll) Authorize(Subject, Operation, Resource) bool { return true }
