// Command tunnel-server is a grpctunnel tunnel server written against the Go
// library's public API, for the interop tests: it serves
// grpchantesting.TestService over forward tunnels, accepts reverse tunnels
// (affinity key: the first test-client-key value of the tunnel's metadata)
// and makes the calls its standard input asks for over them. Output is one
// JSON object a line; the first says where it listens. It exits when its
// standard input closes.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	pb "github.com/fullstorydev/grpchan/grpchantesting"
	"github.com/jhump/grpctunnel"
	"github.com/jhump/grpctunnel/tunnelpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"protoc-gen-tunnel/interop/go/internal/calls"
	"protoc-gen-tunnel/interop/go/internal/control"
	"protoc-gen-tunnel/interop/go/internal/jsonl"
	"protoc-gen-tunnel/interop/go/internal/testsvc"
)

const keyHeader = "test-client-key"

func main() {
	port := flag.Int("port", 0, "loopback port to listen on (0: any free port)")
	noFlowControl := flag.Bool("no-flow-control", false, "disable flow control: every tunnel uses protocol revision 0")
	flag.Parse()

	out := jsonl.New(os.Stdout)
	releases := control.NewReleases()
	handler := grpctunnel.NewTunnelServiceHandler(grpctunnel.TunnelServiceHandlerOptions{
		AffinityKey: func(ch grpctunnel.TunnelChannel) any { return keyOf(ch) },
		OnReverseTunnelOpen: func(ch grpctunnel.TunnelChannel) {
			out.Write(jsonl.Event{Event: "reverse-open", Key: keyOf(ch)})
		},
		OnReverseTunnelClose: func(ch grpctunnel.TunnelChannel) {
			out.Write(jsonl.Event{Event: "reverse-close", Key: keyOf(ch)})
		},
		DisableFlowControl: *noFlowControl,
	})
	pb.RegisterTestServiceServer(handler, testsvc.New(out, releases.Wait))

	// TypeScript tunnel clients ping every 20 s while a tunnel is open; Go's
	// default policy (5 min) would close their connections ("too_many_pings").
	server := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime:             10 * time.Second,
		PermitWithoutStream: true,
	}))
	tunnelpb.RegisterTunnelServiceServer(server, handler.Service())

	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out.Write(jsonl.Event{Event: "listening", Address: lis.Addr().String()})
	go func() {
		if err := server.Serve(lis); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()

	hooks := calls.Hooks{Emit: func(ev jsonl.Event) { out.Write(ev) }, Release: releases.Wait}
	control.Serve(os.Stdin, out, releases, func(c calls.Call) calls.Result {
		conn := handler.KeyAsChannel(c.Key)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := conn.WaitForReady(ctx); err != nil {
			return calls.Result{Event: "result", ID: c.ID, Code: 14, Message: "no reverse tunnel with key " + c.Key}
		}
		return calls.Run(context.Background(), conn, c, hooks)
	})
	server.Stop()
}

func keyOf(ch grpctunnel.TunnelChannel) string {
	md, _ := metadata.FromIncomingContext(ch.Context())
	if vals := md.Get(keyHeader); len(vals) > 0 {
		return vals[0]
	}
	return ""
}
