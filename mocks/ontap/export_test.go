package ontap

import "strings"

// SideRouteOf returns the index in sideRoutes of the route that serves method and target (a
// path, with or without a query), or -1; NumSideRoutes is how many routes there are.
func SideRouteOf(method, target string) int {
	path, _, _ := strings.Cut(target, "?")
	for i := range sideRoutes {
		if _, ok := sideRoutes[i].match(method, path); ok {
			return i
		}
	}
	return -1
}

var NumSideRoutes = len(sideRoutes)

// Undeclared returns the field paths of rec, a record answered to GET path, that the kind of
// the route serving it does not declare.
func Undeclared(path string, rec map[string]any) []string {
	path, _, _ = strings.Cut(path, "?")
	rt, _ := match("GET", path)
	if rt == nil {
		return []string{"no route for " + path}
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, child := range t {
				if k != "_links" {
					walk(prefix+k+".", child)
				}
			}
			return
		case []any:
			if len(t) == 0 && rt.kind.readable(strings.TrimSuffix(prefix, "."), [3]int{99, 0, 0}) {
				return
			}
			if len(t) > 0 {
				if _, isObj := t[0].(map[string]any); isObj {
					for _, item := range t {
						walk(prefix, item)
					}
					return
				}
			}
		}
		if p := strings.TrimSuffix(prefix, "."); !rt.kind.filterable(p) {
			out = append(out, p)
		}
	}
	walk("", rec)
	return out
}

// Opts returns the options the fabric runs with.
func (f *Fabric) Opts() Options { return f.opts }
