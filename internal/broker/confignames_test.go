package broker

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/meta"
)

// brokerConfigReaders are the Broker methods that read a broker config by
// name; the ones that need a value (not just a definition) are marked.
var brokerConfigReaders = map[string]bool{
	"brokerInt":   true,
	"brokerMs":    true,
	"brokerBool":  true,
	"brokerValue": false,
}

// TestBrokerConfigReadsAreDefined scans this package's source for every
// b.brokerInt/brokerMs/brokerBool/brokerValue call and checks that the name
// is a config internal/meta defines (with a default, for the typed readers),
// so that no default lives outside the definitions and no read can silently
// miss one. A name that is not a string literal or constant fails the test.
func TestBrokerConfigReadsAreDefined(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	consts := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, af)
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[n.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	reads := 0
	for _, af := range parsed {
		ast.Inspect(af, func(n ast.Node) bool {
			if fd, ok := n.(*ast.FuncDecl); ok {
				_, reader := brokerConfigReaders[fd.Name.Name]
				return !reader // the readers pass their parameter on
			}
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); ok && topicConfigReaders[id.Name] && len(call.Args) > 0 {
				checkTopicRead(t, fset.Position(call.Pos()), id.Name, call.Args[0])
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if sel.Sel.Name == "TopicValue" && len(call.Args) > 0 {
				checkTopicRead(t, fset.Position(call.Pos()), sel.Sel.Name, call.Args[0])
				return true
			}
			needValue, isReader := brokerConfigReaders[sel.Sel.Name]
			if !isReader || len(call.Args) == 0 {
				return true
			}
			pos := fset.Position(call.Pos())
			var name string
			switch a := call.Args[0].(type) {
			case *ast.BasicLit:
				name, _ = strconv.Unquote(a.Value)
			case *ast.Ident:
				v, ok := consts[a.Name]
				if !ok {
					t.Errorf("%s: %s(%s): the name is not a string constant", pos, sel.Sel.Name, a.Name)
					return true
				}
				name = v
			default:
				t.Errorf("%s: %s: the name is not a string literal or constant", pos, sel.Sel.Name)
				return true
			}
			reads++
			def, ok := meta.BrokerConfig(name)
			switch {
			case !ok:
				t.Errorf("%s: %s(%q): not a broker config defined in internal/meta", pos, sel.Sel.Name, name)
			case needValue && !def.HasDefault:
				t.Errorf("%s: %s(%q): the definition has no default", pos, sel.Sel.Name, name)
			}
			return true
		})
	}
	if reads < 20 {
		t.Fatalf("found only %d broker config reads; the scan is broken", reads)
	}
}

// topicConfigReaders are the local helpers (logConfig, lifecycleConfig)
// that read a topic config by name through meta.TopicValue.
var topicConfigReaders = map[string]bool{"i64": true, "i32": true, "get": true}

// checkTopicRead checks that a literal topic config name is defined; a
// non-literal name is a helper passing its parameter on.
func checkTopicRead(t *testing.T, pos token.Position, fn string, arg ast.Expr) {
	t.Helper()
	lit, ok := arg.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return
	}
	name, _ := strconv.Unquote(lit.Value)
	if d, ok := meta.TopicConfig(name); !ok || !d.HasDefault && d.BrokerSynonym == "" {
		t.Errorf("%s: %s(%q): not a topic config with a default defined in internal/meta", pos, fn, name)
	}
}
