// Package metricstest reads embedded metric format lines the way
// CloudWatch Logs does: it checks each line against the format's rules and
// returns the data points CloudWatch would extract, so tests assert on
// metrics rather than on JSON.
package metricstest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/cirasync/dsubilling/internal/metrics"
)

// Point is one value of one metric under one dimension set.
type Point struct {
	Namespace  string
	Name       string
	Unit       string
	Dimensions map[string]string
	Value      float64
	Timestamp  int64 // milliseconds since the epoch
}

// Limits of the embedded metric format.
const (
	maxDimensionsPerSet = 30
	maxMetrics          = 100
	maxValues           = 100
)

// validUnits are the units CloudWatch accepts.
var validUnits = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true,
	"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true, "Megabits": true,
	"Gigabits": true, "Terabits": true, "Percent": true, "Count": true, "Bytes/Second": true,
	"Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true, "Terabytes/Second": true,
	"Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true, "Gigabits/Second": true,
	"Terabits/Second": true, "Count/Second": true, "None": true,
}

// Parse reads log output line by line. Lines without an "_aws" member are
// other log lines and are skipped; every line that has one must be valid
// EMF of the namespace metrics.Namespace, or Parse fails naming the line.
func Parse(output []byte) ([]Point, error) {
	var points []Point
	sc := bufio.NewScanner(bytes.NewReader(output))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(text, &obj); err != nil {
			return nil, fmt.Errorf("line %d is not a JSON object: %v: %s", n, err, text)
		}
		if _, ok := obj["_aws"]; !ok {
			continue
		}
		p, err := parseLine(obj)
		if err != nil {
			return nil, fmt.Errorf("line %d is not valid EMF: %v: %s", n, err, text)
		}
		points = append(points, p...)
	}
	return points, sc.Err()
}

func parseLine(obj map[string]json.RawMessage) ([]Point, error) {
	var meta struct {
		Timestamp         *json.Number
		CloudWatchMetrics []struct {
			Namespace  *string
			Dimensions [][]string
			Metrics    []struct {
				Name *string
				Unit *string
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(obj["_aws"]))
	dec.UseNumber()
	if err := dec.Decode(&meta); err != nil {
		return nil, fmt.Errorf("_aws: %v", err)
	}
	if meta.Timestamp == nil {
		return nil, fmt.Errorf("_aws.Timestamp is missing")
	}
	ts, err := meta.Timestamp.Int64()
	if err != nil || ts <= 0 {
		return nil, fmt.Errorf("_aws.Timestamp %v is not milliseconds since the epoch", meta.Timestamp)
	}
	if len(meta.CloudWatchMetrics) == 0 {
		return nil, fmt.Errorf("_aws.CloudWatchMetrics is empty")
	}
	var points []Point
	for i, d := range meta.CloudWatchMetrics {
		if d.Namespace == nil || *d.Namespace != metrics.Namespace {
			return nil, fmt.Errorf("directive %d: namespace %v, want %s", i, d.Namespace, metrics.Namespace)
		}
		if d.Dimensions == nil {
			return nil, fmt.Errorf("directive %d: Dimensions is missing", i)
		}
		if len(d.Metrics) == 0 || len(d.Metrics) > maxMetrics {
			return nil, fmt.Errorf("directive %d: %d metrics, want 1 to %d", i, len(d.Metrics), maxMetrics)
		}
		sets := make([]map[string]string, 0, len(d.Dimensions))
		for _, set := range d.Dimensions {
			if len(set) > maxDimensionsPerSet {
				return nil, fmt.Errorf("directive %d: a dimension set of %d", i, len(set))
			}
			dims := map[string]string{}
			for _, name := range set {
				var v string
				raw, ok := obj[name]
				if !ok {
					return nil, fmt.Errorf("dimension %s has no member", name)
				}
				if err := json.Unmarshal(raw, &v); err != nil || v == "" {
					return nil, fmt.Errorf("dimension %s = %s, want a non-empty string", name, raw)
				}
				dims[name] = v
			}
			sets = append(sets, dims)
		}
		for _, m := range d.Metrics {
			if m.Name == nil || *m.Name == "" {
				return nil, fmt.Errorf("directive %d: a metric without a name", i)
			}
			unit := "None"
			if m.Unit != nil {
				unit = *m.Unit
			}
			if !validUnits[unit] {
				return nil, fmt.Errorf("metric %s: unit %q", *m.Name, unit)
			}
			raw, ok := obj[*m.Name]
			if !ok {
				return nil, fmt.Errorf("metric %s has no member", *m.Name)
			}
			values, err := numbers(raw)
			if err != nil {
				return nil, fmt.Errorf("metric %s: %v", *m.Name, err)
			}
			for _, dims := range sets {
				for _, v := range values {
					points = append(points, Point{Namespace: *d.Namespace, Name: *m.Name, Unit: unit, Dimensions: maps.Clone(dims), Value: v, Timestamp: ts})
				}
			}
		}
	}
	return points, nil
}

// numbers reads a metric's member: a number or an array of 1 to 100
// numbers.
func numbers(raw json.RawMessage) ([]float64, error) {
	var one float64
	if err := json.Unmarshal(raw, &one); err == nil {
		return []float64{one}, nil
	}
	var many []float64
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 || len(many) > maxValues {
		return nil, fmt.Errorf("value %s, want a number or an array of 1 to %d numbers", raw, maxValues)
	}
	for _, v := range many {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value %v", v)
		}
	}
	return many, nil
}

// Sum adds the values of metric name under exactly the dimension set dims,
// given as name, value pairs: Sum(points, metrics.PurchasesCreated,
// "Function", "purchases", "Kind", "manual").
func Sum(points []Point, name string, dims ...string) float64 {
	want := map[string]string{}
	for i := 0; i+1 < len(dims); i += 2 {
		want[dims[i]] = dims[i+1]
	}
	var sum float64
	for _, p := range points {
		if p.Name == name && maps.Equal(p.Dimensions, want) {
			sum += p.Value
		}
	}
	return sum
}

// Series lists the distinct metric and dimension sets of points, one
// string each ("PurchasesCreated Function=purchases Kind=manual"), sorted:
// a readable summary for test failures.
func Series(points []Point) []string {
	seen := map[string]bool{}
	for _, p := range points {
		parts := []string{p.Name}
		for _, k := range slices.Sorted(maps.Keys(p.Dimensions)) {
			parts = append(parts, k+"="+p.Dimensions[k])
		}
		seen[strings.Join(parts, " ")] = true
	}
	return slices.Sorted(maps.Keys(seen))
}
