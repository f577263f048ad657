package routes

import (
	"fmt"
	"net/http"
	"strings"
)

// Matcher finds the route of a concrete request. The standard library's
// ServeMux decides, from patterns that are the routes' keys ("GET
// /v1/purchases/{id}"): a literal segment wins over a parameter, a
// parameter matches one non-empty segment. Whatever else the mux would
// answer itself (404, 405, a redirect to a cleaned path) is no route, as
// API Gateway answers 404 there.
type Matcher struct{ mux *http.ServeMux }

// NewMatcher builds the matcher of a route table; an error for a table
// whose keys are not valid or conflicting patterns.
func NewMatcher(table []Route) (m *Matcher, err error) {
	defer func() {
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("routes as ServeMux patterns: %v", p)
		}
	}()
	mux := http.NewServeMux()
	for _, r := range table {
		mux.HandleFunc(r.Key(), func(w http.ResponseWriter, req *http.Request) {
			if req.Method != r.Method {
				return // a GET pattern also matches HEAD; API Gateway's routes do not
			}
			found := w.(*routeMatch)
			found.route, found.params, found.ok = r, pathParameters(req, r.Path), true
		})
	}
	return &Matcher{mux: mux}, nil
}

// Match finds the route of req and its path parameters (API Gateway's
// pathParameters, nil when the route has none).
func (m *Matcher) Match(req *http.Request) (Route, map[string]string, bool) {
	var found routeMatch
	m.mux.ServeHTTP(&found, req)
	return found.route, found.params, found.ok
}

// MatchPath is Match for a method and a concrete path.
func (m *Matcher) MatchPath(method, path string) (Route, map[string]string, bool) {
	req, err := http.NewRequest(method, path, nil)
	if err != nil {
		return Route{}, nil, false
	}
	return m.Match(req)
}

// pathParameters reads the template's {name} segments from a request the
// mux matched.
func pathParameters(req *http.Request, template string) map[string]string {
	var params map[string]string
	for seg := range strings.SplitSeq(template, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			name = strings.TrimSuffix(name, "}")
			if params == nil {
				params = map[string]string{}
			}
			params[name] = req.PathValue(name)
		}
	}
	return params
}

// routeMatch is the ResponseWriter the mux runs with: a route's handler
// records itself in it, and the mux's own answers go nowhere.
type routeMatch struct {
	route  Route
	params map[string]string
	ok     bool
}

func (*routeMatch) Header() http.Header         { return http.Header{} }
func (*routeMatch) Write(b []byte) (int, error) { return len(b), nil }
func (*routeMatch) WriteHeader(int)             {}
