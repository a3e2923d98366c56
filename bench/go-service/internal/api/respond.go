package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"example.com/inventory/internal/middleware"
	"example.com/inventory/internal/model"
	"example.com/inventory/internal/store"
)

// ErrorBody is every error response's shape.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong, for people (message) and programs (code, fields).
type ErrorDetail struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string, fields map[string]string) {
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{
		Code: code, Message: msg, Fields: fields, RequestID: middleware.IDFrom(r.Context()),
	}})
}

// fail maps an error from the store, the model or decoding to a response.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *model.ValidationError
	var mbe *http.MaxBytesError
	var de *decodeError
	switch {
	case errors.As(err, &ve):
		writeError(w, r, http.StatusUnprocessableEntity, "invalid", "the request has invalid fields", ve.Fields)
	case errors.As(err, &de):
		writeError(w, r, http.StatusBadRequest, "bad_request", de.Error(), nil)
	case errors.As(err, &mbe):
		writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body exceeds %d bytes", mbe.Limit), nil)
	case errors.Is(err, store.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "not_found", err.Error(), nil)
	case errors.Is(err, store.ErrConflict):
		writeError(w, r, http.StatusPreconditionFailed, "conflict", err.Error(), nil)
	case errors.Is(err, store.ErrExists):
		writeError(w, r, http.StatusConflict, "exists", err.Error(), nil)
	case errors.Is(err, store.ErrInvalid):
		writeError(w, r, http.StatusUnprocessableEntity, "invalid", err.Error(), nil)
	case errors.Is(err, errStock):
		writeError(w, r, http.StatusConflict, "insufficient_stock", err.Error(), nil)
	case errors.Is(err, errTransition):
		writeError(w, r, http.StatusConflict, "bad_transition", err.Error(), nil)
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		writeError(w, r, http.StatusServiceUnavailable, "timeout", "the request took too long", nil)
	default:
		writeError(w, r, http.StatusInternalServerError, "internal", "internal error", nil)
	}
}

type decodeError struct{ msg string }

func (e *decodeError) Error() string { return e.msg }

// decode reads one JSON object from the body into v, strictly: unknown fields and trailing
// data are errors, with the position of the problem.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &decodeError{"Content-Type must be application/json, not " + ct}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.As(err, &se):
			return &decodeError{fmt.Sprintf("malformed JSON at byte %d", se.Offset)}
		case errors.As(err, &te):
			return &decodeError{fmt.Sprintf("field %q must be %s, not %s", te.Field, te.Type, te.Value)}
		case errors.Is(err, io.EOF):
			return &decodeError{"the body is empty"}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return &decodeError{"the body ends in the middle of the JSON"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return &decodeError{"unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")}
		}
		return &decodeError{err.Error()}
	}
	if dec.More() {
		return &decodeError{"the body holds more than one JSON value"}
	}
	return nil
}

// ifMatch reads the revision an If-Match header names (0 when absent).
func ifMatch(r *http.Request) (uint64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	h = strings.TrimPrefix(h, "W/")
	n, err := strconv.ParseUint(strings.Trim(h, `"`), 10, 64)
	if err != nil {
		return 0, &decodeError{"If-Match must be an ETag this API returned, e.g. \"3\""}
	}
	return n, nil
}

// intParam reads an optional integer query parameter within bounds.
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &decodeError{fmt.Sprintf("%s must be an integer from %d to %d", name, lo, hi)}
	}
	return n, nil
}

// moneyParam reads an optional amount query parameter ("19.99").
func moneyParam(r *http.Request, name string) (*int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	m, err := model.ParseMoney(v)
	if err != nil {
		return nil, &decodeError{fmt.Sprintf("%s: %v", name, err)}
	}
	n := int64(m)
	return &n, nil
}
