package ontap

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// ONTAP's answers to malformed requests (docs/ontap-rest.md §14).
const (
	// codeUnexpectedArgument: an unknown query parameter or body field, or an extra path
	// segment under a known endpoint: `Unexpected argument "<name>".`
	codeUnexpectedArgument = "262179"
	// codeCannotSet: a readable field that this operation cannot set (read-only, or not
	// valid for this verb): `Field "<name>" cannot be set in this operation`.
	codeCannotSet = "262196"
	// codeInvalidFields: an unknown name in fields=.
	codeInvalidFields = "262197"
)

// Query parameters ONTAP takes besides filters (§1.2), by the kind of request.
var (
	collectionParams = []string{"fields", "max_records", "return_records", "return_timeout", "order_by", "ignore_unknown_fields"}
	objectParams     = []string{"fields", "return_timeout", "ignore_unknown_fields"}
	createParams     = []string{"return_records", "return_timeout"}
	changeParams     = []string{"return_timeout"}
)

func errUnexpected(name, target string) *apiErr {
	return errInvalid(codeUnexpectedArgument, target, "Unexpected argument %q.", name)
}

// allowedParams are the query parameters, filters aside, that a request to the route may
// carry.
func (rt *route) allowedParams() []string {
	switch {
	case rt.method == http.MethodGet && rt.collection:
		return slices.Concat(collectionParams, rt.params)
	case rt.method == http.MethodGet:
		return slices.Concat(objectParams, rt.params)
	case rt.method == http.MethodPost:
		return slices.Concat(createParams, rt.params)
	}
	return slices.Concat(changeParams, rt.params)
}

// checkQuery refuses, as ONTAP does, a query parameter the route does not take (262179), and
// an unknown name in fields= (262197) unless ignore_unknown_fields=true; it returns the
// filters. A filter is a field path of the route's kind, on a collection GET only.
func (rt *route) checkQuery(q url.Values, release [3]int) (url.Values, *apiErr) {
	allowed := rt.allowedParams()
	filters := url.Values{}
	for _, name := range sortedKeys(q) {
		switch {
		case contains(allowed, name):
		case strings.HasPrefix(name, "start.") && rt.method == http.MethodGet && rt.collection:
		case rt.method == http.MethodGet && rt.collection && rt.kind != nil && rt.kind.filterable(name):
			filters[name] = q[name]
		default:
			return nil, errUnexpected(name, name)
		}
	}
	if !contains(allowed, "fields") || q.Get("ignore_unknown_fields") == "true" || rt.kind == nil {
		return filters, nil
	}
	for _, f := range fieldList(q, "") {
		if f != "*" && f != "**" && !rt.kind.readable(f, release) {
			return nil, errInvalid(codeInvalidFields, "fields", `The value "%s" is invalid for field "fields" (<field,...>)`, f)
		}
	}
	return filters, nil
}

// checkBody refuses a body field the route's kind does not have (262179, the unknown name in
// the message and the full dotted path as the target, as ONTAP does), and one it has but this
// verb cannot set (262196).
func (k *kind) checkBody(body map[string]any, verb access) *apiErr {
	var walk func(prefix string, obj map[string]any) *apiErr
	walk = func(prefix string, obj map[string]any) *apiErr {
		for _, key := range sortedKeys(obj) {
			path := prefix + key
			a, leaf := k.leaves[path]
			switch v := obj[key].(type) {
			case map[string]any:
				if !k.objects[path] {
					return errUnexpected(path, firstLeaf(path, v))
				}
				if e := walk(path+".", v); e != nil {
					return e
				}
				continue
			case []any:
				if !leaf && k.objects[path] {
					for _, item := range v {
						m, isObj := item.(map[string]any)
						if !isObj {
							return errUnexpected(path, path)
						}
						if e := walk(path+".", m); e != nil {
							return e
						}
					}
					continue
				}
			}
			switch {
			case !leaf:
				return errUnexpected(path, path)
			case a&verb == 0:
				return errInvalid(codeCannotSet, path, "Field %q cannot be set in this operation", path)
			}
		}
		return nil
	}
	return walk("", body)
}

// firstLeaf is the full dotted name of the first scalar under an object, for the target of an
// unexpected argument: ONTAP answers {"ndmp": {"allowed": true}} with target "ndmp.allowed".
func firstLeaf(path string, obj map[string]any) string {
	keys := sortedKeys(obj)
	if len(keys) == 0 {
		return path
	}
	if m, isObj := obj[keys[0]].(map[string]any); isObj && len(m) > 0 {
		return firstLeaf(path+"."+keys[0], m)
	}
	return path + "." + keys[0]
}

// unknownPath answers a request no route serves: 405 when a route serves the path with
// another method; 404 262179 naming the first extra segment when a known endpoint is a prefix
// of the path (§14); otherwise 404 for an unknown endpoint.
func unknownPath(method, path string) *apiErr {
	var methods []string
	for i := range routes {
		if routes[i].pattern.MatchString(path) && !contains(methods, routes[i].method) {
			methods = append(methods, routes[i].method)
		}
	}
	if len(methods) > 0 {
		// UNCONFIRMED: ONTAP's status table says 405; its code and message are not documented.
		return &apiErr{status: http.StatusMethodNotAllowed, code: codeNotSupported,
			message: fmt.Sprintf("The method %s is not supported on %s; use %s.", method, path, strings.Join(methods, ", "))}
	}
	segs := strings.Split(path, "/")
	for n := len(segs) - 1; n > 2; n-- {
		prefix := strings.Join(segs[:n], "/")
		for i := range routes {
			if routes[i].pattern.MatchString(prefix) {
				seg, _ := url.PathUnescape(segs[n])
				return &apiErr{status: http.StatusNotFound, code: codeUnexpectedArgument, message: fmt.Sprintf("Unexpected argument %q.", seg)}
			}
		}
	}
	// UNCONFIRMED: the body and code ONTAP answers for an unknown endpoint.
	return &apiErr{status: http.StatusNotFound, code: codeNotSupported, message: "API not found: " + method + " " + path}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
