package registry

// Authorization. Kafka's ACL resource types have no "subject", so the
// registry asks about a subject as a TOPIC resource of the same name: a
// literal ACL on topic "orders-value" covers that subject, and a PREFIXED
// ACL on "orders" covers the topic orders and its subjects orders-key and
// orders-value (TopicNameStrategy) alike. Operations:
//
//	Describe          list the subject (GET /subjects filters on it)
//	Read              read its versions, look a schema up, check compatibility,
//	                  read a schema by id (Read on any subject holding the id)
//	Write             register a schema
//	Delete            delete versions or the subject
//	DescribeConfigs   GET /config/{s}, GET /mode/{s}
//	AlterConfigs      PUT or DELETE /config/{s}, /mode/{s}
//
// The global /config and /mode take DescribeConfigs and AlterConfigs on
// the CLUSTER resource. Kafka's implications hold (Read, Write and Delete
// imply Describe; AlterConfigs implies DescribeConfigs) because the
// authorizer applies them.

import "github.com/sluice-io/sluice/internal/auth"

func subjectResource(subject string) auth.Resource { return auth.Topic(subject) }

func opName(op auth.Operation) string {
	switch op {
	case auth.OpRead:
		return "READ"
	case auth.OpWrite:
		return "WRITE"
	case auth.OpDelete:
		return "DELETE"
	case auth.OpDescribe:
		return "DESCRIBE"
	case auth.OpDescribeConfigs:
		return "DESCRIBE_CONFIGS"
	case auth.OpAlterConfigs:
		return "ALTER_CONFIGS"
	}
	return "UNKNOWN"
}
