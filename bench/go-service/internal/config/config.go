// Package config reads the service's settings from the environment, with defaults, and
// checks them before the server starts.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is every setting the service reads.
type Config struct {
	// Addr is where the HTTP server listens (INVENTORY_ADDR, default ":8080").
	Addr string
	// ReadTimeout bounds reading a request, headers and body (INVENTORY_READ_TIMEOUT).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response (INVENTORY_WRITE_TIMEOUT).
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections (INVENTORY_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// ShutdownTimeout is how long in-flight requests get on SIGTERM (INVENTORY_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// RequestTimeout bounds one handler's work (INVENTORY_REQUEST_TIMEOUT).
	RequestTimeout time.Duration
	// MaxBodyBytes caps request bodies (INVENTORY_MAX_BODY_BYTES).
	MaxBodyBytes int64
	// RateLimit is the requests per second allowed per client (INVENTORY_RATE_LIMIT; 0: off).
	RateLimit float64
	// RateBurst is the burst a client may spend at once (INVENTORY_RATE_BURST).
	RateBurst int
	// AllowedOrigins are the CORS origins allowed ("*" for any; INVENTORY_CORS_ORIGINS, comma list).
	AllowedOrigins []string
	// LogRequests logs one line per request (INVENTORY_LOG_REQUESTS).
	LogRequests bool
	// SeedDemoData fills the store with a few products at start (INVENTORY_SEED).
	SeedDemoData bool
	// DefaultPageSize and MaxPageSize bound list responses.
	DefaultPageSize int
	MaxPageSize     int
}

// Defaults are the settings when nothing is set.
func Defaults() Config {
	return Config{
		Addr:            ":8080",
		ReadTimeout:     10 * time.Second,
		WriteTimeout:    30 * time.Second,
		IdleTimeout:     120 * time.Second,
		ShutdownTimeout: 15 * time.Second,
		RequestTimeout:  20 * time.Second,
		MaxBodyBytes:    1 << 20,
		RateLimit:       50,
		RateBurst:       100,
		AllowedOrigins:  []string{"*"},
		LogRequests:     true,
		SeedDemoData:    false,
		DefaultPageSize: 50,
		MaxPageSize:     500,
	}
}

// Lookup is how the environment is read (os.LookupEnv; tests pass a map's).
type Lookup func(string) (string, bool)

// FromEnv reads the settings from the process's environment.
func FromEnv() (Config, error) {
	return Load(os.LookupEnv)
}

// Load reads the settings through lookup: each unset variable keeps its default, each set one
// must parse, and the result must be consistent. Every problem is reported, not only the first.
func Load(lookup Lookup) (Config, error) {
	c := Defaults()
	var errs []string
	str := func(key string, dst *string) {
		if v, ok := lookup(key); ok && strings.TrimSpace(v) != "" {
			*dst = strings.TrimSpace(v)
		}
	}
	dur := func(key string, dst *time.Duration) {
		if v, ok := lookup(key); ok && v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not a duration (e.g. 10s, 1m30s)", key, v))
				return
			}
			*dst = d
		}
	}
	integer := func(key string, dst *int) {
		if v, ok := lookup(key); ok && v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not an integer", key, v))
				return
			}
			*dst = n
		}
	}
	boolean := func(key string, dst *bool) {
		if v, ok := lookup(key); ok && v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not a boolean (true, false, 1, 0)", key, v))
				return
			}
			*dst = b
		}
	}

	str("INVENTORY_ADDR", &c.Addr)
	dur("INVENTORY_READ_TIMEOUT", &c.ReadTimeout)
	dur("INVENTORY_WRITE_TIMEOUT", &c.WriteTimeout)
	dur("INVENTORY_IDLE_TIMEOUT", &c.IdleTimeout)
	dur("INVENTORY_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	dur("INVENTORY_REQUEST_TIMEOUT", &c.RequestTimeout)
	if v, ok := lookup("INVENTORY_MAX_BODY_BYTES"); ok && v != "" {
		n, err := parseBytes(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("INVENTORY_MAX_BODY_BYTES: %v", err))
		} else {
			c.MaxBodyBytes = n
		}
	}
	if v, ok := lookup("INVENTORY_RATE_LIMIT"); ok && v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("INVENTORY_RATE_LIMIT: %q is not a number", v))
		} else {
			c.RateLimit = f
		}
	}
	integer("INVENTORY_RATE_BURST", &c.RateBurst)
	if v, ok := lookup("INVENTORY_CORS_ORIGINS"); ok {
		c.AllowedOrigins = splitList(v)
	}
	boolean("INVENTORY_LOG_REQUESTS", &c.LogRequests)
	boolean("INVENTORY_SEED", &c.SeedDemoData)
	integer("INVENTORY_PAGE_SIZE", &c.DefaultPageSize)
	integer("INVENTORY_MAX_PAGE_SIZE", &c.MaxPageSize)

	errs = append(errs, c.check()...)
	if len(errs) > 0 {
		return c, &Error{Problems: errs}
	}
	return c, nil
}

func (c Config) check() []string {
	var errs []string
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be positive, got %s", name, d))
		}
	}
	positive("read timeout", c.ReadTimeout)
	positive("write timeout", c.WriteTimeout)
	positive("idle timeout", c.IdleTimeout)
	positive("shutdown timeout", c.ShutdownTimeout)
	positive("request timeout", c.RequestTimeout)
	if c.RequestTimeout > c.WriteTimeout {
		errs = append(errs, fmt.Sprintf("request timeout (%s) exceeds write timeout (%s): responses would be cut", c.RequestTimeout, c.WriteTimeout))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Sprintf("max body bytes must be at least 1 KiB, got %d", c.MaxBodyBytes))
	}
	if c.RateLimit < 0 {
		errs = append(errs, "rate limit must not be negative")
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		errs = append(errs, "rate burst must be at least 1 when a rate limit is set")
	}
	if c.DefaultPageSize < 1 || c.MaxPageSize < c.DefaultPageSize {
		errs = append(errs, fmt.Sprintf("page sizes must satisfy 1 <= default (%d) <= max (%d)", c.DefaultPageSize, c.MaxPageSize))
	}
	if !strings.Contains(c.Addr, ":") {
		errs = append(errs, fmt.Sprintf("address %q has no port (e.g. :8080)", c.Addr))
	}
	return errs
}

// Error lists every problem found in the settings.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "config: " + e.Problems[0]
	}
	return "config: " + strconv.Itoa(len(e.Problems)) + " problems:\n  " + strings.Join(e.Problems, "\n  ")
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseBytes reads sizes such as 512, 64K, 1M, 2MiB.
func parseBytes(v string) (int64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "IB"), "B")
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 512, 64K, 1M)", v)
	}
	return n * mult, nil
}
