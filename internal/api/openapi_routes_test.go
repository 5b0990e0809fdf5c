package api

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestOpenAPI_routes checks that openapi.json has an operation for every
// route routes.go registers and a route for every operation it has, so a
// new endpoint cannot ship undocumented nor a removed one stay documented.
func TestOpenAPI_routes(t *testing.T) {
	t.Parallel()
	registered := registeredRoutes(t)
	documented := documentedRoutes(t)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("routes.go registers %s; openapi.json has no such operation", r)
		}
	}
	for _, d := range documented {
		method, path, _ := strings.Cut(d, " ")
		// ServeMux serves HEAD with the GET route.
		if method == http.MethodHead {
			d = http.MethodGet + " " + path
		}
		if !slices.Contains(registered, d) {
			t.Errorf("openapi.json documents %s %s; routes.go registers no such route", method, path)
		}
	}

	// And the handler really serves each documented operation: without a
	// token each answers 401 (the document itself 200), never the
	// catch-all's "no such endpoint".
	h := New(Config{})
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, d := range documented {
		method, path, _ := strings.Cut(d, " ")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, param.ReplaceAllString(path, "x"), nil))
		if rec.Code == http.StatusNotFound {
			t.Errorf("%s: the handler answers 404 %s", d, rec.Body)
		}
	}
}

// documentedRoutes lists openapi.json's operations as "METHOD /path".
func documentedRoutes(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// registeredRoutes reads routes() in routes.go and returns the ServeMux
// patterns it registers, spelled out as both and repo do.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "routes" {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			lit := func(i int) string {
				if i >= len(call.Args) {
					return ""
				}
				bl, ok := call.Args[i].(*ast.BasicLit)
				if !ok || bl.Kind != token.STRING {
					return ""
				}
				s, _ := strconv.Unquote(bl.Value)
				return s
			}
			switch sel.Sel.Name {
			case "both":
				out = append(out, lit(0)+" /api/v1/"+lit(1), lit(0)+" /api/"+lit(2))
			case "repo":
				out = append(out, lit(0)+" /api/v1/repos/"+lit(1), lit(0)+" /api/repos/{name}/"+lit(1))
			case "Handle", "HandleFunc":
				// The catch-all "/api/" has no method: it is the 404.
				if p := lit(0); strings.Contains(p, " ") {
					out = append(out, p)
				}
			}
			return true
		})
	}
	if len(out) == 0 {
		t.Fatal("found no routes in routes.go")
	}
	slices.Sort(out)
	return out
}
