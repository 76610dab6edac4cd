package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// systemOrder is the bars' order within a group; other systems follow by name.
var systemOrder = []string{"gatehouse-memory", "gatehouse-bolt", "spicedb-memory", "spicedb-postgres"}

// checkSeries is CheckPermission's figures per scenario (in report order)
// and system.
type checkSeries struct {
	scenarios []string
	systems   []string
	rps, p99  map[string][]float64 // system -> value per scenario, 0 when absent
}

func collectCheck(runs []*Report) checkSeries {
	s := checkSeries{rps: map[string][]float64{}, p99: map[string][]float64{}}
	var rows []*Report
	for _, r := range runs {
		if slices.ContainsFunc(r.Results, func(res Result) bool { return res.Workload == workloadCheck }) {
			rows = append(rows, r)
			s.scenarios = append(s.scenarios, r.Scenario)
			for _, res := range r.Results {
				if res.Workload == workloadCheck && !slices.Contains(s.systems, res.System) {
					s.systems = append(s.systems, res.System)
				}
			}
		}
	}
	slices.SortFunc(s.systems, func(a, b string) int {
		ia, ib := rank(a), rank(b)
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	for _, sys := range s.systems {
		s.rps[sys] = make([]float64, len(rows))
		s.p99[sys] = make([]float64, len(rows))
		for i, r := range rows {
			if res, ok := r.result(sys, workloadCheck); ok {
				s.rps[sys][i], s.p99[sys][i] = res.RPS, res.P99ms
			}
		}
	}
	return s
}

func rank(system string) int {
	if i := slices.Index(systemOrder, system); i >= 0 {
		return i
	}
	return len(systemOrder)
}

// writePlotFile draws CheckPermission throughput above p99 latency into a
// PNG at path; false when no report has CheckPermission results.
func writePlotFile(path string, runs []*Report) (bool, error) {
	s := collectCheck(runs)
	if len(s.scenarios) == 0 {
		return false, nil
	}
	const width, height = 12 * vg.Inch, 11 * vg.Inch
	top, err := barPlot(s, s.rps, "CheckPermission throughput (higher is better)", "requests/s (log scale)", width)
	if err != nil {
		return false, err
	}
	bottom, err := barPlot(s, s.p99, "CheckPermission p99 latency (lower is better)", "p99 ms (log scale)", width)
	if err != nil {
		return false, err
	}
	img := vgimg.New(width, height)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(6), PadY: vg.Points(18)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])

	f, err := os.Create(path)
	if err != nil {
		return false, fmt.Errorf("write plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return false, fmt.Errorf("write plot: %w", err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("write plot: %w", err)
	}
	return true, nil
}

// barPlot draws values as grouped bars on a log scale. plot.LogScale cannot
// draw bars (they start at 0), so bars are log10(value) above a floor
// decade and the Y ticks are labelled with the values they stand for.
func barPlot(s checkSeries, values map[string][]float64, title, ylabel string, width vg.Length) (*plot.Plot, error) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, vs := range values {
		for _, v := range vs {
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 1
	}
	floor := math.Floor(math.Log10(lo))
	top := math.Ceil(math.Log10(hi)) + 1 // a spare decade for the legend

	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.X.Label.Text = "scenario"
	p.Y.Min, p.Y.Max = 0, top-floor
	p.Y.Tick.Marker = decadeTicks(floor, top)
	p.Add(plotter.NewGrid())

	n := len(s.systems)
	barW := min(vg.Points(18), width*0.8/vg.Length(len(s.scenarios)*n+1))
	for i, sys := range s.systems {
		heights := make(plotter.Values, len(s.scenarios))
		for j, v := range values[sys] {
			if v > 0 {
				heights[j] = math.Log10(v) - floor
			}
		}
		bars, err := plotter.NewBarChart(heights, barW)
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		bars.LineStyle.Width = vg.Length(0)
		bars.Color = plotutil.Color(i)
		bars.Offset = vg.Length(float64(i)-float64(n-1)/2) * barW
		p.Add(bars)
		p.Legend.Add(sys, bars)
	}
	p.Legend.Top = true
	p.NominalX(s.scenarios...)
	p.X.Min, p.X.Max = -0.6, float64(len(s.scenarios))-0.4
	p.X.Tick.Label.Rotation = math.Pi / 8
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	return p, nil
}

// decadeTicks labels each decade from 10^floor to 10^top, at heights
// counted from floor, with unlabelled minor ticks between.
func decadeTicks(floor, top float64) plot.ConstantTicks {
	var ticks plot.ConstantTicks
	for e := floor; e <= top; e++ {
		ticks = append(ticks, plot.Tick{Value: e - floor, Label: decadeLabel(int(e))})
		if e == top {
			break
		}
		for m := 2.0; m < 10; m++ {
			ticks = append(ticks, plot.Tick{Value: e - floor + math.Log10(m)})
		}
	}
	return ticks
}

func decadeLabel(e int) string {
	switch {
	case e >= 6:
		return strconv.FormatFloat(math.Pow10(e-6), 'f', -1, 64) + "M"
	case e >= 3:
		return strconv.FormatFloat(math.Pow10(e-3), 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Pow10(e), 'f', -1, 64)
}
