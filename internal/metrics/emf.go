package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// EMF limits (the embedded metric format specification).
const (
	maxValuesPerMetric = 100 // values of one metric in one line
	maxMetricsPerLine  = 100 // metrics of one directive
)

// EMF collects the values of one function and writes them, at each Flush,
// as EMF lines: in the common case one line per Flush, holding every value
// recorded since the last one. It is safe for concurrent use (a stream
// batch refills several partners at once).
type EMF struct {
	w        io.Writer
	function string
	now      func() time.Time

	mu      sync.Mutex
	pending []datum
	invalid []error
}

type datum struct {
	name  string
	value float64
	dims  []Dimension
}

// NewEMF returns a recorder for function writing to w (the function's
// standard output in Lambda), timestamping lines with now.
func NewEMF(w io.Writer, function string, now func() time.Time) *EMF {
	return &EMF{w: w, function: function, now: now}
}

// Add records value for the metric name with the given breakdowns. A value
// that Check rejects is not recorded; Flush reports it. Recording never
// fails the caller: metrics must not break billing.
func (e *EMF) Add(name string, value float64, dims ...Dimension) {
	err := Check(name, dims...)
	if err == nil && (math.IsNaN(value) || math.IsInf(value, 0)) {
		err = fmt.Errorf("metric %s: value %v is not a finite number", name, value)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.invalid = append(e.invalid, err)
		return
	}
	e.pending = append(e.pending, datum{name: name, value: value, dims: slices.Clone(dims)})
}

// Flush writes the values recorded since the last Flush and forgets them.
// Call it once at the end of each invocation. It returns the write error,
// if any, joined with the values Add refused since the last Flush (log it:
// a refused value is a bug in the recording code).
func (e *EMF) Flush() error {
	e.mu.Lock()
	pending, invalid := e.pending, e.invalid
	e.pending, e.invalid = nil, nil
	e.mu.Unlock()

	var errs []error
	if len(pending) > 0 {
		ts := e.now().UnixMilli()
		var buf []byte
		for _, l := range pack(pending) {
			b, err := json.Marshal(l.render(e.function, ts))
			if err != nil {
				return err // cannot happen: strings and finite numbers only
			}
			buf = append(append(buf, b...), '\n')
		}
		// One write: the lines reach the log together, never interleaved
		// with another writer's line.
		if _, err := e.w.Write(buf); err != nil {
			errs = append(errs, fmt.Errorf("metrics: %w", err))
		}
	}
	for _, err := range invalid {
		errs = append(errs, fmt.Errorf("metrics: value not recorded: %w", err))
	}
	return errors.Join(errs...)
}

// line is one EMF object. Its dimension values are top-level members, so
// they are shared by every metric in it: two values of one dimension (say
// Kind=manual and Kind=auto_refill) go into two lines.
type line struct {
	dims    map[string]string // breakdown → value
	metrics map[string]*lineMetric
}

type lineMetric struct {
	breakdowns []string // sorted dimension names of this metric in this line
	values     []float64
}

// pack distributes data over as few lines as the format allows: a datum
// joins the first line whose dimension values agree with its own and where
// its metric, if present, has the same breakdowns and room for a value.
func pack(data []datum) []*line {
	var lines []*line
	for _, d := range data {
		names := make([]string, len(d.dims))
		for i, dim := range d.dims {
			names[i] = dim.Name
		}
		slices.Sort(names)
		var target *line
		for _, l := range lines {
			if l.accepts(d, names) {
				target = l
				break
			}
		}
		if target == nil {
			target = &line{dims: map[string]string{}, metrics: map[string]*lineMetric{}}
			lines = append(lines, target)
		}
		for _, dim := range d.dims {
			target.dims[dim.Name] = dim.Value
		}
		m := target.metrics[d.name]
		if m == nil {
			m = &lineMetric{breakdowns: names}
			target.metrics[d.name] = m
		}
		m.values = append(m.values, d.value)
	}
	return lines
}

func (l *line) accepts(d datum, breakdowns []string) bool {
	for _, dim := range d.dims {
		if v, ok := l.dims[dim.Name]; ok && v != dim.Value {
			return false
		}
	}
	if m, ok := l.metrics[d.name]; ok {
		return slices.Equal(m.breakdowns, breakdowns) && len(m.values) < maxValuesPerMetric
	}
	return len(l.metrics) < maxMetricsPerLine
}

// Directive is one entry of _aws.CloudWatchMetrics: the metrics it names
// are published under each of its dimension sets.
type Directive struct {
	Namespace  string
	Dimensions [][]string
	Metrics    []MetricDefinition
}

// MetricDefinition names a metric of a directive.
type MetricDefinition struct {
	Name string
	Unit Unit
}

// render is the line as a JSON object: _aws metadata, the dimension
// values and each metric's value (or values) as top-level members.
func (l *line) render(function string, timestamp int64) map[string]any {
	// One directive per distinct set of breakdowns: a directive's
	// dimension sets apply to all its metrics.
	byBreakdowns := map[string]*Directive{}
	out := map[string]any{DimFunction: function}
	for dim, v := range l.dims {
		out[dim] = v
	}
	for _, name := range sortedKeys(l.metrics) {
		m := l.metrics[name]
		key := strings.Join(m.breakdowns, ",")
		d := byBreakdowns[key]
		if d == nil {
			sets := [][]string{{}, {DimFunction}}
			for _, b := range m.breakdowns {
				sets = append(sets, []string{DimFunction, b})
			}
			d = &Directive{Namespace: Namespace, Dimensions: sets}
			byBreakdowns[key] = d
		}
		d.Metrics = append(d.Metrics, MetricDefinition{Name: name, Unit: Specs[name].Unit})
		if len(m.values) == 1 {
			out[name] = m.values[0]
		} else {
			out[name] = m.values
		}
	}
	directives := make([]Directive, 0, len(byBreakdowns))
	for _, key := range sortedKeys(byBreakdowns) {
		directives = append(directives, *byBreakdowns[key])
	}
	out["_aws"] = map[string]any{"Timestamp": timestamp, "CloudWatchMetrics": directives}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
