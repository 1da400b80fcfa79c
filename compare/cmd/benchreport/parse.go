package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Result is one benchmark's figures: the median of its runs (-count),
// each unit (ns/op, B/op, allocs/op and custom metrics) on its own.
type Result struct {
	Name    string             // without the "Benchmark" prefix and the -GOMAXPROCS suffix
	Runs    int                // lines seen for it
	Metrics map[string]float64 // unit → median value
}

// Results are the benchmarks of one run, by name.
type Results map[string]*Result

// Get returns the median of unit for the benchmark name, and whether the
// run has it.
func (r Results) Get(name, unit string) (float64, bool) {
	res, ok := r[name]
	if !ok {
		return 0, false
	}
	v, ok := res.Metrics[unit]
	return v, ok
}

// ParseBench reads `go test -bench` text output and returns each
// benchmark's median per unit. Lines that are not benchmark results
// (goos, PASS, logs) are skipped.
func ParseBench(r io.Reader) (Results, error) {
	all := map[string]map[string][]float64{}
	runs := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a benchmark's log line, not its result
		}
		name := trimProcs(strings.TrimPrefix(f[0], "Benchmark"))
		if all[name] == nil {
			all[name] = map[string][]float64{}
		}
		runs[name]++
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: value %q: %w", name, f[i], err)
			}
			all[name][f[i+1]] = append(all[name][f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading benchmark output: %w", err)
	}
	out := Results{}
	for name, units := range all {
		res := &Result{Name: name, Runs: runs[name], Metrics: map[string]float64{}}
		for unit, vs := range units {
			res.Metrics[unit] = median(vs)
		}
		out[name] = res
	}
	return out, nil
}

// trimProcs removes the -N suffix go test adds for GOMAXPROCS > 1.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// median is the middle value of vs (the mean of the middle two for an
// even count).
func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
