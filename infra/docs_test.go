package main

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cirasync/dsubilling/internal/routes"
)

// docTable returns the rows of the first markdown table after heading in
// docs/DEPLOYMENT.md, each row's cells trimmed, without the header rows.
func docTable(t *testing.T, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile("../docs/DEPLOYMENT.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/DEPLOYMENT.md has no heading %q", heading)
	}
	var rows [][]string
	for line := range strings.SplitSeq(after, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break
			}
			continue
		}
		var cells []string
		for c := range strings.SplitSeq(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	if len(rows) < 2 {
		t.Fatalf("no table after %q", heading)
	}
	return rows[2:] // header and separator
}

// The restricted keys' permissions in docs/DEPLOYMENT.md are functionSpecs'
// (which TestStripePermissionsAreWhatTheCodeCalls checks against the code).
func TestDeploymentListsStripePermissions(t *testing.T) {
	documented := map[string]map[string]StripeAccess{}
	for _, row := range docTable(t, "### Stripe keys and their permissions") {
		perms := map[string]StripeAccess{}
		for p := range strings.SplitSeq(row[1], ";") {
			res, access, ok := strings.Cut(strings.TrimSpace(p), ":")
			if !ok {
				t.Errorf("%s: permission %q is not Resource: Read|Write", row[0], p)
				continue
			}
			perms[strings.TrimSpace(res)] = StripeAccess(strings.TrimSpace(access))
		}
		documented[strings.Trim(row[0], "`")] = perms
	}
	for _, fn := range routes.Functions {
		want := specFor(fn).Stripe
		got, listed := documented[fn]
		switch {
		case len(want) == 0 && listed:
			t.Errorf("%s calls no Stripe API but docs/DEPLOYMENT.md lists a key for it", fn)
		case len(want) > 0 && !maps.Equal(got, want):
			t.Errorf("%s: docs/DEPLOYMENT.md lists %v, functionSpecs %v", fn, got, want)
		}
		delete(documented, fn)
	}
	for fn := range documented {
		t.Errorf("docs/DEPLOYMENT.md lists a key for %s, which is not a function", fn)
	}
}

// The table actions in docs/DEPLOYMENT.md are functionSpecs' (which
// TestTableAccessIsWhatTheCodeCalls checks against the code).
func TestDeploymentListsTableActions(t *testing.T) {
	rows := docTable(t, "## Least privilege")
	seen := map[string]bool{}
	for _, row := range rows {
		fn := strings.Trim(row[0], "`")
		seen[fn] = true
		var actions []string
		for a := range strings.SplitSeq(row[1], ",") {
			a = strings.TrimSpace(a)
			a, _, _ = strings.Cut(a, " (")
			actions = append(actions, "dynamodb:"+strings.Trim(a, "`"))
		}
		spec := specFor(fn)
		if want := sortedCopy(spec.Table.Actions); !slices.Equal(sortedCopy(actions), want) {
			t.Errorf("%s: docs/DEPLOYMENT.md lists %v, functionSpecs %v", fn, sortedCopy(actions), want)
		}
		if index := row[2] == "`Query`"; index != spec.Table.SweepIndex {
			t.Errorf("%s: docs/DEPLOYMENT.md says sweep index %q, functionSpecs %v", fn, row[2], spec.Table.SweepIndex)
		}
	}
	for _, fn := range routes.Functions {
		if !seen[fn] {
			t.Errorf("docs/DEPLOYMENT.md's Least privilege table lacks %s", fn)
		}
	}
}

// Step 3 of docs/DEPLOYMENT.md fills in the key secret of every function
// the stack gives one (the outputs its loop reads, which the outputs table
// lists), and of no other: a
// secret the guide skips keeps its random placeholder, and every Stripe
// call of that function fails.
func TestDeploymentFillsEveryStripeKey(t *testing.T) {
	b, err := os.ReadFile("../docs/DEPLOYMENT.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## 3. Set the Stripe secrets\n")
	if !ok {
		t.Fatal("docs/DEPLOYMENT.md has no step 3")
	}
	_, loop, ok := strings.Cut(section, "\nfor fn in ")
	if !ok {
		t.Fatal("step 3 of docs/DEPLOYMENT.md has no loop over the functions' keys")
	}
	loop, _, _ = strings.Cut(loop, ";")
	filled := strings.Fields(loop)
	var want []string
	for _, fn := range routes.Functions {
		if specFor(fn).callsStripe() {
			want = append(want, pascal(fn))
		}
	}
	if !slices.Equal(sortedCopy(filled), sortedCopy(want)) {
		t.Errorf("step 3 of docs/DEPLOYMENT.md fills in the keys of %v; the stack creates them for %v", filled, want)
	}
	for _, fn := range want {
		if !strings.Contains(string(b), "`"+fn+"StripeKeyArn`") {
			t.Errorf("docs/DEPLOYMENT.md's outputs lack %sStripeKeyArn", fn)
		}
	}
}

// Every alarm sends the on-call engineer to its runbook: its description
// names a section under "## Runbook" of docs/DEPLOYMENT.md, which exists,
// and every section there serves an alarm.
func TestAlarmsPointToTheirRunbook(t *testing.T) {
	b, err := os.ReadFile("../docs/DEPLOYMENT.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Runbook\n")
	if !ok {
		t.Fatal("docs/DEPLOYMENT.md has no Runbook")
	}
	sections := map[string]bool{}
	for line := range strings.SplitSeq(section, "\n") {
		if strings.HasPrefix(line, "## ") {
			break // the next chapter
		}
		if h, ok := strings.CutPrefix(line, "### "); ok {
			sections[strings.TrimSpace(h)] = false
		}
	}
	cited := regexp.MustCompile(`runbook: docs/DEPLOYMENT\.md, "([^"]+)"`)
	variants(t, func(t *testing.T, s *synthed) {
		for _, id := range s.ofType("AWS::CloudWatch::Alarm") {
			desc, _ := s.props(id)["AlarmDescription"].(string)
			m := cited.FindStringSubmatch(desc)
			if m == nil {
				t.Errorf("alarm %s does not point to its runbook: %q", id, desc)
				continue
			}
			if _, ok := sections[m[1]]; !ok {
				t.Errorf("alarm %s points to %q, no section of the Runbook %v", id, m[1], slices.Sorted(maps.Keys(sections)))
				continue
			}
			sections[m[1]] = true
		}
	})
	for h, used := range sections {
		if !used {
			t.Errorf("the Runbook's %q serves no alarm", h)
		}
	}
}
