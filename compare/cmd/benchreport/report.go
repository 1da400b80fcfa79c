package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Machine is where and when a run happened.
type Machine struct {
	GoVersion string    `json:"go_version"`
	CPU       string    `json:"cpu"`
	NProc     int       `json:"nproc"`
	LoadAvg   string    `json:"loadavg"` // /proc/loadavg at the start
	Date      time.Time `json:"date"`
	Elapsed   string    `json:"elapsed"` // the whole run
	Quick     bool      `json:"quick"`   // a smoke run: short benchtimes, not for reading
}

// P6Stats, P6Bucket, P6Run and P6Report mirror the JSON written by the
// compare package's TestMeasureRefreshLatency.
type P6Stats struct {
	N   int   `json:"n"`
	P50 int64 `json:"p50_ns"`
	P99 int64 `json:"p99_ns"`
	Max int64 `json:"max_ns"`
}

// P6Bucket is one time bucket of a P6 run.
type P6Bucket struct {
	Start      int64 `json:"start_ns"`
	Refreshing int   `json:"refreshing"`
	P6Stats
}

// P6Run is one contender of P6.
type P6Run struct {
	Name          string     `json:"name"`
	TokenRequests int64      `json:"token_requests"`
	All           P6Stats    `json:"all"`
	During        P6Stats    `json:"during_refresh"`
	Outside       P6Stats    `json:"outside_refresh"`
	Buckets       []P6Bucket `json:"buckets"`
}

// P6Report is P6's whole output.
type P6Report struct {
	Config struct {
		Rate           int   `json:"rate"`
		Workers        int   `json:"workers"`
		Warmup         int64 `json:"warmup_ns"`
		Duration       int64 `json:"duration_ns"`
		Bucket         int64 `json:"bucket_ns"`
		TokenLifetime  int64 `json:"token_lifetime_ns"`
		RefreshIn      int64 `json:"refresh_in_ns"`
		AuthorityDelay int64 `json:"authority_delay_ns"`
	} `json:"config"`
	Runs []P6Run `json:"runs"`
}

// Data is everything BENCHMARKS.md is made from.
type Data struct {
	Machine Machine
	Bench   Results
	P6      P6Report
	Notes   string // hand-written closing notes (results/notes.md), kept across runs
}

// Targets of issue 17.
const (
	targetClientSource = 1.25 // × floor, P1 no-op base
	targetClientAllocs = 1    // allocations above the floor
	targetOBO          = 1.5  // × floor
	targetP3           = 2.0  // 1M tenants ÷ 10 tenants
	targetP6           = 1.1  // p99 during refresh ÷ p99 without
)

// P3Sizes and OBOSizes are the tenant and user counts of P3.
var (
	P3Sizes  = []int{10, 10_000, 100_000, 1_000_000}
	OBOSizes = []int{10, 100_000}
)

// p1Contenders are P1's rows, in order, with what each one is.
var p1Contenders = []struct{ name, what string }{
	{"floor", "req.Clone, one header, base (the floor)"},
	{"oauth2", "x/oauth2 Transport + ReuseTokenSource"},
	{"azcore", "azcore pipeline + BearerTokenPolicy"},
	{"ClientSource", "bearer.Transport + app.ClientSource()"},
	{"OnBehalfOfSource", "bearer.Transport + app.OnBehalfOfSource()"},
}

// num prints v with thousands separators and no decimals.
func num(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ratio prints a/b as "1.23×", or "–" when either is missing.
func ratio(a, b float64, ok bool) string {
	if !ok || b == 0 {
		return "–"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
}

// ms prints nanoseconds as milliseconds (seconds from 1 s).
func ms(ns float64) string {
	switch {
	case ns >= 1e9:
		return strconv.FormatFloat(ns/1e9, 'f', 2, 64) + " s"
	case ns >= 100e6:
		return strconv.FormatFloat(ns/1e6, 'f', 0, 64) + " ms"
	case ns >= 10e6:
		return strconv.FormatFloat(ns/1e6, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(ns/1e6, 'f', 2, 64) + " ms"
	}
}

// verdict is "holds" or "missed" for a target.
func verdict(ok, have bool) string {
	switch {
	case !have:
		return "not measured"
	case ok:
		return "**holds**"
	default:
		return "**missed**"
	}
}

// target is one row of the targets table.
type target struct {
	name, measured string
	ok, have       bool
}

// targets evaluates issue 17's targets on d.
func targets(d Data) []target {
	r := d.Bench
	var out []target
	floor, fok := r.Get("CompareHotPath/base=nop/floor", "ns/op")
	floorA, _ := r.Get("CompareHotPath/base=nop/floor", "allocs/op")
	cs, cok := r.Get("CompareHotPath/base=nop/ClientSource", "ns/op")
	csA, _ := r.Get("CompareHotPath/base=nop/ClientSource", "allocs/op")
	have := fok && cok
	out = append(out, target{
		name:     fmt.Sprintf("P1 ClientSource ≤ %.2f× the floor (no-op base)", targetClientSource),
		measured: fmt.Sprintf("%s ns ÷ %s ns = %s", num(cs), num(floor), ratio(cs, floor, have)),
		ok:       have && cs/floor <= targetClientSource, have: have,
	})
	out = append(out, target{
		name:     fmt.Sprintf("P1 ClientSource ≤ %d allocation above the floor", targetClientAllocs),
		measured: fmt.Sprintf("%s − %s = %s", num(csA), num(floorA), num(csA-floorA)),
		ok:       have && csA-floorA <= targetClientAllocs, have: have,
	})
	obo, ook := r.Get("CompareHotPath/base=nop/OnBehalfOfSource", "ns/op")
	have = fok && ook
	out = append(out, target{
		name:     fmt.Sprintf("P1 OnBehalfOfSource ≤ %.1f× the floor (no-op base)", targetOBO),
		measured: fmt.Sprintf("%s ns ÷ %s ns = %s", num(obo), num(floor), ratio(obo, floor, have)),
		ok:       have && obo/floor <= targetOBO, have: have,
	})
	tr, tok := r.Get("CompareColdStart/bearer", "token-requests/op")
	out = append(out, target{
		name:     "P2 exactly 1 token request (10,000 goroutines, cold cache)",
		measured: num(tr), ok: tok && tr == 1, have: tok,
	})
	for _, side := range []string{"bearer", "bearer-source"} {
		small, sok := r.Get("CompareCacheLookup/tokens=10/"+side, "ns/op")
		big, bok := r.Get("CompareCacheLookup/tokens=1000000/"+side, "ns/op")
		have := sok && bok
		out = append(out, target{
			name:     fmt.Sprintf("P3 1M tenants within %.0f× of 10 (%s)", targetP3, p3Label(side)),
			measured: fmt.Sprintf("%s ns ÷ %s ns = %s", num(big), num(small), ratio(big, small, have)),
			ok:       have && big/small <= targetP3, have: have,
		})
	}
	if run, ok := p6Run(d, "bearer"); ok {
		have := run.During.N > 0 && run.Outside.N > 0
		out = append(out, target{
			name: fmt.Sprintf("P6 p99 during refresh ≤ %.1f× p99 without (bearer)", targetP6),
			measured: fmt.Sprintf("%s ÷ %s = %s", ms(float64(run.During.P99)), ms(float64(run.Outside.P99)),
				ratio(float64(run.During.P99), float64(run.Outside.P99), have)),
			ok: have && float64(run.During.P99) <= targetP6*float64(run.Outside.P99), have: have,
		})
	} else {
		out = append(out, target{name: fmt.Sprintf("P6 p99 during refresh ≤ %.1f× p99 without (bearer)", targetP6)})
	}
	for i := range out {
		if !out[i].have {
			out[i].measured = "–"
		}
	}
	return out
}

// p3Label names a P3 side.
func p3Label(side string) string {
	switch side {
	case "MSALGo":
		return "MSAL Go AcquireTokenByCredential"
	case "bearer":
		return "AcquireTokenForClient + Tenant"
	case "bearer-source":
		return "ClientSource, TokenRequest.TenantID"
	}
	return side
}

func p6Run(d Data, name string) (P6Run, bool) {
	for _, r := range d.P6.Runs {
		if r.Name == name {
			return r, true
		}
	}
	return P6Run{}, false
}

// P3Chart is the chart of P3: ns per lookup against the number of tenants.
func P3Chart(d Data) Chart {
	c := Chart{
		Title:  "P3: a cached app token among n tenants",
		XLabel: "tenants with a cached token (log)", YLabel: "ns per lookup (log)",
		LogX: true, LogY: true,
	}
	for _, side := range []string{"MSALGo", "bearer", "bearer-source"} {
		s := Series{Name: p3Short(side)}
		for _, n := range P3Sizes {
			if v, ok := d.Bench.Get(fmt.Sprintf("CompareCacheLookup/tokens=%d/%s", n, side), "ns/op"); ok {
				s.Points = append(s.Points, Point{X: float64(n), Y: v})
			}
		}
		c.Series = append(c.Series, s)
	}
	return c
}

func p3Short(side string) string {
	switch side {
	case "MSALGo":
		return "MSAL Go"
	case "bearer":
		return "bearer (Tenant)"
	case "bearer-source":
		return "bearer (source)"
	}
	return side
}

// P6Chart is the chart of P6: p99 latency per time bucket, per contender.
func P6Chart(d Data) Chart {
	c := Chart{
		Title:  "P6: p99 request latency while tokens refresh",
		XLabel: "seconds since the first token", YLabel: "p99 latency per bucket (ms, log)",
		LogY:    true,
		YFormat: func(v float64) string { return formatNumber(v) },
	}
	for i, r := range d.P6.Runs {
		s := Series{Name: r.Name}
		marked := false
		for _, b := range r.Buckets {
			s.Points = append(s.Points, Point{X: float64(b.Start) / 1e9, Y: float64(b.P99) / 1e6})
			if b.Refreshing > 0 && !marked {
				c.Marks = append(c.Marks, Mark{X: float64(b.Start) / 1e9, Series: i, Label: r.Name + " refreshes"})
				marked = true
			}
		}
		c.Series = append(c.Series, s)
	}
	return c
}

// Render writes BENCHMARKS.md.
func Render(d Data) string {
	var b strings.Builder
	r := d.Bench
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := d.Machine

	p("# Benchmarks\n\n")
	p("bearer's hot path beside the floor and the libraries it is measured against (golang.org/x/oauth2, azcore's `BearerTokenPolicy`, MSAL Go v1.10.1), all from **one run** of one command. The code is in [`compare/`](compare/) (a nested module, so the SDKs stay out of bearer's `go.mod`); issue 17 set the figures and targets.\n\n")
	p("```sh\ncd compare && go run ./cmd/benchreport\n```\n\n")
	p("It builds the compare test binary once, runs the benchmarks (`go test -bench`, text output kept in [`compare/results/bench.txt`](compare/results/bench.txt)) and the P6 measurement (JSON in [`compare/results/p6.json`](compare/results/p6.json)), then writes this file and the charts. `-quick` makes a smoke run; `-render` rewrites this file and the charts from the kept results without running anything. Hand-written notes live in `compare/results/notes.md` and are copied into the last section.\n\n")
	p("## The machine\n\n")
	p("| | |\n| --- | --- |\n")
	p("| date | %s |\n", m.Date.UTC().Format("2006-01-02 15:04 MST"))
	p("| Go | %s |\n", m.GoVersion)
	p("| CPU | %s |\n", m.CPU)
	p("| nproc | %d |\n", m.NProc)
	p("| load average at the start | %s |\n", m.LoadAvg)
	p("| the whole run took | %s |\n\n", m.Elapsed)
	if m.Quick {
		p("**A quick smoke run (`-quick`): short benchtimes; do not read these figures.**\n\n")
	}
	p("The machine is shared with other work and loaded (see the load average): absolute figures are noisy, by ±20%% or more between runs. Compare within a table, where every row comes from the same run.")
	if !m.Quick {
		p(" Each P1 and P3 figure is the median of three rounds (every contender once per round, so all see the same stretches of load); P2 ran once (three operations of 10,000 goroutines each), P6 once.")
	}
	p("\n\n")

	// Targets.
	p("## Targets (issue 17)\n\n| target | measured | |\n| --- | --- | --- |\n")
	for _, t := range targets(d) {
		p("| %s | %s | %s |\n", t.name, t.measured, verdict(t.ok, t.have))
	}
	p("\n")

	// P1.
	for _, base := range []struct{ key, title, reading string }{
		{"nop", "P1a: a cached token per request, no-op base", "The library's own cost: each contender clones the request, puts its token on it and calls a base that answers at once. The ratio is to the floor, the least an authenticating RoundTripper can do."},
		{"loopback", "P1b: a cached token per request, a real loopback GET", "The same request sent over HTTPS to an `httptest` server on a kept-alive connection, the body read. The network stack dominates; the library's share is the difference to the floor."},
	} {
		p("## %s\n\n%s\n\n", base.title, base.reading)
		p("| contender | ns/op | B/op | allocs/op | × floor |\n| --- | ---: | ---: | ---: | ---: |\n")
		floor, fok := r.Get("CompareHotPath/base="+base.key+"/floor", "ns/op")
		for _, c := range p1Contenders {
			name := "CompareHotPath/base=" + base.key + "/" + c.name
			ns, ok := r.Get(name, "ns/op")
			if !ok {
				p("| %s | – | – | – | – |\n", c.what)
				continue
			}
			bop, _ := r.Get(name, "B/op")
			al, _ := r.Get(name, "allocs/op")
			p("| %s | %s | %s | %s | %s |\n", c.what, num(ns), num(bop), num(al), ratio(ns, floor, fok))
		}
		p("\n")
		if base.key == "nop" {
			cs, _ := r.Get("CompareHotPath/base=nop/ClientSource", "ns/op")
			ot, ook := r.Get("CompareHotPath/base=nop/oauth2", "ns/op")
			az, aok := r.Get("CompareHotPath/base=nop/azcore", "ns/op")
			p("Reading: through `ClientSource` a request costs %s the floor, %s x/oauth2's and %s azcore's. azcore's pipeline runs its default policies (telemetry, request ID, logging, body download) around the bearer policy, so most of its cost is not the token's. Targets: see above.\n\n",
				ratio(cs, floor, fok), ratio(cs, ot, ook), ratio(cs, az, aok))
		} else {
			cs, cok := r.Get("CompareHotPath/base=loopback/ClientSource", "ns/op")
			p("Reading: over loopback HTTPS the floor is %s ns, and `ClientSource` costs %s ns (%s the floor): a cached token is a small part of a real request, and the differences between contenders are within this machine's noise.\n\n",
				num(floor), num(cs), ratio(cs, floor, fok && cok))
		}
	}

	// P2.
	p("## P2: 10,000 goroutines on a cold cache\n\n")
	p("10,000 goroutines send a request at once through a new client with nothing cached; the authority (a loopback stub, 20 ms per token answer) counts token requests. Time is from the start signal until the last goroutine is done; the base is the no-op RoundTripper. MSAL Go's documented pattern for an app token is `AcquireTokenByCredential`, which reads its cache first (v1.10.1's `AcquireTokenSilent` requires an account for a confidential client). Clients of the stub open at most 256 connections.\n\n")
	p("| contender | token requests | time to all done | × bearer |\n| --- | ---: | ---: | ---: |\n")
	bt, bok := r.Get("CompareColdStart/bearer", "ns/op")
	for _, c := range []struct{ key, what string }{
		{"bearer", "bearer.Transport + app.ClientSource()"},
		{"oauth2", "x/oauth2 clientcredentials + Transport"},
		{"MSALGo", "MSAL Go AcquireTokenByCredential"},
	} {
		ns, ok := r.Get("CompareColdStart/"+c.key, "ns/op")
		tr, _ := r.Get("CompareColdStart/"+c.key, "token-requests/op")
		if !ok {
			p("| %s | – | – | – |\n", c.what)
			continue
		}
		p("| %s | %s | %s | %s |\n", c.what, num(tr), ms(ns), ratio(ns, bt, bok))
	}
	mt, _ := r.Get("CompareColdStart/MSALGo", "token-requests/op")
	p("\nReading: bearer and x/oauth2 make one token request for all 10,000 callers; MSAL Go makes %s, one per caller that found the cache empty, since it shares no request between concurrent callers. `TestCompareColdStartOneTokenRequest` asserts the count of one for bearer and x/oauth2 (with 1,000 goroutines, the race detector's limit being about 8,000).\n\n", num(mt))

	// P3.
	p("## P3: a cached token among many tenants or users\n\n")
	p("App tokens: one application holds a token per tenant and looks one up per request, tenants in turn. bearer is measured through `AcquireTokenForClient` with `flow.Tenant` and through `ClientSource` with `TokenRequest.TenantID` (what `Transport` asks). MSAL Go's cache is loaded from bearer's MSAL JSON; it scans every app token of the client per lookup, and is left out at 1,000,000 (its document would take gigabytes and each lookup about a tenth of a second).\n\n")
	p("![P3 chart](compare/results/p3.svg)\n\n")
	p("| tenants | MSAL Go ns/op | bearer (Tenant) ns/op | bearer (source) ns/op | MSAL Go ÷ bearer |\n| ---: | ---: | ---: | ---: | ---: |\n")
	for _, n := range P3Sizes {
		cell := func(side string) (string, float64, bool) {
			v, ok := r.Get(fmt.Sprintf("CompareCacheLookup/tokens=%d/%s", n, side), "ns/op")
			if !ok {
				return "–", 0, false
			}
			return num(v), v, true
		}
		msalCell, mv, mok := cell("MSALGo")
		bs, bv, bok := cell("bearer")
		ss, _, _ := cell("bearer-source")
		p("| %s | %s | %s | %s | %s |\n", num(float64(n)), msalCell, bs, ss, ratio(mv, bv, mok && bok))
	}
	small, _ := r.Get("CompareCacheLookup/tokens=10/bearer", "ns/op")
	big, _ := r.Get("CompareCacheLookup/tokens=1000000/bearer", "ns/op")
	p("\nReading: bearer's lookup is a hash, so its cost stays near flat from 10 to 1,000,000 tenants (%s); what grows is the memory the lookup touches, which no longer fits the CPU's caches. MSAL Go's grows with the number of tenants.\n\n", ratio(big, small, small > 0 && big > 0))
	p("On-behalf-of tokens: a middle tier holds a token per caller (keyed by the hash of the caller's assertion) and serves callers in turn, through `AcquireTokenOnBehalfOf` on both sides. bearer's cache is filled through `StoreResponse`, MSAL Go's through the stub authority.\n\n")
	p("| users | MSAL Go ns/op | bearer ns/op | bearer B/op | bearer allocs/op | MSAL Go ÷ bearer |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, n := range OBOSizes {
		mv, mok := r.Get(fmt.Sprintf("CompareOBOLookup/users=%d/MSALGo", n), "ns/op")
		bv, bok := r.Get(fmt.Sprintf("CompareOBOLookup/users=%d/bearer", n), "ns/op")
		bb, _ := r.Get(fmt.Sprintf("CompareOBOLookup/users=%d/bearer", n), "B/op")
		ba, _ := r.Get(fmt.Sprintf("CompareOBOLookup/users=%d/bearer", n), "allocs/op")
		cell := func(v float64, ok bool) string {
			if !ok {
				return "–"
			}
			return num(v)
		}
		p("| %s | %s | %s | %s | %s | %s |\n", num(float64(n)), cell(mv, mok), cell(bv, bok), cell(bb, bok), cell(ba, bok), ratio(mv, bv, mok && bok))
	}
	oSmall, _ := r.Get("CompareOBOLookup/users=10/bearer", "ns/op")
	ob, _ := r.Get("CompareOBOLookup/users=100000/bearer", "ns/op")
	p("\nReading: both libraries hash the assertion and look the partition up, so neither scans; bearer's 100,000 users cost %s its 10.\n\n", ratio(ob, oSmall, oSmall > 0 && ob > 0))

	// P6.
	cfg := d.P6.Config
	p("## P6: request latency while tokens refresh\n\n")
	p("The authority (a loopback stub) takes %s to answer a token request (Entra takes about that or more; 20 ms would be lost in this machine's noise) and issues tokens living %s with `refresh_in` %s. Each contender gets its first token, then GETs to a loopback HTTPS resource fall due at %s a second for %s (after %s of unmeasured warm-up), sent by a pool of %d goroutines: an open load, so callers blocked on a token pile up as they would in a server. Each request's latency runs from when it was due; it counts as \"during refresh\" if a token request was in flight at the authority at any moment between. The time axis starts after the warm-up; the first token was fetched just before it. bearer refreshes in the background past `refresh_in`; x/oauth2 ignores `refresh_in` and, 10 s before expiry, fetches under a lock every caller waits on; azcore's policy, past `RefreshOn` (and at most once in 30 s), lets the one caller that finds the token due fetch it while the others use the old one. azcore's credential here asks the authority on each call, as azidentity's do when their cache holds nothing fresh.\n\n",
		ms(float64(cfg.AuthorityDelay)), time.Duration(cfg.TokenLifetime), time.Duration(cfg.RefreshIn), num(float64(cfg.Rate)), time.Duration(cfg.Duration), time.Duration(cfg.Warmup), cfg.Workers)
	p("![P6 chart](compare/results/p6.svg)\n\n")
	p("| contender | requests | token requests | refresh seen at | p50 without | p99 without | requests during refresh | p50 during | p99 during | max during | p99 during ÷ without |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, run := range d.P6.Runs {
		seen := "–"
		for _, b := range run.Buckets {
			if b.Refreshing > 0 {
				seen = strconv.FormatFloat(float64(b.Start)/1e9, 'f', 2, 64) + " s"
				break
			}
		}
		p("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", run.Name, num(float64(run.All.N)), run.TokenRequests, seen,
			ms(float64(run.Outside.P50)), ms(float64(run.Outside.P99)), num(float64(run.During.N)),
			ms(float64(run.During.P50)), ms(float64(run.During.P99)), ms(float64(run.During.Max)),
			ratio(float64(run.During.P99), float64(run.Outside.P99), run.During.N > 0 && run.Outside.N > 0))
	}
	p("\nReading: the chart shows each %s bucket's p99. A contender that blocks its callers on a refresh shows a spike of up to the authority's %s in the bucket where it refreshes: every request due while the token is fetched waits for it. One that refreshes in the background shows none. A contender whose one caller fetches while the others go on shows that one request as its maximum during refresh, not as its p99. The dashed lines mark the bucket where each contender's token request was first in flight. Spikes elsewhere, in every contender, are the shared machine's (other processes, garbage collection): \"p99 without\" carries them too, which is why the table, not one bucket, is the figure to read.\n\n",
		time.Duration(cfg.Bucket), ms(float64(cfg.AuthorityDelay)))

	p("## Notes\n\n")
	if strings.TrimSpace(d.Notes) != "" {
		p("%s\n", strings.TrimSpace(d.Notes))
	} else {
		p("None.\n")
	}
	return b.String()
}
