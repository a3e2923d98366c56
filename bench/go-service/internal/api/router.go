// Package api is the service's HTTP JSON API: a small router with path parameters, the
// handlers for products, orders and health, and the JSON request and response helpers.
package api

import (
	"context"
	"net/http"
	"sort"
	"strings"
)

type paramsKey struct{}

// Params are the path parameters a route matched ({id} -> value).
type Params map[string]string

// ParamsFrom returns the request's path parameters.
func ParamsFrom(r *http.Request) Params {
	p, _ := r.Context().Value(paramsKey{}).(Params)
	return p
}

type routeKey struct{}

// RouteFrom is the pattern of the route that matched ("" when none did); used as a metrics
// label so that IDs do not make a label per record.
func RouteFrom(r *http.Request) string {
	if p, ok := r.Context().Value(routeKey{}).(*string); ok && *p != "" {
		return *p
	}
	return "unmatched"
}

type route struct {
	method   string
	pattern  string
	segments []string
	handler  http.Handler
}

// Router dispatches by method and path pattern ("/products/{id}").
type Router struct {
	routes   []route
	NotFound http.Handler
}

// NewRouter makes an empty router.
func NewRouter() *Router {
	return &Router{NotFound: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", "no route for "+r.URL.Path, nil)
	})}
}

// Handle adds a route.
func (rt *Router) Handle(method, pattern string, h http.Handler) {
	rt.routes = append(rt.routes, route{method: method, pattern: pattern, segments: split(pattern), handler: h})
}

// HandleFunc adds a route with a function handler.
func (rt *Router) HandleFunc(method, pattern string, h func(http.ResponseWriter, *http.Request)) {
	rt.Handle(method, pattern, http.HandlerFunc(h))
}

// Tag returns middleware that gives the router a place to write the matched route's pattern,
// for middleware outside the router (metrics).
func Tag(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var pattern string
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, &pattern)))
	})
}

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs := split(r.URL.Path)
	var allowed []string
	for _, ro := range rt.routes {
		params, ok := match(ro.segments, segs)
		if !ok {
			continue
		}
		if ro.method != r.Method && !(ro.method == http.MethodGet && r.Method == http.MethodHead) {
			allowed = append(allowed, ro.method)
			continue
		}
		if p, ok := r.Context().Value(routeKey{}).(*string); ok {
			*p = ro.pattern
		}
		ctx := context.WithValue(r.Context(), paramsKey{}, params)
		ro.handler.ServeHTTP(w, r.WithContext(ctx))
		return
	}
	if len(allowed) > 0 {
		sort.Strings(allowed)
		w.Header().Set("Allow", strings.Join(dedupe(allowed), ", "))
		writeError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path, nil)
		return
	}
	rt.NotFound.ServeHTTP(w, r)
}

func split(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

func match(pattern, path []string) (Params, bool) {
	if len(pattern) != len(path) {
		return nil, false
	}
	var params Params
	for i, seg := range pattern {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if path[i] == "" {
				return nil, false
			}
			if params == nil {
				params = Params{}
			}
			params[seg[1:len(seg)-1]] = path[i]
			continue
		}
		if seg != path[i] {
			return nil, false
		}
	}
	return params, true
}

func dedupe(xs []string) []string {
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}
