package console

// Consumer groups: the list, a group's state, members and lag, offset
// reset (only for an empty group) and delete.

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type groupsData struct {
	Query  string
	Groups []groupListing
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxSearch {
		c.fail(w, r, http.StatusBadRequest, badInput("the search is longer than %d characters", maxSearch))
		return
	}
	gs, err := c.listGroups(r.Context())
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	d := groupsData{Query: q}
	for _, g := range gs {
		if q == "" || strings.Contains(strings.ToLower(g.Name), strings.ToLower(q)) {
			d.Groups = append(d.Groups, g)
		}
	}
	c.render(w, r, http.StatusOK, "groups", page{Title: "Consumer groups", Nav: "groups", Data: d})
}

// lagRow is one partition of a group's committed offsets.
type lagRow struct {
	Topic      string
	Partition  int32
	Committed  int64
	Start, End int64
	Lag        int64
	Seconds    float64 // time lag; -1 when unknown
}

// LagTime is the row's time lag as people read it.
func (l lagRow) LagTime() string {
	if l.Seconds < 0 {
		return "—"
	}
	return seconds(l.Seconds)
}

type groupData struct {
	Group    groupDesc
	Lag      []lagRow
	TotalLag int64
	LagErr   string
	Topics   []string // topics with commits, for the reset form
	Empty    bool     // offsets may be reset
	MaxTime  string   // the largest time lag
	Charts   []lagChart
}

func (c *Console) group(w http.ResponseWriter, r *http.Request) {
	c.groupPage(w, r, http.StatusOK, "")
}

func (c *Console) groupPage(w http.ResponseWriter, r *http.Request, code int, errMsg string) {
	ctx := r.Context()
	name := r.PathValue("group")
	g, err := c.describeGroup(ctx, name)
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	d := groupData{Group: g, Empty: g.State == "Empty" || g.State == "Dead"}
	if err := c.groupLag(r, name, &d); err != nil {
		d.LagErr = err.Error()
	}
	visible := map[string]bool{}
	for _, t := range d.Topics {
		visible[t] = true
	}
	d.Charts = c.lagCharts(name, visible, c.now())
	c.render(w, r, code, "group", page{Title: "Group " + name, Nav: "groups", Error: errMsg, Data: d})
}

func (c *Console) groupLag(r *http.Request, name string, d *groupData) error {
	ctx := r.Context()
	comm, err := c.committed(ctx, name)
	if err != nil {
		return err
	}
	parts := map[string][]int32{}
	for t, ps := range comm {
		d.Topics = append(d.Topics, t)
		for p := range ps {
			parts[t] = append(parts[t], p)
		}
	}
	sort.Strings(d.Topics)
	if len(parts) == 0 {
		return nil
	}
	offs, err := c.listOffsets(ctx, parts)
	if err != nil {
		return err
	}
	secs, err := c.be.GroupTimeLag(ctx, name, c.now())
	if err != nil {
		c.logger.Info("console: no time lag", "group", name, "err", err)
	}
	maxSec := -1.0
	for t, ps := range comm {
		for p, off := range ps {
			o := offs[t][p]
			row := lagRow{Topic: t, Partition: p, Committed: off, Start: o.Start, End: o.End, Lag: max(o.End-off, 0), Seconds: -1}
			if s, ok := secs[t][p]; ok {
				row.Seconds = s
				maxSec = max(maxSec, s)
			}
			d.TotalLag += row.Lag
			d.Lag = append(d.Lag, row)
		}
	}
	if maxSec >= 0 {
		d.MaxTime = seconds(maxSec)
	}
	sort.Slice(d.Lag, func(i, j int) bool {
		if d.Lag[i].Topic != d.Lag[j].Topic {
			return d.Lag[i].Topic < d.Lag[j].Topic
		}
		return d.Lag[i].Partition < d.Lag[j].Partition
	})
	return nil
}

// resetOffsets commits new offsets for every partition of one topic:
// earliest, latest or a given offset, as kafka-consumer-groups.sh
// --reset-offsets --execute does; only for an empty group and with the
// confirm box ticked.
func (c *Console) resetOffsets(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("group")
	if err := r.ParseForm(); err != nil {
		c.groupPage(w, r, http.StatusBadRequest, "malformed form: "+err.Error())
		return
	}
	err := func() error {
		if r.PostFormValue("confirm") != "yes" {
			return badInput("not reset: tick the confirmation box")
		}
		g, err := c.describeGroup(ctx, name)
		if err != nil {
			return err
		}
		if g.State != "Empty" && g.State != "Dead" {
			return badInput("the group is %s: offsets can be reset only while it has no members (stop its consumers first)", g.State)
		}
		t, err := c.topicMeta(ctx, strings.TrimSpace(r.PostFormValue("topic")))
		if err != nil {
			return err
		}
		offs, err := c.listOffsets(ctx, map[string][]int32{t.Name: t.Partitions})
		if err != nil {
			return err
		}
		to := r.PostFormValue("to")
		var at int64
		var atTime map[int32]int64
		switch to {
		case "earliest", "latest":
		case "time":
			ms, err := parseTime(r.PostFormValue("time"))
			if err != nil {
				return err
			}
			// kafka-consumer-groups.sh --to-datetime: the first offset at
			// or after the time, the end where there is none.
			if atTime, err = c.offsetsForTime(ctx, t.Name, t.Partitions, ms); err != nil {
				return err
			}
		case "offset":
			at, err = strconv.ParseInt(strings.TrimSpace(r.PostFormValue("offset")), 10, 64)
			if err != nil || at < 0 {
				return badInput("offset %q is not a non-negative number", r.PostFormValue("offset"))
			}
		default:
			return badInput("reset to %q: choose earliest, latest, a time or an offset", to)
		}
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation, req.MemberID = name, -1, ""
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = t.Name, t.ID
		for _, p := range t.Partitions {
			o := offs[t.Name][p]
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.LeaderEpoch = p, -1
			switch to {
			case "earliest":
				rp.Offset = o.Start
			case "latest":
				rp.Offset = o.End
			case "time":
				rp.Offset = o.End
				if off, ok := atTime[p]; ok && off >= 0 {
					rp.Offset = min(max(off, o.Start), o.End)
				}
			default:
				if at < o.Start || at > o.End {
					return badInput("offset %d is outside partition %d's range %d to %d", at, p, o.Start, o.End)
				}
				rp.Offset = at
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := call[*kmsg.OffsetCommitResponse](ctx, c.be, req)
		if err != nil {
			return err
		}
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				if err := codeErr(p.ErrorCode, nil); err != nil {
					return fmt.Errorf("committing %s/%d: %w", t.Name, p.Partition, err)
				}
			}
		}
		return nil
	}()
	if err != nil {
		if status(err) == http.StatusNotFound && !strings.Contains(err.Error(), "topic") {
			c.fail(w, r, http.StatusNotFound, err)
			return
		}
		c.groupPage(w, r, status(err), "Offsets not reset: "+err.Error())
		return
	}
	to := r.PostFormValue("to")
	switch to {
	case "time":
		to = "the first record at or after " + strings.TrimSpace(r.PostFormValue("time"))
	case "offset":
		to = "offset " + strings.TrimSpace(r.PostFormValue("offset"))
	}
	redirect(w, r, "/groups/"+pathEscape(name), fmt.Sprintf("Reset the offsets of %s on %s to %s.", name, r.PostFormValue("topic"), to))
}

// deleteGroup deletes an empty group once the confirm field repeats its
// name (Kafka refuses a group with members: NON_EMPTY_GROUP).
func (c *Console) deleteGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	if err := r.ParseForm(); err != nil {
		c.groupPage(w, r, http.StatusBadRequest, "malformed form: "+err.Error())
		return
	}
	if r.PostFormValue("confirm") != name {
		c.groupPage(w, r, http.StatusBadRequest, fmt.Sprintf("Not deleted: type the group's name %q to confirm.", name))
		return
	}
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = []string{name}
	resp, err := call[*kmsg.DeleteGroupsResponse](r.Context(), c.be, req)
	if err == nil {
		if len(resp.Groups) != 1 {
			err = fmt.Errorf("DeleteGroups: %d groups in the response", len(resp.Groups))
		} else {
			err = codeErr(resp.Groups[0].ErrorCode, nil)
		}
	}
	if err != nil {
		err = fmt.Errorf("deleting group %q: %w", name, err)
		if status(err) == http.StatusNotFound {
			c.fail(w, r, http.StatusNotFound, err)
			return
		}
		c.groupPage(w, r, status(err), err.Error())
		return
	}
	redirect(w, r, "/groups", fmt.Sprintf("Deleted group %s.", name))
}
