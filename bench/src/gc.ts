import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

// Samples start from a collected heap, so garbage of one sample is not
// collected (and charged) during the next; the memory workload needs exact
// heap figures. Works without `node --expose-gc`.
setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;

/** A full garbage collection, twice so that finalizers' garbage goes too. */
export function fullGc(): void {
  collect();
  collect();
}
