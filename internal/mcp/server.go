package mcp

import (
	"context"
	"net/http"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Config is what the tools need: a way to reach the REST API and the
// caller's credentials.
type Config struct {
	// API carries the tools' REST requests: InProcess(handler) inside the
	// server, an HTTP transport across the network.
	API http.RoundTripper
	// BaseURL is the API's origin, optionally with a path prefix (the
	// origin is arbitrary in-process).
	BaseURL string
	// Authorization returns the Authorization header value a tool call is
	// made with: the HTTP request's own on /mcp, the configured token over
	// stdio.
	Authorization func(*sdk.CallToolRequest) string
	// Author signs commits whose tool call names no author; zero:
	// DefaultAuthor.
	Author Identity
	// Version is reported to clients in the handshake.
	Version string
}

// Identity is a commit author.
type Identity struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// DefaultAuthor authors commit_files calls that name no author. The API
// requires one (spec §5.6.2), and an agent rarely has a better answer.
var DefaultAuthor = Identity{Name: "Strata MCP agent", Email: "mcp-agent@strata.invalid"}

// instructions orient an agent before its first call.
const instructions = `Strata is a Git storage server. The bearer token you connect with decides the repository (its "repo" claim) and what you may do (its scopes and ref policies); every tool acts on that repository. Refs are branch names, tags or commit SHAs; an omitted ref means the repository's default branch. Long outputs end with a "[truncated: …]" or "[more: …]" marker naming the argument (cursor or start_line) to call again with.`

// NewServer returns an MCP server with Strata's tools.
func NewServer(cfg Config) *sdk.Server {
	if cfg.Author.Name == "" || cfg.Author.Email == "" {
		cfg.Author = DefaultAuthor
	}
	version := cfg.Version
	if version == "" {
		version = "dev"
	}
	s := sdk.NewServer(&sdk.Implementation{Name: "strata", Title: "Strata Git storage", Version: version},
		&sdk.ServerOptions{Instructions: instructions})
	t := &tools{api: &rest{base: strings.TrimRight(cfg.BaseURL, "/"), rt: cfg.API}, authz: cfg.Authorization, author: cfg.Author}
	t.register(s)
	return s
}

// tools holds what every tool handler shares.
type tools struct {
	api    *rest
	authz  func(*sdk.CallToolRequest) string
	author Identity
}

func (t *tools) authorization(req *sdk.CallToolRequest) string {
	if t.authz == nil {
		return ""
	}
	return t.authz(req)
}

// getJSON and sendJSON call the API as the tool's caller.
func (t *tools) getJSON(ctx context.Context, req *sdk.CallToolRequest, path string, q query, out any) error {
	return t.api.json(ctx, t.authorization(req), http.MethodGet, path, q.values(), nil, out)
}

func (t *tools) sendJSON(ctx context.Context, req *sdk.CallToolRequest, path string, in, out any) error {
	return t.api.json(ctx, t.authorization(req), http.MethodPost, path, nil, in, out)
}

// text is a tool result whose readable part is s; the structured part is
// the handler's output value.
func text(s string) *sdk.CallToolResult {
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: s}}}
}

func ptr[T any](v T) *T { return &v }
