package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"example.com/inventory/internal/model"
	"example.com/inventory/internal/store"
)

var (
	errStock      = errors.New("insufficient stock")
	errTransition = errors.New("status change not allowed")
)

func stockError(sku string, have, want int64) error {
	return fmt.Errorf("%w: %s has %d, %d requested", errStock, sku, have, want)
}

// Orders serves /orders. Placing an order takes the stock of its products, all or nothing.
type Orders struct {
	Store    *store.Store[model.Order]
	Products *store.Store[model.Product]
	Now      func() time.Time

	// placing serializes the stock checks and takes of concurrent orders.
	placing sync.Mutex
}

// Register adds the order routes.
func (h *Orders) Register(rt *Router) {
	rt.HandleFunc(http.MethodGet, "/orders", h.list)
	rt.HandleFunc(http.MethodPost, "/orders", h.place)
	rt.HandleFunc(http.MethodGet, "/orders/{id}", h.get)
	rt.HandleFunc(http.MethodPost, "/orders/{id}/status", h.move)
	rt.HandleFunc(http.MethodGet, "/orders/{id}/invoice", h.invoice)
}

// orderRequest is what a client sends to place an order.
type orderRequest struct {
	Customer string        `json:"customer"`
	Email    string        `json:"email"`
	Lines    []lineRequest `json:"lines"`
	ShipTo   model.Address `json:"ship_to"`
	Coupon   string        `json:"coupon"`
}

type lineRequest struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

func (h *Orders) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Orders) place(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if err := decode(r, &req); err != nil {
		fail(w, r, err)
		return
	}
	h.placing.Lock()
	defer h.placing.Unlock()

	o := model.Order{
		Customer: strings.TrimSpace(req.Customer),
		Email:    strings.TrimSpace(req.Email),
		ShipTo:   req.ShipTo,
		Status:   model.OrderPending,
		History:  []model.History{{Status: model.OrderPending, At: h.now().UTC()}},
	}
	fields := map[string]string{}
	for i, lr := range req.Lines {
		e, err := h.Products.Get(lr.ProductID)
		if err != nil {
			fields[fmt.Sprintf("lines[%d].product_id", i)] = "no such product"
			continue
		}
		if !e.Value.Active {
			fields[fmt.Sprintf("lines[%d].product_id", i)] = "product is not for sale"
			continue
		}
		if e.Value.Stock < lr.Quantity {
			fail(w, r, stockError(e.Value.SKU, e.Value.Stock, lr.Quantity))
			return
		}
		o.Lines = append(o.Lines, model.Line{
			ProductID: e.ID, SKU: e.Value.SKU, Name: e.Value.Name, Quantity: lr.Quantity, UnitPrice: e.Value.Price,
		})
	}
	if len(fields) > 0 {
		fail(w, r, &model.ValidationError{Fields: fields})
		return
	}
	if code := strings.ToUpper(strings.TrimSpace(req.Coupon)); code != "" {
		c, ok := model.Coupons[code]
		if !ok {
			fail(w, r, &model.ValidationError{Fields: map[string]string{"coupon": "unknown coupon"}})
			return
		}
		d, err := c.Discount(o.Subtotal(), h.now())
		if err != nil {
			fail(w, r, &model.ValidationError{Fields: map[string]string{"coupon": err.Error()}})
			return
		}
		o.Coupon, o.Discount = code, d
	}
	if err := o.Validate(); err != nil {
		fail(w, r, err)
		return
	}
	// Take the stock; undo what was taken if any line fails (another writer got there first).
	var taken []model.Line
	for _, l := range o.Lines {
		l := l
		_, err := h.Products.Modify(l.ProductID, 0, func(p model.Product) (model.Product, error) {
			if p.Stock < l.Quantity {
				return p, stockError(p.SKU, p.Stock, l.Quantity)
			}
			p.Stock -= l.Quantity
			return p, nil
		})
		if err != nil {
			h.giveBack(taken)
			fail(w, r, err)
			return
		}
		taken = append(taken, l)
	}
	e, err := h.Store.Create(o)
	if err != nil {
		h.giveBack(taken)
		fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/orders/"+e.ID)
	w.Header().Set("ETag", e.ETag())
	writeJSON(w, http.StatusCreated, orderView(e))
}

func (h *Orders) giveBack(lines []model.Line) {
	for _, l := range lines {
		l := l
		_, _ = h.Products.Modify(l.ProductID, 0, func(p model.Product) (model.Product, error) {
			p.Stock += l.Quantity
			return p, nil
		})
	}
}

func (h *Orders) list(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 50, 1, 500)
	if err != nil {
		fail(w, r, err)
		return
	}
	q := store.Query[model.Order]{Limit: limit, Cursor: r.URL.Query().Get("cursor"), Descending: true}
	if s := r.URL.Query().Get("status"); s != "" {
		if !model.OrderStatus(s).Valid() {
			writeError(w, r, http.StatusBadRequest, "bad_request", "unknown status "+s, nil)
			return
		}
		q.Filters = append(q.Filters, store.Equals(func(o model.Order) model.OrderStatus { return o.Status }, model.OrderStatus(s)))
	}
	if c := r.URL.Query().Get("customer"); c != "" {
		q.Filters = append(q.Filters, store.Contains(func(o model.Order) string { return o.Customer + " " + o.Email }, c))
	}
	page, err := h.Store.Find(q)
	if err != nil {
		fail(w, r, err)
		return
	}
	views := make([]map[string]any, len(page.Items))
	for i, e := range page.Items {
		views[i] = orderView(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": views, "total": page.Total, "next": page.Next})
}

func (h *Orders) get(w http.ResponseWriter, r *http.Request) {
	e, err := h.Store.Get(ParamsFrom(r)["id"])
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("ETag", e.ETag())
	writeJSON(w, http.StatusOK, orderView(e))
}

type statusChange struct {
	Status model.OrderStatus `json:"status"`
	Note   string            `json:"note"`
}

func (h *Orders) move(w http.ResponseWriter, r *http.Request) {
	rev, err := ifMatch(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	var sc statusChange
	if err := decode(r, &sc); err != nil {
		fail(w, r, err)
		return
	}
	var restock []model.Line
	e, err := h.Store.Modify(ParamsFrom(r)["id"], rev, func(o model.Order) (model.Order, error) {
		if !model.CanMove(o.Status, sc.Status) {
			return o, fmt.Errorf("%w: %s -> %s (allowed: %v)", errTransition, o.Status, sc.Status, o.Status.Next())
		}
		if sc.Status == model.OrderCancelled {
			restock = o.Lines
		}
		o.Status = sc.Status
		o.History = append(append([]model.History(nil), o.History...), model.History{Status: sc.Status, At: h.now().UTC(), Note: sc.Note})
		return o, nil
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	h.giveBack(restock)
	w.Header().Set("ETag", e.ETag())
	writeJSON(w, http.StatusOK, orderView(e))
}

func (h *Orders) invoice(w http.ResponseWriter, r *http.Request) {
	e, err := h.Store.Get(ParamsFrom(r)["id"])
	if err != nil {
		fail(w, r, err)
		return
	}
	o := e.Value
	var b strings.Builder
	fmt.Fprintf(&b, "INVOICE %s\n%s\n\n", e.ID, e.CreatedAt.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Bill to: %s <%s>\nShip to: %s, %s, %s %s, %s\n\n", o.Customer, o.Email,
		o.ShipTo.Name, o.ShipTo.Street, o.ShipTo.PostalCode, o.ShipTo.City, o.ShipTo.Country)
	fmt.Fprintf(&b, "%-12s %-30s %8s %12s %12s\n", "SKU", "Item", "Qty", "Unit", "Amount")
	for _, l := range o.Lines {
		name := l.Name
		if len(name) > 30 {
			name = name[:29] + "…"
		}
		fmt.Fprintf(&b, "%-12s %-30s %8d %12s %12s\n", l.SKU, name, l.Quantity, l.UnitPrice, l.Total())
	}
	fmt.Fprintf(&b, "\n%64s %12s\n", "Subtotal", o.Subtotal())
	if o.Discount > 0 {
		fmt.Fprintf(&b, "%64s %12s\n", "Discount ("+o.Coupon+")", "-"+o.Discount.String())
	}
	fmt.Fprintf(&b, "%64s %12s\n", "Total", o.Total())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// orderView is an order as the API shows it: the record plus its computed totals.
func orderView(e store.Entry[model.Order]) map[string]any {
	return map[string]any{
		"id":             e.ID,
		"revision":       e.Revision,
		"created_at":     e.CreatedAt,
		"updated_at":     e.UpdatedAt,
		"order":          e.Value,
		"subtotal_cents": e.Value.Subtotal(),
		"total_cents":    e.Value.Total(),
		"next_statuses":  e.Value.Status.Next(),
	}
}
