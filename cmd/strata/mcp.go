package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/strata-storage/strata/internal/mcp"
)

// runMCP serves the MCP tools on stdin/stdout for an agent that starts
// Strata as a subprocess; the tools call a Strata server's REST API.
func runMCP(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return serveMCP(ctx, args, os.Getenv, &sdk.StdioTransport{MaxLineLength: maxMCPMessage})
}

// maxMCPMessage matches the /mcp endpoint's body limit: a commit_files
// call carries whole files.
const maxMCPMessage = 32 << 20

// serveMCP is runMCP with its environment and transport passed in, so a
// test can drive it over pipes.
func serveMCP(ctx context.Context, args []string, getenv func(string) string, transport sdk.Transport) error {
	fs := flag.NewFlagSet("mcp", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: strata mcp --url URL [--token-file FILE]

Serves Strata's MCP tools over stdio (one JSON-RPC message per line) for an
agent that runs this command. Each tool calls the server's REST API with the
token, so the token's repository, scopes and ref policies apply.
The token comes from --token-file, else $STRATA_TOKEN (--token is accepted
but shows the token to every user of ps).

`)
		fs.PrintDefaults()
	}
	base := fs.String("url", getenv("STRATA_URL"), "the Strata server, e.g. https://git.example.com (default $STRATA_URL)")
	token := fs.String("token", "", "bearer token (prefer $STRATA_TOKEN or --token-file)")
	tokenFile := fs.String("token-file", "", "file holding the bearer token")
	authorName := fs.String("author-name", "", "author of commits whose tool call names none (default "+mcp.DefaultAuthor.Name+")")
	authorEmail := fs.String("author-email", "", "that author's email")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	u, err := url.Parse(*base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url (or STRATA_URL) must be an http(s) URL, got %q", *base)
	}
	tok := *token
	switch {
	case *tokenFile != "":
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		tok = strings.TrimSpace(string(b))
	case tok == "":
		tok = getenv("STRATA_TOKEN")
	}
	if tok == "" {
		return errors.New("no token: set STRATA_TOKEN, --token-file or --token")
	}
	if (*authorName == "") != (*authorEmail == "") {
		return errors.New("--author-name and --author-email go together")
	}
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	server := mcp.NewServer(mcp.Config{
		// Same tools as the server's /mcp, with the network in place of
		// the in-process handler.
		API:           http.DefaultTransport.(*http.Transport).Clone(),
		BaseURL:       strings.TrimRight(u.String(), "/"),
		Authorization: func(*sdk.CallToolRequest) string { return "Bearer " + tok },
		Author:        mcp.Identity{Name: *authorName, Email: *authorEmail},
		Version:       version,
	})
	err = server.Run(ctx, transport)
	if ctx.Err() != nil {
		return nil // interrupted: a normal end
	}
	return err
}
