package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/auth"
)

// Content types the API reads and writes (Confluent's, newest last).
const (
	ctV1      = "application/vnd.schemaregistry.v1+json"
	ctGeneric = "application/vnd.schemaregistry+json"
	ctJSON    = "application/json"
)

// Handler is the HTTP API (Confluent's REST API v7/v8 paths).
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	paths := http.NewServeMux() // every route's path, any method: tells 405 from 404
	seen := map[string]bool{}
	h := func(pattern string, fn func(*call) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) { r.serve(w, req, fn) })
		if _, path, ok := strings.Cut(pattern, " "); ok && !seen[path] {
			seen[path] = true
			paths.HandleFunc(path, http.NotFound)
		}
	}
	h("GET /{$}", func(*call) (any, error) { return struct{}{}, nil })
	h("GET /subjects", r.listSubjects)
	h("GET /subjects/{subject}/versions", r.listVersions)
	h("POST /subjects/{subject}/versions", r.register)
	h("GET /subjects/{subject}/versions/{version}", r.getVersion)
	h("GET /subjects/{subject}/versions/{version}/schema", r.getVersionSchema)
	h("GET /subjects/{subject}/versions/{version}/referencedby", r.referencedBy)
	h("DELETE /subjects/{subject}/versions/{version}", r.deleteVersion)
	h("POST /subjects/{subject}", r.lookup)
	h("DELETE /subjects/{subject}", r.deleteSubject)
	h("GET /schemas", r.listSchemas)
	h("GET /schemas/types", func(*call) (any, error) { return []string{TypeJSON, TypeProtobuf, TypeAvro}, nil })
	h("GET /schemas/ids/{id}", r.schemaByID)
	h("GET /schemas/ids/{id}/schema", r.schemaTextByID)
	h("GET /schemas/ids/{id}/subjects", r.subjectsByID)
	h("GET /schemas/ids/{id}/versions", r.versionsByID)
	h("POST /compatibility/subjects/{subject}/versions/{version}", r.compatibility)
	h("POST /compatibility/subjects/{subject}/versions", r.compatibility)
	h("GET /config", r.getConfig)
	h("PUT /config", r.putConfig)
	h("DELETE /config", r.deleteConfig)
	h("GET /config/{subject}", r.getConfig)
	h("PUT /config/{subject}", r.putConfig)
	h("DELETE /config/{subject}", r.deleteConfig)
	h("GET /mode", r.getMode)
	h("PUT /mode", r.putMode)
	h("DELETE /mode", r.deleteMode)
	h("GET /mode/{subject}", r.getMode)
	h("PUT /mode/{subject}", r.putMode)
	h("DELETE /mode/{subject}", r.deleteMode)
	h("GET /contexts", func(*call) (any, error) { return []string{"."}, nil })
	// Everything else, including a known path with another method.
	h("/", func(c *call) (any, error) {
		if _, pat := paths.Handler(c.req); pat != "" {
			return nil, newErr(codeMethodNotAllowed, fmt.Sprintf("HTTP 405 Method Not Allowed: %s %s", c.req.Method, c.req.URL.Path))
		}
		return nil, newErr(codeNotFound, fmt.Sprintf("HTTP 404 Not Found: %s %s", c.req.Method, c.req.URL.Path))
	})
	return mux
}

// call is one request being served.
type call struct {
	req  *http.Request
	subj auth.Subject
	raw  bool // write the result as text/plain bytes (the /schema endpoints)
}

func (c *call) subject() string { return c.req.PathValue("subject") }

func (c *call) flag(name string) bool {
	v, _ := strconv.ParseBool(c.req.URL.Query().Get(name))
	return v
}

// serve authenticates, runs fn and writes its result or error.
func (r *Registry) serve(w http.ResponseWriter, req *http.Request, fn func(*call) (any, error)) {
	c := &call{req: req, subj: auth.Subject{Principal: auth.Anonymous}}
	if ap, err := netip.ParseAddrPort(req.RemoteAddr); err == nil {
		c.subj.Host = ap.Addr().Unmap()
	} else if host, _, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		c.subj.Host, _ = netip.ParseAddr(host)
	}
	ct := responseType(req.Header.Get("Accept"))
	var out any
	var err error
	defer func() {
		// A bug must not leak a stack trace to the client nor kill the
		// connection without an answer: log it, answer 50001.
		if p := recover(); p != nil {
			r.log.Error("schema registry handler panicked", "method", req.Method, "path", req.URL.Path, "panic", p, "stack", string(debug.Stack()))
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(newErr(codeStoreError, "Internal error"))
		}
	}()
	if r.cfg.Authenticate != nil {
		var p auth.Principal
		if p, err = r.cfg.Authenticate(req); err != nil {
			r.log.Info("schema registry authentication failed", "remote", req.RemoteAddr, "err", err)
			w.Header().Set("WWW-Authenticate", `Basic realm="sluice"`)
			err = newErr(codeUnauthorized, "Unauthorized")
		}
		c.subj.Principal = p
	}
	if err == nil {
		out, err = fn(c)
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			r.log.Error("schema registry request failed", "method", req.Method, "path", req.URL.Path, "err", err)
			ae = newErr(codeStoreError, "Error in the backend data store")
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(ae.status)
		_ = json.NewEncoder(w).Encode(ae)
		return
	}
	if c.raw {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(out.(string)))
		return
	}
	w.Header().Set("Content-Type", ct)
	_ = json.NewEncoder(w).Encode(out)
}

// responseType picks the first Accept type the API writes; v1 by default.
func responseType(accept string) string {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case ctV1, ctGeneric, ctJSON:
			return mt
		}
	}
	return ctV1
}

// decode reads a JSON body: the content type must be one the API takes
// (or none), the size at most MaxBodyBytes.
func (r *Registry) decode(c *call, v any) error {
	if ct := c.req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != ctV1 && mt != ctGeneric && mt != ctJSON && mt != "application/octet-stream") {
			return newErr(codeUnsupportedContentType, fmt.Sprintf("HTTP 415 Unsupported Media Type: %q", ct))
		}
	}
	body := http.MaxBytesReader(nil, c.req.Body, r.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newErr(codeTooLarge, fmt.Sprintf("Request body larger than %d bytes", r.cfg.MaxBodyBytes))
		}
		return newErr(codeBadRequest, fmt.Sprintf("Malformed JSON body: %v", err))
	}
	if dec.More() {
		return newErr(codeBadRequest, "Malformed JSON body: trailing data")
	}
	return nil
}

// --- authorization (acl.go documents the resource choice) ---

func (r *Registry) allowed(c *call, op auth.Operation, subject string) bool {
	return r.cfg.Authorizer.Authorize(c.subj, op, subjectResource(subject))
}

func (r *Registry) require(c *call, op auth.Operation, subject string) error {
	if r.allowed(c, op, subject) {
		return nil
	}
	return newErr(codeForbidden, fmt.Sprintf("User %s is denied operation %s on subject %s", c.subj.Principal, opName(op), subject))
}

func (r *Registry) requireCluster(c *call, op auth.Operation) error {
	if r.cfg.Authorizer.Authorize(c.subj, op, auth.Cluster()) {
		return nil
	}
	return newErr(codeForbidden, fmt.Sprintf("User %s is denied operation %s on the global configuration", c.subj.Principal, opName(op)))
}

// --- subjects ---

func (r *Registry) listSubjects(c *call) (any, error) {
	prefix := c.req.URL.Query().Get("subjectPrefix")
	r.mu.RLock()
	names := r.st.subjectNames(c.flag("deleted"))
	r.mu.RUnlock()
	out := []string{}
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && r.allowed(c, auth.OpDescribe, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (r *Registry) listVersions(c *call) (any, error) {
	s := c.subject()
	if err := r.require(c, auth.OpRead, s); err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	ss := r.st.subjects[s]
	l := ss.list(c.flag("deleted"))
	if len(l) == 0 {
		return nil, newErr(codeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", s))
	}
	out := make([]int, len(l))
	for i, e := range l {
		out[i] = e.version
	}
	return out, nil
}

func (r *Registry) register(c *call) (any, error) {
	s := c.subject()
	if err := r.require(c, auth.OpWrite, s); err != nil {
		return nil, err
	}
	var req SchemaRequest
	if err := r.decode(c, &req); err != nil {
		return nil, err
	}
	id, err := r.Register(s, req, c.flag("normalize"))
	if err != nil {
		return nil, err
	}
	return map[string]int{"id": id}, nil
}

func (r *Registry) getVersion(c *call) (any, error) {
	s := c.subject()
	if err := r.require(c, auth.OpRead, s); err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, err := r.findVersion(s, c.req.PathValue("version"), c.flag("deleted"))
	if err != nil {
		return nil, err
	}
	info := r.info(e)
	if info.Schema, err = r.formatted(c, r.st.ids[e.id]); err != nil {
		return nil, err
	}
	return info, nil
}

func (r *Registry) getVersionSchema(c *call) (any, error) {
	s := c.subject()
	if err := r.require(c, auth.OpRead, s); err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, err := r.findVersion(s, c.req.PathValue("version"), c.flag("deleted"))
	if err != nil {
		return nil, err
	}
	c.raw = true
	return r.formatted(c, r.st.ids[e.id])
}

func (r *Registry) referencedBy(c *call) (any, error) {
	s := c.subject()
	if err := r.require(c, auth.OpRead, s); err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, err := r.findVersion(s, c.req.PathValue("version"), c.flag("deleted"))
	if err != nil {
		return nil, err
	}
	out := r.st.referencedBy(s, e.version)
	if out == nil {
		out = []int{}
	}
	return out, nil
}

func (r *Registry) deleteVersion(c *call) (any, error) {
	s := c.subject()
	if err := r.require(c, auth.OpDelete, s); err != nil {
		return nil, err
	}
	return r.DeleteVersion(s, c.req.PathValue("version"), c.flag("permanent"))
}

func (r *Registry) lookup(c *call) (any, error) {
	s := c.subject()
	if err := r.require(c, auth.OpRead, s); err != nil {
		return nil, err
	}
	var req SchemaRequest
	if err := r.decode(c, &req); err != nil {
		return nil, err
	}
	return r.Lookup(s, req, c.flag("normalize"), c.flag("deleted"))
}

func (r *Registry) deleteSubject(c *call) (any, error) {
	s := c.subject()
	if err := r.require(c, auth.OpDelete, s); err != nil {
		return nil, err
	}
	return r.DeleteSubject(s, c.flag("permanent"))
}

// --- schemas ---

func (r *Registry) listSchemas(c *call) (any, error) {
	q := c.req.URL.Query()
	prefix := q.Get("subjectPrefix")
	deleted, latestOnly := c.flag("deleted"), c.flag("latestOnly")
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []SchemaInfo{}
	for _, name := range r.st.subjectNames(deleted) {
		if !strings.HasPrefix(name, prefix) || !r.allowed(c, auth.OpRead, name) {
			continue
		}
		l := r.st.subjects[name].list(deleted)
		if latestOnly && len(l) > 0 {
			l = l[len(l)-1:]
		}
		for _, e := range l {
			out = append(out, r.info(e))
		}
	}
	return out, nil
}

// idEntries finds id and the entries holding it the caller may read.
func (r *Registry) idEntries(c *call) (*schema, []*entry, error) {
	id, err := strconv.Atoi(c.req.PathValue("id"))
	if err != nil || id <= 0 {
		return nil, nil, newErr(codeSchemaNotFound, fmt.Sprintf("Schema %s not found", c.req.PathValue("id")))
	}
	sc := r.st.ids[id]
	if sc == nil {
		return nil, nil, newErr(codeSchemaNotFound, fmt.Sprintf("Schema %d not found", id))
	}
	all := r.st.entriesOf(id, true)
	var ok []*entry
	for _, e := range all {
		if r.allowed(c, auth.OpRead, e.subject) {
			ok = append(ok, e)
		}
	}
	if len(ok) == 0 {
		return nil, nil, newErr(codeForbidden, fmt.Sprintf("User %s may read no subject of schema %d", c.subj.Principal, id))
	}
	if sub := c.req.URL.Query().Get("subject"); sub != "" {
		if !slices.ContainsFunc(ok, func(e *entry) bool { return e.subject == sub }) {
			return nil, nil, newErr(codeSchemaNotFound, fmt.Sprintf("Schema %d not found in subject %s", id, sub))
		}
	}
	return sc, ok, nil
}

type schemaByIDResponse struct {
	SchemaType string      `json:"schemaType,omitempty"`
	Schema     string      `json:"schema"`
	References []Reference `json:"references,omitempty"`
	Metadata   any         `json:"metadata,omitempty"`
	RuleSet    any         `json:"ruleSet,omitempty"`
}

func (r *Registry) schemaByID(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	sc, es, err := r.idEntries(c)
	if err != nil {
		return nil, err
	}
	text, err := r.formatted(c, sc)
	if err != nil {
		return nil, err
	}
	out := schemaByIDResponse{Schema: text, References: sc.refs}
	if sc.typ != TypeAvro {
		out.SchemaType = sc.typ
	}
	info := r.info(es[0])
	out.Metadata, out.RuleSet = info.Metadata, info.RuleSet
	return out, nil
}

func (r *Registry) schemaTextByID(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	sc, _, err := r.idEntries(c)
	if err != nil {
		return nil, err
	}
	c.raw = true
	return r.formatted(c, sc)
}

func (r *Registry) subjectsByID(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, es, err := r.idEntries(c)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, e := range es {
		if (!e.deleted || c.flag("deleted")) && !slices.Contains(out, e.subject) {
			out = append(out, e.subject)
		}
	}
	return out, nil
}

type subjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func (r *Registry) versionsByID(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, es, err := r.idEntries(c)
	if err != nil {
		return nil, err
	}
	out := []subjectVersion{}
	for _, e := range es {
		if !e.deleted || c.flag("deleted") {
			out = append(out, subjectVersion{e.subject, e.version})
		}
	}
	return out, nil
}

// --- compatibility, config, mode ---

func (r *Registry) compatibility(c *call) (any, error) {
	s := c.subject()
	if err := r.require(c, auth.OpRead, s); err != nil {
		return nil, err
	}
	var req SchemaRequest
	if err := r.decode(c, &req); err != nil {
		return nil, err
	}
	msgs, err := r.CheckCompatibility(s, c.req.PathValue("version"), req, c.flag("normalize"))
	if err != nil {
		return nil, err
	}
	out := map[string]any{"is_compatible": len(msgs) == 0}
	if c.flag("verbose") {
		if msgs == nil {
			msgs = []string{}
		}
		out["messages"] = msgs
	}
	return out, nil
}

func (r *Registry) configAccess(c *call, op auth.Operation) error {
	if s := c.subject(); s != "" {
		return r.require(c, op, s)
	}
	return r.requireCluster(c, op)
}

func (r *Registry) getConfig(c *call) (any, error) {
	if err := r.configAccess(c, auth.OpDescribeConfigs); err != nil {
		return nil, err
	}
	level, err := r.Config(c.subject(), c.flag("defaultToGlobal"))
	if err != nil {
		return nil, err
	}
	return map[string]string{"compatibilityLevel": level}, nil
}

func (r *Registry) putConfig(c *call) (any, error) {
	if err := r.configAccess(c, auth.OpAlterConfigs); err != nil {
		return nil, err
	}
	var body struct {
		Compatibility string `json:"compatibility"`
	}
	if err := r.decode(c, &body); err != nil {
		return nil, err
	}
	level := strings.ToUpper(body.Compatibility)
	if err := r.SetConfig(c.subject(), level); err != nil {
		return nil, err
	}
	return map[string]string{"compatibility": level}, nil
}

func (r *Registry) deleteConfig(c *call) (any, error) {
	if err := r.configAccess(c, auth.OpAlterConfigs); err != nil {
		return nil, err
	}
	old, err := r.DeleteConfig(c.subject())
	if err != nil {
		return nil, err
	}
	return map[string]string{"compatibilityLevel": old}, nil
}

func (r *Registry) getMode(c *call) (any, error) {
	if err := r.configAccess(c, auth.OpDescribeConfigs); err != nil {
		return nil, err
	}
	m, err := r.Mode(c.subject(), c.flag("defaultToGlobal"))
	if err != nil {
		return nil, err
	}
	return map[string]string{"mode": m}, nil
}

func (r *Registry) putMode(c *call) (any, error) {
	if err := r.configAccess(c, auth.OpAlterConfigs); err != nil {
		return nil, err
	}
	var body struct {
		Mode string `json:"mode"`
	}
	if err := r.decode(c, &body); err != nil {
		return nil, err
	}
	m := strings.ToUpper(body.Mode)
	if err := r.SetMode(c.subject(), m, c.flag("force")); err != nil {
		return nil, err
	}
	return map[string]string{"mode": m}, nil
}

func (r *Registry) deleteMode(c *call) (any, error) {
	if err := r.configAccess(c, auth.OpAlterConfigs); err != nil {
		return nil, err
	}
	old, err := r.DeleteMode(c.subject())
	if err != nil {
		return nil, err
	}
	return map[string]string{"mode": old}, nil
}
