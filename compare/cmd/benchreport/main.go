// Command benchreport runs the compare module's benchmarks and the P6
// measurement in one run, and writes BENCHMARKS.md (at the repository's
// root) and its charts from the results.
//
//	cd compare && go run ./cmd/benchreport           # the full run (about 6 minutes)
//	cd compare && go run ./cmd/benchreport -quick    # a smoke run (under a minute)
//	cd compare && go run ./cmd/benchreport -render   # rewrite from compare/results, run nothing
//
// It must run in the compare module's directory. The raw results are kept
// in compare/results: bench.txt (go test -bench output), p6.json and
// run.json (the machine); the charts are compare/results/p3.svg and
// p6.svg. compare/results/notes.md, when present, is copied into the
// closing section of BENCHMARKS.md.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	quick := flag.Bool("quick", false, "a smoke run: short benchtimes, a short P6, no 1M-tenant or 100k-user setup")
	render := flag.Bool("render", false, "run nothing: rewrite BENCHMARKS.md and the charts from compare/results")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger, *quick, *render); err != nil {
		logger.Error("benchreport", "err", err)
		os.Exit(1)
	}
}

// step is one go test invocation of the run.
type step struct {
	name string
	args []string
	env  []string
}

// steps are the invocations of the compiled test binary, in order.
func steps(quick bool, p6Out string) []step {
	bt, rounds, cold := "1s", 3, "3x"
	lookup := "^BenchmarkCompare(CacheLookup|OBOLookup)$"
	p6 := []string{"COMPARE_P6_OUT=" + p6Out}
	if quick {
		bt, rounds, cold = "100ms", 1, "1x"
		lookup = "^BenchmarkCompare(CacheLookup|OBOLookup)$/^(tokens=(10|10000)|users=10)$"
		p6 = append(p6, "COMPARE_P6_DURATION=3s")
	}
	bench := func(pattern, benchtime, count string) []string {
		return []string{"-test.run", "^$", "-test.bench", pattern, "-test.benchmem", "-test.benchtime", benchtime, "-test.count", count, "-test.timeout", "30m"}
	}
	// P1 and P3 run in rounds, each contender once per round, rather than
	// with -count (each contender's runs back to back): on a shared
	// machine the load drifts, and a contender's median should come from
	// the same stretches of time as the others'.
	var out []step
	for i := range rounds {
		out = append(out, step{fmt.Sprintf("P1 hot path, round %d of %d", i+1, rounds), bench("^BenchmarkCompareHotPath$", bt, "1"), nil})
	}
	out = append(out, step{"P2 cold start", bench("^BenchmarkCompareColdStart$", cold, "1"), nil})
	for i := range rounds {
		out = append(out, step{fmt.Sprintf("P3 lookups among many tenants and users, round %d of %d", i+1, rounds), bench(lookup, bt, "1"), nil})
	}
	return append(out, step{"P6 latency while tokens refresh", []string{"-test.run", "^TestMeasureRefreshLatency$", "-test.v", "-test.timeout", "30m"}, p6})
}

func run(logger *slog.Logger, quick, renderOnly bool) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("run it in the compare module's directory: %w", err)
	}
	if data, err := os.ReadFile("go.mod"); err != nil || !bytes.Contains(data, []byte("module github.com/bearerhttp/bearer/compare")) {
		return errors.New("run it in the compare module's directory (cd compare)")
	}
	resDir := "results"
	if err := os.MkdirAll(resDir, 0o755); err != nil {
		return err
	}
	benchPath, p6Path, runPath := filepath.Join(resDir, "bench.txt"), filepath.Join(resDir, "p6.json"), filepath.Join(resDir, "run.json")

	if !renderOnly {
		m, err := machine(quick)
		if err != nil {
			return err
		}
		start := time.Now()
		tmp, err := os.MkdirTemp("", "benchreport")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		bin := filepath.Join(tmp, "compare.test")
		logger.Info("building the compare test binary")
		build := exec.Command("go", "test", "-c", "-o", bin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go test -c: %w", err)
		}
		var out bytes.Buffer
		absP6, err := filepath.Abs(p6Path)
		if err != nil {
			return err
		}
		os.Remove(p6Path)
		for _, s := range steps(quick, absP6) {
			logger.Info("running", "step", s.name)
			t0 := time.Now()
			cmd := exec.Command(bin, s.args...)
			cmd.Env = append(os.Environ(), s.env...)
			cmd.Stdout = io.MultiWriter(&out, os.Stderr)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			logger.Info("done", "step", s.name, "took", time.Since(t0).Round(time.Second))
		}
		if err := os.WriteFile(benchPath, out.Bytes(), 0o644); err != nil {
			return err
		}
		m.Elapsed = time.Since(start).Round(time.Second).String()
		mj, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(runPath, mj, 0o644); err != nil {
			return err
		}
	}

	d, err := load(benchPath, p6Path, runPath, filepath.Join(resDir, "notes.md"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(resDir, "p3.svg"), P3Chart(d).SVG(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(resDir, "p6.svg"), P6Chart(d).SVG(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join("..", "BENCHMARKS.md"), []byte(Render(d)), 0o644); err != nil {
		return err
	}
	for _, t := range targets(d) {
		logger.Info("target", "target", t.name, "measured", t.measured, "verdict", strings.Trim(verdict(t.ok, t.have), "*"))
	}
	logger.Info("wrote ../BENCHMARKS.md and results/p3.svg, results/p6.svg")
	return nil
}

// load reads a run's kept results.
func load(benchPath, p6Path, runPath, notesPath string) (Data, error) {
	var d Data
	f, err := os.Open(benchPath)
	if err != nil {
		return d, err
	}
	defer f.Close()
	if d.Bench, err = ParseBench(f); err != nil {
		return d, err
	}
	data, err := os.ReadFile(p6Path)
	if err != nil {
		return d, fmt.Errorf("P6 results: %w", err)
	}
	if err := json.Unmarshal(data, &d.P6); err != nil {
		return d, fmt.Errorf("P6 results %s: %w", p6Path, err)
	}
	data, err = os.ReadFile(runPath)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(data, &d.Machine); err != nil {
		return d, fmt.Errorf("%s: %w", runPath, err)
	}
	if notes, err := os.ReadFile(notesPath); err == nil {
		d.Notes = string(notes)
	} else if !errors.Is(err, os.ErrNotExist) {
		return d, err
	}
	return d, nil
}

// machine describes this machine now.
func machine(quick bool) (Machine, error) {
	m := Machine{NProc: runtime.NumCPU(), Date: time.Now().UTC(), Quick: quick}
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return m, fmt.Errorf("go version: %w", err)
	}
	m.GoVersion = strings.TrimSpace(string(out))
	m.CPU = "unknown"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(info), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(la))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m, nil
}
