// Package api serves Strata's REST API under /api/v1, wire-compatible with
// code.storage (see shared/spec/API.md). One file per resource; routes.go
// is the whole route table and errors.go the only error→status mapping.
// Handlers are thin: authenticate, validate, call the engine, encode.
package api
