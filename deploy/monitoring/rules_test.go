// Package monitoring_test checks deploy/monitoring: the PrometheusRule with promtool (its rules'
// syntax, and the unit tests of rules_test.yaml), each alert's runbook in docs/alerts.md, and
// that the rules and the Grafana dashboard name only metrics that snapmirror-csi exports.
package monitoring_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/snapmirror-csi/snapmirror-csi/frontend"
	"github.com/snapmirror-csi/snapmirror-csi/ontap"
)

// runbooks is where every alert's runbook_url points, followed by #<alert name in lowercase>,
// GitHub's anchor of the section titled with the alert's name.
const runbooks = "https://github.com/snapmirror-csi/snapmirror-csi/blob/main/docs/alerts.md"

// rule is one recording rule or alert of the PrometheusRule.
type rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type group struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

// groups reads the rule groups of prometheusrule.yaml.
func groups(t *testing.T) []group {
	t.Helper()
	data, err := os.ReadFile("prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       struct {
			Groups []group `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(data, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Kind != "PrometheusRule" || len(pr.Spec.Groups) == 0 {
		t.Fatalf("prometheusrule.yaml: kind %q with %d groups, want a PrometheusRule with groups", pr.Kind, len(pr.Spec.Groups))
	}
	return pr.Spec.Groups
}

// promtool is the promtool that hack/install-test-binaries.sh builds beside the control plane.
func promtool(t *testing.T) string {
	t.Helper()
	p := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "promtool")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtool: %v; build it with make test-binaries and set KUBEBUILDER_ASSETS (make test does both)", err)
	}
	return p
}

// writeRules writes the groups as a Prometheus rule file, dir/rules.yaml.
func writeRules(t *testing.T, dir string, gs []group) {
	t.Helper()
	data, err := yaml.Marshal(map[string]any{"groups": gs})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPromtool: `promtool check rules` accepts the rules (PromQL, durations, annotation
// templates), and `promtool test rules` passes rules_test.yaml, in which every alert fires for
// one series and not for another.
func TestPromtool(t *testing.T) {
	tool := promtool(t)
	gs := groups(t)
	dir := t.TempDir()
	writeRules(t, dir, gs)
	if out, err := exec.Command(tool, "check", "rules", filepath.Join(dir, "rules.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	// promtool compares annotations too: without them, rewording one needs no test change.
	var tested []string
	for i := range gs {
		for j := range gs[i].Rules {
			gs[i].Rules[j].Annotations = nil
		}
	}
	unit := t.TempDir()
	writeRules(t, unit, gs)
	tests, err := os.ReadFile("rules_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unit, "rules_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "test", "rules", filepath.Join(unit, "rules_test.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	// Each alert is tested firing, and each recording rule is evaluated.
	var suite struct {
		Tests []struct {
			AlertRuleTest []struct {
				AlertName string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
			PromQLExprTest []struct {
				Expr string `json:"expr"`
			} `json:"promql_expr_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(tests, &suite); err != nil {
		t.Fatal(err)
	}
	for _, tc := range suite.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				tested = append(tested, a.AlertName)
			}
		}
		for _, e := range tc.PromQLExprTest {
			tested = append(tested, e.Expr)
		}
	}
	for _, g := range gs {
		for _, r := range g.Rules {
			if r.Alert != "" && !slices.Contains(tested, r.Alert) {
				t.Errorf("alert %s: no test in rules_test.yaml expects it to fire", r.Alert)
			}
		}
	}
}

// TestAlertsHaveRunbooks: every alert has a severity, a summary and a description, and a
// runbook_url to its own section of docs/alerts.md.
func TestAlertsHaveRunbooks(t *testing.T) {
	doc, err := os.ReadFile("../../docs/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups(t) {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: lacks a summary or a description", r.Alert)
			}
			if want := runbooks + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !regexp.MustCompile(`(?m)^## ` + r.Alert + `$`).Match(doc) {
				t.Errorf("%s: docs/alerts.md has no section \"## %s\"", r.Alert, r.Alert)
			}
		}
	}
}

// synthetic are the names that Prometheus makes itself, not snapmirror-csi.
var synthetic = []string{"up"}

// TestMetricNamesAreExported: every metric that a rule or a dashboard panel or variable reads
// is exported by snapmirror-csi (registered in the registry its metrics endpoint serves, as
// cmd/snapmirror-csi registers them, with controller-runtime's own), or is a recording rule of
// prometheusrule.yaml, or is made by Prometheus. A renamed metric fails here, not silently in
// production.
func TestMetricNamesAreExported(t *testing.T) {
	// As cmd/snapmirror-csi does.
	if _, err := ontap.NewMetrics(metrics.Registry); err != nil {
		t.Fatal(err)
	}
	if _, err := frontend.NewMetrics(metrics.Registry); err != nil {
		t.Fatal(err)
	}

	var recorded []string
	uses := map[string][]string{} // metric -> where
	for _, g := range groups(t) {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded = append(recorded, r.Record)
			}
			for _, n := range metricNames(r.Expr) {
				uses[n] = append(uses[n], "rule "+r.Record+r.Alert)
			}
		}
	}
	for where, expr := range dashboardExprs(t) {
		for _, n := range metricNames(expr) {
			uses[n] = append(uses[n], where)
		}
	}
	if len(uses) < 10 {
		t.Fatalf("found only %d metric names in the rules and the dashboard: the extraction is broken", len(uses))
	}
	for n, where := range uses {
		switch {
		case slices.Contains(recorded, n), slices.Contains(synthetic, n), registered(metrics.Registry, n):
		default:
			t.Errorf("metric %s, read by %s, is not exported", n, strings.Join(where, ", "))
		}
	}
	// The extraction itself, on a query of each shape.
	got := metricNames(`sum by (cluster, le) (rate(a_bucket{x="y{z}",le!=""}[5m] offset 1m)) / on (cluster) group_left b and time() - c:d > 0.8 * label_values(e{n="$n"}, name)`)
	if want := []string{"a_bucket", "b", "c:d", "e"}; !slices.Equal(got, want) {
		t.Errorf("metricNames: got %q, want %q", got, want)
	}
}

// registered reports whether reg holds a collector of the metric: registering another of the
// same name then fails. A histogram's series (_bucket, _sum, _count) count as its own.
func registered(reg prometheus.Registerer, name string) bool {
	for _, n := range []string{name, strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")} {
		probe := probe{prometheus.NewDesc(n, "probe", nil, nil)}
		err := reg.Register(probe)
		if err == nil {
			reg.Unregister(probe)
			continue
		}
		var are prometheus.AlreadyRegisteredError
		msg := err.Error()
		if errors.As(err, &are) || strings.Contains(msg, "already exists with the same fully-qualified name") ||
			strings.Contains(msg, "previously registered descriptor with the same fully-qualified name") {
			return true
		}
	}
	return false
}

// probe is a collector of one metric that is never collected.
type probe struct{ desc *prometheus.Desc }

func (p probe) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }
func (p probe) Collect(chan<- prometheus.Metric)    {}

var (
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	matchers   = regexp.MustCompile(`\{[^}]*\}`)
	ranges     = regexp.MustCompile(`\[[^\]]*\]`)
	grouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	labelVals  = regexp.MustCompile(`label_values\(([^,]*),[^)]*\)`)
	identifier = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	keywords   = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan", "Inf", "NaN"}
)

// metricNames are the metric names a PromQL query (or a Grafana label_values query) reads, in
// order: the identifiers left once strings, label matchers, ranges and grouping clauses are
// gone, that neither call a function nor are keywords.
func metricNames(expr string) []string {
	expr = quoted.ReplaceAllString(expr, `""`)
	expr = matchers.ReplaceAllString(expr, " ")
	expr = labelVals.ReplaceAllString(expr, "$1")
	expr = ranges.ReplaceAllString(expr, " ")
	expr = grouping.ReplaceAllString(expr, " ")
	var out []string
	for _, loc := range identifier.FindAllStringIndex(expr, -1) {
		name := expr[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(expr[loc[0]-1:loc[0]], "0123456789.$") {
			continue // part of a number or of a Grafana variable
		}
		if strings.HasPrefix(strings.TrimLeft(expr[loc[1]:], " \t\n"), "(") || slices.Contains(keywords, name) || slices.Contains(out, name) {
			continue
		}
		out = append(out, name)
	}
	return out
}

// dashboardExprs are the queries of dashboard.json: each panel's targets and each query
// variable, by where they are.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		for i, tg := range p.Targets {
			out["panel "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		var q struct {
			Query string `json:"query"`
		}
		if v.Type == "query" {
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatal(err)
			}
			out["variable "+v.Name] = q.Query
		}
	}
	return out
}
