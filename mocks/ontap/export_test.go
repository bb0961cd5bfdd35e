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

// Opts returns the options the fabric runs with.
func (f *Fabric) Opts() Options { return f.opts }
