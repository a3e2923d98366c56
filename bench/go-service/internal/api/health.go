package api

import (
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"example.com/inventory/internal/metrics"
	"example.com/inventory/internal/version"
)

// Health serves /healthz (liveness), /readyz (readiness), /version and /metrics.
type Health struct {
	Started  time.Time
	Metrics  *metrics.Registry
	Counts   func() map[string]int
	draining atomic.Bool
}

// Register adds the health routes.
func (h *Health) Register(rt *Router) {
	rt.HandleFunc(http.MethodGet, "/healthz", h.live)
	rt.HandleFunc(http.MethodGet, "/readyz", h.ready)
	rt.HandleFunc(http.MethodGet, "/version", h.version)
	rt.HandleFunc(http.MethodGet, "/metrics", h.metrics)
}

// Drain makes /readyz fail, so that load balancers stop sending requests before shutdown.
func (h *Health) Drain() { h.draining.Store(true) }

func (h *Health) live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status":  "ok",
		"version": version.Version,
		"uptime":  time.Since(h.Started).Round(time.Second).String(),
	})
}

func (h *Health) ready(w http.ResponseWriter, r *http.Request) {
	if h.draining.Load() {
		writeError(w, r, http.StatusServiceUnavailable, "draining", "shutting down", nil)
		return
	}
	body := map[string]any{"status": "ready"}
	if h.Counts != nil {
		body["records"] = h.Counts()
	}
	writeJSON(w, http.StatusOK, body)
}

func (h *Health) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{
		"name":    version.Name,
		"version": version.Version,
		"go":      runtime.Version(),
		"os_arch": runtime.GOOS + "/" + runtime.GOARCH,
	})
}

func (h *Health) metrics(w http.ResponseWriter, r *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.Metrics.Gauge("go_goroutines").Set(int64(runtime.NumGoroutine()))
	h.Metrics.Gauge("go_heap_alloc_bytes").Set(int64(ms.HeapAlloc))
	h.Metrics.Gauge("process_uptime_seconds").Set(int64(time.Since(h.Started).Seconds()))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = h.Metrics.WriteText(w)
}
