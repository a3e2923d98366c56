// Command server runs the inventory service: an HTTP JSON API over an in-memory store of
// products and orders.
//
//	server [--addr :8080] [--seed] [--check-config] [--version]
//
// Settings come from INVENTORY_* environment variables (see internal/config); flags override
// the address and seeding.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"example.com/inventory/internal/api"
	"example.com/inventory/internal/config"
	"example.com/inventory/internal/metrics"
	"example.com/inventory/internal/middleware"
	"example.com/inventory/internal/model"
	"example.com/inventory/internal/store"
	"example.com/inventory/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	checkConfig := fs.Bool("check-config", false, "check the settings and exit")
	addr := fs.String("addr", "", "listen address (overrides INVENTORY_ADDR)")
	seed := fs.Bool("seed", false, "fill the store with demo products")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Println(version.String())
		return 0
	}
	logger := log.New(os.Stderr, "", log.LstdFlags|log.LUTC|log.Lmicroseconds)

	cfg, err := config.FromEnv()
	if err != nil {
		logger.Print(err)
		return 2
	}
	if *addr != "" {
		cfg.Addr = *addr
	}
	if *seed {
		cfg.SeedDemoData = true
	}
	if *checkConfig {
		fmt.Printf("config ok: listening on %s, %d-byte bodies, %.0f req/s per client\n", cfg.Addr, cfg.MaxBodyBytes, cfg.RateLimit)
		return 0
	}

	app := newApp(cfg, logger)
	if cfg.SeedDemoData {
		if err := seedProducts(app.products); err != nil {
			logger.Printf("seeding: %v", err)
			return 1
		}
	}

	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           app.handler,
		ReadTimeout:       cfg.ReadTimeout,
		ReadHeaderTimeout: cfg.ReadTimeout / 2,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          logger,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() {
		logger.Printf("%s listening on %s", version.String(), cfg.Addr)
		errc <- srv.ListenAndServe()
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			logger.Printf("server: %v", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	logger.Printf("shutting down (up to %s for in-flight requests)", cfg.ShutdownTimeout)
	app.health.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Printf("shutdown: %v", err)
		return 1
	}
	logger.Print("stopped")
	return 0
}

// app is the service's parts, wired.
type app struct {
	products *store.Store[model.Product]
	orders   *store.Store[model.Order]
	health   *api.Health
	handler  http.Handler
}

func newApp(cfg config.Config, logger *log.Logger) *app {
	a := &app{
		products: store.New[model.Product]("product", "p", store.WithValidator[model.Product](func(p model.Product) error { return p.Validate() })),
		orders:   store.New[model.Order]("order", "o", store.WithValidator[model.Order](func(o model.Order) error { return o.Validate() })),
	}
	reg := metrics.NewRegistry()
	a.health = &api.Health{Started: time.Now(), Metrics: reg, Counts: func() map[string]int {
		return map[string]int{"products": a.products.Len(), "orders": a.orders.Len()}
	}}
	go countChanges(reg, a.products)
	go countChanges(reg, a.orders)

	rt := api.NewRouter()
	a.health.Register(rt)
	(&api.Products{Store: a.products, DefaultPageSize: cfg.DefaultPageSize, MaxPageSize: cfg.MaxPageSize}).Register(rt)
	(&api.Orders{Store: a.orders, Products: a.products}).Register(rt)

	mws := []middleware.Middleware{
		middleware.RequestID(),
		middleware.Recover(logger),
	}
	if cfg.LogRequests {
		mws = append(mws, middleware.Logger(logger))
	}
	mws = append(mws,
		api.Tag,
		middleware.Metrics(reg, api.RouteFrom),
		middleware.CORS(cfg.AllowedOrigins),
		middleware.RateLimit(middleware.NewLimiter(cfg.RateLimit, cfg.RateBurst)),
		middleware.Timeout(cfg.RequestTimeout),
		middleware.MaxBody(cfg.MaxBodyBytes),
		middleware.Gzip(1024),
	)
	a.handler = middleware.Chain(rt, mws...)
	return a
}

// countChanges counts a store's changes by kind, for /metrics.
func countChanges[T any](reg *metrics.Registry, s *store.Store[T]) {
	events, _ := s.Subscribe(256)
	for ev := range events {
		reg.Counter("store_changes_total", "store", s.Name(), "kind", ev.Kind.String()).Inc()
	}
}

func seedProducts(s *store.Store[model.Product]) error {
	demo := []model.Product{
		{SKU: "BOOK-GOPL", Name: "The Go Programming Language", Price: 3999, Stock: 12, Category: "books", Tags: []string{"go", "programming"}, Active: true},
		{SKU: "BOOK-SICP", Name: "Structure and Interpretation of Computer Programs", Price: 5500, Stock: 3, Category: "books", Tags: []string{"lisp"}, Active: true},
		{SKU: "EL-KB-60", Name: "60% mechanical keyboard", Price: 8900, Stock: 25, Category: "electronics", Attributes: map[string]string{"switches": "brown"}, Active: true},
		{SKU: "GRD-HOSE-25", Name: "Garden hose, 25 m", Price: 2950, Stock: 0, Category: "garden", Active: true},
		{SKU: "TOY-TOP", Name: "Spinning top", Price: 450, Stock: 140, Category: "toys", Tags: []string{"classic"}, Active: false},
	}
	for _, p := range demo {
		if _, err := s.Create(p.Normalize()); err != nil {
			return fmt.Errorf("%s: %w", p.SKU, err)
		}
	}
	return nil
}
