import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { GeneratedFile, Printable } from "@bufbuild/protoplugin";
import type { DeclarationPrinter } from "./declarations.js";
import { serviceDoc } from "./docs.js";
import { paramName, type ServiceNames } from "./names.js";
import { initShape, kindInfo, shape, type RuntimeSymbols } from "./symbols.js";

/**
 * `FooServiceImpl` (one method per RPC, keyed by the descriptor's local
 * name as the runtime expects) and `registerFooService`.
 */
export function generateServer(out: DeclarationPrinter, service: DescService, names: ServiceNames, rt: RuntimeSymbols): void {
  const { f } = out;
  // The interface is a type: JavaScript has no counterpart.
  if (out.hasTypes) {
    const implSummary = `An implementation of ${service.typeName}, for \`${names.register}\`.`;
    f.print(f.jsDoc(serviceDoc(service, implSummary, true)));
    if (service.methods.length === 0) {
      f.print(f.export("interface", names.impl), " {}");
    } else {
      f.print(f.export("interface", names.impl), " {");
      service.methods.forEach((method, i) => {
        if (i > 0) {
          f.print();
        }
        generateImplMethod(f, method, rt);
      });
      f.print("}");
    }
    f.print();
  }

  const descriptor = f.importSchema(service);
  const registrar = paramName("registrar", descriptor.name);
  const impl = paramName("impl", descriptor.name);
  const registerSummary = `Serves \`${impl}\` as ${service.typeName} on \`${registrar}\`; methods left out answer UNIMPLEMENTED.`;
  out.function(
    serviceDoc(service, registerSummary, false),
    {
      name: names.register,
      params: [
        { name: registrar, type: rt.ServiceRegistrar },
        { name: impl, type: ["Partial<", names.impl, ">"] },
      ],
      returns: "void",
    },
    [[registrar, ".registerService(", descriptor, ", ", impl, ");"]],
  );
}

function generateImplMethod(f: GeneratedFile, method: DescMethod, rt: RuntimeSymbols): void {
  const { streamIn, streamOut } = kindInfo(method);
  const { AsyncIterable: asyncIterable, Promise: promise } = rt.globals;
  const input = shape(f, method.input);
  const output = initShape(f, method.output);
  const params = streamIn
    ? ["requests: ", asyncIterable, "<", input, ">, context: ", rt.HandlerContext]
    : ["request: ", input, ", context: ", rt.HandlerContext];
  let result: Printable;
  if (streamOut) {
    result = [asyncIterable, "<", output, ">"];
  } else if (streamIn) {
    result = [promise, "<", output, ">"];
  } else {
    // A unary handler may also answer synchronously.
    result = [promise, "<", output, "> | ", output];
  }
  f.print(f.jsDoc(method, "  "));
  // In an interface, `new(...)` would declare a construct signature, not a method.
  const name = method.localName === "new" ? '"new"' : method.localName;
  f.print("  ", name, "(", params, "): ", result, ";");
}
