package httpapi

// Test-only views of the route table for openapi_test.go, which checks the
// OpenAPI document against the routes the server defines.

// OpenAPIRoute is one row of the route table: its pattern, a path it
// matches (its prefix with an id for prefix routes), and the methods it
// answers.
type OpenAPIRoute struct {
	Pattern, Probe string
	Public         bool
	Methods        []string
}

// OpenAPIRoutes returns the route table.
func OpenAPIRoutes() []OpenAPIRoute {
	var out []OpenAPIRoute
	for _, rt := range routes {
		r := OpenAPIRoute{Pattern: rt.pattern, Probe: rt.pattern, Public: rt.public()}
		if rt.prefix != "" {
			r.Probe = rt.prefix + "openapi-probe"
		}
		for _, m := range rt.methods {
			r.Methods = append(r.Methods, m.name)
		}
		out = append(out, r)
	}
	return out
}

// OpenAPIMatch returns the pattern of the route an escaped path matches,
// or "" when none does.
func OpenAPIMatch(path string) string {
	if rt, _ := match(path); rt != nil {
		return rt.pattern
	}
	return ""
}
