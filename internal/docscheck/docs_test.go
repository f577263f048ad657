// Package docscheck keeps the repository's documents honest: the code's
// comments cite sections of docs/API.md, docs/RULES.md, docs/ARCHITECTURE.md,
// docs/DEPLOYMENT.md and README.md by heading, ARCHITECTURE.md's "Where
// is…?" table names files, every repository path and relative link in the
// markdown documents exists, and nothing may point outside the repository.
package docscheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/cirasync/dsubilling/internal/app"
)

func root(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// repoFiles lists the files a reader of the repository meets, with their
// paths relative to the root.
func repoFiles(t *testing.T, exts ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	base := root(t)
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != base && (strings.HasPrefix(name, ".") && name != ".ci" || name == "node_modules" || name == "cdk.out" || name == "dist") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		for _, ext := range exts {
			if strings.HasSuffix(name, ext) || name == ext {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(base, path)
				out[filepath.ToSlash(rel)] = string(b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// headings lists the headings of a markdown document.
func headings(t *testing.T, doc string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), doc))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			out[strings.TrimSpace(strings.TrimLeft(h, "#"))] = true
		}
	}
	return out
}

var citation = regexp.MustCompile(`(API|RULES|ARCHITECTURE|DEPLOYMENT|README)\.md,?\s*\(?"([^"]+)"`)

// comments returns the comment text of a Go file or Makefile, consecutive
// comment lines joined with spaces, so a section name may wrap.
func comments(path, src string) []string {
	marker := "//"
	if strings.HasSuffix(path, "Makefile") {
		marker = "#"
	}
	var out []string
	var block []string
	for line := range strings.SplitSeq(src, "\n") {
		_, text, ok := strings.Cut(line, marker)
		if !ok {
			if len(block) > 0 {
				out = append(out, strings.Join(block, " "))
				block = nil
			}
			continue
		}
		block = append(block, strings.TrimSpace(strings.TrimLeft(text, "#")))
	}
	return append(out, strings.Join(block, " "))
}

// hasHeading accepts a heading cited by its name, also when the heading
// goes on with the files in brackets: "The local stack (`cmd/dsu-local`)".
func hasHeading(hs map[string]bool, name string) bool {
	for h := range hs {
		if h == name || strings.HasPrefix(h, name+" (") {
			return true
		}
	}
	return false
}

// Every section a comment cites by name exists in the document it names.
func TestCitedSectionsExist(t *testing.T) {
	docs := map[string]map[string]bool{
		"API":          headings(t, "docs/API.md"),
		"RULES":        headings(t, "docs/RULES.md"),
		"ARCHITECTURE": headings(t, "docs/ARCHITECTURE.md"),
		"DEPLOYMENT":   headings(t, "docs/DEPLOYMENT.md"),
		"README":       headings(t, "README.md"),
	}
	cited := 0
	for path, src := range repoFiles(t, ".go", "Makefile") {
		if path == "internal/docscheck/docs_test.go" {
			continue
		}
		for _, c := range comments(path, src) {
			for _, m := range citation.FindAllStringSubmatch(c, -1) {
				cited++
				if !hasHeading(docs[m[1]], m[2]) {
					t.Errorf("%s cites %s.md, %q: no such heading", path, m[1], m[2])
				}
			}
		}
	}
	if cited < 20 {
		t.Fatalf("found only %d citations; is the pattern still right?", cited)
	}
}

// Every path in ARCHITECTURE.md's "Where is…?" table exists.
func TestWhereIsTableNamesExistingFiles(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "## Where is…?")
	if !ok {
		t.Fatal(`ARCHITECTURE.md has no "Where is…?" section`)
	}
	table, _, _ = strings.Cut(table, "\n## ")
	paths := regexp.MustCompile("`([a-zA-Z0-9_./-]+/[a-zA-Z0-9_.-]+)`").FindAllStringSubmatch(table, -1)
	if len(paths) < 20 {
		t.Fatalf("only %d paths in the table; is the pattern still right?", len(paths))
	}
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(root(t), p[1])); err != nil {
			t.Errorf("the Where is…? table names %s, which does not exist", p[1])
		}
	}
}

// Nothing in the repository points to a contract outside it: the docs/
// documents are the contract. The pattern spells the outside names with
// character classes so that this file, too, is checked like every other.
func TestNoReferenceOutsideTheRepository(t *testing.T) {
	outside := regexp.MustCompile(`[s]hared/[S]PEC|[S]PEC\.md|\x{00A7}`)
	for path, src := range repoFiles(t, ".go", ".md", ".yaml", "Makefile", ".json", "run") {
		for i, line := range strings.Split(src, "\n") {
			if outside.MatchString(line) {
				t.Errorf("%s:%d points outside the repository: %s", path, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// The deployment guide subscribes the Stripe endpoint to exactly the
// events the webhook handles, in its list and in its CLI command.
func TestDeploymentSubscribesToTheHandledEvents(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "docs", "DEPLOYMENT.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "## 4. Create the Stripe webhook endpoint")
	if !ok {
		t.Fatal("DEPLOYMENT.md has no webhook endpoint section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	want := map[string]bool{}
	for _, ev := range app.HandledEvents {
		want[ev] = true
	}
	listed, subscribed := map[string]bool{}, map[string]bool{}
	for line := range strings.SplitSeq(section, "\n") {
		line = strings.TrimSpace(line)
		if regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)+$`).MatchString(line) {
			listed[line] = true
		}
		if m := regexp.MustCompile(`enabled_events\[\]=([a-z_.]+)`).FindStringSubmatch(line); m != nil {
			subscribed[m[1]] = true
		}
	}
	for name, got := range map[string]map[string]bool{"the event list": listed, "the CLI command": subscribed} {
		for ev := range want {
			if !got[ev] {
				t.Errorf("%s of DEPLOYMENT.md misses %s", name, ev)
			}
		}
		for ev := range got {
			if !want[ev] {
				t.Errorf("%s of DEPLOYMENT.md subscribes to %s, which the webhook does not handle", name, ev)
			}
		}
	}
}

// notInRepo are the top-level directories a checkout may have that are
// build output or tooling, not part of the repository: a document naming a
// path in them is not naming a repository path.
var notInRepo = map[string]bool{".git": true, "dist": true, "cdk.out": true, "node_modules": true}

// dirNames lists the names of the directories in dir.
func dirNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() && !notInRepo[e.Name()] {
			out[e.Name()] = true
		}
	}
	return out
}

var (
	inlineCode = regexp.MustCompile("`([^`\n]+)`")
	pathChars  = regexp.MustCompile(`^[A-Za-z0-9_.*?\[\]/-]+$`)
	lineSuffix = regexp.MustCompile(`:[0-9]+(-[0-9]+)?$`)
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	goFileName = regexp.MustCompile(`^[A-Za-z0-9_.-]+\.go$`)
)

// outsideFences drops the fenced code blocks of a markdown document: their
// backticks are shell, not inline code.
func outsideFences(doc string) string {
	var b strings.Builder
	fenced := false
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// repoPath says which repository path an inline-code span names, relative
// to the root, or "" if it names none. A span is a path when it has a slash
// and begins with a top-level directory (`internal/app/purchases.go`,
// `./cmd/dsu-local`, `infra/`) or with a package of internal/, which the
// docs write short (`httpapi/webhook.go`). A trailing `:line` is dropped.
// Route paths (/v1/…), URLs, commands, placeholders (`functions/<name>`)
// and MIME types are not paths.
func repoPath(span string, top, internal map[string]bool) string {
	p := lineSuffix.ReplaceAllString(strings.TrimPrefix(span, "./"), "")
	if !pathChars.MatchString(p) {
		return ""
	}
	first, _, ok := strings.Cut(p, "/")
	switch {
	case !ok:
		return ""
	case top[first]:
		return p
	case internal[first]:
		return "internal/" + p
	}
	return ""
}

// pathExists reports whether a path the docs name exists: a directory when
// it ends in "/" or "/..." (a Go package pattern), at least one file when it
// is a glob (`infra/*_test.go`).
func pathExists(base, p string) bool {
	dir := strings.HasSuffix(p, "/")
	if rest, ok := strings.CutSuffix(p, "/..."); ok {
		p, dir = rest, true
	}
	full := filepath.Join(base, filepath.FromSlash(p))
	if strings.ContainsAny(p, "*?[") {
		matches, err := filepath.Glob(full)
		return err == nil && len(matches) > 0
	}
	fi, err := os.Stat(full)
	return err == nil && (!dir || fi.IsDir())
}

// Every repository path a document names in inline code, and every
// relative link, exists: a file that moves or goes takes its mentions with
// it.
func TestDocumentsNameExistingPaths(t *testing.T) {
	base := root(t)
	top := dirNames(t, base)
	internal := dirNames(t, filepath.Join(base, "internal"))
	goFiles := map[string]bool{}
	for path := range repoFiles(t, ".go") {
		goFiles[filepath.Base(path)] = true
	}
	checked := 0
	for doc, src := range repoFiles(t, ".md") {
		text := outsideFences(src)
		for _, m := range inlineCode.FindAllStringSubmatch(text, -1) {
			// A bare Go file name (`webhook.go`) is short for a file of
			// the package the text is about: some Go file has that name.
			if goFileName.MatchString(m[1]) {
				checked++
				if !goFiles[m[1]] {
					t.Errorf("%s names `%s`: no Go file has that name", doc, m[1])
				}
				continue
			}
			p := repoPath(m[1], top, internal)
			if p == "" {
				continue
			}
			checked++
			if !pathExists(base, p) {
				t.Errorf("%s names `%s`, which does not exist", doc, m[1])
			}
		}
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			if !pathExists(filepath.Join(base, filepath.Dir(doc)), target) {
				t.Errorf("%s links to %s, which does not exist", doc, m[1])
			}
		}
	}
	if checked < 200 {
		t.Fatalf("checked only %d paths; are the patterns still right?", checked)
	}
}
