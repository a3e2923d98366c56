package api

import (
	"net/http"
	"strings"

	"example.com/inventory/internal/model"
	"example.com/inventory/internal/store"
)

// Products serves /products.
type Products struct {
	Store           *store.Store[model.Product]
	DefaultPageSize int
	MaxPageSize     int
}

// Register adds the product routes.
func (h *Products) Register(rt *Router) {
	rt.HandleFunc(http.MethodGet, "/products", h.list)
	rt.HandleFunc(http.MethodPost, "/products", h.create)
	rt.HandleFunc(http.MethodGet, "/products/{id}", h.get)
	rt.HandleFunc(http.MethodPut, "/products/{id}", h.replace)
	rt.HandleFunc(http.MethodPatch, "/products/{id}", h.patch)
	rt.HandleFunc(http.MethodDelete, "/products/{id}", h.delete)
	rt.HandleFunc(http.MethodPost, "/products/{id}/stock", h.adjustStock)
	rt.HandleFunc(http.MethodGet, "/categories", h.categories)
}

func (h *Products) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := intParam(r, "limit", h.DefaultPageSize, 1, h.MaxPageSize)
	if err != nil {
		fail(w, r, err)
		return
	}
	query := store.Query[model.Product]{Limit: limit, Cursor: q.Get("cursor")}
	if s := q.Get("q"); s != "" {
		byName := store.Contains(func(p model.Product) string { return p.Name + " " + p.Description }, s)
		query.Filters = append(query.Filters, byName)
	}
	if c := q.Get("category"); c != "" {
		query.Filters = append(query.Filters, store.Equals(func(p model.Product) string { return p.Category }, strings.ToLower(c)))
	}
	if t := q.Get("tag"); t != "" {
		tag := strings.ToLower(t)
		query.Filters = append(query.Filters, func(e store.Entry[model.Product]) bool { return e.Value.HasTag(tag) })
	}
	if a := q.Get("active"); a != "" {
		query.Filters = append(query.Filters, store.Equals(func(p model.Product) bool { return p.Active }, a == "true" || a == "1"))
	}
	if q.Get("in_stock") == "true" {
		query.Filters = append(query.Filters, func(e store.Entry[model.Product]) bool { return e.Value.Stock > 0 })
	}
	lo, err := moneyParam(r, "min_price")
	if err != nil {
		fail(w, r, err)
		return
	}
	hi, err := moneyParam(r, "max_price")
	if err != nil {
		fail(w, r, err)
		return
	}
	if lo != nil || hi != nil {
		query.Filters = append(query.Filters, store.Between(func(p model.Product) int64 { return int64(p.Price) }, lo, hi))
	}
	sortBy := q.Get("sort")
	if strings.HasPrefix(sortBy, "-") {
		query.Descending = true
		sortBy = sortBy[1:]
	}
	switch sortBy {
	case "", "created":
	case "name":
		query.Less = store.By(func(p model.Product) string { return strings.ToLower(p.Name) })
	case "price":
		query.Less = store.By(func(p model.Product) int64 { return int64(p.Price) })
	case "stock":
		query.Less = store.By(func(p model.Product) int64 { return p.Stock })
	case "sku":
		query.Less = store.By(func(p model.Product) string { return p.SKU })
	default:
		writeError(w, r, http.StatusBadRequest, "bad_request", "sort must be one of created, name, price, stock, sku (- for descending)", nil)
		return
	}
	page, err := h.Store.Find(query)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *Products) create(w http.ResponseWriter, r *http.Request) {
	var p model.Product
	if err := decode(r, &p); err != nil {
		fail(w, r, err)
		return
	}
	p = p.Normalize()
	if err := p.Validate(); err != nil {
		fail(w, r, err)
		return
	}
	if h.skuTaken(p.SKU, "") {
		writeError(w, r, http.StatusConflict, "exists", "a product with SKU "+p.SKU+" exists", nil)
		return
	}
	e, err := h.Store.Create(p)
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/products/"+e.ID)
	w.Header().Set("ETag", e.ETag())
	writeJSON(w, http.StatusCreated, e)
}

func (h *Products) get(w http.ResponseWriter, r *http.Request) {
	e, err := h.Store.Get(ParamsFrom(r)["id"])
	if err != nil {
		fail(w, r, err)
		return
	}
	if match := r.Header.Get("If-None-Match"); match != "" && match == e.ETag() {
		w.Header().Set("ETag", e.ETag())
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", e.ETag())
	writeJSON(w, http.StatusOK, e)
}

func (h *Products) replace(w http.ResponseWriter, r *http.Request) {
	id := ParamsFrom(r)["id"]
	rev, err := ifMatch(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	var p model.Product
	if err := decode(r, &p); err != nil {
		fail(w, r, err)
		return
	}
	p = p.Normalize()
	if err := p.Validate(); err != nil {
		fail(w, r, err)
		return
	}
	if h.skuTaken(p.SKU, id) {
		writeError(w, r, http.StatusConflict, "exists", "another product has SKU "+p.SKU, nil)
		return
	}
	e, err := h.Store.Update(id, rev, p)
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("ETag", e.ETag())
	writeJSON(w, http.StatusOK, e)
}

func (h *Products) patch(w http.ResponseWriter, r *http.Request) {
	id := ParamsFrom(r)["id"]
	rev, err := ifMatch(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	var pp model.ProductPatch
	if err := decode(r, &pp); err != nil {
		fail(w, r, err)
		return
	}
	e, err := h.Store.Modify(id, rev, func(p model.Product) (model.Product, error) {
		p = pp.Apply(p).Normalize()
		return p, p.Validate()
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("ETag", e.ETag())
	writeJSON(w, http.StatusOK, e)
}

func (h *Products) delete(w http.ResponseWriter, r *http.Request) {
	rev, err := ifMatch(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	if err := h.Store.Delete(ParamsFrom(r)["id"], rev); err != nil {
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stockChange is the body of POST /products/{id}/stock: a delta (positive: received,
// negative: taken out) and why.
type stockChange struct {
	Delta  int64  `json:"delta"`
	Reason string `json:"reason"`
}

func (h *Products) adjustStock(w http.ResponseWriter, r *http.Request) {
	var sc stockChange
	if err := decode(r, &sc); err != nil {
		fail(w, r, err)
		return
	}
	if sc.Delta == 0 || strings.TrimSpace(sc.Reason) == "" {
		fail(w, r, &model.ValidationError{Fields: map[string]string{"delta": "non-zero", "reason": "required"}})
		return
	}
	e, err := h.Store.Modify(ParamsFrom(r)["id"], 0, func(p model.Product) (model.Product, error) {
		if p.Stock+sc.Delta < 0 {
			return p, stockError(p.SKU, p.Stock, -sc.Delta)
		}
		p.Stock += sc.Delta
		return p, nil
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("ETag", e.ETag())
	writeJSON(w, http.StatusOK, e)
}

func (h *Products) categories(w http.ResponseWriter, r *http.Request) {
	counts := map[string]int{}
	for c := range model.Categories {
		if c != "" {
			counts[c] = 0
		}
	}
	for _, e := range h.Store.All() {
		if e.Value.Category != "" {
			counts[e.Value.Category]++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"categories": counts})
}

func (h *Products) skuTaken(sku, except string) bool {
	for _, e := range h.Store.All() {
		if e.Value.SKU == sku && e.ID != except {
			return true
		}
	}
	return false
}
