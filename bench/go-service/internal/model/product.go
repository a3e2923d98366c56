// Package model holds the service's domain types and their validation rules.
package model

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Money is an amount in cents (never floats for prices).
type Money int64

// String formats cents as a decimal amount, e.g. 1999 -> "19.99".
func (m Money) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return fmt.Sprintf("%s%d.%02d", sign, int64(m)/100, int64(m)%100)
}

// ParseMoney reads "19.99", "19.9", "19" or "-0.50" into cents.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" && !hasFrac {
		return 0, fmt.Errorf("empty amount")
	}
	var cents int64
	for _, r := range whole {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not an amount", s)
		}
		cents = cents*10 + int64(r-'0')
		if cents > 1e15 {
			return 0, fmt.Errorf("%q is too large", s)
		}
	}
	cents *= 100
	if hasFrac {
		if len(frac) == 0 || len(frac) > 2 {
			return 0, fmt.Errorf("%q: at most two decimals", s)
		}
		if len(frac) == 1 {
			frac += "0"
		}
		for i, r := range frac {
			if r < '0' || r > '9' {
				return 0, fmt.Errorf("%q is not an amount", s)
			}
			if i == 0 {
				cents += int64(r-'0') * 10
			} else {
				cents += int64(r - '0')
			}
		}
	}
	if neg {
		cents = -cents
	}
	return Money(cents), nil
}

// Product is an item for sale.
type Product struct {
	SKU         string            `json:"sku"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Price       Money             `json:"price_cents"`
	Stock       int64             `json:"stock"`
	Category    string            `json:"category,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	Active      bool              `json:"active"`
}

var skuPattern = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{2,31}$`)

// Categories a product may belong to.
var Categories = map[string]bool{
	"":            true,
	"books":       true,
	"electronics": true,
	"garden":      true,
	"grocery":     true,
	"home":        true,
	"sports":      true,
	"toys":        true,
}

// ValidationError lists every field that is wrong, by JSON name.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, k := range sortedKeys(e.Fields) {
		parts = append(parts, k+": "+e.Fields[k])
	}
	return strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, ok := e.Fields[field]; !ok {
		e.Fields[field] = msg
	}
}

func (e *ValidationError) orNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Validate checks a product.
func (p Product) Validate() error {
	var ve ValidationError
	if !skuPattern.MatchString(p.SKU) {
		ve.add("sku", "3 to 32 upper-case letters, digits or dashes, not starting with a dash")
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(p.Name)); n == 0 || n > 200 {
		ve.add("name", "required, at most 200 characters")
	}
	if utf8.RuneCountInString(p.Description) > 5000 {
		ve.add("description", "at most 5000 characters")
	}
	if p.Price < 0 {
		ve.add("price_cents", "must not be negative")
	}
	if p.Stock < 0 {
		ve.add("stock", "must not be negative")
	}
	if !Categories[p.Category] {
		ve.add("category", "unknown category (one of "+strings.Join(sortedKeys(Categories)[1:], ", ")+")")
	}
	if len(p.Tags) > 20 {
		ve.add("tags", "at most 20 tags")
	}
	seen := map[string]bool{}
	for _, t := range p.Tags {
		if t == "" || len(t) > 40 || strings.ContainsAny(t, " ,") {
			ve.add("tags", fmt.Sprintf("tag %q: 1 to 40 characters, no spaces or commas", t))
		}
		if seen[t] {
			ve.add("tags", fmt.Sprintf("tag %q appears twice", t))
		}
		seen[t] = true
	}
	if len(p.Attributes) > 50 {
		ve.add("attributes", "at most 50 attributes")
	}
	for k, v := range p.Attributes {
		if k == "" || len(k) > 64 || len(v) > 256 {
			ve.add("attributes", fmt.Sprintf("attribute %q: key 1 to 64 bytes, value at most 256", k))
		}
	}
	return ve.orNil()
}

// Normalize trims and canonicalizes a product's fields before validation.
func (p Product) Normalize() Product {
	p.SKU = strings.ToUpper(strings.TrimSpace(p.SKU))
	p.Name = strings.TrimSpace(p.Name)
	p.Category = strings.ToLower(strings.TrimSpace(p.Category))
	tags := make([]string, 0, len(p.Tags))
	for _, t := range p.Tags {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			tags = append(tags, t)
		}
	}
	p.Tags = tags
	return p
}

// HasTag reports whether the product carries the tag.
func (p Product) HasTag(tag string) bool {
	for _, t := range p.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// ProductPatch is a partial update: nil fields stay as they are.
type ProductPatch struct {
	Name        *string            `json:"name"`
	Description *string            `json:"description"`
	Price       *Money             `json:"price_cents"`
	Stock       *int64             `json:"stock"`
	Category    *string            `json:"category"`
	Tags        *[]string          `json:"tags"`
	Attributes  *map[string]string `json:"attributes"`
	Active      *bool              `json:"active"`
}

// Apply returns the product with the patch's fields set.
func (pp ProductPatch) Apply(p Product) Product {
	if pp.Name != nil {
		p.Name = *pp.Name
	}
	if pp.Description != nil {
		p.Description = *pp.Description
	}
	if pp.Price != nil {
		p.Price = *pp.Price
	}
	if pp.Stock != nil {
		p.Stock = *pp.Stock
	}
	if pp.Category != nil {
		p.Category = *pp.Category
	}
	if pp.Tags != nil {
		p.Tags = append([]string(nil), (*pp.Tags)...)
	}
	if pp.Attributes != nil {
		m := make(map[string]string, len(*pp.Attributes))
		for k, v := range *pp.Attributes {
			m[k] = v
		}
		p.Attributes = m
	}
	if pp.Active != nil {
		p.Active = *pp.Active
	}
	return p
}
