package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const aclUsage = `Usage: sluice acl COMMAND [flags]

Creates, lists and deletes ACLs on Sluice or any Kafka cluster, with
kafka-acls-like flags. The broker must run an authorizer (Sluice: start it
with --super-users or authorizer.class.name), and creating, listing and
deleting need ALTER (create, delete) or DESCRIBE (list) on the cluster.

Commands:
  create     add ACLs: every principal x host x resource x operation
  list       show ACLs matching the flags (all ACLs without flags)
  delete     remove ACLs matching the flags

Examples:
  sluice acl create --allow-principal User:alice --operation read --operation write --topic orders
  sluice acl create --deny-principal User:bob --operation all --topic secret- --resource-pattern-type prefixed
  sluice acl create --allow-principal User:app --operation read --group app --host 10.0.0.7
  sluice acl list --topic orders --resource-pattern-type match
  sluice acl delete --allow-principal User:alice --topic orders

Run 'sluice acl COMMAND --help' for a command's flags.
`

var aclFamily = &family{
	name:  "acl",
	usage: aclUsage,
	subs: map[string]func(context.Context, *cmdIO, []string) error{
		"create": runACLCreate,
		"list":   runACLList,
		"delete": runACLDelete,
	},
}

// aclFlags are the kafka-acls-like flags the three commands share.
type aclFlags struct {
	allow, deny, principal cmdline.MultiFlag
	hosts                  cmdline.MultiFlag
	ops                    cmdline.MultiFlag
	topics, groups, txns   cmdline.MultiFlag
	cluster                bool
	pattern                string
}

func registerACLFlags(c *command, withPrincipal bool, defaultPattern, patterns string) *aclFlags {
	f := &aclFlags{}
	c.own.Var(&f.allow, "allow-principal", "`PRINCIPAL` (User:NAME, User:* for everyone) to allow (repeatable)")
	c.own.Var(&f.deny, "deny-principal", "`PRINCIPAL` to deny (repeatable)")
	if withPrincipal {
		c.own.Var(&f.principal, "principal", "`PRINCIPAL` of allow and deny ACLs alike (repeatable)")
	}
	c.own.Var(&f.hosts, "host", "client `HOST` (an IP address, or * for every host) the ACL applies to (repeatable)")
	c.own.Var(&f.ops, "operation", "`OPERATION`: all, read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write (repeatable)")
	c.own.Var(&f.topics, "topic", "topic `NAME` (or prefix, or * for every topic) (repeatable)")
	c.own.Var(&f.groups, "group", "consumer group `ID` (or prefix, or *) (repeatable)")
	c.own.Var(&f.txns, "transactional-id", "transactional `ID` (or prefix, or *) (repeatable)")
	c.own.BoolVar(&f.cluster, "cluster", false, "the cluster resource")
	c.own.StringVar(&f.pattern, "resource-pattern-type", defaultPattern, "how resource names match, `TYPE`: "+patterns)
	return f
}

func (f *aclFlags) hasResource() bool {
	return len(f.topics)+len(f.groups)+len(f.txns) > 0 || f.cluster
}

// builder turns the flags into a kadm ACL builder. For filters (list,
// delete), an absent resource, principal, host or operation matches any.
func (f *aclFlags) builder(filter bool) (*kadm.ACLBuilder, error) {
	pattern, err := kmsg.ParseACLResourcePatternType(f.pattern)
	if err != nil {
		return nil, usagef("--resource-pattern-type %q: want literal or prefixed (list and delete: also any or match)", f.pattern)
	}
	if !filter && pattern != kmsg.ACLResourcePatternTypeLiteral && pattern != kmsg.ACLResourcePatternTypePrefixed {
		return nil, usagef("--resource-pattern-type %q: ACLs are created literal or prefixed", f.pattern)
	}
	var ops []kadm.ACLOperation
	for _, s := range f.ops {
		op, err := kmsg.ParseACLOperation(s)
		if err != nil || op == kmsg.ACLOperationUnknown || (op == kmsg.ACLOperationAny && !filter) {
			return nil, usagef("--operation %q: unknown operation (run 'sluice acl --help')", s)
		}
		ops = append(ops, op)
	}
	for _, p := range slices.Concat(f.allow, f.deny, f.principal) {
		if typ, _, ok := strings.Cut(p, ":"); !ok || typ == "" {
			return nil, usagef("principal %q: want TYPE:NAME, such as User:alice", p)
		}
	}
	b := kadm.NewACLs().ResourcePatternType(pattern)
	if filter && !f.hasResource() {
		b.AnyResource()
	} else {
		b.MaybeTopics(f.topics...).MaybeGroups(f.groups...).MaybeClusters(f.cluster).MaybeTransactionalIDs(f.txns...)
	}
	allow, deny := slices.Concat(f.allow, f.principal), slices.Concat(f.deny, f.principal)
	switch {
	case !filter:
		b.MaybeAllow(allow...).MaybeDeny(deny...)
		if len(f.hosts) > 0 { // else kadm creates with host *
			hostFilter(b, f.hosts, len(allow) > 0, len(deny) > 0)
		}
	case len(allow)+len(deny) == 0:
		b.Allow().Deny() // any principal, allowed or denied
		hostFilter(b, f.hosts, true, true)
	default:
		b.MaybeAllow(allow...).MaybeDeny(deny...)
		hostFilter(b, f.hosts, len(allow) > 0, len(deny) > 0)
	}
	if filter && len(ops) == 0 {
		b.Operations() // any
	} else {
		b.MaybeOperations(ops...)
	}
	return b, nil
}

// hostFilter sets the hosts of a filter: the given ones, or any.
func hostFilter(b *kadm.ACLBuilder, hosts []string, allow, deny bool) {
	switch {
	case len(hosts) > 0:
		if allow {
			b.MaybeAllowHosts(hosts...)
		}
		if deny {
			b.MaybeDenyHosts(hosts...)
		}
	default:
		if allow {
			b.AllowHosts()
		}
		if deny {
			b.DenyHosts()
		}
	}
}

// aclRow is one ACL as printed.
type aclRow struct {
	ResourceType string `json:"resource_type"`
	Name         string `json:"resource_name"`
	Pattern      string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

func (r aclRow) String() string {
	return fmt.Sprintf("%s %s %s:%s:%s from %s: %s", r.Permission, r.Principal, r.ResourceType, r.Pattern, r.Name, r.Host, r.Operation)
}

func sortRows(rows []aclRow) {
	slices.SortFunc(rows, func(a, b aclRow) int {
		return strings.Compare(fmt.Sprint(a.ResourceType, "\x00", a.Name, "\x00", a.Pattern, "\x00", a.Principal, "\x00", a.Host, "\x00", a.Operation, "\x00", a.Permission),
			fmt.Sprint(b.ResourceType, "\x00", b.Name, "\x00", b.Pattern, "\x00", b.Principal, "\x00", b.Host, "\x00", b.Operation, "\x00", b.Permission))
	})
}

const aclCreateUsage = `Usage: sluice acl create [flags]

Adds an ACL for every combination of principal (--allow-principal,
--deny-principal), host (--host, default *), resource (--topic, --group,
--transactional-id, --cluster) and --operation. Creating an ACL that exists
changes nothing.

Examples:
  sluice acl create --allow-principal User:alice --operation read --operation describe --topic orders
  sluice acl create --allow-principal User:etl --operation write --topic etl- --resource-pattern-type prefixed
  sluice acl create --allow-principal User:ops --operation alter --operation describe --cluster

Flags:
`

func runACLCreate(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "acl create", aclCreateUsage, true)
	f := registerACLFlags(c, false, "literal", "literal or prefixed")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	switch {
	case len(f.allow)+len(f.deny) == 0:
		return usagef("want --allow-principal or --deny-principal")
	case len(f.ops) == 0:
		return usagef("want at least one --operation")
	case !f.hasResource():
		return usagef("want a resource: --topic, --group, --transactional-id or --cluster")
	}
	b, err := f.builder(false)
	if err != nil {
		return err
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.CreateACLs(rctx, b)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	var failed error
	for _, r := range res {
		row := aclRow{r.Type.String(), r.Name, r.Pattern.String(), r.Principal, r.Host, r.Operation.String(), r.Permission.String()}
		if r.Err != nil {
			if failed == nil {
				failed = fmt.Errorf("%s: %w", row, describeErr(r.Err, r.ErrMessage))
			}
			continue
		}
		fmt.Fprintf(cio.stdout, "created ACL: %s\n", row)
	}
	return failed
}

const aclListUsage = `Usage: sluice acl list [flags]

Lists the ACLs matching the flags; without flags, every ACL. Absent
resource, principal, host or operation flags match any. With
--resource-pattern-type match and a resource name, lists every ACL that
applies to that resource (literal, wildcard and prefixed ones).

Examples:
  sluice acl list
  sluice acl list --principal User:alice --format json
  sluice acl list --topic orders-eu --resource-pattern-type match

Flags:
`

func runACLList(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "acl list", aclListUsage, true)
	f := registerACLFlags(c, true, "any", "any, match, literal or prefixed")
	asJSON := addFormatFlag(c)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	b, err := f.builder(true)
	if err != nil {
		return err
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.DescribeACLs(rctx, b)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	rows := []aclRow{}
	seen := map[aclRow]bool{}
	for _, r := range res {
		if r.Err != nil {
			return describeErr(r.Err, r.ErrMessage)
		}
		for _, a := range r.Described {
			row := aclRow{a.Type.String(), a.Name, a.Pattern.String(), a.Principal, a.Host, a.Operation.String(), a.Permission.String()}
			if !seen[row] { // several filters may describe one ACL
				seen[row] = true
				rows = append(rows, row)
			}
		}
	}
	sortRows(rows)
	if *asJSON {
		return writeJSON(cio.stdout, rows)
	}
	t := newTable(cio.stdout, "RESOURCE-TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION")
	for _, r := range rows {
		t.row(r.ResourceType, r.Name, r.Pattern, r.Principal, r.Host, r.Operation, r.Permission)
	}
	return t.flush()
}

const aclDeleteUsage = `Usage: sluice acl delete [flags]

Deletes the ACLs matching the flags (as for list, absent flags match any)
and prints them. At least a resource or a principal is required; --all
deletes every ACL.

Examples:
  sluice acl delete --allow-principal User:alice --topic orders
  sluice acl delete --principal User:bob
  sluice acl delete --topic secret- --resource-pattern-type prefixed --operation read

Flags:
`

func runACLDelete(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "acl delete", aclDeleteUsage, true)
	f := registerACLFlags(c, true, "literal", "literal, prefixed, any or match")
	all := c.own.Bool("all", false, "delete every ACL")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if *all {
		if f.hasResource() || len(f.allow)+len(f.deny)+len(f.principal)+len(f.hosts)+len(f.ops) > 0 {
			return usagef("--all deletes every ACL; it takes no other ACL flags")
		}
		f.pattern = "any"
	} else if !f.hasResource() && len(f.allow)+len(f.deny)+len(f.principal) == 0 {
		return usagef("want a resource (--topic, --group, --transactional-id, --cluster) or a principal, or --all")
	}
	b, err := f.builder(true)
	if err != nil {
		return err
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.DeleteACLs(rctx, b)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	var rows []aclRow
	for _, r := range res {
		if r.Err != nil {
			return describeErr(r.Err, r.ErrMessage)
		}
		for _, a := range r.Deleted {
			rows = append(rows, aclRow{a.Type.String(), a.Name, a.Pattern.String(), a.Principal, a.Host, a.Operation.String(), a.Permission.String()})
		}
	}
	sortRows(rows)
	for _, r := range rows {
		fmt.Fprintf(cio.stdout, "deleted ACL: %s\n", r)
	}
	fmt.Fprintf(cio.stdout, "deleted %d ACL%s\n", len(rows), cmdline.Plural(len(rows)))
	return nil
}
