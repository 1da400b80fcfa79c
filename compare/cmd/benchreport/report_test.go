package main

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// benchText is go test -bench output as the run writes it: two runs of
// one benchmark (the median is kept), custom metrics, log lines.
const benchText = `goos: linux
goarch: amd64
pkg: github.com/bearerhttp/bearer/compare
cpu: AMD EPYC
BenchmarkCompareHotPath/base=nop/floor-2   	  368325	      1000 ns/op	    1088 B/op	       8 allocs/op
BenchmarkCompareHotPath/base=nop/floor-2   	  368325	      1200 ns/op	    1088 B/op	       8 allocs/op
BenchmarkCompareHotPath/base=nop/floor-2   	  368325	      1100 ns/op	    1088 B/op	       8 allocs/op
BenchmarkCompareHotPath/base=nop/ClientSource-2         	   68449	      1210 ns/op	    2384 B/op	       9 allocs/op
BenchmarkCompareHotPath/base=nop/OnBehalfOfSource-2     	   45841	      2200 ns/op	    3920 B/op	      13 allocs/op
BenchmarkCompareHotPath/base=nop/oauth2-2  	   79086	      4842 ns/op	    2368 B/op	       9 allocs/op
BenchmarkCompareColdStart/bearer-2         	       2	 691530374 ns/op	     10000 goroutines	         1.000 token-requests/op
BenchmarkCompareColdStart/MSALGo-2         	       2	4734568649 ns/op	     10000 goroutines	     10000 token-requests/op
    coldstart_test.go:1: BenchmarkCompareColdStart log line 1 2 3
BenchmarkCompareCacheLookup/tokens=10/bearer-2  	  635673	      2000 ns/op	     351 B/op	       4 allocs/op
BenchmarkCompareCacheLookup/tokens=10/MSALGo-2  	  141328	     10690 ns/op	    1692 B/op	      24 allocs/op
BenchmarkCompareCacheLookup/tokens=10000/MSALGo-2  	  1306	   1009912 ns/op	    1842 B/op	      28 allocs/op
BenchmarkCompareCacheLookup/tokens=10000/bearer-2  	  287812	      3000 ns/op	     383 B/op	       7 allocs/op
BenchmarkCompareCacheLookup/tokens=1000000/bearer-2           	  559675	      5000 ns/op	     390 B/op	       7 allocs/op
PASS
ok  	github.com/bearerhttp/bearer/compare	4.263s
`

func testData(t *testing.T) Data {
	t.Helper()
	res, err := ParseBench(strings.NewReader(benchText))
	if err != nil {
		t.Fatal(err)
	}
	d := Data{Bench: res, Machine: Machine{GoVersion: "go version go1.26.8 linux/amd64", CPU: "AMD EPYC", NProc: 2, Date: time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)}}
	d.P6.Config.Bucket = int64(250 * time.Millisecond)
	d.P6.Config.AuthorityDelay = int64(20 * time.Millisecond)
	ms := int64(time.Millisecond)
	d.P6.Runs = []P6Run{
		{Name: "bearer", TokenRequests: 1, During: P6Stats{N: 100, P99: 2 * ms}, Outside: P6Stats{N: 1000, P99: 2 * ms},
			Buckets: []P6Bucket{{Start: 0, P6Stats: P6Stats{P99: 2 * ms}}, {Start: 250 * ms, P6Stats: P6Stats{P99: 2 * ms}}}},
		{Name: "oauth2", TokenRequests: 1, During: P6Stats{N: 10, P99: 25 * ms}, Outside: P6Stats{N: 1000, P99: 2 * ms},
			Buckets: []P6Bucket{{Start: 0, P6Stats: P6Stats{P99: 2 * ms}}, {Start: 250 * ms, Refreshing: 4, P6Stats: P6Stats{P99: 25 * ms}}}},
	}
	return d
}

// TestParseBenchMedians checks the medians kept per unit, custom metrics
// and the names without the GOMAXPROCS suffix.
func TestParseBenchMedians(t *testing.T) {
	res, err := ParseBench(strings.NewReader(benchText))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, unit string
		want       float64
	}{
		{"CompareHotPath/base=nop/floor", "ns/op", 1100},
		{"CompareHotPath/base=nop/floor", "allocs/op", 8},
		{"CompareColdStart/MSALGo", "token-requests/op", 10000},
		{"CompareColdStart/bearer", "token-requests/op", 1},
		{"CompareCacheLookup/tokens=1000000/bearer", "ns/op", 5000},
	} {
		if got, ok := res.Get(tt.name, tt.unit); !ok || got != tt.want {
			t.Errorf("%s %s = %v, %v; want %v", tt.name, tt.unit, got, ok, tt.want)
		}
	}
	if r := res["CompareHotPath/base=nop/floor"]; r == nil || r.Runs != 3 {
		t.Errorf("floor: %+v, want 3 runs", r)
	}
	if _, ok := res["CompareColdStart log line 1 2 3"]; ok || len(res) != 11 {
		t.Errorf("%d benchmarks parsed, want 11 (log lines skipped)", len(res))
	}
}

// TestParseBenchRejectsBadValue checks that a malformed value is an error,
// not a silent zero.
func TestParseBenchRejectsBadValue(t *testing.T) {
	_, err := ParseBench(strings.NewReader("BenchmarkX-2  10  abc ns/op\n"))
	if err == nil {
		t.Fatal("no error for a malformed value")
	}
}

// TestMedian checks odd and even counts.
func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// svgShape is what the tests read back from a chart.
type svgShape struct {
	polylines []string // each one's title
	texts     []string
}

// parseSVG parses an SVG document as XML and collects its polylines and
// texts; it fails on malformed XML.
func parseSVG(t *testing.T, data []byte) svgShape {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(data)))
	var s svgShape
	var inText, inTitle bool
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, data)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
			}
			switch el.Name.Local {
			case "polyline":
				s.polylines = append(s.polylines, "")
			case "text":
				inText = true
			case "title":
				inTitle = true
			}
		case xml.EndElement:
			inText = inText && el.Name.Local != "text"
			inTitle = inTitle && el.Name.Local != "title"
		case xml.CharData:
			if inText {
				s.texts = append(s.texts, string(el))
			}
			if inTitle && len(s.polylines) > 0 {
				s.polylines[len(s.polylines)-1] += string(el)
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return s
}

// TestChartsOnePolylinePerSeries checks that both charts are well-formed
// SVG with one polyline per series, named after it, a legend entry per
// series and the title.
func TestChartsOnePolylinePerSeries(t *testing.T) {
	d := testData(t)
	for _, c := range []Chart{P3Chart(d), P6Chart(d)} {
		t.Run(c.Title, func(t *testing.T) {
			s := parseSVG(t, c.SVG())
			if len(s.polylines) != len(c.Series) {
				t.Fatalf("%d polylines, want %d (one per series)", len(s.polylines), len(c.Series))
			}
			texts := strings.Join(s.texts, "\n")
			for i, ser := range c.Series {
				if s.polylines[i] != ser.Name {
					t.Errorf("polyline %d is titled %q, want %q", i, s.polylines[i], ser.Name)
				}
				if !strings.Contains(texts, ser.Name) {
					t.Errorf("no legend entry for %q", ser.Name)
				}
			}
			if !strings.Contains(texts, c.Title) {
				t.Errorf("no title %q", c.Title)
			}
		})
	}
}

// TestP6ChartMarksEachRefresh checks that the P6 chart marks the first
// bucket where a contender's token request was in flight, and only that.
func TestP6ChartMarksEachRefresh(t *testing.T) {
	c := P6Chart(testData(t))
	if len(c.Marks) != 1 || c.Marks[0].X != 0.25 || c.Marks[0].Series != 1 || c.Marks[0].Label != "oauth2 refreshes" {
		t.Fatalf("marks %+v, want one for oauth2 at 0.25 s", c.Marks)
	}
	s := parseSVG(t, c.SVG())
	if !strings.Contains(strings.Join(s.texts, "\n"), "oauth2 refreshes") {
		t.Error("the mark's label is not drawn")
	}
}

// TestChartEscapesAndSkipsNonPositive checks that names are escaped and a
// log axis leaves out points it cannot place.
func TestChartEscapesAndSkipsNonPositive(t *testing.T) {
	c := Chart{Title: "a < b & c", LogY: true, Series: []Series{{Name: "x<y", Points: []Point{{1, 10}, {2, 0}, {3, 100}}}}}
	data := c.SVG()
	s := parseSVG(t, data)
	if len(s.polylines) != 1 || s.polylines[0] != "x<y" {
		t.Fatalf("polylines %q", s.polylines)
	}
	// Two points placed: "x,y x,y".
	start := strings.Index(string(data), `points="`) + len(`points="`)
	pts := strings.Fields(string(data)[start : start+strings.IndexByte(string(data)[start:], '"')])
	if len(pts) != 2 {
		t.Errorf("points %q, want 2 (the zero left out of a log axis)", pts)
	}
}

// TestAxisTicks checks decade ticks on a log axis and round steps on a
// linear one.
func TestAxisTicks(t *testing.T) {
	log := newAxis([]float64{12, 9000}, true, 0, 100)
	if got := log.ticks(); len(got) != 4 || got[0] != 10 || got[3] != 10000 {
		t.Errorf("log ticks %v, want 10 100 1000 10000", got)
	}
	lin := newAxis([]float64{0, 33}, false, 0, 100)
	got := lin.ticks()
	if len(got) < 2 || got[0] != 0 || got[1] != 10 || got[len(got)-1] < 33 {
		t.Errorf("linear ticks %v, want 0 10 20 30 40", got)
	}
	if p := log.pos(10); p != 0 {
		t.Errorf("log pos(10) = %v, want 0", p)
	}
}

// TestRenderTablesAndTargets checks BENCHMARKS.md's tables: ratios to the
// floor, the targets' verdicts, the P2 counts, and "–" where a figure was
// not measured.
func TestRenderTablesAndTargets(t *testing.T) {
	d := testData(t)
	md := Render(d)
	for _, want := range []string{
		"cd compare && go run ./cmd/benchreport",
		"| bearer.Transport + app.ClientSource() | 1,210 | 2,384 | 9 | 1.10× |",      // 1210 / 1100
		"| bearer.Transport + app.OnBehalfOfSource() | 2,200 | 3,920 | 13 | 2.00× |", // 2200 / 1100
		"| azcore pipeline + BearerTokenPolicy | – | – | – | – |",
		"| P1 ClientSource ≤ 1.25× the floor (no-op base) | 1,210 ns ÷ 1,100 ns = 1.10× | **holds** |",
		"| P1 ClientSource ≤ 1 allocation above the floor | 9 − 8 = 1 | **holds** |",
		"| P1 OnBehalfOfSource ≤ 1.5× the floor (no-op base) | 2,200 ns ÷ 1,100 ns = 2.00× | **missed** |",
		"| P2 exactly 1 token request (10,000 goroutines, cold cache) | 1 | **holds** |",
		"| MSAL Go AcquireTokenByCredential | 10,000 | 4.73 s | 6.85× |",
		"| P3 1M tenants within 2× of 10 (AcquireTokenForClient + Tenant) | 5,000 ns ÷ 2,000 ns = 2.50× | **missed** |",
		"| P3 1M tenants within 2× of 10 (ClientSource, TokenRequest.TenantID) | – | not measured |",
		"| 10,000 | 1,009,912 | 3,000 | – | 336.64× |",
		"| P6 p99 during refresh ≤ 1.1× p99 without (bearer) | 2.00 ms ÷ 2.00 ms = 1.00× | **holds** |",
		"| oauth2 | 0 | 1 | 0.25 s | 0.00 ms | 2.00 ms | 10 | 0.00 ms | 25.0 ms | 0.00 ms | 12.50× |",
		"| bearer | 0 | 1 | – |",
		"| CPU | AMD EPYC |",
		"![P3 chart](compare/results/p3.svg)",
		"## Notes\n\nNone.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
	d.Notes = "ClientSource misses by 3% (profile: map lookup)."
	if md := Render(d); !strings.Contains(md, "## Notes\n\nClientSource misses by 3%") {
		t.Error("the notes are not in the closing section")
	}
}

// TestNum checks thousands separators.
func TestNum(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -4200: "-4,200"} {
		if got := num(in); got != want {
			t.Errorf("num(%v) = %q, want %q", in, got, want)
		}
	}
}
