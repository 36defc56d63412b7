// Package testsvc is grpchantesting.TestService as INTEROP.md describes it
// (the behaviour of grpchan's TestServer), with what the interop tests need
// to see the handler's side: a call whose metadata names it
// (x-interop-call) reports how its handler ended and each response it
// sent, and one that also carries x-interop-park waits, before reading any
// request, until the test releases it. Delays end when the call does.
package testsvc

import (
	"context"
	"io"
	"time"

	pb "github.com/fullstorydev/grpchan/grpchantesting"
	"github.com/golang/protobuf/ptypes/empty"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"protoc-gen-tunnel/interop/go/internal/jsonl"
)

const (
	// CallHeader names a call in the events its handler reports.
	CallHeader = "x-interop-call"
	// ParkHeader makes a streaming handler wait for a release before reading.
	ParkHeader = "x-interop-park"
)

// Service implements TestService.
type Service struct {
	pb.UnimplementedTestServiceServer
	out     *jsonl.Writer
	release func(ctx context.Context, id string) error
}

// New returns the service; events go to out, and release(ctx, id) returns
// once the test released call id (or ctx ended).
func New(out *jsonl.Writer, release func(ctx context.Context, id string) error) *Service {
	return &Service{out: out, release: release}
}

// handler is one call being served.
type handler struct {
	s      *Service
	ctx    context.Context
	md     metadata.MD
	id     string
	method string
}

func (s *Service) begin(ctx context.Context, method string) *handler {
	md, _ := metadata.FromIncomingContext(ctx)
	h := &handler{s: s, ctx: ctx, md: md, method: method}
	if ids := md.Get(CallHeader); len(ids) > 0 {
		h.id = ids[0]
	}
	return h
}

// end reports how the handler ended, for calls that have a name.
func (h *handler) end(err error) {
	if h.id == "" {
		return
	}
	ev := jsonl.Event{Event: "handler-end", Call: h.id, Method: h.method}
	if err != nil {
		ev.Error = err.Error()
	}
	if ctxErr := h.ctx.Err(); ctxErr != nil {
		ev.CtxError = ctxErr.Error()
	}
	h.s.out.Write(ev)
}

func (h *handler) sent(n int) {
	if h.id != "" {
		h.s.out.Write(jsonl.Event{Event: "sent", Call: h.id, N: n})
	}
}

// park waits for the test's release when the call asks for it.
func (h *handler) park() error {
	if h.id == "" || len(h.md.Get(ParkHeader)) == 0 {
		return nil
	}
	h.s.out.Write(jsonl.Event{Event: "parked", Call: h.id})
	return h.s.release(h.ctx, h.id)
}

// delay waits, unless the call ends first.
func (h *handler) delay(millis int32) error {
	if millis <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(millis) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-h.ctx.Done():
		return status.FromContextError(h.ctx.Err()).Err()
	}
}

// asMap is the request metadata, last value of each key.
func (h *handler) asMap() map[string][]byte {
	m := map[string][]byte{}
	for k, vs := range h.md {
		if len(vs) > 0 {
			m[k] = []byte(vs[len(vs)-1])
		}
	}
	return m
}

func failure(req *pb.Message) error {
	if req.Code == 0 {
		return nil
	}
	return status.FromProto(&spb.Status{Code: req.Code, Message: "error", Details: req.ErrorDetails}).Err()
}

func toMD(values map[string][]byte) metadata.MD {
	md := metadata.MD{}
	for k, v := range values {
		md.Append(k, string(v))
	}
	return md
}

// Unary implements TestService.
func (s *Service) Unary(ctx context.Context, req *pb.Message) (resp *pb.Message, err error) {
	h := s.begin(ctx, "Unary")
	defer func() { h.end(err) }()
	if err := h.delay(req.DelayMillis); err != nil {
		return nil, err
	}
	_ = grpc.SetHeader(ctx, toMD(req.Headers))
	_ = grpc.SetTrailer(ctx, toMD(req.Trailers))
	if err := failure(req); err != nil {
		return nil, err
	}
	return &pb.Message{Payload: req.Payload, Headers: h.asMap()}, nil
}

// ClientStream implements TestService.
func (s *Service) ClientStream(stream pb.TestService_ClientStreamServer) (err error) {
	h := s.begin(stream.Context(), "ClientStream")
	defer func() { h.end(err) }()
	if err := h.park(); err != nil {
		return err
	}
	req := &pb.Message{}
	var count int32
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		req = r
		count++
		if req.Code != 0 {
			break
		}
	}
	if err := h.delay(req.DelayMillis); err != nil {
		return err
	}
	if err := stream.SetHeader(toMD(req.Headers)); err != nil {
		return err
	}
	stream.SetTrailer(toMD(req.Trailers))
	if err := failure(req); err != nil {
		return err
	}
	return stream.SendAndClose(&pb.Message{Payload: req.Payload, Headers: h.asMap(), Count: count})
}

// ServerStream implements TestService.
func (s *Service) ServerStream(req *pb.Message, stream pb.TestService_ServerStreamServer) (err error) {
	h := s.begin(stream.Context(), "ServerStream")
	defer func() { h.end(err) }()
	if err := h.delay(req.DelayMillis); err != nil {
		return err
	}
	if err := stream.SetHeader(toMD(req.Headers)); err != nil {
		return err
	}
	headers := h.asMap()
	for i := 0; i < int(req.Count); i++ {
		if err := stream.Send(&pb.Message{Payload: req.Payload, Headers: headers}); err != nil {
			return err
		}
		h.sent(i + 1)
	}
	stream.SetTrailer(toMD(req.Trailers))
	return failure(req)
}

// BidiStream implements TestService.
func (s *Service) BidiStream(stream pb.TestService_BidiStreamServer) (err error) {
	h := s.begin(stream.Context(), "BidiStream")
	defer func() { h.end(err) }()
	if err := h.park(); err != nil {
		return err
	}
	headers := h.asMap()
	var last *pb.Message
	var count int32
	var buffered []*pb.Message
	halfDuplex := false
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		last = req
		if err := h.delay(req.DelayMillis); err != nil {
			return err
		}
		if count == 0 {
			if err := stream.SetHeader(toMD(req.Headers)); err != nil {
				return err
			}
			halfDuplex = req.Count < 0
		}
		count++
		if req.Code != 0 {
			break
		}
		reply := &pb.Message{Payload: req.Payload, Headers: headers, Count: count}
		if halfDuplex {
			buffered = append(buffered, reply)
		} else if err := stream.Send(reply); err != nil {
			return err
		}
	}
	for _, reply := range buffered {
		if err := stream.Send(reply); err != nil {
			return err
		}
	}
	if last == nil {
		return nil
	}
	stream.SetTrailer(toMD(last.Trailers))
	return failure(last)
}

// UseExternalMessageTwice implements TestService.
func (s *Service) UseExternalMessageTwice(context.Context, *empty.Empty) (*empty.Empty, error) {
	return &empty.Empty{}, nil
}
