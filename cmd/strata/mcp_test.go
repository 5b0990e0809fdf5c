package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/servertest"
)

// TestMCP_stdio runs `strata mcp` over pipes against a real server and
// drives it with the SDK's client: the tools reach the server's REST API
// across the network with the configured token.
func TestMCP_stdio(t *testing.T) {
	srv := servertest.Start(t)
	resp := srv.Do("POST", "/api/v1/repos", srv.Token("team/app", auth.ScopeRepoWrite), strings.NewReader(`{"default_branch":"main"}`))
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create repo: %d", resp.StatusCode)
	}

	toServer, fromClient := io.Pipe()
	toClient, fromServer := io.Pipe()
	env := map[string]string{"STRATA_URL": srv.URL + "/", "STRATA_TOKEN": srv.Token("team/app", auth.ScopeGitWrite)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- serveMCP(ctx, []string{"--author-name", "Agent", "--author-email", "agent@example.com"},
			func(k string) string { return env[k] }, &sdk.IOTransport{Reader: toServer, Writer: fromServer})
		fromServer.Close()
	}()

	client := sdk.NewClient(&sdk.Implementation{Name: "strata-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.IOTransport{Reader: toClient, Writer: fromClient}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) < 10 {
		t.Fatalf("list tools: %v, %d tools", err, len(tools.Tools))
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "commit_files", Arguments: map[string]any{
		"branch": "main", "message": "over stdio", "files": []map[string]any{{"path": "hello.txt", "content": "hello\n"}}}})
	if err != nil || res.IsError {
		t.Fatalf("commit_files: %v %+v", err, res)
	}
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "read_file", Arguments: map[string]any{"path": "hello.txt"}})
	if err != nil || res.IsError || res.Content[0].(*sdk.TextContent).Text != "hello\n" {
		t.Fatalf("read_file: %v %+v", err, res)
	}
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "list_commits", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("list_commits: %v %+v", err, res)
	}
	var commits struct {
		Commits []struct {
			Message    string `json:"message"`
			AuthorName string `json:"author_name"`
		} `json:"commits"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &commits); err != nil || len(commits.Commits) != 1 || commits.Commits[0].AuthorName != "Agent" {
		t.Fatalf("list_commits: %s", b)
	}
	// The token's scopes are the API's business: org:read is missing.
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "list_repositories", Arguments: map[string]any{}})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*sdk.TextContent).Text, "org:read") {
		t.Fatalf("list_repositories: %v %+v", err, res)
	}

	// The agent closing its end ends the command cleanly.
	cs.Close()
	fromClient.Close()
	if err := <-done; err != nil {
		t.Fatalf("strata mcp: %v", err)
	}
}

func TestMCP_flags(t *testing.T) {
	for _, tc := range []struct {
		desc string
		args []string
		env  map[string]string
		want string
	}{
		{"no url", nil, map[string]string{"STRATA_TOKEN": "x"}, "must be an http(s) URL"},
		{"bad url", []string{"--url", "ftp://x"}, map[string]string{"STRATA_TOKEN": "x"}, "must be an http(s) URL"},
		{"no token", []string{"--url", "http://127.0.0.1:1"}, nil, "no token"},
		{"half an author", []string{"--url", "http://127.0.0.1:1", "--token", "x", "--author-name", "A"}, nil, "go together"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := serveMCP(t.Context(), tc.args, func(k string) string { return tc.env[k] }, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
