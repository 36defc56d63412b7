import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ImportSymbol } from "@bufbuild/protoplugin";
import type { DeclarationPrinter } from "./declarations.js";
import { methodDoc, serviceDoc } from "./docs.js";
import { clientMemberNames, clientMethodName, paramName, type ServiceNames } from "./names.js";
import { initShape, kindInfo, shape, type RuntimeSymbols } from "./symbols.js";

/**
 * `FooServiceTunnelClient`: one typed method per RPC, each a one-line call
 * of the runtime's typed call function on the channel it was constructed
 * with (and the client's options), and an `open<Method>` push-style helper
 * per bidi RPC.
 */
export function generateClient(out: DeclarationPrinter, service: DescService, names: ServiceNames, rt: RuntimeSymbols): void {
  const descriptor = out.f.importSchema(service);
  const members = clientMemberNames(service);
  const field = members.channel;
  const channel = paramName("channel", descriptor.name);
  const options = paramName("options", descriptor.name);
  out.openClass(serviceDoc(service, `A client of ${service.typeName} over a tunnel channel.`, true), names.client);
  // Protected, not private: subclasses may add calls, and a client of a
  // service without methods does not trip noUnusedLocals.
  out.field("protected readonly ", field, rt.CallChannel);
  out.f.print(out.f.jsDoc("`options`: interceptors, default call options, retries (TunnelClientOptions).", "  "));
  out.method(
    {
      name: "constructor",
      params: [
        { name: channel, type: rt.CallChannel },
        { name: options, type: rt.TunnelClientOptions, optional: true },
      ],
    },
    [["this.", field, " = ", rt.clientChannel, "(", channel, ", ", options, ");"]],
  );
  for (const method of service.methods) {
    out.f.print();
    generateMethod(out, method, descriptor, field, rt);
    const open = members.open.get(method);
    if (open !== undefined) {
      out.f.print();
      generateOpenStream(out, method, open, descriptor, field, rt);
    }
  }
  out.closeClass();
}

function generateMethod(out: DeclarationPrinter, method: DescMethod, descriptor: ImportSymbol, field: string, rt: RuntimeSymbols): void {
  const { f } = out;
  const { call, streamIn, streamOut } = kindInfo(method);
  const input = paramName(streamIn ? "requests" : "request", descriptor.name);
  const options = paramName("options", descriptor.name);
  const { AsyncIterable: asyncIterable, Promise: promise } = rt.globals;
  const inputType = streamIn ? [asyncIterable, "<", initShape(f, method.input), ">"] : initShape(f, method.input);
  const output = shape(f, method.output);
  f.print(f.jsDoc(methodDoc(method), "  "));
  out.method(
    {
      name: clientMethodName(method),
      params: [
        { name: input, type: inputType },
        { name: options, type: rt.CallOptions, optional: true },
      ],
      returns: streamOut ? [asyncIterable, "<", output, ">"] : [promise, "<", output, ">"],
    },
    [["return ", rt.calls[call], "(this.", field, ", ", descriptor, ".method.", method.localName, ", ", input, ", ", options, ");"]],
  );
}

/** `openChat(options)`: the bidi RPC as a BidiStream (send, close, iterate, headers, trailers). */
function generateOpenStream(
  out: DeclarationPrinter,
  method: DescMethod,
  name: string,
  descriptor: ImportSymbol,
  field: string,
  rt: RuntimeSymbols,
): void {
  const { f } = out;
  const options = paramName("options", descriptor.name);
  const summary = `${method.name} as a push-style stream: \`send\` requests one by one, iterate the responses.`;
  f.print(f.jsDoc(methodDoc(method, summary), "  "));
  out.method(
    {
      name,
      params: [{ name: options, type: rt.CallOptions, optional: true }],
      returns: [rt.BidiStream, "<", initShape(f, method.input), ", ", shape(f, method.output), ">"],
    },
    [["return ", rt.openBidiStream, "(this.", field, ", ", descriptor, ".method.", method.localName, ", ", options, ");"]],
  );
}
