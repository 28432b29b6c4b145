// Package access decides who may do what: the operator token, API keys,
// signed links, scopes, prefix confinement, expiry and rate limits.
package access
