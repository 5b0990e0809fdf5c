// Package mcp is Strata's Model Context Protocol server for coding agents:
// tools that list, read, search, diff, commit and merge, each implemented
// as a call to Strata's own REST API with the caller's bearer token, so
// authentication, scopes, ref policies, limits and error mapping are the
// API's and exist once. The same tools run in-process behind the server's
// /mcp endpoint (Handler) and over the network behind `strata mcp` (stdio).
package mcp
