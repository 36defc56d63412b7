// Package load drives one kind of call as fast as it completes, from a
// number of callers, for the bench's Go rows: the figures of a Go client
// against any tunnel server, in one JSON line.
package load

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pb "github.com/fullstorydev/grpchan/grpchantesting"
	"google.golang.org/grpc"

	"protoc-gen-tunnel/interop/go/internal/calls"
)

// Options say what to drive.
type Options struct {
	Method       string // unary, serverStream, clientStream
	Concurrency  int
	MessageBytes int
	Messages     int // serverStream: responses per call; clientStream: requests per call
	Duration     time.Duration
}

// Report is the result line.
type Report struct {
	Event        string  `json:"event"` // "load"
	Method       string  `json:"method"`
	Concurrency  int     `json:"concurrency"`
	MessageBytes int     `json:"messageBytes"`
	Calls        int64   `json:"calls"`
	Messages     int64   `json:"messages"`
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"`
	CallsPerSec  float64 `json:"callsPerSec"`
	MiBPerSec    float64 `json:"mibPerSec"`
	CPUSeconds   float64 `json:"cpuSeconds"` // this process, user + system
	Failed       int64   `json:"failed"`
	FirstError   string  `json:"firstError,omitempty"`
}

// Run drives conn for o.Duration and reports.
func Run(conn grpc.ClientConnInterface, o Options) Report {
	client := pb.NewTestServiceClient(conn)
	payload := calls.Pattern(o.MessageBytes)
	var callCount, messages, bytes, failed atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), o.Duration)
	defer cancel()
	cpuBefore := cpuSeconds()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < o.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n, err := one(client, o, payload)
				if err != nil && ctx.Err() == nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				callCount.Add(1)
				messages.Add(int64(n))
				bytes.Add(int64(n) * int64(o.MessageBytes))
			}
		}()
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()
	r := Report{
		Event: "load", Method: o.Method, Concurrency: o.Concurrency, MessageBytes: o.MessageBytes,
		Calls: callCount.Load(), Messages: messages.Load(), Bytes: bytes.Load(), Seconds: seconds,
		CPUSeconds: cpuSeconds() - cpuBefore, Failed: failed.Load(),
	}
	r.CallsPerSec = float64(r.Calls) / seconds
	r.MiBPerSec = float64(r.Bytes) / seconds / (1 << 20)
	if e, ok := firstErr.Load().(string); ok {
		r.FirstError = e
	}
	return r
}

// one makes one call (unbounded by the run's deadline, so no call is cut
// short and counted as failed) and returns the messages it moved.
func one(client pb.TestServiceClient, o Options, payload []byte) (int, error) {
	ctx := context.Background()
	switch o.Method {
	case "unary":
		_, err := client.Unary(ctx, &pb.Message{Payload: payload})
		return 1, err
	case "serverStream":
		st, err := client.ServerStream(ctx, &pb.Message{Payload: payload, Count: int32(o.Messages)})
		if err != nil {
			return 0, err
		}
		n := 0
		for {
			if _, err := st.Recv(); err == io.EOF {
				return n, nil
			} else if err != nil {
				return n, err
			}
			n++
		}
	case "clientStream":
		st, err := client.ClientStream(ctx)
		if err != nil {
			return 0, err
		}
		for i := 0; i < o.Messages; i++ {
			if err := st.Send(&pb.Message{Payload: payload}); err != nil {
				break
			}
		}
		_, err = st.CloseAndRecv()
		return o.Messages, err
	}
	return 0, io.ErrUnexpectedEOF
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
