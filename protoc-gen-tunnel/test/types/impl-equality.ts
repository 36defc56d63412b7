// Every generated `FooImpl` interface must be exactly the runtime's mapped
// type `ServiceImpl<typeof Foo>`, so registering either is the same. The
// type-level test reads the type of each `export const`: `true` when the two
// types are identical (not merely assignable either way).
const pairs: Array<[string, string, string]> = [
  // [generated Impl, service descriptor, module without extension]
  ["EchoServiceImpl", "EchoService", "./test/kinds/v1/kinds"],
  ["LegacyServiceImpl", "LegacyService", "./test/kinds/v1/kinds"],
  ["EmptyServiceImpl", "EmptyService", "./test/kinds/v1/kinds"],
  ["EventServiceImpl", "EventService", "./test/imports/v1/service"],
  ["PingServiceImpl", "PingService", "./nopackage"],
  ["interfaceImpl", "interface$", "./test/reserved/reserved"],
  ["ObjectImpl", "Object$", "./test/reserved/reserved"],
  ["requestImpl", "request", "./test/reserved/reserved"],
  ["registrarImpl", "registrar", "./test/reserved/reserved"],
  ["FooImpl", "Foo", "./test/reserved/reserved"],
  ["fooImpl", "foo", "./test/reserved/reserved"],
  ["GlobalsImpl", "Globals", "./test/reserved/reserved"],
];

export const implEqualityNames = pairs.map(([impl]) => `${impl}Equals`);

export const implEquality = [
  'import type { ServiceImpl } from "@protoc-gen-tunnel/runtime";',
  "type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;",
  "declare function equals<A, B>(): Equals<A, B>;",
  ...pairs.flatMap(([impl, service, module], i) => [
    `import type { ${impl} as Impl${i} } from "${module}_tunnel.js";`,
    `import type { ${service} as Service${i} } from "${module}_pb.js";`,
    `export const ${impl}Equals = equals<Impl${i}, ServiceImpl<typeof Service${i}>>();`,
  ]),
  "",
].join("\n");
