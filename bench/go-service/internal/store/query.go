package store

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Query selects, orders and pages records.
type Query[T any] struct {
	// Filters must all accept a record for it to be listed.
	Filters []func(Entry[T]) bool
	// Less orders the records (nil: oldest first).
	Less func(a, b Entry[T]) bool
	// Descending reverses the order.
	Descending bool
	// Limit is the page size (0: all).
	Limit int
	// Cursor continues after the last record of a previous page (from Page.Next).
	Cursor string
}

// Page is one page of a query's results.
type Page[T any] struct {
	Items []Entry[T] `json:"items"`
	Total int        `json:"total"`
	Next  string     `json:"next,omitempty"`
}

// Find runs a query.
func (s *Store[T]) Find(q Query[T]) (Page[T], error) {
	all := s.All()
	matched := all[:0]
	for _, e := range all {
		ok := true
		for _, f := range q.Filters {
			if !f(e) {
				ok = false
				break
			}
		}
		if ok {
			matched = append(matched, e)
		}
	}
	if q.Less != nil {
		sort.SliceStable(matched, func(i, j int) bool { return q.Less(matched[i], matched[j]) })
	}
	if q.Descending {
		for i, j := 0, len(matched)-1; i < j; i, j = i+1, j-1 {
			matched[i], matched[j] = matched[j], matched[i]
		}
	}
	start := 0
	if q.Cursor != "" {
		off, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page[T]{}, err
		}
		if off > len(matched) {
			off = len(matched)
		}
		start = off
	}
	end := len(matched)
	if q.Limit > 0 && start+q.Limit < end {
		end = start + q.Limit
	}
	page := Page[T]{Items: append([]Entry[T](nil), matched[start:end]...), Total: len(matched)}
	if end < len(matched) {
		page.Next = encodeCursor(end)
	}
	if page.Items == nil {
		page.Items = []Entry[T]{}
	}
	return page, nil
}

func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, fmt.Errorf("%w: bad cursor", ErrInvalid)
	}
	s := string(raw)
	if !strings.HasPrefix(s, "o:") {
		return 0, fmt.Errorf("%w: bad cursor", ErrInvalid)
	}
	n, err := strconv.Atoi(s[2:])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: bad cursor", ErrInvalid)
	}
	return n, nil
}

// Contains is a filter: the text field, case-insensitively, contains the needle.
func Contains[T any](field func(T) string, needle string) func(Entry[T]) bool {
	needle = strings.ToLower(needle)
	return func(e Entry[T]) bool {
		return strings.Contains(strings.ToLower(field(e.Value)), needle)
	}
}

// Equals is a filter: the field equals the value.
func Equals[T any, V comparable](field func(T) V, want V) func(Entry[T]) bool {
	return func(e Entry[T]) bool { return field(e.Value) == want }
}

// Between is a filter: lo <= field <= hi (either bound skipped when nil).
func Between[T any](field func(T) int64, lo, hi *int64) func(Entry[T]) bool {
	return func(e Entry[T]) bool {
		v := field(e.Value)
		return (lo == nil || v >= *lo) && (hi == nil || v <= *hi)
	}
}

// By orders by a field.
func By[T any, V int | int64 | float64 | string](field func(T) V) func(a, b Entry[T]) bool {
	return func(a, b Entry[T]) bool { return field(a.Value) < field(b.Value) }
}
