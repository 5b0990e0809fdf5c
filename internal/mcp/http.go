package mcp

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/strata-storage/strata/internal/auth"
)

// Verifier checks a bearer token; the server passes the API's own, so a
// token /mcp accepts is exactly one the API accepts.
type Verifier interface {
	Verify(token string) (*auth.Principal, error)
}

// HandlerConfig is what the /mcp endpoint needs.
type HandlerConfig struct {
	// API is the REST handler the tools call in-process.
	API      http.Handler
	Verifier Verifier
	Logger   *slog.Logger
	Version  string
	// MaxBody caps one MCP request (a commit_files call carries whole
	// files); 0: 32 MiB.
	MaxBody int64
}

// inProcessOrigin is the origin of in-process API requests; it never
// reaches a network.
const inProcessOrigin = "http://strata.in-process"

// NewHandler returns the streamable-HTTP MCP endpoint. A request without a
// token the API would accept gets 401 before MCP sees it; each tool call
// then reaches the REST handler in-process with that request's own
// Authorization header, so the API decides the repository (the token's
// repo claim), the scopes and the ref policies.
//
// The endpoint is stateless: every POST is a whole exchange and no
// session lives in the server, so nothing needs an owner between
// requests and a restart loses nothing.
func NewHandler(cfg HandlerConfig) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	maxBody := cfg.MaxBody
	if maxBody == 0 {
		maxBody = 32 << 20
	}
	server := NewServer(Config{
		API:     InProcess(cfg.API),
		BaseURL: inProcessOrigin,
		Authorization: func(req *sdk.CallToolRequest) string {
			if req.Extra == nil {
				return ""
			}
			return req.Extra.Header.Get("Authorization")
		},
		Version: cfg.Version,
	})
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, &sdk.StreamableHTTPOptions{
		Stateless:    true,
		JSONResponse: true,
		Logger:       log,
		// The SDK refuses a non-loopback Host on a loopback listener
		// against DNS rebinding, which would also refuse every request
		// through a reverse proxy on the same host. Rebinding needs an
		// ambient credential (a cookie) to hurt; /mcp takes bearer tokens
		// only, which a rebound page does not have.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        maxBody,
		// A client that hangs up stops its tool's API request (and the
		// git processes behind it) where the protocol version allows.
		PropagateRequestCancellation: true,
	})
	verify := func(_ context.Context, token string, _ *http.Request) (*sdkauth.TokenInfo, error) {
		p, err := cfg.Verifier.Verify(token)
		if err != nil {
			// Like the API: the client learns "invalid token", the log why.
			log.Info("mcp: token refused", "err", err)
			return nil, sdkauth.ErrInvalidToken
		}
		info := &sdkauth.TokenInfo{Expiration: p.Expires, UserID: p.Org + "\x00" + p.Repo}
		for _, s := range p.Scopes {
			info.Scopes = append(info.Scopes, string(s))
		}
		return info, nil
	}
	// The verifier already allowed for clock skew when it checked exp;
	// the SDK's own check must not be stricter.
	return sdkauth.RequireBearerToken(verify, &sdkauth.RequireBearerTokenOptions{ClockSkew: 2 * time.Minute})(h)
}
