// Package store is a small in-memory, concurrency-safe store of records with optimistic
// concurrency (every record carries a revision; an update names the revision it read) and
// change notifications.
package store

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Errors the store returns; callers match them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("revision conflict")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid record")
)

// Meta is the bookkeeping kept beside each record.
type Meta struct {
	ID        string    `json:"id"`
	Revision  uint64    `json:"revision"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Entry is one record with its bookkeeping.
type Entry[T any] struct {
	Meta
	Value T `json:"value"`
}

// ETag is the entry's HTTP entity tag (its revision, quoted).
func (e Entry[T]) ETag() string {
	return `"` + strconv.FormatUint(e.Revision, 10) + `"`
}

// EventKind says what happened to a record.
type EventKind int

const (
	Created EventKind = iota + 1
	Updated
	Deleted
)

func (k EventKind) String() string {
	switch k {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Deleted:
		return "deleted"
	}
	return "unknown(" + strconv.Itoa(int(k)) + ")"
}

// Event is one change, sent to subscribers after the change is visible.
type Event[T any] struct {
	Kind  EventKind
	Entry Entry[T]
}

// Validator checks a value before it is stored.
type Validator[T any] func(T) error

// Store keeps values of type T by ID.
type Store[T any] struct {
	mu       sync.RWMutex
	name     string
	prefix   string
	seq      uint64
	entries  map[string]*Entry[T]
	validate Validator[T]
	now      func() time.Time

	subMu  sync.Mutex
	subs   map[int]chan Event[T]
	nextID int
}

// Option configures a store.
type Option[T any] func(*Store[T])

// WithValidator checks every created or updated value.
func WithValidator[T any](v Validator[T]) Option[T] {
	return func(s *Store[T]) { s.validate = v }
}

// WithClock replaces time.Now (tests).
func WithClock[T any](now func() time.Time) Option[T] {
	return func(s *Store[T]) { s.now = now }
}

// New makes an empty store; IDs are prefix followed by a sequence number.
func New[T any](name, prefix string, opts ...Option[T]) *Store[T] {
	s := &Store[T]{
		name:    name,
		prefix:  prefix,
		entries: make(map[string]*Entry[T]),
		now:     time.Now,
		subs:    make(map[int]chan Event[T]),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name is the store's name (for logs and metrics).
func (s *Store[T]) Name() string { return s.name }

// Len is the number of records.
func (s *Store[T]) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// Create stores a new value under a new ID.
func (s *Store[T]) Create(v T) (Entry[T], error) {
	if err := s.check(v); err != nil {
		return Entry[T]{}, err
	}
	s.mu.Lock()
	s.seq++
	id := s.prefix + strconv.FormatUint(s.seq, 10)
	now := s.now().UTC()
	e := &Entry[T]{Meta: Meta{ID: id, Revision: 1, CreatedAt: now, UpdatedAt: now}, Value: v}
	s.entries[id] = e
	out := *e
	s.mu.Unlock()
	s.publish(Event[T]{Kind: Created, Entry: out})
	return out, nil
}

// Put stores a value under a given ID, which must be new.
func (s *Store[T]) Put(id string, v T) (Entry[T], error) {
	if id == "" {
		return Entry[T]{}, fmt.Errorf("%w: empty id", ErrInvalid)
	}
	if err := s.check(v); err != nil {
		return Entry[T]{}, err
	}
	s.mu.Lock()
	if _, ok := s.entries[id]; ok {
		s.mu.Unlock()
		return Entry[T]{}, fmt.Errorf("%s %s: %w", s.name, id, ErrExists)
	}
	now := s.now().UTC()
	e := &Entry[T]{Meta: Meta{ID: id, Revision: 1, CreatedAt: now, UpdatedAt: now}, Value: v}
	s.entries[id] = e
	out := *e
	s.mu.Unlock()
	s.publish(Event[T]{Kind: Created, Entry: out})
	return out, nil
}

// Get returns the record with that ID.
func (s *Store[T]) Get(id string) (Entry[T], error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.entries[id]
	if !ok {
		return Entry[T]{}, fmt.Errorf("%s %s: %w", s.name, id, ErrNotFound)
	}
	return *e, nil
}

// Update replaces the value of a record. When revision is not zero it must be the record's
// current revision (the one the caller read), else ErrConflict.
func (s *Store[T]) Update(id string, revision uint64, v T) (Entry[T], error) {
	return s.Modify(id, revision, func(T) (T, error) { return v, nil })
}

// Modify changes a record through fn, atomically: fn sees the current value and returns the
// new one. revision as in Update.
func (s *Store[T]) Modify(id string, revision uint64, fn func(T) (T, error)) (Entry[T], error) {
	s.mu.Lock()
	e, ok := s.entries[id]
	if !ok {
		s.mu.Unlock()
		return Entry[T]{}, fmt.Errorf("%s %s: %w", s.name, id, ErrNotFound)
	}
	if revision != 0 && revision != e.Revision {
		cur := e.Revision
		s.mu.Unlock()
		return Entry[T]{}, fmt.Errorf("%s %s: %w: at revision %d, not %d", s.name, id, ErrConflict, cur, revision)
	}
	v, err := fn(e.Value)
	if err == nil {
		err = s.check(v)
	}
	if err != nil {
		s.mu.Unlock()
		return Entry[T]{}, err
	}
	e.Value = v
	e.Revision++
	e.UpdatedAt = s.now().UTC()
	out := *e
	s.mu.Unlock()
	s.publish(Event[T]{Kind: Updated, Entry: out})
	return out, nil
}

// Delete removes a record (revision as in Update).
func (s *Store[T]) Delete(id string, revision uint64) error {
	s.mu.Lock()
	e, ok := s.entries[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%s %s: %w", s.name, id, ErrNotFound)
	}
	if revision != 0 && revision != e.Revision {
		s.mu.Unlock()
		return fmt.Errorf("%s %s: %w", s.name, id, ErrConflict)
	}
	delete(s.entries, id)
	out := *e
	s.mu.Unlock()
	s.publish(Event[T]{Kind: Deleted, Entry: out})
	return nil
}

// All returns every record, oldest first (by creation time, then ID).
func (s *Store[T]) All() []Entry[T] {
	s.mu.RLock()
	out := make([]Entry[T], 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, *e)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return idLess(out[i].ID, out[j].ID)
	})
	return out
}

// Subscribe returns a channel of every change from now on, and a function that ends the
// subscription. A subscriber that does not keep up loses events rather than blocking writers.
func (s *Store[T]) Subscribe(buffer int) (<-chan Event[T], func()) {
	if buffer < 1 {
		buffer = 16
	}
	ch := make(chan Event[T], buffer)
	s.subMu.Lock()
	id := s.nextID
	s.nextID++
	s.subs[id] = ch
	s.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.subMu.Lock()
			delete(s.subs, id)
			s.subMu.Unlock()
			close(ch)
		})
	}
}

func (s *Store[T]) publish(ev Event[T]) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for _, ch := range s.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (s *Store[T]) check(v T) error {
	if s.validate == nil {
		return nil
	}
	if err := s.validate(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// idLess orders IDs with the same prefix by their number (p2 before p10).
func idLess(a, b string) bool {
	na, nb := trailingNumber(a), trailingNumber(b)
	if na >= 0 && nb >= 0 && a[:len(a)-digits(a)] == b[:len(b)-digits(b)] {
		return na < nb
	}
	return a < b
}

func digits(s string) int {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] >= '0' && s[i] <= '9'; i-- {
		n++
	}
	return n
}

func trailingNumber(s string) int64 {
	d := digits(s)
	if d == 0 {
		return -1
	}
	n, err := strconv.ParseInt(s[len(s)-d:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}
