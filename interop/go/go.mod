module protoc-gen-tunnel/interop/go

go 1.19

require (
	github.com/fullstorydev/grpchan v1.1.1
	github.com/golang/protobuf v1.5.2
	github.com/jhump/grpctunnel v0.3.0
	google.golang.org/genproto v0.0.0-20230110181048-76db0878b65f
	google.golang.org/grpc v1.53.0
	google.golang.org/protobuf v1.28.1
)

require (
	golang.org/x/net v0.7.0 // indirect
	golang.org/x/sys v0.5.0 // indirect
	golang.org/x/text v0.7.0 // indirect
)
