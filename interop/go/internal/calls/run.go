package calls

import (
	"context"
	"io"
	"sync"
	"time"

	pb "github.com/fullstorydev/grpchan/grpchantesting"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"protoc-gen-tunnel/interop/go/internal/jsonl"
)

// Hooks connect a call to its process: progress lines, and waiting for the
// test to release a reader it stalled.
type Hooks struct {
	Emit    func(jsonl.Event)
	Release func(ctx context.Context, id string) error
}

// Run performs c on conn (Concurrency copies at once) and reports the outcome.
func Run(ctx context.Context, conn grpc.ClientConnInterface, c Call, hooks Hooks) Result {
	start := time.Now()
	n := c.Concurrency
	if n < 1 {
		n = 1
	}
	var bar *barrier
	if c.Barrier {
		bar = newBarrier(n)
	}
	client := pb.NewTestServiceClient(conn)
	results := make([]Result, n)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = runOne(ctx, client, c, hooks, bar)
		}(i)
	}
	wg.Wait()
	total := merge(results)
	total.Event = "result"
	total.ID = c.ID
	total.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
	return total
}

// call is one copy of a Call in progress.
type call struct {
	Call
	hooks   Hooks
	bar     *barrier
	arrived bool
	cancel  context.CancelFunc
	header  metadata.MD
	trailer metadata.MD
	result  Result
}

func runOne(ctx context.Context, client pb.TestServiceClient, c Call, hooks Hooks, bar *barrier) Result {
	var cancel context.CancelFunc
	if c.TimeoutMs > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(c.TimeoutMs)*time.Millisecond)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	if len(c.Metadata) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, ToMD(c.Metadata))
	}
	k := &call{Call: c, hooks: hooks, bar: bar, cancel: cancel}
	defer k.arrive() // a copy that failed early must not hold the others
	opts := []grpc.CallOption{grpc.Header(&k.header), grpc.Trailer(&k.trailer)}
	var err error
	switch c.Method {
	case "unary":
		var resp *pb.Message
		if resp, err = client.Unary(ctx, k.request(0), opts...); err == nil {
			k.observe(resp)
		}
	case "clientStream":
		err = k.clientStream(ctx, client, opts)
	case "serverStream":
		err = k.serverStream(ctx, client, opts)
	case "bidi":
		err = k.bidi(ctx, client, opts)
	default:
		err = status.Errorf(3, "unknown method %q", c.Method)
	}
	st := status.Convert(err)
	k.result.Code = int(st.Code())
	k.result.Message = st.Message()
	k.result.Details = FromAny(st.Proto().GetDetails())
	k.result.Headers = FromMD(k.header)
	k.result.Trailers = FromMD(k.trailer)
	return k.result
}

// request i of the call: every request asks for the same headers and
// trailers; the delay and the status code ride on the last one (the one
// the test service acts on for client streams; unary and server streams
// have only one).
func (k *call) request(i int) *pb.Message {
	m := &pb.Message{
		Payload:  Pattern(k.RequestBytes),
		Headers:  ToBytesMap(k.ResponseHeaders),
		Trailers: ToBytesMap(k.ResponseTrailers),
	}
	if i == k.requests()-1 {
		m.Code = k.Code
		m.ErrorDetails = ToAny(k.Details)
		m.DelayMillis = k.DelayMs
	}
	switch {
	case k.Method == "serverStream":
		m.Count = k.Responses
	case k.Method == "bidi" && k.HalfDuplex && i == 0:
		m.Count = -1
	}
	return m
}

func (k *call) requests() int {
	if k.Requests < 1 || k.Method == "unary" || k.Method == "serverStream" {
		return 1
	}
	return k.Requests
}

func (k *call) observe(resp *pb.Message) {
	r := &k.result
	r.Responses++
	r.ResponseBytes += int64(len(resp.Payload))
	if len(resp.Payload) != k.RequestBytes || !IsPattern(resp.Payload) {
		r.BadPayloads++
	}
	if r.Echoed == nil {
		r.Echoed = FromBytesMap(resp.Headers)
	}
	if len(r.Counts) < 16 {
		r.Counts = append(r.Counts, resp.Count)
	}
}

func (k *call) sent(n int) {
	if k.Progress {
		k.hooks.Emit(jsonl.Event{Event: "sent", Call: k.ID, N: n})
	}
}

func (k *call) clientStream(ctx context.Context, client pb.TestServiceClient, opts []grpc.CallOption) error {
	st, err := client.ClientStream(ctx, opts...)
	if err != nil {
		return err
	}
	for i := 0; i < k.requests(); i++ {
		if st.Send(k.request(i)) != nil {
			break // the call ended: CloseAndRecv reports how
		}
		k.sent(i + 1)
	}
	resp, err := st.CloseAndRecv()
	if err == nil {
		k.observe(resp)
	}
	return err
}

func (k *call) serverStream(ctx context.Context, client pb.TestServiceClient, opts []grpc.CallOption) error {
	st, err := client.ServerStream(ctx, k.request(0), opts...)
	if err != nil {
		return err
	}
	return k.readAll(ctx, st.Recv)
}

// readAll reads responses to the end, cancelling or stalling where asked.
func (k *call) readAll(ctx context.Context, recv func() (*pb.Message, error)) error {
	for {
		resp, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		k.observe(resp)
		k.afterResponse(ctx)
	}
}

func (k *call) afterResponse(ctx context.Context) {
	n := k.result.Responses
	if n == k.CancelAfterResponses {
		k.cancel()
	}
	if n == k.StallAfterResponses {
		k.hooks.Emit(jsonl.Event{Event: "stalled", Call: k.ID, N: n})
		_ = k.hooks.Release(ctx, k.ID)
	}
	if n == 1 && k.bar != nil {
		k.arrive()
		k.bar.wait(ctx)
	}
}

// bidi: ping-pong (each request waits for its answer, so a cancel or a
// barrier lands while the stream is open), or in half-duplex mode all
// requests first.
func (k *call) bidi(ctx context.Context, client pb.TestServiceClient, opts []grpc.CallOption) error {
	st, err := client.BidiStream(ctx, opts...)
	if err != nil {
		return err
	}
	for i := 0; i < k.requests(); i++ {
		if st.Send(k.request(i)) != nil {
			return k.readAll(ctx, st.Recv)
		}
		k.sent(i + 1)
		if k.HalfDuplex {
			continue
		}
		resp, err := st.Recv()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		k.observe(resp)
		k.afterResponse(ctx)
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	return k.readAll(ctx, st.Recv)
}

func merge(results []Result) Result {
	total := results[0]
	total.Calls = len(results)
	for i, r := range results {
		if r.Code != 0 {
			total.Failed++
			if total.Failed == 1 {
				total.Code, total.Message, total.Details = r.Code, r.Message, r.Details
			}
		}
		if i > 0 {
			total.Responses += r.Responses
			total.ResponseBytes += r.ResponseBytes
			total.BadPayloads += r.BadPayloads
		}
	}
	return total
}

// barrier holds copies of a call until every copy arrived.
type barrier struct {
	mu      sync.Mutex
	waiting int
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{waiting: n, all: make(chan struct{})} }

// arrive counts this copy at the barrier, once.
func (k *call) arrive() {
	if k.bar != nil && !k.arrived {
		k.arrived = true
		k.bar.arrive()
	}
}

func (b *barrier) arrive() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiting > 0 {
		b.waiting--
		if b.waiting == 0 {
			close(b.all)
		}
	}
}

func (b *barrier) wait(ctx context.Context) {
	select {
	case <-b.all:
	case <-ctx.Done():
	}
}
