package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDocument is the OpenAPI 3.1 description of every route in
// routes.go. The tests validate their real requests and responses against
// it (openapi_test.go), so it cannot drift from the handlers unnoticed.
//
//go:embed openapi.json
var openAPIDocument []byte

// GET /api/v1/openapi.json and /api/openapi.json: public documentation,
// so no token is needed (docs/api-decisions.md).
func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	// The document changes only with the binary.
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(openAPIDocument)
	}
}
