package ontap

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// page filters, orders, pages and projects a collection. Records echo the fields the filters
// name, as ONTAP's do.
func page(r *http.Request, recs []map[string]any, filters url.Values, keys []string) map[string]any {
	q := r.URL.Query()
	// A lazy field is worked out for every record only if a filter or the order names it;
	// else for the records of the page alone.
	named := func(field string) bool {
		for k := range filters {
			if k == field || strings.HasPrefix(k, field+".") {
				return true
			}
		}
		return strings.Contains(q.Get("order_by"), field)
	}
	for _, rec := range recs {
		resolve(rec, named)
	}
	var kept []map[string]any
	for _, rec := range recs {
		if matches(rec, filters) {
			kept = append(kept, rec)
		}
	}
	if ob := q.Get("order_by"); ob != "" {
		keys := strings.Split(ob, ",")
		sort.SliceStable(kept, func(i, j int) bool {
			for _, k := range keys {
				name, dir, _ := strings.Cut(strings.TrimSpace(k), " ")
				a, b := scalar(lookup(kept[i], name)), scalar(lookup(kept[j], name))
				if c := compare(a, b); c != 0 {
					return (c < 0) != (dir == "desc")
				}
			}
			return false
		})
	}
	start, _ := strconv.Atoi(q.Get("start.index"))
	end := len(kept)
	out := map[string]any{}
	if n, err := strconv.Atoi(q.Get("max_records")); err == nil && n > 0 && start+n < len(kept) {
		end = start + n
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("start.index", strconv.Itoa(end))
		out["_links"] = map[string]any{"next": map[string]any{"href": r.URL.Path + "?" + next.Encode()}}
	}
	if start > len(kept) {
		start = len(kept)
	}
	fields := fieldList(q, "")
	echo := slices.Concat(keys, sortedKeys(filters))
	records := make([]map[string]any, 0, end-start)
	for _, rec := range kept[start:end] {
		resolve(rec, shown(fields, echo))
		records = append(records, project(rec, fields, echo))
	}
	out["records"] = records
	out["num_records"] = len(records)
	return out
}

// lazy is a record's field worked out only when an answer shows, filters or orders on it: an
// expensive one, such as a volume's used space, read from the disk.
type lazy func() any

// resolve works out the record's lazy fields that want names (all, for nil).
func resolve(rec map[string]any, want func(field string) bool) {
	for k, v := range rec {
		if l, isLazy := v.(lazy); isLazy && (want == nil || want(k)) {
			rec[k] = l()
		}
	}
}

// matches applies ONTAP's query filters: "field=value", with * wildcards, | alternatives,
// ! negation, null and !null, and <, >, <=, >= on numbers, durations and date-times. Unset
// fields never match.
func matches(rec map[string]any, filters url.Values) bool {
	for k, vs := range filters {
		got, set := values(rec, k)
		for _, want := range vs {
			if !matchAny(got, set, want) {
				return false
			}
		}
	}
	return true
}

func matchAny(got []string, set bool, want string) bool {
	for _, alt := range strings.Split(want, "|") {
		neg := strings.HasPrefix(alt, "!")
		alt = strings.TrimPrefix(alt, "!")
		if alt == "null" {
			return set == neg
		}
		if !set {
			continue
		}
		hit := false
		for _, g := range got {
			if matchOne(g, alt) {
				hit = true
				break
			}
		}
		if hit != neg {
			return true
		}
	}
	return false
}

func matchOne(got, want string) bool {
	for _, op := range []string{"<=", ">=", "<", ">"} {
		if rest, found := strings.CutPrefix(want, op); found {
			c, comparable := order(got, rest)
			if !comparable {
				return false
			}
			switch op {
			case "<=":
				return c <= 0
			case ">=":
				return c >= 0
			case "<":
				return c < 0
			}
			return c > 0
		}
	}
	if strings.Contains(want, "*") {
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(want), `\*`, ".*") + "$"
		m, _ := regexp.MatchString("(?i)"+re, got)
		return m
	}
	if c, comparable := order(got, want); comparable {
		return c == 0
	}
	return strings.EqualFold(got, want)
}

// order compares two values of a field as ONTAP does: as numbers, ISO-8601 durations
// ("PT1H", "P1D") or date-times (any UTC offset), whichever both parse as.
func order(a, b string) (int, bool) {
	if x, err := strconv.ParseFloat(a, 64); err == nil {
		if y, err := strconv.ParseFloat(b, 64); err == nil {
			return cmp.Compare(x, y), true
		}
	}
	if x, ok := parseISODuration(a); ok {
		if y, ok := parseISODuration(b); ok {
			return cmp.Compare(x, y), true
		}
	}
	if x, err := time.Parse(time.RFC3339, a); err == nil {
		if y, err := time.Parse(time.RFC3339, b); err == nil {
			return x.Compare(y), true
		}
	}
	return 0, false
}

// compare orders two values for order_by: as order does when it can, else as strings.
func compare(a, b string) int {
	if c, ok := order(a, b); ok {
		return c
	}
	return strings.Compare(a, b)
}

// values returns the scalar values at a dotted path; lists are flattened.
func values(v any, path string) ([]string, bool) {
	head, rest, _ := strings.Cut(path, ".")
	switch t := v.(type) {
	case map[string]any:
		child, found := t[head]
		if !found {
			return nil, false
		}
		if rest == "" {
			switch c := child.(type) {
			case []any:
				out := make([]string, 0, len(c))
				for _, x := range c {
					out = append(out, scalar(x))
				}
				return out, true
			case []string:
				return c, true
			}
			return []string{scalar(child)}, true
		}
		return values(child, rest)
	case []any:
		var out []string
		set := false
		for _, x := range t {
			vs, s := values(x, path)
			out, set = append(out, vs...), set || s
		}
		return out, set
	case []map[string]any:
		var out []string
		set := false
		for _, x := range t {
			vs, s := values(x, path)
			out, set = append(out, vs...), set || s
		}
		return out, set
	}
	return nil, false
}

func lookup(rec map[string]any, path string) any {
	vs, _ := values(rec, path)
	if len(vs) == 0 {
		return nil
	}
	return vs[0]
}

func scalar(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	default:
		return fmt.Sprint(t)
	}
}

// fieldList returns the requested fields, or def when fields= is absent ("" for a
// collection's key fields); an empty fields= asks for the key fields.
func fieldList(q url.Values, def string) []string {
	f, given := q.Get("fields"), q.Has("fields")
	if !given {
		f = def
	}
	if f == "" {
		return nil
	}
	return strings.Split(f, ",")
}

// expensive fields are returned only when asked for by name or with **.
var expensive = map[string]bool{"nas": true, "snapmirror": true, "reclaimable_space": true, "delta": true,
	"attributes": true, "lun_maps": true, "reporting_nodes": true}

// keyFields identify a record; ONTAP returns those a record has whatever fields= names.
var keyFields = []string{"uuid", "name", "id", "index"}

// shown reports whether project, given fields and echo, shows a record's top-level field: a
// lazy field no answer shows is not worked out (a volume's write counter walks its tree).
func shown(fields, echo []string) func(field string) bool {
	return func(field string) bool {
		for _, f := range slices.Concat(fields, echo) {
			if f == "*" || f == "**" || f == field || strings.HasPrefix(f, field+".") {
				return true
			}
		}
		return false
	}
}

// project keeps the requested fields of a record: nil means the key fields, "*" the common
// ones, "**" all, and dotted names pick sub-fields; the key fields and the fields of echo
// (the filters) come too. Unset fields are omitted.
func project(rec map[string]any, fields, echo []string) map[string]any {
	out := map[string]any{}
	for _, f := range slices.Concat(keyFields, fields, echo) {
		switch f {
		case "**":
			for k, v := range rec {
				out[k] = v
			}
		case "*":
			for k, v := range rec {
				if !expensive[k] {
					out[k] = v
				}
			}
		default:
			pick(out, rec, f)
		}
	}
	return out
}

// pick copies the value at a dotted path from src into dst, through objects and lists.
func pick(dst, src map[string]any, path string) {
	head, rest, _ := strings.Cut(path, ".")
	v, found := src[head]
	if !found {
		return
	}
	if rest == "" {
		dst[head] = v
		return
	}
	switch t := v.(type) {
	case map[string]any:
		sub, _ := dst[head].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
		}
		pick(sub, t, rest)
		if len(sub) > 0 {
			dst[head] = sub
		}
	case []map[string]any:
		prev, _ := dst[head].([]map[string]any)
		items := make([]map[string]any, len(t))
		for i, item := range t {
			if i < len(prev) {
				items[i] = prev[i]
			} else {
				items[i] = map[string]any{}
			}
			pick(items[i], item, rest)
		}
		dst[head] = items
	}
}
