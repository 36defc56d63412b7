import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ImportSymbol } from "@bufbuild/protoplugin";
import type { DeclarationPrinter } from "./declarations.js";
import { serviceDoc } from "./docs.js";
import { channelFieldName, clientMethodName, paramName, type ServiceNames } from "./names.js";
import { initShape, kindInfo, shape, type RuntimeSymbols } from "./symbols.js";

/**
 * `FooServiceTunnelClient`: one typed method per RPC, each a one-line call
 * of the runtime's typed call function on the channel it was constructed with.
 */
export function generateClient(out: DeclarationPrinter, service: DescService, names: ServiceNames, rt: RuntimeSymbols): void {
  const descriptor = out.f.importSchema(service);
  const field = channelFieldName(service);
  out.openClass(serviceDoc(service, `A client of ${service.typeName} over a tunnel channel.`, true), names.client);
  // Protected, not private: subclasses may add calls, and a client of a
  // service without methods does not trip noUnusedLocals.
  out.field("protected readonly ", field, rt.CallChannel);
  out.method({ name: "constructor", params: [{ name: "channel", type: rt.CallChannel }] }, [["this.", field, " = channel;"]]);
  for (const method of service.methods) {
    out.f.print();
    generateMethod(out, method, descriptor, field, rt);
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
  f.print(f.jsDoc(method, "  "));
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
