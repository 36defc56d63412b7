// Package control reads the tests' commands from standard input, one JSON
// object a line, while a program runs: calls to make, and releases of
// handlers or readers the test had parked. A program ends when its standard
// input closes, so it never outlives the test that started it.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"sync"

	"google.golang.org/grpc/status"

	"protoc-gen-tunnel/interop/go/internal/calls"
	"protoc-gen-tunnel/interop/go/internal/jsonl"
)

// Command is one line of standard input.
type Command struct {
	Call    *calls.Call `json:"call,omitempty"`
	Release string      `json:"release,omitempty"`
}

// Releases remembers which parked calls the test released, in either order
// of release and wait.
type Releases struct {
	mu    sync.Mutex
	gates map[string]chan struct{}
}

// NewReleases returns an empty set.
func NewReleases() *Releases {
	return &Releases{gates: map[string]chan struct{}{}}
}

func (r *Releases) gate(id string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.gates[id]
	if !ok {
		g = make(chan struct{})
		r.gates[id] = g
	}
	return g
}

// Release lets every waiter on id go, now and later.
func (r *Releases) Release(id string) {
	g := r.gate(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-g:
	default:
		close(g)
	}
}

// Wait returns once id is released, or with the call's status once ctx ends.
func (r *Releases) Wait(ctx context.Context, id string) error {
	select {
	case <-r.gate(id):
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// Serve reads commands until in ends: each call runs at once, concurrently,
// through run, and its result goes out as a line.
func Serve(in io.Reader, out *jsonl.Writer, releases *Releases, run func(calls.Call) calls.Result) {
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for scanner.Scan() {
		var cmd Command
		if err := json.Unmarshal(scanner.Bytes(), &cmd); err != nil {
			out.Write(jsonl.Event{Event: "bad-command", Error: err.Error()})
			continue
		}
		if cmd.Release != "" {
			releases.Release(cmd.Release)
		}
		if cmd.Call != nil {
			c := *cmd.Call
			go func() { out.Write(run(c)) }()
		}
	}
}
