package console

// Live tail: a page of a topic's newest messages that keeps showing new
// ones. Without JavaScript it reloads itself every tailRefresh seconds (a
// meta refresh inside <noscript>) and has a "load newer" link; with it,
// console.js polls the same URL with fragment=1 and the cursor (the next
// offset per partition) every few seconds, adds what is new on top, keeps at
// most tailKeep messages in the page, and stops when the page is hidden or
// left. Every poll is one bounded read (scanBudget records), never a long
// poll: nothing on the server outlives the request.

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/log"
)

const (
	tailRefresh = 5   // seconds between reloads without JavaScript
	tailKeep    = 500 // messages a page keeps (console.js)
)

type tailData struct {
	Topic    topicInfo
	Q        browseQuery
	Messages []message
	Cursor   string // "partition:offset,..." the next offsets to read
	Fragment string // the URL console.js polls, without the cursor
	Refresh  int
	Keep     int
	Self     string // this page's URL (load newer)
}

func (c *Console) tail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t, err := c.topicMeta(ctx, r.PathValue("topic"))
	if err != nil {
		c.tailFail(w, r, status(err), err)
		return
	}
	offs, err := c.listOffsets(ctx, map[string][]int32{t.Name: t.Partitions})
	if err != nil {
		c.tailFail(w, r, status(err), err)
		return
	}
	v := r.URL.Query()
	for _, k := range []string{"offset", "time", "order"} {
		v.Del(k) // a tail is the newest records, from the end
	}
	q, parts, from, err := parseBrowse(v, t, offs[t.Name])
	if err != nil {
		c.tailFail(w, r, status(err), err)
		return
	}
	d := tailData{Topic: t, Q: q, Refresh: tailRefresh, Keep: tailKeep}
	next := map[int32]int64{}
	for _, p := range parts {
		next[p] = offs[t.Name][p].End
	}
	decs := c.newDecoders(r)
	if cur := v.Get("cursor"); cur != "" {
		at, err := parseCursor(cur, parts)
		if err != nil {
			c.tailFail(w, r, http.StatusBadRequest, err)
			return
		}
		budget := max(minScan, scanBudget/len(parts))
		for _, p := range parts {
			o := offs[t.Name][p]
			pos := min(max(at[p], o.Start), o.End)
			var got []message
			scanned := 0
			_, last, err := c.fetchRange(ctx, t, p, pos, o.End, func(rec log.Record) bool {
				scanned++
				if q.match(rec) {
					if len(got) == q.Limit {
						got = got[1:] // keep the newest
					}
					got = append(got, toMessage(p, rec, decs))
				}
				return scanned < budget
			})
			if err != nil {
				c.tailFail(w, r, status(err), err)
				return
			}
			next[p] = max(pos, last+1)
			d.Messages = append(d.Messages, got...)
		}
		sort.SliceStable(d.Messages, func(i, j int) bool {
			a, b := d.Messages[i], d.Messages[j]
			if a.Timestamp != b.Timestamp {
				return a.Timestamp > b.Timestamp
			}
			if a.Partition != b.Partition {
				return a.Partition < b.Partition
			}
			return a.Offset > b.Offset
		})
		if len(d.Messages) > q.Limit {
			d.Messages = d.Messages[:q.Limit]
		}
	} else {
		md := messagesData{Topic: t, Offsets: offs[t.Name], Q: q, decoders: decs}
		if err := c.browse(ctx, t, parts, from, &md); err != nil {
			c.tailFail(w, r, status(err), err)
			return
		}
		d.Messages = md.Messages
	}
	d.Cursor = formatCursor(next)
	v.Del("cursor")
	v.Del("fragment")
	d.Self = "/topics/" + pathEscape(t.Name) + "/tail"
	if enc := v.Encode(); enc != "" {
		d.Self += "?" + enc
	}
	v.Set("fragment", "1")
	d.Fragment = "/topics/" + pathEscape(t.Name) + "/tail?" + v.Encode()
	if v := r.URL.Query(); v.Get("fragment") == "1" {
		c.renderFragment(w, r, d)
		return
	}
	c.render(w, r, http.StatusOK, "tail", page{Title: "Live tail of " + t.Name, Nav: "topics", Data: d})
}

// tailFail answers a poll's error as text (console.js shows it and stops),
// and a page's as the error page.
func (c *Console) tailFail(w http.ResponseWriter, r *http.Request, code int, err error) {
	if r.URL.Query().Get("fragment") == "1" {
		c.logger.Info("console request refused", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, err.Error(), code)
		return
	}
	c.fail(w, r, code, err)
}

// renderFragment writes the new messages only, and the next cursor in
// the X-Tail-Cursor header.
func (c *Console) renderFragment(w http.ResponseWriter, r *http.Request, d tailData) {
	var buf bytes.Buffer
	if err := c.pages["tail"].ExecuteTemplate(&buf, "rows", d); err != nil {
		c.logger.Error("console: rendering failed", "page", "tail rows", "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Tail-Cursor", d.Cursor)
	w.Header().Set("X-Tail-Count", strconv.Itoa(len(d.Messages)))
	w.Write(buf.Bytes())
}

// parseCursor reads "partition:offset,..." for the partitions parts.
func parseCursor(s string, parts []int32) (map[int32]int64, error) {
	if len(s) > 64*1024 {
		return nil, badInput("the cursor is too long")
	}
	want := map[int32]bool{}
	for _, p := range parts {
		want[p] = true
	}
	out := map[int32]int64{}
	for _, f := range strings.Split(s, ",") {
		ps, os, ok := strings.Cut(f, ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(os, 10, 64)
		if !ok || err1 != nil || err2 != nil || o < 0 || !want[int32(p)] {
			return nil, badInput("cursor %q is not partition:offset pairs of this topic", s)
		}
		out[int32(p)] = o
	}
	for _, p := range parts {
		if _, ok := out[p]; !ok {
			return nil, badInput("the cursor has no offset for partition %d (partitions were added: reload the page)", p)
		}
	}
	return out, nil
}

func formatCursor(next map[int32]int64) string {
	ps := make([]int32, 0, len(next))
	for p := range next {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d", p, next[p])
	}
	return b.String()
}
