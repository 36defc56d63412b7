// Finding the system tools the tests run (redis-server, go): a file that
// may be executed, on PATH or in a few usual places.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` in PATH's directories, then in `moreDirs`; undefined if none. */
export function findExecutable(name, moreDirs = []) {
  for (const dir of [...(process.env.PATH ?? "").split(delimiter), ...moreDirs]) {
    const candidate = join(dir, name);
    if (dir !== "" && isExecutable(candidate)) {
      return candidate;
    }
  }
  return undefined;
}
