package bearer_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// SECURITY.md names the test behind each guarantee as `pkg.Name` in
// backticks: pkg is the test's directory relative to the repository root
// ("flow", "cache/filestore", "internal/oauth"), or "bearer" for the root
// package; Name is a Test, Fuzz, Example or Benchmark function. The tests
// below keep the document honest: every citation names a function declared
// in a _test.go file of that directory, and every fuzz target of the
// repository is cited.

// citationRE matches one citation, in its backticks.
var citationRE = regexp.MustCompile("`((?:[a-z0-9_]+/)*[a-z0-9_]+)\\.((?:Test|Fuzz|Example|Benchmark)(?:[A-Z0-9_][A-Za-z0-9_]*)?)`")

// lookalikeRE matches a backticked span that looks like a citation: one
// that citationRE does not match is reported, not skipped, so a typo
// cannot hide a citation from the check.
var lookalikeRE = regexp.MustCompile("`[^`\n]*\\.(?:Test|Fuzz|Example|Benchmark)(?:[A-Z0-9_][^`\n]*)?`")

// citation is a test function cited by SECURITY.md.
type citation struct {
	dir  string // relative to the repository root, "." for the root
	name string
}

func (c citation) String() string {
	if c.dir == "." {
		return "bearer." + c.name
	}
	return c.dir + "." + c.name
}

// extractCitations returns the citations of doc, each once, in order of
// first appearance, and the citation-like spans it could not read.
func extractCitations(doc string) (cites []citation, malformed []string) {
	for _, span := range lookalikeRE.FindAllString(doc, -1) {
		if !citationRE.MatchString(span) || citationRE.FindString(span) != span {
			malformed = append(malformed, span)
		}
	}
	for _, m := range citationRE.FindAllStringSubmatch(doc, -1) {
		c := citation{dir: m[1], name: m[2]}
		if c.dir == "bearer" {
			c.dir = "."
		}
		if !slices.Contains(cites, c) {
			cites = append(cites, c)
		}
	}
	return cites, malformed
}

// testFuncs returns the names of the functions (not methods) declared in
// the _test.go files of dir.
func testFuncs(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parsing %s: %v", file, err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				names[fd.Name.Name] = true
			}
		}
	}
	return names
}

func readSecurityDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSecurityDocExtractCitations(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		cites     []string // citation.String() of each
		malformed []string
	}{
		{"root package", "see `bearer.TestTransportHTTP`.", []string{"bearer.TestTransportHTTP"}, nil},
		{"nested directory", "`cache/filestore.FuzzFile` and `internal/oauth.TestRetry`",
			[]string{"cache/filestore.FuzzFile", "internal/oauth.TestRetry"}, nil},
		{"example and benchmark", "`flow.ExampleWithAllowedTenants`, `cache.BenchmarkLookup`",
			[]string{"flow.ExampleWithAllowedTenants", "cache.BenchmarkLookup"}, nil},
		{"each citation once", "`flow.TestA` then `flow.TestA` and `bearer.TestA`", []string{"flow.TestA", "bearer.TestA"}, nil},
		{"not in backticks", "flow.TestA is not a citation", nil, nil},
		{"other code spans", "`flow.ErrRedirect`, `Transport.AllowHTTP`, `t.Run`, `flow.Testing`", nil, nil},
		{"call parentheses", "`flow.TestA()`", nil, []string{"`flow.TestA()`"}},
		{"capitalised package", "`Flow.TestA`", nil, []string{"`Flow.TestA`"}},
		{"space inside", "`flow. TestA` `flow.TestA x`", nil, []string{"`flow.TestA x`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cites, malformed := extractCitations(tt.doc)
			var got []string
			for _, c := range cites {
				got = append(got, c.String())
			}
			if !slices.Equal(got, tt.cites) {
				t.Errorf("citations %q, want %q", got, tt.cites)
			}
			if !slices.Equal(malformed, tt.malformed) {
				t.Errorf("malformed %q, want %q", malformed, tt.malformed)
			}
		})
	}
	if cites, _ := extractCitations("`bearer.TestX`"); len(cites) != 1 || cites[0].dir != "." {
		t.Errorf("the root package resolves to %+v, want directory \".\"", cites)
	}
}

func TestSecurityDocTestFuncs(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a_test.go": "package x\n\nimport \"testing\"\n\nfunc TestA(t *testing.T) {}\n\ntype s struct{}\n\nfunc (s) TestMethod(t *testing.T) {}\n",
		"b.go":      "package x\n\nfunc TestNotInATestFile() {}\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := testFuncs(t, dir)
	if !got["TestA"] || got["TestMethod"] || got["TestNotInATestFile"] || len(got) != 1 {
		t.Errorf("testFuncs = %v, want TestA alone", got)
	}
}

// TestSecurityDocCitesExistingTests fails for every citation of
// SECURITY.md whose function is not declared in its directory's test
// files, and for every span that looks like a citation but is not one.
func TestSecurityDocCitesExistingTests(t *testing.T) {
	cites, malformed := extractCitations(readSecurityDoc(t))
	for _, m := range malformed {
		t.Errorf("SECURITY.md: %s looks like a citation but is not `dir.Name` (dir relative to the root, or bearer)", m)
	}
	// The document cites well over a hundred tests: far fewer means the
	// extractor, not the document, went wrong.
	if len(cites) < 150 {
		t.Fatalf("SECURITY.md: %d citations found, want at least 150", len(cites))
	}
	byDir := map[string]map[string]bool{}
	for _, c := range cites {
		funcs, ok := byDir[c.dir]
		if !ok {
			funcs = testFuncs(t, c.dir)
			byDir[c.dir] = funcs
		}
		if !funcs[c.name] {
			t.Errorf("SECURITY.md cites %s: no func %s in %s/*_test.go", c, c.name, c.dir)
		}
	}
}

// TestSecurityDocListsEveryFuzzTarget fails for every fuzz target of the
// repository (nested modules included) that SECURITY.md does not cite.
func TestSecurityDocListsEveryFuzzTarget(t *testing.T) {
	cites, _ := extractCitations(readSecurityDoc(t))
	cited := map[citation]bool{}
	for _, c := range cites {
		cited[c] = true
	}
	found := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !strings.Contains(string(src), "func Fuzz") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !strings.HasPrefix(fd.Name.Name, "Fuzz") {
				continue
			}
			found++
			c := citation{dir: filepath.ToSlash(filepath.Dir(path)), name: fd.Name.Name}
			if !cited[c] {
				t.Errorf("fuzz target %s (%s) is not listed in SECURITY.md", c, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("no fuzz target found in the repository")
	}
}
