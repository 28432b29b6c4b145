package httpapi

import (
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/access"
)

// TestRouteDeclarations: a route whose methods do not each declare an
// action and where their target comes from cannot be registered.
func TestRouteDeclarations(t *testing.T) {
	serve := (*API).health
	for name, rt := range map[string]*route{
		"no action":  {pattern: "/x", methods: []method{{name: get, target: fromPath}}, serve: serve},
		"no target":  {pattern: "/x", methods: []method{{name: get, action: access.Read}}, serve: serve},
		"no method":  {pattern: "/x", methods: []method{{action: access.Read, target: fromPath}}, serve: serve},
		"no methods": {pattern: "/x", serve: serve},
		"no handler": {pattern: "/x", methods: []method{{get, access.Read, fromPath}}},
		"one of two": {pattern: "/x", methods: []method{{get, access.Read, fromPath}, {put, 0, fromPath}}, serve: serve},
		"mixed":      {pattern: "/x", methods: []method{{get, access.Public, noTarget}, {put, access.Write, fromPath}}, serve: serve},
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(p.(string), "/x") {
					t.Errorf("%s: registering the route gave %v; want a panic naming it", name, p)
				}
			}()
			newRoutes(rt)
		}()
	}
	// The real table: every decided method extracts a target.
	for _, rt := range routes {
		for _, m := range rt.methods {
			if m.action != access.Public && m.target == noTarget && m.action != access.Admin && m.name != options {
				t.Errorf("%s %s touches blobs but declares no target", m.name, rt.pattern)
			}
		}
	}
}
