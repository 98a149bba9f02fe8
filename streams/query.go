package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Interactive queries (Kafka Streams' interactive queries with
// application.server): a worker started with QueryServer serves its
// tables over HTTP,
//
//	GET /tables/NAME/KEY
//
// where KEY is the key as its codec encodes it, as text (a string key
// itself, a JSON key its JSON), path-escaped. The answer is the value as
// JSON (200), 404 when the table has no such key (or no such table), 503
// with Retry-After while the key's partition is being restored or moving
// between workers. A worker answers for the partitions it owns, from the
// committed state of its store (not the running batch's writes), and
// forwards the request to the owner of any other key: every worker
// advertises its address in its consumer group member metadata (the
// consumer protocol's user data), and finds the owner of a partition from
// the group's members and assignments (DescribeGroups). Table.Query is the
// same from Go.
//
// A windowed table answers
//
//	GET /tables/NAME/KEY?window=START
//
// with the key's window that starts at START (Unix ms) as the JSON object
// {"window_start": MS, "window_end": MS, "value": VALUE}, and without
// ?window= with all the key's windows that have not expired, oldest first,
// as a JSON list of such objects (Kafka Streams' fetch(key, time) and
// fetch(key) of a window store); 404 when there is no such window (or the
// key has none), 400 for a START that is not an integer or a ?window= on a
// plain table. WindowedTable.Query and WindowedTable.QueryWindows are the
// same from Go.

type queryConfig struct {
	listen, advertise string
}

// QueryServer makes Run serve the app's tables over HTTP on listen (e.g.
// ":8080", or "127.0.0.1:0" for any free port), advertising advertise to
// the other workers (default: the listener's address; set it when that is
// not how other workers reach this one).
func QueryServer(listen, advertise string) Option {
	return func(c *appConfig) error {
		if listen == "" {
			return errors.New("streams: QueryServer needs a listen address")
		}
		c.query = queryConfig{listen: listen, advertise: advertise}
		return nil
	}
}

// ErrQueryUnavailable is returned by Table.Query when the key's partition
// is being restored or has no reachable owner (a rebalance is under way):
// retry later.
var ErrQueryUnavailable = errors.New("streams: table partition not queryable now")

// headerForwarded marks a query one worker forwarded to another, which
// must answer it or fail, never forward it again.
const headerForwarded = "X-Streams-Forwarded"

type queryServer struct {
	w    *worker
	ln   net.Listener
	srv  *http.Server
	addr string // advertised
	done chan struct{}
	hc   *http.Client

	mu       sync.Mutex
	owners   map[string]map[int32]string // topic -> partition -> address
	counts   map[string]int32
	ownersAt time.Time
}

// QueryAddress returns the address the running worker's query server
// advertises ("" when it has none).
func (a *App) QueryAddress() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.qsrv == nil {
		return ""
	}
	return a.qsrv.addr
}

func (w *worker) startQueryServer() error {
	qc := w.cfg.query
	if qc.listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", qc.listen)
	if err != nil {
		return fmt.Errorf("streams: query server: %w", err)
	}
	qs := &queryServer{w: w, ln: ln, addr: qc.advertise, done: make(chan struct{}),
		hc: &http.Client{Timeout: 10 * time.Second}, counts: map[string]int32{}}
	if qs.addr == "" {
		qs.addr = ln.Addr().String()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tables/{name}/{key...}", qs.serve)
	if m := w.app.metrics; m != nil {
		mux.Handle("GET /metrics", m.handler())
	}
	qs.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(qs.done)
		if err := qs.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("streams: query server stopped", "err", err)
		}
	}()
	w.app.mu.Lock()
	w.app.qsrv = qs
	w.app.mu.Unlock()
	w.log.Info("streams: serving queries", "listen", ln.Addr().String(), "advertised", qs.addr)
	return nil
}

func (w *worker) stopQueryServer() {
	w.app.mu.Lock()
	qs := w.app.qsrv
	w.app.qsrv = nil
	w.app.mu.Unlock()
	if qs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := qs.srv.Shutdown(ctx); err != nil {
		qs.srv.Close()
	}
	<-qs.done
}

// balancerOpts: an app with joins or a query server uses the range
// assignor (partition p of co-partitioned topics on one worker), and
// advertises its query address in its member metadata.
func (w *worker) balancerOpts() []kgo.Opt {
	var addr string
	w.app.mu.Lock()
	if w.app.qsrv != nil {
		addr = w.app.qsrv.addr
	}
	joins := w.app.joins != nil
	w.app.mu.Unlock()
	standbys := 0
	if w.sb != nil {
		standbys = w.cfg.standbys
	}
	if !joins && addr == "" && standbys == 0 {
		return nil
	}
	return []kgo.Opt{kgo.Balancers(&advertBalancer{GroupBalancer: kgo.RangeBalancer(), addr: addr, standbys: standbys, w: w})}
}

// advertBalancer is the range balancer whose member metadata carries the
// worker's query address as its user data, and which, with standby
// replicas, adds each member's standby partitions to its assignment.
type advertBalancer struct {
	kgo.GroupBalancer
	addr     string
	standbys int
	w        *worker
}

func (b *advertBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	mb, topics, err := b.GroupBalancer.MemberBalancer(members)
	if err != nil || b.standbys == 0 {
		return mb, topics, err
	}
	sb := &standbyMemberBalancer{GroupMemberBalancer: mb, n: b.standbys, acceptable: b.w.cfg.recoveryLag, w: b.w,
		lags: map[string]map[string]map[int32]int64{}, tables: map[string]string{}}
	for _, m := range members {
		var md kmsg.ConsumerMemberMetadata
		if md.ReadFrom(m.ProtocolMetadata) == nil {
			sb.lags[m.MemberID] = parseMemberData(md.UserData).Lags
		}
	}
	for _, tc := range b.w.tables {
		sb.tables[tc.name] = tc.source.name
	}
	return sb, topics, nil
}

func (b *advertBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	m, err := b.GroupBalancer.ParseSyncAssignment(assignment)
	if err == nil && b.w.sb != nil {
		b.w.sb.setWanted(parseStandbys(assignment))
	}
	return m, err
}

func (b *advertBalancer) JoinGroupMetadata(topics []string, cur map[string][]int32, gen int32) []byte {
	md := b.GroupBalancer.JoinGroupMetadata(topics, cur, gen)
	d := memberData{Addr: b.addr}
	if b.standbys > 0 {
		d.Lags = b.w.localLags()
	}
	if d.Addr == "" && len(d.Lags) == 0 {
		return md
	}
	var m kmsg.ConsumerMemberMetadata
	if err := m.ReadFrom(md); err != nil {
		return md
	}
	m.UserData = d.encode()
	return m.AppendTo(nil)
}

// queryAnswer is a local or forwarded lookup's outcome.
type queryAnswer struct {
	status  int           // http status
	value   []byte        // the stored value (200, plain table)
	windows []queryWindow // the windows found (200, windowed table)
	msg     string        // why not (not 200)
}

// queryWindow is one window of a windowed table's answer; Value is the
// value as the table's codec encodes it (the raw form forwarded between
// workers, as base64 in JSON).
type queryWindow struct {
	Start int64  `json:"window_start"`
	End   int64  `json:"window_end"`
	Value []byte `json:"raw"`
}

// queryKey is what a query asks: a key, and for a windowed table the
// window starting at window (hasWindow) or all the key's windows.
type queryKey struct {
	kb        []byte
	window    int64 // Unix ms
	hasWindow bool
}

func (qs *queryServer) serve(rw http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := queryKey{kb: []byte(r.PathValue("key"))}
	var ans queryAnswer
	if r.URL.Query().Has("window") {
		n, err := strconv.ParseInt(r.URL.Query().Get("window"), 10, 64)
		if err != nil {
			qs.w.log.Debug("streams: bad query", "table", name, "window", r.URL.Query().Get("window"))
			ans = queryAnswer{status: http.StatusBadRequest, msg: "window must be a window's start in Unix milliseconds"}
		}
		q.window, q.hasWindow = n, true
	}
	if ans.status == 0 {
		ans = qs.w.app.queryTable(r.Context(), qs, name, q, r.Header.Get(headerForwarded) != "")
	}
	if ans.status == http.StatusOK {
		spec := qs.w.app.tableSpec(name)
		raw := r.URL.Query().Get("raw") != ""
		var b []byte
		var err error
		switch {
		case raw && spec.windows() == nil:
			rw.Header().Set("Content-Type", "application/octet-stream")
			rw.Write(ans.value)
			return
		case raw:
			b, err = json.Marshal(ans.windows)
		case spec.windows() == nil:
			var v any
			if v, err = spec.render(ans.value); err == nil {
				b, err = json.Marshal(v)
			}
		default:
			b, err = renderWindows(spec, ans.windows, q.hasWindow)
		}
		if err == nil {
			rw.Header().Set("Content-Type", "application/json")
			rw.Write(b)
			return
		}
		ans = queryAnswer{status: http.StatusInternalServerError, msg: fmt.Sprintf("stored value: %v", err)}
	}
	if ans.status == http.StatusServiceUnavailable {
		rw.Header().Set("Retry-After", "1")
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(ans.status)
	json.NewEncoder(rw).Encode(map[string]string{"error": ans.msg})
}

// renderWindows is a windowed table's JSON answer: the one window asked
// for (one), or the list of the key's windows.
func renderWindows(spec *tableSpec, ws []queryWindow, one bool) ([]byte, error) {
	type window struct {
		Start int64 `json:"window_start"`
		End   int64 `json:"window_end"`
		Value any   `json:"value"`
	}
	out := make([]window, 0, len(ws))
	for _, w := range ws {
		v, err := spec.render(w.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, window{w.Start, w.End, v})
	}
	if one && len(out) == 1 {
		return json.Marshal(out[0])
	}
	return json.Marshal(out)
}

// windows returns the windowed table's windows (nil: not a windowed
// table, or no table).
func (s *tableSpec) windows() *windowCore {
	if s == nil {
		return nil
	}
	wc, _ := s.core.ext.(*windowCore)
	return wc
}

func (a *App) tableSpec(name string) *tableSpec {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.tables {
		if t.name == name {
			return t
		}
	}
	return nil
}

// queryTable answers a lookup of kb in table name: locally when this
// worker owns its partition, else from the owner (unless forwarded).
func (a *App) queryTable(ctx context.Context, qs *queryServer, name string, q queryKey, forwarded bool) queryAnswer {
	spec := a.tableSpec(name)
	if spec == nil {
		return queryAnswer{status: http.StatusNotFound, msg: fmt.Sprintf("no table %q", name)}
	}
	wc := spec.windows()
	if q.hasWindow && wc == nil {
		return queryAnswer{status: http.StatusBadRequest, msg: fmt.Sprintf("table %s is not windowed", name)}
	}
	kb := q.kb
	a.mu.Lock()
	w := a.w
	a.mu.Unlock()
	if w == nil {
		return queryAnswer{status: http.StatusServiceUnavailable, msg: "the app is not running"}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var n int32
	var err error
	if qs != nil {
		n, err = qs.partitionCount(ctx, spec.source.name)
	} else {
		n, err = w.partitionCount(ctx, spec.source.name)
	}
	if err != nil {
		return queryAnswer{status: http.StatusServiceUnavailable, msg: err.Error()}
	}
	p := partitionOf(spec.source.name, kb, n)
	tc := spec.core
	tc.mu.Lock()
	tp, pending := tc.parts[p], tc.pending[p]
	var st store
	if tp != nil {
		st = tp.st
	}
	var ans queryAnswer
	if st != nil {
		// Under the lock: revoke closes the store under it.
		if wc != nil {
			ans, err = wc.query(st, q)
		} else {
			ans, err = plainQuery(st, kb)
		}
	}
	tc.mu.Unlock()
	switch {
	case st != nil && err != nil:
		w.log.Warn("streams: query failed", "table", name, "partition", p, "err", err)
		return queryAnswer{status: http.StatusInternalServerError, msg: err.Error()}
	case st != nil:
		return ans
	case pending:
		return queryAnswer{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("table %s partition %d is being restored", name, p)}
	case forwarded || qs == nil:
		return queryAnswer{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("table %s partition %d is not owned by this worker", name, p)}
	}
	return qs.forward(ctx, spec, p, name, q)
}

// plainQuery looks kb up in a plain table's store.
func plainQuery(st store, kb []byte) (queryAnswer, error) {
	v, ok, err := st.get(kb)
	switch {
	case err != nil:
		return queryAnswer{}, err
	case !ok:
		return queryAnswer{status: http.StatusNotFound, msg: "key not found"}, nil
	}
	return queryAnswer{status: http.StatusOK, value: v}, nil
}

// partitionOf is the partition the app's producers (Kafka's default
// partitioner, murmur2 of the key) send kb to.
func partitionOf(topic string, kb []byte, n int32) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic(topic).Partition(&kgo.Record{Key: kb}, int(n)))
}

func (qs *queryServer) partitionCount(ctx context.Context, topic string) (int32, error) {
	qs.mu.Lock()
	n := qs.counts[topic]
	qs.mu.Unlock()
	if n > 0 {
		return n, nil
	}
	n, err := qs.w.partitionCount(ctx, topic)
	if err == nil {
		qs.mu.Lock()
		qs.counts[topic] = n
		qs.mu.Unlock()
	}
	return n, err
}

// owner returns the advertised address of the worker assigned partition p
// of topic, from the group's description (cached; refresh forces a new
// one).
func (qs *queryServer) owner(ctx context.Context, topic string, p int32, refresh bool) (string, error) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if refresh || qs.owners == nil || time.Since(qs.ownersAt) > 30*time.Second {
		kt, ok := qs.w.tr.(*kafkaTransport)
		if !ok {
			return "", errors.New("no group to ask")
		}
		dgs, err := kadm.NewClient(kt.cl).DescribeGroups(ctx, qs.w.app.id)
		if err == nil {
			err = dgs.Error()
		}
		if err != nil {
			return "", fmt.Errorf("describing group %s: %w", qs.w.app.id, err)
		}
		owners := map[string]map[int32]string{}
		for _, m := range dgs[qs.w.app.id].Members {
			md, ok1 := m.Join.AsConsumer()
			as, ok2 := m.Assigned.AsConsumer()
			addr := parseMemberData(md.UserData).Addr
			if !ok1 || !ok2 || addr == "" {
				continue
			}
			for _, t := range as.Topics {
				if owners[t.Topic] == nil {
					owners[t.Topic] = map[int32]string{}
				}
				for _, ap := range t.Partitions {
					owners[t.Topic][ap] = addr
				}
			}
		}
		qs.owners, qs.ownersAt = owners, time.Now()
	}
	return qs.owners[topic][p], nil
}

// forward asks the owner of partition p, refreshing the owners once when
// the cached one is unknown, this worker, or unreachable.
func (qs *queryServer) forward(ctx context.Context, spec *tableSpec, p int32, name string, q queryKey) queryAnswer {
	var last string
	for attempt := range 2 {
		addr, err := qs.owner(ctx, spec.source.name, p, attempt > 0)
		if err != nil {
			last = err.Error()
			continue
		}
		if addr == "" || addr == qs.addr {
			last = fmt.Sprintf("table %s partition %d has no other owner", name, p)
			continue
		}
		u := "http://" + addr + "/tables/" + url.PathEscape(name) + "/" + url.PathEscape(string(q.kb)) + "?raw=1"
		if q.hasWindow {
			u += "&window=" + strconv.FormatInt(q.window, 10)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return queryAnswer{status: http.StatusInternalServerError, msg: err.Error()}
		}
		req.Header.Set(headerForwarded, "1")
		resp, err := qs.hc.Do(req)
		if err != nil {
			last = err.Error()
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			last = err.Error()
			continue
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if spec.windows() == nil {
				return queryAnswer{status: http.StatusOK, value: body}
			}
			var ws []queryWindow
			if err := json.Unmarshal(body, &ws); err != nil {
				return queryAnswer{status: http.StatusBadGateway, msg: fmt.Sprintf("owner %s: windows: %v", addr, err)}
			}
			return queryAnswer{status: http.StatusOK, windows: ws}
		case http.StatusNotFound:
			return queryAnswer{status: http.StatusNotFound, msg: "key not found"}
		case http.StatusBadRequest:
			return queryAnswer{status: http.StatusBadRequest, msg: fmt.Sprintf("owner %s: %s", addr, bytes.TrimSpace(body))}
		}
		last = fmt.Sprintf("owner %s answered %d: %s", addr, resp.StatusCode, bytes.TrimSpace(body))
	}
	qs.w.log.Debug("streams: query not answerable", "table", name, "partition", p, "why", last)
	return queryAnswer{status: http.StatusServiceUnavailable, msg: last}
}

// Query returns the value of key in the table, wherever it lives: from
// this worker's store when it owns the key's partition (its committed
// state), else from the owning worker over HTTP (the app must run with
// QueryServer). found is false for a missing key; ErrQueryUnavailable
// means the partition is being restored or moving: retry.
func (t *Table[K, V]) Query(ctx context.Context, key K) (value V, found bool, err error) {
	kb, err := t.key.Encode(key)
	if err != nil {
		return value, false, fmt.Errorf("streams: table %s: key: %w", t.spec.name, err)
	}
	a := t.spec.core.app
	a.mu.Lock()
	qs := a.qsrv
	a.mu.Unlock()
	ans := a.queryTable(ctx, qs, t.spec.name, queryKey{kb: kb}, false)
	switch ans.status {
	case http.StatusOK:
		v, err := t.value.Decode(ans.value)
		if err != nil {
			return value, false, fmt.Errorf("streams: table %s: stored value: %w", t.spec.name, err)
		}
		return v, true, nil
	case http.StatusNotFound:
		return value, false, nil
	case http.StatusServiceUnavailable:
		return value, false, fmt.Errorf("%w: %s", ErrQueryUnavailable, ans.msg)
	}
	return value, false, fmt.Errorf("streams: table %s: query: %s", t.spec.name, ans.msg)
}
