package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/edgesensor/edgesensor/daemon"
)

var metricRE = regexp.MustCompile(`\bedgesensor_[a-z_]+\b`)

// unknownMetrics returns the edgesensor_ names in expr the sensor does
// not export, or an error when expr names none at all.
func unknownMetrics(expr string, known []string) ([]string, error) {
	names := metricRE.FindAllString(expr, -1)
	if len(names) == 0 {
		return nil, errors.New("names no edgesensor metric")
	}
	var bad []string
	for _, n := range names {
		if !slices.Contains(known, n) {
			bad = append(bad, n)
		}
	}
	return bad, nil
}

// dashboardExprs returns every PromQL expression of the dashboard, with
// Grafana's variables given values PromQL accepts.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("grafana/edgesensor.json")
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
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	out := map[string]string{}
	for _, p := range d.Panels {
		for i, tg := range p.Targets {
			out[fmt.Sprintf("%s [%c]", p.Title, 'A'+i)] = vars.Replace(tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := strings.CutPrefix(v.Definition, "label_values("); ok {
			// label_values(metric, label): the metric must exist.
			out["variable "+v.Name] = strings.Split(q, ",")[0]
		}
	}
	if len(out) < 20 {
		t.Fatalf("the dashboard has %d expressions; it lost its panels?", len(out))
	}
	return out
}

func TestDashboardNamesExportedMetrics(t *testing.T) {
	known := daemon.MetricNames()
	if bad, _ := unknownMetrics("rate(edgesensor_no_such_metric_total[5m])", known); len(bad) != 1 {
		t.Fatal("the check does not see an unknown metric")
	}
	for where, expr := range dashboardExprs(t) {
		bad, err := unknownMetrics(expr, known)
		if err != nil {
			t.Errorf("%s: %v: %s", where, err, expr)
		}
		if len(bad) > 0 {
			t.Errorf("%s names %v, which the sensor does not export", where, bad)
		}
	}
}

func TestAlertRulesNameExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("prometheus/edgesensor-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	known := daemon.MetricNames()
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, name := range metricRE.FindAllString(line, -1) {
			n++
			if !slices.Contains(known, name) {
				t.Errorf("the alert rules name %s, which the sensor does not export", name)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d metric names in the alert rules", n)
	}
}

// promtool is Prometheus's own checker (Debian's prometheus package,
// installed by scripts/deps.sh). Under `make test` it must be there.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("EDGESENSOR_TEST_TIERS") != "" {
			t.Fatal("promtool is missing: scripts/deps.sh installs it (Debian package prometheus)")
		}
		t.Skip("promtool is not installed (scripts/deps.sh installs it)")
	}
	return p
}

func TestPromtoolChecksRulesAndDashboard(t *testing.T) {
	bin := promtool(t)
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("check", "rules", "prometheus/edgesensor-alerts.yml")
	run("test", "rules", "prometheus/edgesensor-alerts.test.yml")

	// Every dashboard expression as a recording rule: promtool parses it.
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	i := 0
	for _, expr := range dashboardExprs(t) {
		i++
		q, _ := json.Marshal(expr) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: dashboard:expr%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run("check", "rules", path)
}
