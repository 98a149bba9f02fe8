package console

// The schemas pages: the registry's subjects, a subject's versions with a
// diff between two of them, its compatibility level, and forms to register
// a schema, check one for compatibility and set the level. Every call goes
// to the built-in registry in-process as the console's user (registry.go),
// so the registry's ACLs (subjects as topic resources) apply and its
// errors (Confluent's codes and messages) are shown.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"
)

const (
	maxSchemaBytes = 1 << 20 // a schema posted in a form
	maxDiffLines   = 2000    // per side; a longer diff is refused
)

// registryErr is an error of the registry's REST API, with its HTTP status.
type registryErr struct{ err *sr.ResponseError }

func (e *registryErr) Error() string {
	return fmt.Sprintf("schema registry error %d: %s", e.err.ErrorCode, e.err.Message)
}

// regErr wraps err from the sr client for status().
func regErr(err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return &registryErr{re}
	}
	return err
}

var schemaTypes = []string{"AVRO", "PROTOBUF", "JSON"}

func parseSchemaType(s string) (sr.SchemaType, error) {
	var t sr.SchemaType
	if err := t.UnmarshalText([]byte(strings.ToUpper(strings.TrimSpace(s)))); err != nil || s == "" {
		return 0, badInput("schema type %q is not one of AVRO, PROTOBUF, JSON", s)
	}
	return t, nil
}

type schemasData struct {
	Query    string
	Subjects []string
	Total    int
	Global   string
	Form     registerForm
	Types    []string
}

type registerForm struct {
	Subject, Type, Schema string
}

func (c *Console) schemas(w http.ResponseWriter, r *http.Request) {
	c.schemasPage(w, r, http.StatusOK, registerForm{Type: "AVRO"}, "")
}

func (c *Console) schemasPage(w http.ResponseWriter, r *http.Request, code int, form registerForm, errMsg string) {
	cl, ctx, err := c.registry(r)
	if errors.Is(err, ErrNoRegistry) {
		c.render(w, r, http.StatusOK, "schemas", page{Title: "Schemas", Nav: "schemas", Error: "The broker runs no schema registry (sluice serve --registry-listen).", Data: schemasData{Types: schemaTypes, Form: form}})
		return
	}
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxSearch {
		code, errMsg, q = http.StatusBadRequest, fmt.Sprintf("the search is longer than %d characters", maxSearch), ""
	}
	subs, err := cl.Subjects(ctx)
	if err != nil {
		err = regErr(err)
		c.fail(w, r, status(err), fmt.Errorf("listing subjects: %w", err))
		return
	}
	d := schemasData{Query: q, Total: len(subs), Form: form, Types: schemaTypes}
	for _, s := range subs {
		if q == "" || strings.Contains(strings.ToLower(s), strings.ToLower(q)) {
			d.Subjects = append(d.Subjects, s)
		}
	}
	if res := cl.Compatibility(ctx); len(res) == 1 && res[0].Err == nil {
		d.Global = res[0].Level.String()
	}
	c.render(w, r, code, "schemas", page{Title: "Schemas", Nav: "schemas", Error: errMsg, Data: d})
}

type subjectData struct {
	Subject  string
	Versions []int
	Shown    sr.SubjectSchema
	Type     string
	Level    string
	LevelOwn bool // set on the subject, not the global default
	Levels   []string
	DiffA    int
	DiffB    int
	Diff     []diffLine
	Form     registerForm
	Types    []string
	Check    *checkResult
}

type checkResult struct {
	Compatible bool
	Messages   []string
}

func (c *Console) subject(w http.ResponseWriter, r *http.Request) {
	c.subjectPage(w, r, http.StatusOK, registerForm{}, "", nil)
}

func (c *Console) subjectPage(w http.ResponseWriter, r *http.Request, code int, form registerForm, errMsg string, check *checkResult) {
	name := r.PathValue("subject")
	cl, ctx, err := c.registry(r)
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	vs, err := cl.SubjectVersions(ctx, name)
	if err != nil {
		err = regErr(err)
		c.fail(w, r, status(err), fmt.Errorf("subject %q: %w", name, err))
		return
	}
	d := subjectData{Subject: name, Versions: vs, Form: form, Types: schemaTypes, Check: check,
		Levels: []string{"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}}
	q := r.URL.Query()
	version := -1
	if s := q.Get("version"); s != "" {
		if version, err = strconv.Atoi(s); err != nil || version < 1 {
			code, errMsg, version = http.StatusBadRequest, fmt.Sprintf("version %q is not a version number", s), -1
		}
	}
	if d.Shown, err = cl.SchemaByVersion(ctx, name, version); err != nil {
		err = regErr(err)
		if code == http.StatusOK {
			code = status(err)
		}
		errMsg = fmt.Sprintf("version %d: %v", version, err)
		d.Shown, _ = cl.SchemaByVersion(ctx, name, -1)
	}
	d.Type = typeName(d.Shown.Type)
	if d.Form.Type == "" {
		d.Form.Type = d.Shown.Type.String()
	}
	if res := cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), name); len(res) == 1 && res[0].Err == nil {
		d.Level = res[0].Level.String()
		own := cl.Compatibility(ctx, name)
		d.LevelOwn = len(own) == 1 && own[0].Err == nil
	}
	if a, b := q.Get("a"), q.Get("b"); a != "" || b != "" {
		if err := diffVersions(ctx, cl, name, a, b, &d); err != nil {
			if code == http.StatusOK {
				code = status(err)
			}
			errMsg = err.Error()
		}
	}
	c.render(w, r, code, "subject", page{Title: "Subject " + name, Nav: "schemas", Error: errMsg, Data: d})
}

func diffVersions(ctx context.Context, cl *sr.Client, subject, a, b string, d *subjectData) error {
	va, err1 := strconv.Atoi(a)
	vb, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || va < 1 || vb < 1 {
		return badInput("choose two versions to compare (got %q and %q)", a, b)
	}
	sa, err := cl.SchemaByVersion(ctx, subject, va)
	if err != nil {
		return fmt.Errorf("version %d: %w", va, regErr(err))
	}
	sb, err := cl.SchemaByVersion(ctx, subject, vb)
	if err != nil {
		return fmt.Errorf("version %d: %w", vb, regErr(err))
	}
	d.DiffA, d.DiffB = va, vb
	d.Diff, err = diffLines(prettySchema(sa.Schema.Schema), prettySchema(sb.Schema.Schema))
	return err
}

// prettySchema is a schema's text, JSON (Avro, JSON Schema) indented, so a
// diff shows the fields that changed rather than one long line.
func prettySchema(s string) string {
	if sh := render([]byte(s)); sh.Kind == "json" {
		return sh.Text
	}
	return s
}

// register registers the form's schema under the subject of the path
// (the subject page) or of the form (the schemas page).
func (c *Console) register(w http.ResponseWriter, r *http.Request) {
	onSubject := r.PathValue("subject") != ""
	back := func(code int, form registerForm, msg string) {
		if onSubject {
			c.subjectPage(w, r, code, form, msg, nil)
		} else {
			c.schemasPage(w, r, code, form, msg)
		}
	}
	if err := r.ParseForm(); err != nil {
		back(http.StatusBadRequest, registerForm{}, "malformed form: "+err.Error())
		return
	}
	form := registerForm{Subject: strings.TrimSpace(r.PostFormValue("subject")), Type: r.PostFormValue("type"), Schema: r.PostFormValue("schema")}
	if onSubject {
		form.Subject = r.PathValue("subject")
	}
	var id int
	err := func() error {
		if form.Subject == "" {
			return badInput("a subject name is required")
		}
		if strings.TrimSpace(form.Schema) == "" || len(form.Schema) > maxSchemaBytes {
			return badInput("a schema of at most %d bytes is required", maxSchemaBytes)
		}
		typ, err := parseSchemaType(form.Type)
		if err != nil {
			return err
		}
		cl, ctx, err := c.registry(r)
		if err != nil {
			return err
		}
		ss, err := cl.CreateSchema(ctx, form.Subject, sr.Schema{Schema: form.Schema, Type: typ})
		if err != nil {
			return regErr(err)
		}
		id = ss.ID
		return nil
	}()
	if err != nil {
		back(status(err), form, fmt.Sprintf("Not registered: %v", err))
		return
	}
	redirect(w, r, "/schemas/"+pathEscape(form.Subject), fmt.Sprintf("Registered the schema under %s (id %d).", form.Subject, id))
}

// checkCompat checks the form's schema against the subject's latest
// version under its compatibility level.
func (c *Console) checkCompat(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.subjectPage(w, r, http.StatusBadRequest, registerForm{}, "malformed form: "+err.Error(), nil)
		return
	}
	name := r.PathValue("subject")
	form := registerForm{Subject: name, Type: r.PostFormValue("type"), Schema: r.PostFormValue("schema")}
	var res sr.CheckCompatibilityResult
	err := func() error {
		if strings.TrimSpace(form.Schema) == "" || len(form.Schema) > maxSchemaBytes {
			return badInput("a schema of at most %d bytes is required", maxSchemaBytes)
		}
		typ, err := parseSchemaType(form.Type)
		if err != nil {
			return err
		}
		cl, ctx, err := c.registry(r)
		if err != nil {
			return err
		}
		res, err = cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), name, -1, sr.Schema{Schema: form.Schema, Type: typ})
		return regErr(err)
	}()
	if err != nil {
		c.subjectPage(w, r, status(err), form, fmt.Sprintf("Not checked: %v", err), nil)
		return
	}
	c.subjectPage(w, r, http.StatusOK, form, "", &checkResult{Compatible: res.Is, Messages: res.Messages})
}

// setCompat sets the subject's compatibility level ("" removes its own,
// falling back to the global one).
func (c *Console) setCompat(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.subjectPage(w, r, http.StatusBadRequest, registerForm{}, "malformed form: "+err.Error(), nil)
		return
	}
	name := r.PathValue("subject")
	level := strings.TrimSpace(r.PostFormValue("level"))
	err := func() error {
		var l sr.CompatibilityLevel
		if err := l.UnmarshalText([]byte(level)); err != nil || level == "" {
			return badInput("compatibility level %q is not one of Confluent's levels", level)
		}
		cl, ctx, err := c.registry(r)
		if err != nil {
			return err
		}
		res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: l}, name)
		if len(res) != 1 {
			return fmt.Errorf("setting the compatibility level: %d results", len(res))
		}
		return regErr(res[0].Err)
	}()
	if err != nil {
		c.subjectPage(w, r, status(err), registerForm{}, fmt.Sprintf("Compatibility level not set: %v", err), nil)
		return
	}
	redirect(w, r, "/schemas/"+pathEscape(name), fmt.Sprintf("Set the compatibility level of %s to %s.", name, level))
}

// diffLine is a line of a diff: " " kept, "-" removed, "+" added.
type diffLine struct {
	Op   string
	Text string
}

// diffLines is the line diff of a to b by longest common subsequence.
func diffLines(a, b string) ([]diffLine, error) {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) > maxDiffLines || len(lb) > maxDiffLines {
		return nil, badInput("the schemas are longer than %d lines: no diff shown", maxDiffLines)
	}
	n, m := len(la), len(lb)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if la[i] == lb[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case la[i] == lb[j]:
			out = append(out, diffLine{" ", la[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", la[i]})
			i++
		default:
			out = append(out, diffLine{"+", lb[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{"-", la[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{"+", lb[j]})
	}
	return out, nil
}
