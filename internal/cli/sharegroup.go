package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

const shareGroupUsage = `Usage: sluice share-group COMMAND [flags]

Inspects and manages share groups (KIP-932: queues on Kafka topics) on
Sluice or any Kafka 4.2+ cluster.

Commands:
  list                     list share groups with their state and member count
  describe GROUP           members, assignments, start offsets and lag
  reset-offsets GROUP      move a stopped share group's start offsets
  delete GROUP...          delete share groups and their state

Examples:
  sluice share-group list
  sluice share-group describe jobs
  sluice share-group reset-offsets jobs --topic orders --to beginning
  sluice share-group delete jobs

Run 'sluice share-group COMMAND --help' for a command's flags.
`

var shareGroupFamily = &family{
	name:  "share-group",
	usage: shareGroupUsage,
	subs: map[string]func(context.Context, *cmdIO, []string) error{
		"list":          runShareGroupList,
		"describe":      runShareGroupDescribe,
		"reset-offsets": runShareGroupReset,
		"delete":        runShareGroupDelete,
	},
}

const shareGroupListUsage = `Usage: sluice share-group list [flags]

Lists the cluster's share groups as a table of GROUP, STATE and MEMBERS, or
as JSON.

Examples:
  sluice share-group list
  sluice share-group list --format json

Flags:
`

type shareGroupSummary struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Members int    `json:"members"`
}

func runShareGroupList(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "share-group list", shareGroupListUsage, true)
	asJSON := addFormatFlag(c)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	listed, err := adm.ListGroupsByType(rctx, []string{"share"})
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	out := []shareGroupSummary{}
	var described kadm.DescribedShareGroups
	if names := listed.Groups(); len(names) > 0 {
		if described, err = adm.DescribeShareGroups(rctx, names...); err != nil {
			return requestErr(ctx, c.cf, err)
		}
	}
	for _, g := range listed.Sorted() {
		s := shareGroupSummary{Group: g.Group, State: g.State, Members: -1}
		if d, ok := described[g.Group]; ok && d.Err == nil {
			s.Members = len(d.Members)
		}
		out = append(out, s)
	}
	if *asJSON {
		return writeJSON(cio.stdout, out)
	}
	t := newTable(cio.stdout, "GROUP", "STATE", "MEMBERS")
	for _, s := range out {
		members := "-"
		if s.Members >= 0 {
			members = fmt.Sprint(s.Members)
		}
		t.row(s.Group, s.State, members)
	}
	return t.flush()
}

const shareGroupDescribeUsage = `Usage: sluice share-group describe GROUP [flags]

Shows the group's state and members (with their assigned partitions), and
for every share-partition its START-OFFSET (below it every record is
acknowledged or archived) and LAG (records not yet acknowledged or
archived).

Examples:
  sluice share-group describe jobs
  sluice share-group describe jobs --format json | jq '[.partitions[].lag] | add'

Flags:
`

type shareGroupMemberInfo struct {
	MemberID string   `json:"member_id"`
	ClientID string   `json:"client_id"`
	Host     string   `json:"host"`
	Epoch    int32    `json:"epoch"`
	Assigned []string `json:"assigned"`
}

type sharePartitionInfo struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	StartOffset *int64 `json:"start_offset"`
	Lag         *int64 `json:"lag"`
	Error       string `json:"error,omitempty"`
}

type shareGroupInfo struct {
	Group      string                 `json:"group"`
	State      string                 `json:"state"`
	Epoch      int32                  `json:"epoch"`
	Members    []shareGroupMemberInfo `json:"members"`
	Partitions []sharePartitionInfo   `json:"partitions"`
}

func runShareGroupDescribe(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "share-group describe", shareGroupDescribeUsage, true)
	asJSON := addFormatFlag(c)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	name, err := c.one(pos, "GROUP")
	if err != nil {
		return err
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	ds, err := adm.DescribeShareGroups(rctx, name)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	d := ds[name]
	if errors.Is(d.Err, kerr.GroupIDNotFound) {
		return fmt.Errorf("share group %q does not exist", name)
	} else if d.Err != nil {
		return fmt.Errorf("share group %q: %w", name, d.Err)
	}
	info := shareGroupInfo{Group: name, State: d.GroupState, Epoch: d.GroupEpoch, Members: []shareGroupMemberInfo{}, Partitions: []sharePartitionInfo{}}
	for _, m := range d.Members {
		mi := shareGroupMemberInfo{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Epoch: m.MemberEpoch, Assigned: []string{}}
		for _, tp := range m.Assignment.Sorted() {
			for _, p := range tp.Partitions {
				mi.Assigned = append(mi.Assigned, fmt.Sprintf("%s/%d", tp.Topic, p))
			}
		}
		info.Members = append(info.Members, mi)
	}
	offs, err := adm.DescribeShareGroupOffsets(rctx, name)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	if o := offs[name]; o.Err != nil {
		return fmt.Errorf("share group %q offsets: %w", name, o.Err)
	}
	for _, t := range slices.Sorted(maps.Keys(offs[name].Offsets)) {
		ps := offs[name].Offsets[t]
		for _, p := range slices.Sorted(maps.Keys(ps)) {
			o := ps[p]
			pi := sharePartitionInfo{Topic: t, Partition: p}
			if o.Err != nil {
				pi.Error = o.Err.Error()
			}
			if o.StartOffset >= 0 {
				pi.StartOffset = ptr(o.StartOffset)
			}
			if o.Lag >= 0 {
				pi.Lag = ptr(o.Lag)
			}
			info.Partitions = append(info.Partitions, pi)
		}
	}
	if *asJSON {
		return writeJSON(cio.stdout, info)
	}
	fmt.Fprintf(cio.stdout, "group %s: %s, epoch %d, %d member(s)\n", name, info.State, info.Epoch, len(info.Members))
	if len(info.Members) > 0 {
		t := newTable(cio.stdout, "MEMBER-ID", "CLIENT-ID", "HOST", "EPOCH", "ASSIGNED")
		for _, m := range info.Members {
			t.row(m.MemberID, m.ClientID, m.Host, m.Epoch, fmt.Sprint(m.Assigned))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	t := newTable(cio.stdout, "TOPIC", "PARTITION", "START-OFFSET", "LAG")
	for _, p := range info.Partitions {
		t.row(p.Topic, p.Partition, optInt(p.StartOffset), optInt(p.Lag))
	}
	return t.flush()
}

const shareGroupResetUsage = `Usage: sluice share-group reset-offsets GROUP --topic TOPIC --to OFFSET [flags]

Sets GROUP's share-partition start offsets on TOPIC (all partitions, or
those given with --partition), forgetting their in-flight state, as
kafka-share-groups --reset-offsets. The group must have no active members;
stop them first. A group that does not exist yet is created.

--to is one of:
  beginning    the oldest record still kept
  end          the end of the partition (skip everything)
  N            offset N (clamped to the partition's range)
  -N           N records before the end
  @UNIX_MS     the first record with a timestamp at or after UNIX_MS

Examples:
  sluice share-group reset-offsets jobs --topic orders --to beginning
  sluice share-group reset-offsets jobs --topic orders --partition 0 --to 42 --dry-run

Flags:
`

func runShareGroupReset(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "share-group reset-offsets", shareGroupResetUsage, true)
	f := addSeekFlags(c, "start offsets", "setting")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	name, err := f.group(c, pos)
	if err != nil {
		return err
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	offsets, err := f.targets(rctx, adm)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	old := map[int32]int64{}
	if before, err := adm.DescribeShareGroupOffsets(rctx, name); err == nil {
		if o, ok := before[name]; ok && o.Err == nil {
			for p, so := range o.Offsets[*f.topic] {
				old[p] = so.StartOffset
			}
		}
	}
	if !*f.dryRun {
		resps, err := adm.AlterShareGroupOffsets(rctx, name, f.commitSet(offsets))
		if errors.Is(err, kerr.NonEmptyGroup) {
			return fmt.Errorf("share group %q has active members; stop them first", name)
		}
		if err != nil {
			return requestErr(ctx, c.cf, err)
		}
		if err := resps.Error(); err != nil {
			return fmt.Errorf("share group %q: %w", name, err)
		}
	}
	return f.print(cio, "OLD-START-OFFSET", "NEW-START-OFFSET", "dry run: nothing set", old, offsets)
}

const shareGroupDeleteUsage = `Usage: sluice share-group delete GROUP... [flags]

Deletes the named share groups with their share-partition state. A group
with active members cannot be deleted. Each failure is reported on its own
line; the exit status is non-zero if any group was not deleted.

Examples:
  sluice share-group delete jobs
  sluice share-group delete jobs retries

Flags:
`

func runShareGroupDelete(ctx context.Context, cio *cmdIO, args []string) error {
	return deleteGroups(ctx, cio, args, "share-group delete", shareGroupDeleteUsage, "share group")
}
