package model

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// OrderStatus is where an order is in its life.
type OrderStatus string

const (
	OrderPending   OrderStatus = "pending"
	OrderPaid      OrderStatus = "paid"
	OrderShipped   OrderStatus = "shipped"
	OrderDelivered OrderStatus = "delivered"
	OrderCancelled OrderStatus = "cancelled"
)

// transitions lists the statuses each status may move to.
var transitions = map[OrderStatus][]OrderStatus{
	OrderPending: {OrderPaid, OrderCancelled},
	OrderPaid:    {OrderShipped, OrderCancelled},
	OrderShipped: {OrderDelivered},
}

// CanMove reports whether an order may go from one status to another.
func CanMove(from, to OrderStatus) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Next lists the statuses an order in this status may move to.
func (s OrderStatus) Next() []OrderStatus {
	return append([]OrderStatus(nil), transitions[s]...)
}

// Valid reports whether the status is a known one.
func (s OrderStatus) Valid() bool {
	switch s {
	case OrderPending, OrderPaid, OrderShipped, OrderDelivered, OrderCancelled:
		return true
	}
	return false
}

// Line is one product in an order, at the price it had when ordered.
type Line struct {
	ProductID string `json:"product_id"`
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice Money  `json:"unit_price_cents"`
}

// Total is the line's amount.
func (l Line) Total() Money {
	return Money(int64(l.UnitPrice) * l.Quantity)
}

// Address is where an order ships.
type Address struct {
	Name       string `json:"name"`
	Street     string `json:"street"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Validate checks that every part of the address is there.
func (a Address) Validate(prefix string, ve *ValidationError) {
	req := func(field, v string, max int) {
		if v = strings.TrimSpace(v); v == "" || len(v) > max {
			ve.add(prefix+field, fmt.Sprintf("required, at most %d bytes", max))
		}
	}
	req("name", a.Name, 100)
	req("street", a.Street, 200)
	req("city", a.City, 100)
	req("postal_code", a.PostalCode, 16)
	if len(a.Country) != 2 || strings.ToUpper(a.Country) != a.Country {
		ve.add(prefix+"country", "two upper-case letters (ISO 3166-1 alpha-2)")
	}
}

// History is one status change.
type History struct {
	Status OrderStatus `json:"status"`
	At     time.Time   `json:"at"`
	Note   string      `json:"note,omitempty"`
}

// Order is a customer's purchase.
type Order struct {
	Customer string      `json:"customer"`
	Email    string      `json:"email"`
	Lines    []Line      `json:"lines"`
	ShipTo   Address     `json:"ship_to"`
	Status   OrderStatus `json:"status"`
	History  []History   `json:"history"`
	Coupon   string      `json:"coupon,omitempty"`
	Discount Money       `json:"discount_cents"`
}

// Subtotal is the sum of the lines.
func (o Order) Subtotal() Money {
	var t Money
	for _, l := range o.Lines {
		t += l.Total()
	}
	return t
}

// Total is what the customer pays.
func (o Order) Total() Money {
	t := o.Subtotal() - o.Discount
	if t < 0 {
		return 0
	}
	return t
}

// Validate checks an order.
func (o Order) Validate() error {
	var ve ValidationError
	if strings.TrimSpace(o.Customer) == "" {
		ve.add("customer", "required")
	}
	if at := strings.IndexByte(o.Email, '@'); at < 1 || at == len(o.Email)-1 || strings.ContainsAny(o.Email, " \t") {
		ve.add("email", "not an e-mail address")
	}
	if len(o.Lines) == 0 {
		ve.add("lines", "an order needs at least one line")
	}
	if len(o.Lines) > 100 {
		ve.add("lines", "at most 100 lines")
	}
	seen := map[string]bool{}
	for i, l := range o.Lines {
		if l.Quantity < 1 || l.Quantity > 10000 {
			ve.add(fmt.Sprintf("lines[%d].quantity", i), "1 to 10000")
		}
		if seen[l.ProductID] {
			ve.add(fmt.Sprintf("lines[%d].product_id", i), "product appears twice: merge the lines")
		}
		seen[l.ProductID] = true
	}
	o.ShipTo.Validate("ship_to.", &ve)
	if !o.Status.Valid() {
		ve.add("status", "unknown status")
	}
	if o.Discount < 0 {
		ve.add("discount_cents", "must not be negative")
	}
	return ve.orNil()
}

// Coupon is a discount code.
type Coupon struct {
	Code       string
	PercentOff int64
	MinTotal   Money
	Expires    time.Time
}

// Coupons known to the service (a real one would keep them in its store).
var Coupons = map[string]Coupon{
	"WELCOME10": {Code: "WELCOME10", PercentOff: 10},
	"BIG20":     {Code: "BIG20", PercentOff: 20, MinTotal: 10000},
}

// Discount is what the coupon takes off a subtotal, or an error saying why it does not apply.
func (c Coupon) Discount(subtotal Money, now time.Time) (Money, error) {
	if !c.Expires.IsZero() && now.After(c.Expires) {
		return 0, fmt.Errorf("coupon %s expired on %s", c.Code, c.Expires.Format("2006-01-02"))
	}
	if subtotal < c.MinTotal {
		return 0, fmt.Errorf("coupon %s needs a subtotal of at least %s", c.Code, c.MinTotal)
	}
	return Money(int64(subtotal) * c.PercentOff / 100), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
