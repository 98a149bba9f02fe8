package registry

// JSON Schema: validated by compiling it with santhosh-tekuri/jsonschema
// (references by name; nothing is loaded from files or the network).
//
// Compatibility follows Confluent's JsonSchemaDiff for the common cases,
// comparing the writer's schema ("original") with the reader's
// ("update"); a schema is an open content model unless
// additionalProperties is false:
//
//	TYPE_NARROWED, TYPE_CHANGED              incompatible (integer to number,
//	                                         or adding a type, is TYPE_EXTENDED)
//	PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL      incompatible (unless its schema is
//	                                         empty, {} or true)
//	REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL  incompatible unless it
//	                                         has a default; an optional one is fine
//	PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL incompatible (from an open one: fine)
//	REQUIRED_ATTRIBUTE_ADDED                 incompatible (removed: fine)
//	ADDITIONAL_PROPERTIES_REMOVED / NARROWED incompatible (added: fine)
//	ENUM_ARRAY_NARROWED / CHANGED            incompatible (extended: fine)
//	MAX_LENGTH, MAX_ITEMS, MAX_PROPERTIES, MAXIMUM, EXCLUSIVE_MAXIMUM added
//	or decreased; the MIN_ counterparts added or increased; PATTERN and
//	MULTIPLE_OF added or changed; UNIQUE_ITEMS added  incompatible
//	items, properties, additionalProperties: compared recursively;
//	oneOf/anyOf: SUM_TYPE_NARROWED (fewer branches) incompatible, the
//	branches compared pairwise; local $refs ("#/...") are followed;
//	dependencies, dependentRequired, dependentSchemas, patternProperties,
//	propertyNames, prefixItems, additionalItems, contains, if/then/else:
//	added or changed incompatible, removed compatible (not compared
//	piecewise).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

type jsonSchema struct {
	doc     any
	compact string
	sorted  string
}

const jsonBase = "mem://sluice/"

var errNoLoad = errors.New("loading schemas from URLs is not allowed; register the schema and reference it")

type denyLoader struct{}

func (denyLoader) Load(string) (any, error) { return nil, errNoLoad }

func parseJSONSchema(text string, deps []dep) (parsedSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(denyLoader{})
	added := map[string]bool{}
	var add func(ds []dep) error
	add = func(ds []dep) error {
		for _, d := range ds {
			loc := refURL(d.name)
			if added[loc] {
				continue
			}
			added[loc] = true
			dd, err := jsonschema.UnmarshalJSON(strings.NewReader(d.text))
			if err != nil {
				return fmt.Errorf("reference %q: %w", d.name, err)
			}
			if err := c.AddResource(loc, dd); err != nil {
				return fmt.Errorf("reference %q: %w", d.name, err)
			}
			if err := add(d.deps); err != nil {
				return err
			}
		}
		return nil
	}
	if err := add(deps); err != nil {
		return nil, err
	}
	main := jsonBase + "__sluice_schema__.json"
	if err := c.AddResource(main, doc); err != nil {
		return nil, err
	}
	if _, err := c.Compile(main); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(text)); err != nil {
		return nil, err
	}
	var plain any
	if err := json.Unmarshal([]byte(text), &plain); err != nil {
		return nil, err
	}
	sorted, _ := json.Marshal(plain) // maps marshal with sorted keys
	return &jsonSchema{doc: plain, compact: buf.String(), sorted: string(sorted)}, nil
}

func refURL(name string) string {
	if u, err := url.Parse(name); err == nil && u.IsAbs() {
		return name
	}
	return jsonBase + name
}

func (j *jsonSchema) canonical(normalize bool) string {
	if normalize {
		return j.sorted
	}
	return j.compact
}

func (j *jsonSchema) canRead(writer parsedSchema) []string {
	w, ok := writer.(*jsonSchema)
	if !ok {
		return []string{"schema types differ"}
	}
	d := jsonDiff{oroot: w.doc, uroot: j.doc, seen: map[[2]string]bool{}}
	d.diff("#", w.doc, j.doc)
	return d.out
}

type jsonDiff struct {
	oroot, uroot any
	seen         map[[2]string]bool
	out          []string
	depth        int
}

// maxJSONDiffDepth bounds the recursion of the comparison: below it,
// subschemas must be equal (each level marshals its subtree).
const maxJSONDiffDepth = 64

func (d *jsonDiff) add(kind, path, format string, args ...any) {
	d.out = append(d.out, fmt.Sprintf("%s at %s: %s", kind, path, fmt.Sprintf(format, args...)))
}

// deref follows local $refs ("#/..."); other refs stay as they are.
func deref(root, s any) any {
	for range 32 {
		m, ok := s.(map[string]any)
		if !ok {
			return s
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return s
		}
		s = pointer(root, strings.TrimPrefix(ref, "#"))
	}
	return s
}

func pointer(root any, p string) any {
	cur := root
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[tok]
	}
	return cur
}

// asObject views a schema as a map; true and {} are the empty schema, false
// is {"not":{}}.
func asObject(s any) map[string]any {
	switch v := s.(type) {
	case map[string]any:
		return v
	case bool:
		if !v {
			return map[string]any{"not": map[string]any{}}
		}
	}
	return map[string]any{}
}

func isEmptySchema(s any) bool {
	if b, ok := s.(bool); ok {
		return b
	}
	m, ok := s.(map[string]any)
	return ok && len(m) == 0
}

func typeSet(m map[string]any) []string {
	switch t := m["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// accepts reports whether the type set ts accepts every value of type t.
func accepts(ts []string, t string) bool {
	return len(ts) == 0 || slices.Contains(ts, t) || (t == "integer" && slices.Contains(ts, "number"))
}

func (d *jsonDiff) diff(path string, o, u any) {
	if len(d.out) > 100 {
		return
	}
	o, u = deref(d.oroot, o), deref(d.uroot, u)
	ob, _ := json.Marshal(o)
	ub, _ := json.Marshal(u)
	key := [2]string{path + string(ob), string(ub)}
	if d.seen[key] || bytes.Equal(ob, ub) {
		return
	}
	d.seen[key] = true
	if d.depth >= maxJSONDiffDepth {
		d.add("SCHEMA_TOO_DEEP", path, "differs below nesting level %d, where changes are not compared", maxJSONDiffDepth)
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	om, um := asObject(o), asObject(u)
	if ur, ok := um["$ref"].(string); ok {
		if or, _ := om["$ref"].(string); or != ur {
			d.add("REFERENCE_CHANGED", path, "$ref %q to %q", or, ur)
		}
		return
	}
	// Types.
	ots, uts := typeSet(om), typeSet(um)
	if len(uts) > 0 {
		lost := []string{}
		for _, t := range ots {
			if !accepts(uts, t) {
				lost = append(lost, t)
			}
		}
		switch {
		case len(ots) == 0:
			d.add("TYPE_NARROWED", path, "any type to %v", uts)
		case len(lost) == len(ots):
			d.add("TYPE_CHANGED", path, "%v to %v", ots, uts)
		case len(lost) > 0:
			d.add("TYPE_NARROWED", path, "%v to %v", ots, uts)
		}
	}
	// Enums and const.
	if ue, ok := um["enum"].([]any); ok {
		oe, had := om["enum"].([]any)
		if !had {
			d.add("ENUM_ARRAY_NARROWED", path, "enum added")
		} else {
			missing := 0
			for _, v := range oe {
				if !containsJSON(ue, v) {
					missing++
				}
			}
			if missing == len(oe) && len(oe) > 0 {
				d.add("ENUM_ARRAY_CHANGED", path, "no old value is left")
			} else if missing > 0 {
				d.add("ENUM_ARRAY_NARROWED", path, "%d values removed", missing)
			}
		}
	}
	if uc, ok := um["const"]; ok {
		if oc, had := om["const"]; !had || !jsonEqual(oc, uc) {
			d.add("CONST_CHANGED", path, "const added or changed")
		}
	}
	// Bounds: a reader bound that the writer did not have, or a tighter one.
	for _, b := range []struct {
		key   string
		upper bool
		kind  string
	}{
		{"maxLength", true, "MAX_LENGTH"}, {"minLength", false, "MIN_LENGTH"},
		{"maxItems", true, "MAX_ITEMS"}, {"minItems", false, "MIN_ITEMS"},
		{"maxProperties", true, "MAX_PROPERTIES"}, {"minProperties", false, "MIN_PROPERTIES"},
		{"maximum", true, "MAXIMUM"}, {"minimum", false, "MINIMUM"},
		{"exclusiveMaximum", true, "EXCLUSIVE_MAXIMUM"}, {"exclusiveMinimum", false, "EXCLUSIVE_MINIMUM"},
	} {
		un, uok := number(um[b.key])
		if !uok {
			continue
		}
		on, ook := number(om[b.key])
		switch {
		case !ook:
			d.add(b.kind+"_ADDED", path, "%v", un)
		case b.upper && un < on:
			d.add(b.kind+"_DECREASED", path, "%v to %v", on, un)
		case !b.upper && un > on:
			d.add(b.kind+"_INCREASED", path, "%v to %v", on, un)
		}
	}
	if up, ok := um["pattern"].(string); ok {
		if op, had := om["pattern"].(string); !had {
			d.add("PATTERN_ADDED", path, "%q", up)
		} else if op != up {
			d.add("PATTERN_CHANGED", path, "%q to %q", op, up)
		}
	}
	if un, ok := number(um["multipleOf"]); ok {
		on, had := number(om["multipleOf"])
		if !had {
			d.add("MULTIPLE_OF_ADDED", path, "%v", un)
		} else if on != un && math.Mod(on, un) != 0 {
			d.add("MULTIPLE_OF_CHANGED", path, "%v to %v", on, un)
		}
	}
	if uu, _ := um["uniqueItems"].(bool); uu {
		if ou, _ := om["uniqueItems"].(bool); !ou {
			d.add("UNIQUE_ITEMS_ADDED", path, "")
		}
	}
	d.objectDiff(path, om, um)
	// Arrays.
	if ui, ok := um["items"]; ok {
		oi, had := om["items"]
		if !had {
			oi = true
		}
		if _, isList := ui.([]any); !isList {
			if _, wasList := oi.([]any); !wasList {
				d.diff(path+"/items", oi, ui)
			}
		}
	}
	// Sum types.
	for _, k := range []string{"oneOf", "anyOf"} {
		ua, uok := um[k].([]any)
		if !uok {
			continue
		}
		oa, ook := om[k].([]any)
		if !ook {
			// The writer was one schema; the reader must take it in a branch.
			matched := false
			for _, ub := range ua {
				sub := jsonDiff{oroot: d.oroot, uroot: d.uroot, seen: map[[2]string]bool{}, depth: d.depth}
				sub.diff(path, o, ub)
				if len(sub.out) == 0 {
					matched = true
					break
				}
			}
			if !matched {
				d.add("SUM_TYPE_NARROWED", path, "%s added that the old schema does not fit", k)
			}
			continue
		}
		if len(ua) < len(oa) {
			d.add("SUM_TYPE_NARROWED", path, "%s from %d to %d branches", k, len(oa), len(ua))
			continue
		}
		for i := range oa {
			d.diff(fmt.Sprintf("%s/%s/%d", path, k, i), oa[i], ua[i])
		}
	}
	if _, ok := um["allOf"].([]any); ok {
		if !jsonEqual(om["allOf"], um["allOf"]) {
			d.add("COMBINED_TYPE_CHANGED", path, "allOf changed")
		}
	}
	if _, ok := um["not"]; ok && !jsonEqual(om["not"], um["not"]) {
		d.add("NOT_TYPE_CHANGED", path, "not added or changed")
	}
	// Constraints not compared piecewise: adding or changing one may refuse
	// old data (incompatible); removing one is fine.
	for _, k := range []string{"dependencies", "dependentRequired", "dependentSchemas", "patternProperties",
		"propertyNames", "prefixItems", "additionalItems", "contains", "if", "then", "else"} {
		if uv, ok := um[k]; ok && !jsonEqual(om[k], uv) {
			d.add(strings.ToUpper(k)+"_CHANGED", path, "%s added or changed", k)
		}
	}
}

// objectDiff compares properties under the content models.
func (d *jsonDiff) objectDiff(path string, om, um map[string]any) {
	oprops, _ := om["properties"].(map[string]any)
	uprops, _ := um["properties"].(map[string]any)
	oAdd, uAdd := additional(om), additional(um)
	oOpen, uOpen := !isFalse(oAdd), !isFalse(uAdd)
	ureq := stringSet(um["required"])
	oreq := stringSet(om["required"])
	for _, name := range sortedKeys(uprops) {
		up := uprops[name]
		p := path + "/properties/" + name
		if op, ok := oprops[name]; ok {
			d.diff(p, op, up)
			continue
		}
		switch {
		case oOpen && isEmptySchema(oAdd):
			if !isEmptySchema(up) {
				d.add("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", p, "old data may hold %q with any value", name)
			}
		case oOpen:
			// Partially open: the old additionalProperties schema covered it.
			d.diff(p, oAdd, up)
		case ureq[name]:
			if _, hasDefault := asObject(up)["default"]; !hasDefault {
				d.add("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", p, "%q", name)
			}
		}
	}
	for _, name := range sortedKeys(oprops) {
		if _, ok := uprops[name]; ok {
			continue
		}
		p := path + "/properties/" + name
		switch {
		case !uOpen:
			d.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", p, "%q", name)
		case !isEmptySchema(uAdd):
			d.diff(p, oprops[name], uAdd)
		}
	}
	for _, name := range sortedKeys(ureq) {
		if !oreq[name] {
			if _, existed := oprops[name]; existed || uprops[name] == nil {
				d.add("REQUIRED_ATTRIBUTE_ADDED", path+"/required", "%q", name)
			}
		}
	}
	if oOpen && !uOpen {
		d.add("ADDITIONAL_PROPERTIES_REMOVED", path, "the content model was closed")
	} else if oOpen && uOpen && isEmptySchema(oAdd) && !isEmptySchema(uAdd) {
		d.add("ADDITIONAL_PROPERTIES_NARROWED", path, "additionalProperties restricted")
	} else if oOpen && uOpen && !isEmptySchema(oAdd) && !isEmptySchema(uAdd) {
		d.diff(path+"/additionalProperties", oAdd, uAdd)
	}
}

func additional(m map[string]any) any {
	if a, ok := m["additionalProperties"]; ok {
		return a
	}
	return true
}

func isFalse(s any) bool {
	b, ok := s.(bool)
	return ok && !b
}

func stringSet(v any) map[string]bool {
	out := map[string]bool{}
	if a, ok := v.([]any); ok {
		for _, x := range a {
			if s, ok := x.(string); ok {
				out[s] = true
			}
		}
	}
	return out
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func containsJSON(list []any, v any) bool {
	return slices.ContainsFunc(list, func(x any) bool { return jsonEqual(x, v) })
}
