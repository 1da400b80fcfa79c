package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Point is one point of a series.
type Point struct{ X, Y float64 }

// Series is one line of a chart.
type Series struct {
	Name   string
	Points []Point
	Dashed bool
}

// Chart is a line chart: axes with ticks and labels, one polyline per
// series, and a legend. Log axes take decades as ticks; their values must
// be positive.
type Chart struct {
	Title          string
	XLabel, YLabel string
	LogX, LogY     bool
	// XFormat and YFormat print a tick's value (a default when nil).
	XFormat, YFormat func(float64) string
	Series           []Series
	// Marks are vertical lines at moments worth pointing at, drawn in
	// their series' colour.
	Marks []Mark
}

// Mark is a vertical line at X, labelled, in the colour of Series[Series].
type Mark struct {
	X      float64
	Series int
	Label  string
}

const (
	chartW, chartH = 760, 420
	padL, padR     = 80, 180
	padT, padB     = 64, 56
)

// palette is the series' colours, in order (colour-blind safe).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"}

// axis maps values of one dimension onto pixels.
type axis struct {
	lo, hi float64 // in data units (log10 of them for a log axis)
	log    bool
	p0, p1 float64 // pixels of lo and hi
}

func (a axis) pos(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	if a.hi == a.lo {
		return (a.p0 + a.p1) / 2
	}
	return a.p0 + (v-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

// ticks returns the axis' tick values, in data units.
func (a axis) ticks() []float64 {
	var out []float64
	if a.log {
		for e := math.Floor(a.lo); e <= math.Ceil(a.hi)+1e-9; e++ {
			if e >= a.lo-1e-9 && e <= a.hi+1e-9 {
				out = append(out, math.Pow(10, e))
			}
		}
		return out
	}
	step := niceStep((a.hi - a.lo) / 6)
	for v := math.Ceil(a.lo/step) * step; v <= a.hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// newAxis fits an axis to the values vs, from pixel p0 to p1. A log axis
// spans whole decades; a linear one starts at zero.
func newAxis(vs []float64, log bool, p0, p1 float64) axis {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if log {
			if v <= 0 {
				continue
			}
			v = math.Log10(v)
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if log {
		lo, hi = math.Floor(lo), math.Ceil(hi)
		if lo == hi {
			hi++
		}
	} else {
		lo = min(lo, 0)
		if hi <= lo {
			hi = lo + 1
		}
		step := niceStep((hi - lo) / 6)
		hi = math.Ceil(hi/step) * step
	}
	return axis{lo: lo, hi: hi, log: log, p0: p0, p1: p1}
}

// formatNumber prints v briefly: 1000 → 1k, 1e6 → 1M.
func formatNumber(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6 && math.Mod(v, 1e6) == 0:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e3 && math.Mod(v, 1e3) == 0:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

// SVG renders the chart as a standalone SVG document.
func (c Chart) SVG() []byte {
	xf, yf := c.XFormat, c.YFormat
	if xf == nil {
		xf = formatNumber
	}
	if yf == nil {
		yf = formatNumber
	}
	var xs, ys []float64
	for _, s := range c.Series {
		for _, p := range s.Points {
			xs, ys = append(xs, p.X), append(ys, p.Y)
		}
	}
	x := newAxis(xs, c.LogX, padL, chartW-padR)
	y := newAxis(ys, c.LogY, chartH-padB, padT)

	var b bytes.Buffer
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", padL, esc(c.Title))

	// Grid and ticks.
	for _, t := range x.ticks() {
		px := x.pos(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`+"\n", px, padT, px, chartH-padB)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px, chartH-padB+16, esc(xf(t)))
	}
	for _, t := range y.ticks() {
		py := y.pos(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", padL, py, chartW-padR, py)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, py+4, esc(yf(t)))
	}
	// Axes.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", padL, chartH-padB, chartW-padR, chartH-padB)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", padL, padT, padL, chartH-padB)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", (padL+chartW-padR)/2, chartH-12, esc(c.XLabel))
	fmt.Fprintf(&b, `<text x="18" y="%d" text-anchor="middle" transform="rotate(-90 18 %d)">%s</text>`+"\n", (padT+chartH-padB)/2, (padT+chartH-padB)/2, esc(c.YLabel))

	// Marks, under the series.
	for i, m := range c.Marks {
		if c.LogX && m.X <= 0 {
			continue
		}
		px := x.pos(m.X)
		color := palette[m.Series%len(palette)]
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1.5" stroke-dasharray="3 3"/>`+"\n", px, padT, px, chartH-padB, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="%s" font-size="11" text-anchor="middle">%s</text>`+"\n", px, padT-6-13*(i%2), color, esc(m.Label))
	}

	// Series and legend.
	for i, s := range c.Series {
		color := palette[i%len(palette)]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for _, p := range s.Points {
			if (c.LogX && p.X <= 0) || (c.LogY && p.Y <= 0) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.pos(p.X), y.pos(p.Y)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"><title>%s</title></polyline>`+"\n", color, dash, strings.Join(pts, " "), esc(s.Name))
		if len(pts) <= 12 { // few points: mark each
			for _, p := range pts {
				cx, cy, _ := strings.Cut(p, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", cx, cy, color)
			}
		}
		ly := padT + 10 + i*20
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", chartW-padR+12, ly, chartW-padR+36, ly, color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", chartW-padR+42, ly+4, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
