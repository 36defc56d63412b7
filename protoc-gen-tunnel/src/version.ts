import { readFileSync } from "node:fs";

// Read at run time: package.json sits one level above both src/ and dist/.
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

/** The plugin version written into each generated file's header. */
export const pluginVersion = `v${pkg.version}`;
