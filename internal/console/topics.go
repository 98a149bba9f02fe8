package console

// The overview and the topic pages: list and search, a topic's partitions
// and configs, create, delete and config edit.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxSearch bounds search and filter strings.
const maxSearch = 256

type overviewData struct {
	Info           Info
	Topics         int
	InternalTopics int
	Partitions     int
	Groups         int
	GroupsErr      string
	Dirs           []logDir
	DirsAllowed    bool
	Rates          []lagChart
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	topics, err := c.metadata(ctx, nil)
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	d := overviewData{Info: c.be.Info(), Rates: c.rateCharts(c.now())}
	for _, t := range topics {
		if t.Internal {
			d.InternalTopics++
		} else {
			d.Topics++
		}
		d.Partitions += len(t.Partitions)
	}
	if d.Dirs, _, d.DirsAllowed, err = c.logDirs(ctx, []topicInfo{}); err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	if gs, err := c.listGroups(ctx); err != nil {
		d.GroupsErr = err.Error()
	} else {
		d.Groups = len(gs)
	}
	c.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: d})
}

type topicsData struct {
	Query   string
	Topics  []topicInfo
	Total   int
	SizesOK bool
	Form    createForm
}

type createForm struct {
	Name, Partitions, Replication, Configs string
}

func (c *Console) topics(w http.ResponseWriter, r *http.Request) {
	c.topicsPage(w, r, http.StatusOK, createForm{}, "")
}

func (c *Console) topicsPage(w http.ResponseWriter, r *http.Request, code int, form createForm, errMsg string) {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxSearch {
		code, errMsg, q = http.StatusBadRequest, fmt.Sprintf("the search is longer than %d characters", maxSearch), ""
	}
	all, err := c.metadata(ctx, nil)
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	d := topicsData{Query: q, Total: len(all), Form: form}
	for _, t := range all {
		if q == "" || strings.Contains(strings.ToLower(t.Name), strings.ToLower(q)) {
			d.Topics = append(d.Topics, t)
		}
	}
	if len(d.Topics) > 0 {
		_, sizes, ok, err := c.logDirs(ctx, d.Topics)
		if err != nil {
			c.fail(w, r, status(err), err)
			return
		}
		d.SizesOK = ok
		for i := range d.Topics {
			if ok {
				var sum int64
				for _, s := range sizes[d.Topics[i].Name] {
					sum += s
				}
				d.Topics[i].Size = sum
			}
		}
	}
	c.render(w, r, code, "topics", page{Title: "Topics", Nav: "topics", Error: errMsg, Data: d})
}

// createTopic creates a topic from the form: name, partitions and
// replication factor (empty: the broker's defaults) and configs, one
// name=value a line.
func (c *Console) createTopic(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.topicsPage(w, r, http.StatusBadRequest, createForm{}, "malformed form: "+err.Error())
		return
	}
	form := createForm{Name: strings.TrimSpace(r.PostFormValue("name")), Partitions: strings.TrimSpace(r.PostFormValue("partitions")),
		Replication: strings.TrimSpace(r.PostFormValue("replication")), Configs: r.PostFormValue("configs")}
	err := func() error {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 30000
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic = form.Name
		if form.Name == "" {
			return badInput("a topic name is required")
		}
		var err error
		if t.NumPartitions, err = optInt32(form.Partitions, "partitions"); err != nil {
			return err
		}
		rf, err := optInt32(form.Replication, "replication factor")
		if err != nil {
			return err
		}
		t.ReplicationFactor = int16(rf)
		if rf != int32(t.ReplicationFactor) {
			return badInput("replication factor %d is out of range", rf)
		}
		for i, line := range strings.Split(form.Configs, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, value, ok := strings.Cut(line, "=")
			if !ok {
				return badInput("config line %d %q is not name=value", i+1, line)
			}
			cfg := kmsg.NewCreateTopicsRequestTopicConfig()
			cfg.Name, cfg.Value = strings.TrimSpace(name), kmsg.StringPtr(strings.TrimSpace(value))
			t.Configs = append(t.Configs, cfg)
		}
		req.Topics = append(req.Topics, t)
		resp, err := call[*kmsg.CreateTopicsResponse](r.Context(), c.be, req)
		if err != nil {
			return err
		}
		if len(resp.Topics) != 1 {
			return fmt.Errorf("CreateTopics: %d topics in the response", len(resp.Topics))
		}
		return codeErr(resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage)
	}()
	if err != nil {
		c.topicsPage(w, r, status(err), form, fmt.Sprintf("Creating topic %q failed: %v", form.Name, err))
		return
	}
	redirect(w, r, "/topics/"+pathEscape(form.Name), fmt.Sprintf("Created topic %s.", form.Name))
}

// optInt32 parses an optional count (empty: -1, the broker's default).
func optInt32(s, what string) (int32, error) {
	if s == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || (n < 1 && n != -1) {
		return 0, badInput("%s %q is not a positive number", what, s)
	}
	return int32(n), nil
}

type partitionRow struct {
	Partition  int32
	Start, End int64
	Size       int64
}

type topicData struct {
	Topic      topicInfo
	Partitions []partitionRow
	Records    int64
	SizesOK    bool
	Configs    []configEntry
	ConfigsErr string
	EditName   string
	EditValue  string
}

func (c *Console) topic(w http.ResponseWriter, r *http.Request) {
	c.topicPage(w, r, http.StatusOK, "", "", "")
}

func (c *Console) topicPage(w http.ResponseWriter, r *http.Request, code int, errMsg, editName, editValue string) {
	ctx := r.Context()
	name := r.PathValue("topic")
	t, err := c.topicMeta(ctx, name)
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	offs, err := c.listOffsets(ctx, map[string][]int32{t.Name: t.Partitions})
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	_, sizes, ok, err := c.logDirs(ctx, []topicInfo{t})
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	d := topicData{Topic: t, SizesOK: ok, EditName: editName, EditValue: editValue}
	for _, p := range t.Partitions {
		o := offs[t.Name][p]
		row := partitionRow{Partition: p, Start: o.Start, End: o.End, Size: -1}
		if ok {
			row.Size = sizes[t.Name][p]
		}
		d.Records += o.End - o.Start
		d.Partitions = append(d.Partitions, row)
	}
	if d.Configs, err = c.topicConfigs(ctx, t.Name); err != nil {
		d.ConfigsErr = err.Error()
	}
	c.render(w, r, code, "topic", page{Title: "Topic " + t.Name, Nav: "topics", Error: errMsg, Data: d})
}

// deleteTopic deletes the topic once the form's confirm field repeats its
// name.
func (c *Console) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if err := r.ParseForm(); err != nil {
		c.topicPage(w, r, http.StatusBadRequest, "malformed form: "+err.Error(), "", "")
		return
	}
	if r.PostFormValue("confirm") != name {
		c.topicPage(w, r, http.StatusBadRequest, fmt.Sprintf("Not deleted: type the topic's name %q to confirm.", name), "", "")
		return
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 30000
	req.TopicNames = []string{name}
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(name)
	req.Topics = append(req.Topics, rt)
	resp, err := call[*kmsg.DeleteTopicsResponse](r.Context(), c.be, req)
	if err == nil {
		if len(resp.Topics) != 1 {
			err = fmt.Errorf("DeleteTopics: %d topics in the response", len(resp.Topics))
		} else {
			err = codeErr(resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage)
		}
	}
	if err != nil {
		err = fmt.Errorf("deleting topic %q: %w", name, err)
		if errors.Is(err, errNotFound) || status(err) == http.StatusNotFound {
			c.fail(w, r, status(err), err)
			return
		}
		c.topicPage(w, r, status(err), err.Error(), "", "")
		return
	}
	redirect(w, r, "/topics", fmt.Sprintf("Deleted topic %s.", name))
}

// alterConfig sets (or, with the reset button, removes) one topic config
// with IncrementalAlterConfigs, Kafka validating the value.
func (c *Console) alterConfig(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if err := r.ParseForm(); err != nil {
		c.topicPage(w, r, http.StatusBadRequest, "malformed form: "+err.Error(), "", "")
		return
	}
	cfgName := strings.TrimSpace(r.PostFormValue("name"))
	value := strings.TrimSpace(r.PostFormValue("value"))
	reset := r.PostFormValue("op") == "reset"
	if cfgName == "" {
		c.topicPage(w, r, http.StatusBadRequest, "a config name is required", cfgName, value)
		return
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
	rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	rc.Name = cfgName
	if reset {
		rc.Op = kmsg.IncrementalAlterConfigOpDelete
	} else {
		rc.Op, rc.Value = kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(value)
	}
	rr.Configs = append(rr.Configs, rc)
	req.Resources = append(req.Resources, rr)
	resp, err := call[*kmsg.IncrementalAlterConfigsResponse](r.Context(), c.be, req)
	if err == nil {
		if len(resp.Resources) != 1 {
			err = fmt.Errorf("IncrementalAlterConfigs: %d resources in the response", len(resp.Resources))
		} else {
			err = codeErr(resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage)
		}
	}
	if err != nil {
		if status(err) == http.StatusNotFound {
			c.fail(w, r, http.StatusNotFound, fmt.Errorf("topic %q: %w", name, err))
			return
		}
		c.topicPage(w, r, status(err), fmt.Sprintf("Config %s not changed: %v", cfgName, err), cfgName, value)
		return
	}
	notice := fmt.Sprintf("Set %s=%s.", cfgName, value)
	if reset {
		notice = fmt.Sprintf("Reset %s to its default.", cfgName)
	}
	redirect(w, r, "/topics/"+pathEscape(name)+"#configs", notice)
}

// pathEscape escapes a topic or group name for a path.
func pathEscape(s string) string { return url.PathEscape(s) }

// Records is the number of offsets between the partition's start and end.
func (p partitionRow) Records() int64 { return p.End - p.Start }
