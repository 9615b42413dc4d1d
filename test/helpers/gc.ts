import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");

/** A full garbage collection, for tests that check what is collected (a fresh context exposes `gc`). */
export const gc = runInNewContext("gc") as () => void;
