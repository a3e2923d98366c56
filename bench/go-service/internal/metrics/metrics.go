// Package metrics keeps request counters and latency histograms and writes them in the
// Prometheus text exposition format.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBuckets are latency bucket bounds in seconds.
var DefaultBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Counter only goes up.
type Counter struct {
	v atomic.Uint64
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value is the count so far.
func (c *Counter) Value() uint64 { return c.v.Load() }

// Gauge goes up and down.
type Gauge struct {
	v atomic.Int64
}

// Set sets the value.
func (g *Gauge) Set(n int64) { g.v.Store(n) }

// Add adds n (negative to subtract).
func (g *Gauge) Add(n int64) { g.v.Add(n) }

// Value is the current value.
func (g *Gauge) Value() int64 { return g.v.Load() }

// Histogram counts observations into buckets.
type Histogram struct {
	mu      sync.Mutex
	bounds  []float64
	counts  []uint64
	sum     float64
	count   uint64
	min     float64
	max     float64
	touched bool
}

// NewHistogram makes a histogram with the given upper bounds (sorted, +Inf implied).
func NewHistogram(bounds []float64) *Histogram {
	b := append([]float64(nil), bounds...)
	sort.Float64s(b)
	return &Histogram{bounds: b, counts: make([]uint64, len(b)+1)}
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.count++
	if !h.touched || v < h.min {
		h.min = v
	}
	if !h.touched || v > h.max {
		h.max = v
	}
	h.touched = true
	h.mu.Unlock()
}

// ObserveSince records the seconds elapsed since t.
func (h *Histogram) ObserveSince(t time.Time) {
	h.Observe(time.Since(t).Seconds())
}

// Snapshot is a histogram's state at one moment.
type Snapshot struct {
	Bounds []float64
	Counts []uint64 // cumulative, one per bound, then +Inf
	Sum    float64
	Count  uint64
	Min    float64
	Max    float64
}

// Snapshot copies the histogram's state with cumulative counts.
func (h *Histogram) Snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Snapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.counts)), Sum: h.sum, Count: h.count, Min: h.min, Max: h.max}
	var acc uint64
	for i, c := range h.counts {
		acc += c
		s.Counts[i] = acc
	}
	return s
}

// Quantile estimates the q-quantile (0..1) by linear interpolation within its bucket.
func (s Snapshot) Quantile(q float64) float64 {
	if s.Count == 0 {
		return math.NaN()
	}
	rank := q * float64(s.Count)
	for i, c := range s.Counts {
		if float64(c) >= rank {
			lo := 0.0
			if i > 0 {
				lo = s.Bounds[i-1]
			}
			if i == len(s.Bounds) {
				return s.Max
			}
			hi := s.Bounds[i]
			prev := uint64(0)
			if i > 0 {
				prev = s.Counts[i-1]
			}
			inBucket := c - prev
			if inBucket == 0 {
				return hi
			}
			return lo + (hi-lo)*(rank-float64(prev))/float64(inBucket)
		}
	}
	return s.Max
}

// Registry holds named metrics, each with label values.
type Registry struct {
	mu         sync.RWMutex
	counters   map[string]map[string]*Counter
	gauges     map[string]map[string]*Gauge
	histograms map[string]map[string]*Histogram
	help       map[string]string
}

// NewRegistry makes an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		counters:   map[string]map[string]*Counter{},
		gauges:     map[string]map[string]*Gauge{},
		histograms: map[string]map[string]*Histogram{},
		help:       map[string]string{},
	}
}

// Help sets a metric's description.
func (r *Registry) Help(name, text string) {
	r.mu.Lock()
	r.help[name] = text
	r.mu.Unlock()
}

// Counter returns the counter for the name and labels ("k1", "v1", "k2", "v2"...).
func (r *Registry) Counter(name string, labels ...string) *Counter {
	key := labelKey(labels)
	r.mu.RLock()
	c := r.counters[name][key]
	r.mu.RUnlock()
	if c != nil {
		return c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counters[name] == nil {
		r.counters[name] = map[string]*Counter{}
	}
	if c = r.counters[name][key]; c == nil {
		c = &Counter{}
		r.counters[name][key] = c
	}
	return c
}

// Gauge returns the gauge for the name and labels.
func (r *Registry) Gauge(name string, labels ...string) *Gauge {
	key := labelKey(labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gauges[name] == nil {
		r.gauges[name] = map[string]*Gauge{}
	}
	g := r.gauges[name][key]
	if g == nil {
		g = &Gauge{}
		r.gauges[name][key] = g
	}
	return g
}

// Histogram returns the histogram for the name and labels (DefaultBuckets).
func (r *Registry) Histogram(name string, labels ...string) *Histogram {
	key := labelKey(labels)
	r.mu.RLock()
	h := r.histograms[name][key]
	r.mu.RUnlock()
	if h != nil {
		return h
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.histograms[name] == nil {
		r.histograms[name] = map[string]*Histogram{}
	}
	if h = r.histograms[name][key]; h == nil {
		h = NewHistogram(DefaultBuckets)
		r.histograms[name][key] = h
	}
	return h
}

// WriteText writes every metric in the Prometheus text format, sorted by name and labels.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var b strings.Builder
	header := func(name, kind string) {
		if h := r.help[name]; h != "" {
			fmt.Fprintf(&b, "# HELP %s %s\n", name, escapeHelp(h))
		}
		fmt.Fprintf(&b, "# TYPE %s %s\n", name, kind)
	}
	for _, name := range keys(r.counters) {
		header(name, "counter")
		for _, lk := range keys(r.counters[name]) {
			fmt.Fprintf(&b, "%s%s %d\n", name, braces(lk), r.counters[name][lk].Value())
		}
	}
	for _, name := range keys(r.gauges) {
		header(name, "gauge")
		for _, lk := range keys(r.gauges[name]) {
			fmt.Fprintf(&b, "%s%s %d\n", name, braces(lk), r.gauges[name][lk].Value())
		}
	}
	for _, name := range keys(r.histograms) {
		header(name, "histogram")
		for _, lk := range keys(r.histograms[name]) {
			s := r.histograms[name][lk].Snapshot()
			for i, bound := range s.Bounds {
				fmt.Fprintf(&b, "%s_bucket%s %d\n", name, braces(join(lk, `le="`+formatFloat(bound)+`"`)), s.Counts[i])
			}
			fmt.Fprintf(&b, "%s_bucket%s %d\n", name, braces(join(lk, `le="+Inf"`)), s.Counts[len(s.Counts)-1])
			fmt.Fprintf(&b, "%s_sum%s %s\n", name, braces(lk), formatFloat(s.Sum))
			fmt.Fprintf(&b, "%s_count%s %d\n", name, braces(lk), s.Count)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func labelKey(labels []string) string {
	if len(labels)%2 != 0 {
		panic("metrics: labels must be key/value pairs")
	}
	parts := make([]string, 0, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		parts = append(parts, labels[i]+`="`+escapeLabel(labels[i+1])+`"`)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func braces(lk string) string {
	if lk == "" {
		return ""
	}
	return "{" + lk + "}"
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
}

func escapeHelp(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(v)
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return fmt.Sprintf("%g", f)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
