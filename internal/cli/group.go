package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

const groupUsage = `Usage: sluice group COMMAND [flags]

Inspects and manages consumer groups on Sluice or any Kafka cluster.

Commands:
  list                 list groups with their state and member count
  describe GROUP       committed offsets, end offsets and lag per partition
  seek GROUP           move a stopped group's committed offsets
  delete GROUP...      delete groups and their committed offsets

Examples:
  sluice group list
  sluice group describe audit
  sluice group seek audit --topic orders --to beginning
  sluice group delete audit

Run 'sluice group COMMAND --help' for a command's flags.
`

var groupFamily = &family{
	name:  "group",
	usage: groupUsage,
	subs: map[string]func(context.Context, *cmdIO, []string) error{
		"list":     runGroupList,
		"describe": runGroupDescribe,
		"seek":     runGroupSeek,
		"delete":   runGroupDelete,
	},
}

const groupListUsage = `Usage: sluice group list [flags]

Lists the cluster's groups as a table of GROUP, STATE, PROTOCOL-TYPE and
MEMBERS, or as JSON.

Examples:
  sluice group list
  sluice group list --format json

Flags:
`

type groupSummary struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Members      int    `json:"members"`
}

func runGroupList(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "group list", groupListUsage, true)
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
	listed, err := adm.ListGroups(rctx)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	out := []groupSummary{}
	names := listed.Groups()
	var described kadm.DescribedGroups
	if len(names) > 0 {
		if described, err = adm.DescribeGroups(rctx, names...); err != nil {
			return requestErr(ctx, c.cf, err)
		}
	}
	for _, g := range listed.Sorted() {
		s := groupSummary{Group: g.Group, State: g.State, ProtocolType: g.ProtocolType, Members: -1}
		if d, ok := described[g.Group]; ok && d.Err == nil {
			s.Members = len(d.Members)
			if s.State == "" {
				s.State = d.State
			}
		}
		out = append(out, s)
	}
	if *asJSON {
		return writeJSON(cio.stdout, out)
	}
	t := newTable(cio.stdout, "GROUP", "STATE", "PROTOCOL-TYPE", "MEMBERS")
	for _, s := range out {
		members := "-"
		if s.Members >= 0 {
			members = fmt.Sprint(s.Members)
		}
		t.row(s.Group, s.State, s.ProtocolType, members)
	}
	return t.flush()
}

const groupDescribeUsage = `Usage: sluice group describe GROUP [flags]

Shows, for every partition the group has committed offsets for or is
assigned, the committed offset (CURRENT-OFFSET), the partition's end
(LOG-END-OFFSET), the LAG between them, and the member consuming it. An
offset of "-" means none is committed yet; the lag then counts every
record still kept.

Examples:
  sluice group describe audit
  sluice group describe audit --format json | jq '[.partitions[].lag] | add'

Flags:
`

type groupPartitionLag struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset *int64 `json:"current_offset"`
	LogEndOffset  *int64 `json:"log_end_offset"`
	Lag           *int64 `json:"lag"`
	MemberID      string `json:"member_id"`
	ClientID      string `json:"client_id"`
	Host          string `json:"host"`
	Error         string `json:"error,omitempty"`
}

type groupMember struct {
	MemberID   string  `json:"member_id"`
	InstanceID *string `json:"instance_id"`
	ClientID   string  `json:"client_id"`
	Host       string  `json:"host"`
}

type groupInfo struct {
	Group        string              `json:"group"`
	State        string              `json:"state"`
	ProtocolType string              `json:"protocol_type"`
	Protocol     string              `json:"protocol"`
	Coordinator  int32               `json:"coordinator"`
	Members      []groupMember       `json:"members"`
	Partitions   []groupPartitionLag `json:"partitions"`
	TotalLag     int64               `json:"total_lag"`
}

func runGroupDescribe(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "group describe", groupDescribeUsage, true)
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
	lags, err := adm.Lag(rctx, name)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	l, ok := lags[name]
	if !ok {
		return fmt.Errorf("group %q: not in the broker's answer", name)
	}
	if err := l.Error(); errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("group %q does not exist", name)
	} else if err != nil {
		return fmt.Errorf("group %q: %w", name, err)
	}
	if (l.State == "Dead" || l.State == "") && len(l.Lag) == 0 {
		return fmt.Errorf("group %q does not exist", name)
	}
	info := groupInfo{
		Group: name, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Coordinator: l.Coordinator.NodeID, Members: []groupMember{}, Partitions: []groupPartitionLag{},
	}
	for _, m := range l.Members {
		info.Members = append(info.Members, groupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, Host: m.ClientHost})
	}
	for _, ml := range l.Lag.Sorted() {
		pl := groupPartitionLag{Topic: ml.Topic, Partition: ml.Partition}
		if ml.Commit.At >= 0 {
			pl.CurrentOffset = ptr(ml.Commit.At)
		}
		if ml.End.Err == nil && ml.End.Offset >= 0 {
			pl.LogEndOffset = ptr(ml.End.Offset)
		}
		if ml.Err == nil && ml.Lag >= 0 {
			pl.Lag = ptr(ml.Lag)
			info.TotalLag += ml.Lag
		} else if ml.Err != nil {
			pl.Error = ml.Err.Error()
		}
		if ml.Member != nil {
			pl.MemberID, pl.ClientID, pl.Host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
		}
		info.Partitions = append(info.Partitions, pl)
	}
	if *asJSON {
		return writeJSON(cio.stdout, info)
	}
	switch {
	case len(info.Members) == 0:
		fmt.Fprintf(cio.stderr, "group %s has no active members\n", name)
	case info.State != "Stable":
		fmt.Fprintf(cio.stderr, "group %s is %s: assignments may be incomplete\n", name, info.State)
	}
	t := newTable(cio.stdout, "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID", "CLIENT-ID", "HOST")
	for _, p := range info.Partitions {
		t.row(p.Topic, p.Partition, optInt(p.CurrentOffset), optInt(p.LogEndOffset), optInt(p.Lag), p.MemberID, p.ClientID, p.Host)
	}
	return t.flush()
}

func ptr[T any](v T) *T { return &v }

func optInt(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

const groupSeekUsage = `Usage: sluice group seek GROUP --topic TOPIC --to OFFSET [flags]

Sets GROUP's committed offsets on TOPIC (all partitions, or those given
with --partition), so its consumers resume there. As kafka-consumer-groups
--reset-offsets, the group must have no active members; stop them first. A
group that does not exist yet is created with these offsets.

--to is one of:
  beginning    the oldest record still kept
  end          the end of the partition (skip everything)
  N            offset N (clamped to the partition's range)
  -N           N records before the end
  @UNIX_MS     the first record with a timestamp at or after UNIX_MS

Examples:
  sluice group seek audit --topic orders --to beginning
  sluice group seek audit --topic orders --to @1700000000000
  sluice group seek audit --topic orders --partition 0 --to 42 --dry-run

Flags:
`

func runGroupSeek(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "group seek", groupSeekUsage, true)
	f := addSeekFlags(c, "offsets", "committing")
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

	described, err := adm.DescribeGroups(rctx, name)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	d, err := described.On(name, nil)
	if err == nil {
		err = describeErr(d.Err, d.ErrMessage)
	}
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) { // a new group is fine
		return fmt.Errorf("group %q: %w", name, err)
	}
	if len(d.Members) > 0 || d.State != "Empty" && d.State != "Dead" && d.State != "" {
		return fmt.Errorf("group %q is %s with %d member%s; seek needs a group without active members", name, d.State, len(d.Members), cmdline.Plural(len(d.Members)))
	}
	offsets, err := f.targets(rctx, adm)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	before, err := adm.FetchOffsetsForTopics(rctx, name, *f.topic)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return requestErr(ctx, c.cf, err)
	}
	if !*f.dryRun {
		resps, err := adm.CommitOffsets(rctx, name, f.commitSet(offsets))
		if err != nil {
			return requestErr(ctx, c.cf, err)
		}
		if err := resps.Error(); err != nil {
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.RebalanceInProgress) {
				return fmt.Errorf("group %q gained members while seeking; stop them and retry", name)
			}
			return fmt.Errorf("group %q: %w", name, err)
		}
	}
	old := map[int32]int64{}
	for p := range offsets {
		if o, ok := before.Lookup(*f.topic, p); ok && o.Err == nil {
			old[p] = o.At
		}
	}
	return f.print(cio, "OLD-OFFSET", "NEW-OFFSET", "dry run: nothing committed", old, offsets)
}

const groupDeleteUsage = `Usage: sluice group delete GROUP... [flags]

Deletes the named groups with their committed offsets. A group with active
members cannot be deleted. Each failure is reported on its own line; the
exit status is non-zero if any group was not deleted.

Examples:
  sluice group delete audit
  sluice group delete audit billing

Flags:
`

func runGroupDelete(ctx context.Context, cio *cmdIO, args []string) error {
	return deleteGroups(ctx, cio, args, "group delete", groupDeleteUsage, "group")
}

// deleteGroups runs group delete and share-group delete (one DeleteGroups
// request for both kinds); what names the kind in messages.
func deleteGroups(ctx context.Context, cio *cmdIO, args []string, cmd, usage, what string) error {
	c := newCommand(cio, cmd, usage, true)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want at least one GROUP (run 'sluice %s --help')", cmd)
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	resps, err := adm.DeleteGroups(rctx, pos...)
	if err != nil && len(resps) == 0 {
		return requestErr(ctx, c.cf, err)
	}
	var failed []string
	for _, name := range pos {
		r, ok := resps[name]
		switch {
		case !ok && err != nil:
			failed = append(failed, fmt.Sprintf("%s %q: %v", what, name, requestErr(ctx, c.cf, err)))
		case !ok:
			failed = append(failed, fmt.Sprintf("%s %q: not in the broker's answer", what, name))
		case errors.Is(r.Err, kerr.GroupIDNotFound):
			failed = append(failed, fmt.Sprintf("%s %q does not exist", what, name))
		case errors.Is(r.Err, kerr.NonEmptyGroup):
			failed = append(failed, fmt.Sprintf("%s %q has active members; stop them first", what, name))
		case r.Err != nil:
			failed = append(failed, fmt.Sprintf("%s %q: %v", what, name, describeErr(r.Err, r.ErrMessage)))
		default:
			fmt.Fprintf(cio.stdout, "deleted %s %s\n", what, name)
		}
	}
	return multiErr(cio, cmd, failed)
}
