// A Connect-ES Transport over tunnels: createClient(FooService, tunnelTransport(tunnel)).
// A separate entry point ("@protoc-gen-tunnel/runtime/connect") so that only
// users of Connect need @connectrpc/connect installed.
export { tunnelTransport, type TunnelTransportOptions } from "./connect/transport.js";
