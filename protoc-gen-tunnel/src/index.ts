/**
 * Public API of protoc-gen-tunnel: the plugin object, for runNodeJs or tests.
 *
 * @module protoc-gen-tunnel
 */
export { protocGenTunnel } from "./plugin.js";
export { DEFAULT_RUNTIME_IMPORT, type TunnelPluginOptions } from "./options.js";
