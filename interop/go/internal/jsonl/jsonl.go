// Package jsonl writes the programs' output: one JSON object per line, so
// the TypeScript tests and the bench read it without parsing prose.
package jsonl

import (
	"encoding/json"
	"io"
	"sync"
)

// Writer writes whole lines from many goroutines without interleaving them.
type Writer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// New returns a Writer on w.
func New(w io.Writer) *Writer {
	return &Writer{enc: json.NewEncoder(w)}
}

// Write encodes v as one line. A value that does not encode is a bug in
// this module, so it panics rather than losing the line.
func (w *Writer) Write(v any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Encode(v); err != nil {
		panic(err)
	}
}

// Event is a line that reports something that happened, as opposed to a
// call's result. Fields that do not apply are left out.
type Event struct {
	Event    string `json:"event"`
	Call     string `json:"call,omitempty"`
	Method   string `json:"method,omitempty"`
	Address  string `json:"address,omitempty"`
	Key      string `json:"key,omitempty"`
	N        int    `json:"n,omitempty"`
	Error    string `json:"error,omitempty"`
	CtxError string `json:"ctxError,omitempty"`
}
