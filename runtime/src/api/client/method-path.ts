import type { DescMethod } from "@bufbuild/protobuf";

/** "/pkg.Service/Method": the path a call to `method` travels under. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}
