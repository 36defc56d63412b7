import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { GeneratedFile, ImportSymbol } from "@bufbuild/protoplugin";
import { serviceDoc } from "./docs.js";
import { channelFieldName, clientMethodName, paramName, type ServiceNames } from "./names.js";
import { initShape, kindInfo, shape, type RuntimeSymbols } from "./symbols.js";

/**
 * `FooServiceTunnelClient`: one typed method per RPC, each a one-line call
 * of the runtime's typed call function on the channel it was constructed with.
 */
export function generateClient(f: GeneratedFile, service: DescService, names: ServiceNames, rt: RuntimeSymbols): void {
  const descriptor = f.importSchema(service);
  const field = channelFieldName(service);
  f.print(f.jsDoc(serviceDoc(service, `A client of ${service.typeName} over a tunnel channel.`, true)));
  f.print(f.export("class", names.client), " {");
  // Protected, not private: subclasses may add calls, and a client of a
  // service without methods does not trip noUnusedLocals.
  f.print("  protected readonly ", field, ": ", rt.CallChannel, ";");
  f.print();
  f.print("  constructor(channel: ", rt.CallChannel, ") {");
  f.print("    this.", field, " = channel;");
  f.print("  }");
  for (const method of service.methods) {
    f.print();
    generateMethod(f, method, descriptor, field, rt);
  }
  f.print("}");
  f.print();
}

function generateMethod(f: GeneratedFile, method: DescMethod, descriptor: ImportSymbol, field: string, rt: RuntimeSymbols): void {
  const { call, streamIn, streamOut } = kindInfo(method);
  const input = paramName(streamIn ? "requests" : "request", descriptor.name);
  const options = paramName("options", descriptor.name);
  const { AsyncIterable: asyncIterable, Promise: promise } = rt.globals;
  const inputType = streamIn ? [asyncIterable, "<", initShape(f, method.input), ">"] : initShape(f, method.input);
  const output = shape(f, method.output);
  const result = streamOut ? [asyncIterable, "<", output, ">"] : [promise, "<", output, ">"];
  f.print(f.jsDoc(method, "  "));
  f.print("  ", clientMethodName(method), "(", input, ": ", inputType, ", ", options, "?: ", rt.CallOptions, "): ", result, " {");
  f.print("    return ", rt.calls[call], "(this.", field, ", ", descriptor, ".method.", method.localName, ", ", input, ", ", options, ");");
  f.print("  }");
}
