// Package calls runs one described call of grpchantesting.TestService on
// any grpc.ClientConnInterface (a forward tunnel, or a reverse tunnel of the
// tunnel server) and reports what came back, for the TypeScript tests to
// judge. The caller checks nothing itself besides the payloads.
package calls

import (
	"encoding/base64"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"
)

// Call describes one call (or Concurrency identical ones). JSON names are
// the contract with interop/test/go.
type Call struct {
	ID  string `json:"id"`
	Key string `json:"key,omitempty"` // tunnel-server only: the reverse tunnel's affinity key

	Method       string `json:"method"`       // unary, clientStream, serverStream, bidi
	RequestBytes int    `json:"requestBytes"` // payload of each request (the pattern of Pattern)
	Requests     int    `json:"requests"`     // clientStream, bidi: how many requests (default 1)
	Responses    int32  `json:"responses"`    // serverStream: Message.count
	HalfDuplex   bool   `json:"halfDuplex"`   // bidi: the first request's count is -1

	Code             int32             `json:"code"` // the server fails the call with this code
	Details          []AnyValue        `json:"details"`
	DelayMs          int32             `json:"delayMs"`
	Metadata         map[string]string `json:"metadata"`         // request metadata; -bin values in base64
	ResponseHeaders  map[string]string `json:"responseHeaders"`  // asked of the server; -bin values in base64
	ResponseTrailers map[string]string `json:"responseTrailers"` // likewise

	TimeoutMs            int  `json:"timeoutMs"`
	CancelAfterResponses int  `json:"cancelAfterResponses"` // > 0: cancel once that many responses arrived
	StallAfterResponses  int  `json:"stallAfterResponses"`  // > 0: stop reading there until released
	Progress             bool `json:"progress"`             // report each request sent
	Concurrency          int  `json:"concurrency"`          // run this many copies at once
	Barrier              bool `json:"barrier"`              // bidi copies keep their streams open until every copy had a response
}

// AnyValue is a google.protobuf.Any in JSON: its type URL and value bytes
// (base64). The test service passes error details through opaquely.
type AnyValue struct {
	TypeURL string `json:"typeUrl"`
	Value   string `json:"value"`
}

// Result is what came back. With Concurrency > 1, the figures are summed
// and the status is the first failure's, if any.
type Result struct {
	Event         string            `json:"event"` // "result"
	ID            string            `json:"id"`
	Code          int               `json:"code"`
	Message       string            `json:"message"`
	Details       []AnyValue        `json:"details"`
	Headers       map[string]string `json:"headers"`
	Trailers      map[string]string `json:"trailers"`
	Echoed        map[string]string `json:"echoed"` // the request metadata the server saw (first response)
	Responses     int               `json:"responses"`
	ResponseBytes int64             `json:"responseBytes"`
	BadPayloads   int               `json:"badPayloads"` // responses whose payload was not the request's
	Counts        []int32           `json:"counts"`      // the count field of the first responses
	Calls         int               `json:"calls"`
	Failed        int               `json:"failed"`
	ElapsedMs     float64           `json:"elapsedMs"`
}

// Pattern is the payload of size n both languages send: byte i is i mod 251
// (a prime, so chunk boundaries never line up with its period).
func Pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// IsPattern reports whether b is Pattern(len(b)).
func IsPattern(b []byte) bool {
	for i, v := range b {
		if v != byte(i%251) {
			return false
		}
	}
	return true
}

func isBinaryKey(key string) bool { return strings.HasSuffix(key, "-bin") }

// DecodeValue turns a JSON metadata value into its bytes (base64 for -bin keys).
func DecodeValue(key, value string) []byte {
	if isBinaryKey(key) {
		if b, err := base64.StdEncoding.DecodeString(value); err == nil {
			return b
		}
	}
	return []byte(value)
}

// EncodeValue is DecodeValue's inverse.
func EncodeValue(key string, value []byte) string {
	if isBinaryKey(key) {
		return base64.StdEncoding.EncodeToString(value)
	}
	return string(value)
}

// ToMD turns JSON metadata into gRPC metadata.
func ToMD(values map[string]string) metadata.MD {
	md := metadata.MD{}
	for k, v := range values {
		md.Append(k, string(DecodeValue(k, v)))
	}
	return md
}

// FromMD turns gRPC metadata into JSON, keeping the last value of each key.
func FromMD(md metadata.MD) map[string]string {
	out := map[string]string{}
	for k, vs := range md {
		if len(vs) > 0 {
			out[k] = EncodeValue(k, []byte(vs[len(vs)-1]))
		}
	}
	return out
}

// ToBytesMap turns JSON metadata into the map<string, bytes> of a Message.
func ToBytesMap(values map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range values {
		out[k] = DecodeValue(k, v)
	}
	return out
}

// FromBytesMap is ToBytesMap's inverse.
func FromBytesMap(values map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range values {
		out[k] = EncodeValue(k, v)
	}
	return out
}

// ToAny decodes JSON error details.
func ToAny(values []AnyValue) []*anypb.Any {
	out := make([]*anypb.Any, 0, len(values))
	for _, v := range values {
		b, _ := base64.StdEncoding.DecodeString(v.Value)
		out = append(out, &anypb.Any{TypeUrl: v.TypeURL, Value: b})
	}
	return out
}

// FromAny encodes error details as JSON.
func FromAny(values []*anypb.Any) []AnyValue {
	out := make([]AnyValue, 0, len(values))
	for _, v := range values {
		out = append(out, AnyValue{TypeURL: v.GetTypeUrl(), Value: base64.StdEncoding.EncodeToString(v.GetValue())})
	}
	return out
}
