/**
 * `zoe-pipeline/mcp`: the tools of MCP servers as a tool catalogue for the pipeline.
 * Needs the optional peer dependency `@modelcontextprotocol/sdk`, loaded on first connect.
 * @module
 */
export {
  mcpToolCatalogue,
  MCP_CATALOGUE_DEFAULTS,
  McpToolError,
  type McpToolCatalogue,
  type McpToolCatalogueOptions,
} from "./catalogue.js";
export { McpUnavailableError, type McpServerOptions, type McpTransportOptions } from "./connection.js";
export { resultText } from "./result-text.js";
