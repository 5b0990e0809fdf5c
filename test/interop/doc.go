// Package interop checks that Strata's doors agree on one repository: the
// embedded library (vfs), plain git through the server, and the REST API,
// all writing the same branch at once.
package interop
