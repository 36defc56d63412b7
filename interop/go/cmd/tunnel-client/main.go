// Command tunnel-client is a grpctunnel tunnel client written against the Go
// library's public API, for the interop tests and the bench. Three modes:
//
//	-tunnel forward -commands  open a forward tunnel and make the calls its
//	                           standard input asks for (one JSON object a line)
//	-tunnel forward            drive one kind of call as fast as it completes
//	                           (-method, -concurrency, -size, -messages,
//	                           -duration) and print one JSON result line
//	-tunnel reverse            serve grpchantesting.TestService over a
//	                           reverse tunnel opened with metadata
//	                           test-client-key: -key
//
// Output is one JSON object a line. With -commands or -tunnel reverse the
// program exits when its standard input closes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	pb "github.com/fullstorydev/grpchan/grpchantesting"
	"github.com/jhump/grpctunnel"
	"github.com/jhump/grpctunnel/tunnelpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"protoc-gen-tunnel/interop/go/internal/calls"
	"protoc-gen-tunnel/interop/go/internal/control"
	"protoc-gen-tunnel/interop/go/internal/jsonl"
	"protoc-gen-tunnel/interop/go/internal/load"
	"protoc-gen-tunnel/interop/go/internal/testsvc"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:26354", "the tunnel server's address")
	noFlowControl := flag.Bool("no-flow-control", false, "disable flow control: protocol revision 0")
	tunnel := flag.String("tunnel", "forward", `"forward" or "reverse"`)
	key := flag.String("key", "", "reverse: the test-client-key metadata of the reverse tunnel")
	commands := flag.Bool("commands", false, "forward: make the calls standard input asks for")
	method := flag.String("method", "unary", "load: unary, serverStream or clientStream")
	concurrency := flag.Int("concurrency", 1, "load: callers, each starting its next call when the last returns")
	size := flag.Int("size", 100, "load: payload bytes of each message")
	messages := flag.Int("messages", 64, "load: responses (serverStream) or requests (clientStream) per call")
	duration := flag.Duration("duration", time.Second, "load: how long to drive calls")
	flag.Parse()

	out := jsonl.New(os.Stdout)
	var opts []grpctunnel.TunnelOption
	if *noFlowControl {
		opts = append(opts, grpctunnel.WithDisableFlowControl())
	}
	cc, err := grpc.Dial(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer cc.Close()
	stub := tunnelpb.NewTunnelServiceClient(cc)
	releases := control.NewReleases()

	switch {
	case *tunnel == "reverse":
		serveReverse(stub, opts, *key, out, releases)
	case *tunnel != "forward":
		fail(fmt.Errorf("-tunnel %q: must be forward or reverse", *tunnel))
	case *commands:
		ch := openForward(stub, opts)
		out.Write(jsonl.Event{Event: "ready"})
		hooks := calls.Hooks{Emit: func(ev jsonl.Event) { out.Write(ev) }, Release: releases.Wait}
		control.Serve(os.Stdin, out, releases, func(c calls.Call) calls.Result {
			return calls.Run(context.Background(), ch, c, hooks)
		})
		ch.Close()
	default:
		if *method != "unary" && *method != "serverStream" && *method != "clientStream" {
			fail(fmt.Errorf("-method %q: must be unary, serverStream or clientStream", *method))
		}
		ch := openForward(stub, opts)
		out.Write(load.Run(ch, load.Options{
			Method: *method, Concurrency: *concurrency, MessageBytes: *size, Messages: *messages, Duration: *duration,
		}))
		ch.Close()
	}
}

func openForward(stub tunnelpb.TunnelServiceClient, opts []grpctunnel.TunnelOption) grpctunnel.TunnelChannel {
	// The tunnel lives as long as the context given to Start.
	ch, err := grpctunnel.NewChannel(stub, opts...).Start(context.Background())
	if err != nil {
		fail(err)
	}
	return ch
}

// serveReverse serves TestService over one reverse tunnel until standard
// input closes (or the tunnel ends, which it reports).
func serveReverse(stub tunnelpb.TunnelServiceClient, opts []grpctunnel.TunnelOption, key string, out *jsonl.Writer, releases *control.Releases) {
	server := grpctunnel.NewReverseTunnelServer(stub, opts...)
	pb.RegisterTestServiceServer(server, testsvc.New(out, releases.Wait))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "test-client-key", key)
	go func() {
		started, err := server.Serve(ctx)
		ev := jsonl.Event{Event: "reverse-ended"}
		if err != nil {
			ev.Error = err.Error()
		}
		if !started {
			ev.Event = "reverse-failed"
		}
		out.Write(ev)
	}()
	out.Write(jsonl.Event{Event: "serving", Key: key})
	control.Serve(os.Stdin, out, releases, func(c calls.Call) calls.Result {
		return calls.Result{Event: "result", ID: c.ID, Code: 12, Message: "a reverse-tunnel agent makes no calls"}
	})
	server.Stop()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tunnel-client:", err)
	os.Exit(1)
}
