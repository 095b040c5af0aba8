// promparse reads the Prometheus text exposition format on stdin with Prometheus' own parser
// (github.com/prometheus/common/expfmt) and prints the metric families as JSON, so the tests of
// @woodwork/metrics check /metrics output with the parser a Prometheus server uses.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type bucket struct {
	UpperBound      string `json:"upperBound"` // a string: JSON has no +Inf
	CumulativeCount uint64 `json:"cumulativeCount"`
}

type sample struct {
	Labels  map[string]string `json:"labels"`
	Value   *float64          `json:"value,omitempty"`
	Count   *uint64           `json:"count,omitempty"`
	Sum     *float64          `json:"sum,omitempty"`
	Buckets []bucket          `json:"buckets,omitempty"`
}

type family struct {
	Type    string   `json:"type"`
	Help    string   `json:"help"`
	Samples []sample `json:"samples"`
}

func value(m *dto.Metric) *float64 {
	switch {
	case m.Counter != nil:
		v := m.Counter.GetValue()
		return &v
	case m.Gauge != nil:
		v := m.Gauge.GetValue()
		return &v
	case m.Untyped != nil:
		v := m.Untyped.GetValue()
		return &v
	}
	return nil
}

func main() {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parse error:", err)
		os.Exit(1)
	}
	out := map[string]family{}
	for name, f := range families {
		fam := family{Type: f.GetType().String(), Help: f.GetHelp(), Samples: []sample{}}
		for _, m := range f.Metric {
			s := sample{Labels: map[string]string{}, Value: value(m)}
			for _, l := range m.Label {
				s.Labels[l.GetName()] = l.GetValue()
			}
			if h := m.Histogram; h != nil {
				count, sum := h.GetSampleCount(), h.GetSampleSum()
				s.Count, s.Sum = &count, &sum
				for _, b := range h.Bucket {
					s.Buckets = append(s.Buckets, bucket{strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64), b.GetCumulativeCount()})
				}
			}
			fam.Samples = append(fam.Samples, s)
		}
		out[name] = fam
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
