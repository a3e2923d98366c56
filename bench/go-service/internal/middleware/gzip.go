package middleware

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync"
)

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// gzipWriter compresses the body once it is known to be worth it (at least minSize bytes of a
// compressible type); smaller responses go out as they are.
type gzipWriter struct {
	http.ResponseWriter
	gz      *gzip.Writer
	buf     []byte
	status  int
	decided bool
	minSize int
}

func (g *gzipWriter) WriteHeader(code int) {
	g.status = code
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if g.decided {
		if g.gz != nil {
			return g.gz.Write(b)
		}
		return g.ResponseWriter.Write(b)
	}
	g.buf = append(g.buf, b...)
	if len(g.buf) >= g.minSize {
		if err := g.decide(true); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (g *gzipWriter) decide(big bool) error {
	g.decided = true
	h := g.ResponseWriter.Header()
	ct := h.Get("Content-Type")
	if big && h.Get("Content-Encoding") == "" && compressible(ct) {
		h.Del("Content-Length")
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		g.gz = gzipPool.Get().(*gzip.Writer)
		g.gz.Reset(g.ResponseWriter)
	}
	if g.status == 0 {
		g.status = http.StatusOK
	}
	g.ResponseWriter.WriteHeader(g.status)
	if len(g.buf) == 0 {
		return nil
	}
	var err error
	if g.gz != nil {
		_, err = g.gz.Write(g.buf)
	} else {
		_, err = g.ResponseWriter.Write(g.buf)
	}
	g.buf = nil
	return err
}

func (g *gzipWriter) finish() {
	if !g.decided {
		_ = g.decide(false)
	}
	if g.gz != nil {
		_ = g.gz.Close()
		gzipPool.Put(g.gz)
		g.gz = nil
	}
}

func compressible(ct string) bool {
	return ct == "" || strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/")
}

// Gzip compresses responses of at least minSize bytes for clients that accept gzip.
func Gzip(minSize int) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !acceptsGzip(r.Header.Get("Accept-Encoding")) || r.Method == http.MethodHead {
				next.ServeHTTP(w, r)
				return
			}
			g := &gzipWriter{ResponseWriter: w, minSize: minSize}
			defer g.finish()
			next.ServeHTTP(g, r)
		})
	}
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(name) != "gzip" && strings.TrimSpace(name) != "*" {
			continue
		}
		if strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") && !strings.Contains(params, "q=0.") {
			return false
		}
		return true
	}
	return false
}
