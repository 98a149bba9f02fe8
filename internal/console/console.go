// Package console is Sluice's web console: server-rendered HTML pages
// (html/template, with the templates, CSS and a little optional JavaScript
// embedded) for looking at and operating the broker: an overview with
// request-rate charts, topics (list, search, partitions with offsets and
// sizes, configs, create, delete, config edit, add partitions, delete
// records), messages (browse from an offset or a time, filter by key,
// value, header and time, values decoded through the schema registry,
// produce, live tail), consumer groups (members, lag in records and
// seconds, lag history charts, offset reset, delete), schemas (registry
// subjects, versions and diffs, compatibility, register and check),
// transactions and producers, and security (SCRAM users, ACLs, quotas).
//
// The broker mounts it at / on its operations listener (internal/broker,
// console.go and http.go), behind the listener's authentication. The
// console reads and changes state only through a Backend, which serves
// Kafka requests (and the schema registry's REST API) in-process as the
// request's authenticated principal: a
// user sees and does in the console exactly what the ACLs let them see and
// do over Kafka, and validation errors are Kafka's (shown on the page).
//
// Every page reads without JavaScript. Every change is a POST form,
// protected against cross-site request forgery by net/http's
// CrossOriginProtection (Sec-Fetch-Site / Origin checks); GET requests
// never change anything. Bad input (malformed values, an oversized filter,
// an offset past the end, a topic deleted while browsed) is answered with
// the page and a clear message, with a 4xx status.
//
// The Console owns one goroutine, which samples group lag and request
// counters for the charts (lagchart.go, rates.go); Close stops it.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures New.
type Options struct {
	Backend Backend
	Logger  *slog.Logger
	Now     func() time.Time // the clock; time.Now when nil
	// LagSampleEvery is how often the lag history is sampled; 0 is every
	// 30 s, negative turns the sampler off (tests sample by hand).
	LagSampleEvery time.Duration
}

// Console is the console's http.Handler.
type Console struct {
	be     Backend
	logger *slog.Logger
	now    func() time.Time
	pages  map[string]*template.Template
	h      http.Handler

	lag       lagHistory
	reqs      reqHistory
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// maxFormBytes bounds a POSTed form (a produced message included).
const maxFormBytes = 2 << 20

// New is a console over opts.Backend.
func New(opts Options) *Console {
	c := &Console{be: opts.Backend, logger: opts.Logger, now: opts.Now, pages: map[string]*template.Template{},
		lag: lagHistory{groups: map[string]*lagRing{}}}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err) // a fixed pattern
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		c.pages[base] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", c.overview)
	mux.HandleFunc("GET /topics", c.topics)
	mux.HandleFunc("POST /topics", c.createTopic)
	mux.HandleFunc("GET /topics/{topic}", c.topic)
	mux.HandleFunc("POST /topics/{topic}/delete", c.deleteTopic)
	mux.HandleFunc("POST /topics/{topic}/config", c.alterConfig)
	mux.HandleFunc("POST /topics/{topic}/partitions", c.addPartitions)
	mux.HandleFunc("POST /topics/{topic}/delete-records", c.deleteRecords)
	mux.HandleFunc("GET /topics/{topic}/messages", c.messages)
	mux.HandleFunc("POST /topics/{topic}/produce", c.produce)
	mux.HandleFunc("GET /topics/{topic}/tail", c.tail)
	mux.HandleFunc("GET /schemas", c.schemas)
	mux.HandleFunc("POST /schemas", c.register)
	mux.HandleFunc("GET /schemas/{subject}", c.subject)
	mux.HandleFunc("POST /schemas/{subject}/register", c.register)
	mux.HandleFunc("POST /schemas/{subject}/check", c.checkCompat)
	mux.HandleFunc("POST /schemas/{subject}/config", c.setCompat)
	mux.HandleFunc("GET /security", c.security)
	mux.HandleFunc("POST /security/users", c.upsertUser)
	mux.HandleFunc("POST /security/users/delete", c.deleteUser)
	mux.HandleFunc("POST /security/acls", c.createACL)
	mux.HandleFunc("POST /security/acls/delete", c.deleteACL)
	mux.HandleFunc("POST /security/quotas", c.setQuota)
	mux.HandleFunc("GET /transactions", c.transactions)
	mux.HandleFunc("GET /groups", c.groups)
	mux.HandleFunc("GET /groups/{group}", c.group)
	mux.HandleFunc("POST /groups/{group}/reset", c.resetOffsets)
	mux.HandleFunc("POST /groups/{group}/delete", c.deleteGroup)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, fmt.Errorf("no page at %s", r.URL.Path))
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.logger.Warn("cross-origin form post refused", "path", r.URL.Path, "origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		c.fail(w, r, http.StatusForbidden, errors.New("cross-origin request refused: forms must be posted from the console's own pages"))
	}))
	c.h = cop.Handler(mux)
	if every := opts.LagSampleEvery; every >= 0 {
		if every == 0 {
			every = lagSampleEvery
		}
		c.stop, c.done = make(chan struct{}), make(chan struct{})
		go c.runSampler(every, c.stop, c.done)
	}
	return c
}

// Close stops the console's lag sampler and waits for it. The handler
// keeps serving (without new samples).
func (c *Console) Close() {
	c.closeOnce.Do(func() {
		if c.stop != nil {
			close(c.stop)
			<-c.done
		}
	})
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	}
	c.h.ServeHTTP(w, r)
}

func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string // the highlighted menu entry
	Notice string // a success message (after a redirect)
	Error  string // what went wrong
	Data   any
}

// render writes the named page with status.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := c.pages[name]
	if !ok {
		c.logger.Error("console: no template", "name", name)
		http.Error(w, "internal error: no template "+name, http.StatusInternalServerError)
		return
	}
	if p.Notice == "" {
		p.Notice = r.URL.Query().Get("notice")
	}
	if status >= 400 {
		level := slog.LevelInfo
		if status >= 500 && status != http.StatusServiceUnavailable {
			level = slog.LevelError
		}
		c.logger.Log(r.Context(), level, "console request refused", "method", r.Method, "path", r.URL.Path, "status", status, "error", p.Error)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		c.logger.Error("console: rendering failed", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail renders the error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	c.render(w, r, status, "error", page{Title: http.StatusText(status), Error: err.Error()})
}

// redirect answers a successful POST (post/redirect/get) with a notice.
func redirect(w http.ResponseWriter, r *http.Request, path, notice string) {
	path, frag, _ := strings.Cut(path, "#")
	if notice != "" {
		path += "?notice=" + url.QueryEscape(notice)
	}
	if frag != "" {
		path += "#" + frag
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// errBadInput marks an error in the user's input (400).
var errBadInput = errors.New("bad input")

// badInput is a 400 error with a message.
func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadInput, fmt.Sprintf(format, args...))
}

// kafkaError is a Kafka error code (and message) of a response.
type kafkaError struct {
	err *kerr.Error
	msg string
}

func (e *kafkaError) Error() string {
	if e.msg != "" && e.msg != e.err.Description {
		return fmt.Sprintf("%s: %s", e.err.Message, e.msg)
	}
	return fmt.Sprintf("%s: %s", e.err.Message, e.err.Description)
}

func (e *kafkaError) Unwrap() error { return e.err }

// codeErr is the error of a response's code, nil for 0.
func codeErr(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	ke, ok := kerr.ErrorForCode(code).(*kerr.Error)
	if !ok {
		ke = kerr.UnknownServerError
	}
	e := &kafkaError{err: ke}
	if msg != nil {
		e.msg = *msg
	}
	return e
}

// status maps an error to the page's HTTP status.
func status(err error) int {
	var ke *kafkaError
	var re *registryErr
	switch {
	case errors.Is(err, errBadInput):
		return http.StatusBadRequest
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.As(err, &ke):
		switch ke.err {
		case kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed:
			return http.StatusForbidden
		case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID, kerr.GroupIDNotFound:
			return http.StatusNotFound
		case kerr.NonEmptyGroup, kerr.TopicAlreadyExists, kerr.UnstableOffsetCommit, kerr.UnknownMemberID, kerr.IllegalGeneration:
			return http.StatusConflict
		}
		if ke.err.Retriable {
			return http.StatusServiceUnavailable
		}
		return http.StatusBadRequest
	case errors.As(err, &re):
		switch s := re.err.StatusCode; {
		case s == http.StatusUnprocessableEntity:
			return http.StatusBadRequest
		case s >= 400 && s < 500:
			return s
		}
		return http.StatusBadGateway
	case errors.Is(err, ErrNoRegistry):
		return http.StatusNotFound
	case errors.Is(err, ErrNotReady), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errNotFound is a page about something that does not exist.
var errNotFound = errors.New("not found")

// call sends req through the backend and checks the response's type.
func call[R kmsg.Response](ctx context.Context, be Backend, req kmsg.Request) (R, error) {
	var zero R
	resp, err := be.Request(ctx, req)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", kmsg.NameForKey(req.Key()), err)
	}
	out, ok := resp.(R)
	if !ok {
		return zero, fmt.Errorf("%s: unexpected response %T", kmsg.NameForKey(req.Key()), resp)
	}
	return out, nil
}

var funcs = template.FuncMap{
	"bytes": humanBytes,
	"time":  func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000Z") },
	"rfc3339": func(ms int64) string {
		return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
	},
	"path": url.PathEscape,
	"inc":  func(n int) int { return n + 1 },
	"ops": func() []string {
		return []string{"ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"}
	},
	"txnStates": func() []string {
		return []string{"Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Empty", "Dead", "PrepareEpochFence"}
	},
	"resourceTypes": func() []string { return []string{"TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID"} },
	"query":         url.QueryEscape,
}

// humanBytes is n in binary units.
func humanBytes(n int64) string {
	if n < 0 {
		return "—"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
