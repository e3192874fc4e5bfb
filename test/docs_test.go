package test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
)

// These tests keep the documentation honest: links resolve, the README
// stays a first page, the text is written for a reader at any time, and
// what the quick start uses loads.

// docsFiles lists the documentation pages, relative to the repository root.
func docsFiles(t *testing.T) []string {
	t.Helper()
	root := deployRoot(t)
	files := []string{"README.md", "subjects.md"}
	for _, pattern := range []string{"docs/*.md", "connectors/*/README.md"} {
		matches, err := filepath.Glob(filepath.Join(root, pattern))
		require.NoError(t, err)
		for _, m := range matches {
			rel, err := filepath.Rel(root, m)
			require.NoError(t, err)
			files = append(files, filepath.ToSlash(rel))
		}
	}
	return files
}

func docsRead(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployRoot(t), filepath.FromSlash(rel)))
	require.NoError(t, err)
	return string(b)
}

var (
	docsFence      = regexp.MustCompile("(?ms)^ {0,3}(```|~~~).*?^ {0,3}(```|~~~)[^\\n]*$")
	docsInlineCode = regexp.MustCompile("`[^`\\n]*`")
	docsLink       = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	docsHeading    = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
)

// docsProse is the text outside fenced code blocks and code spans.
func docsProse(text string) string {
	return docsInlineCode.ReplaceAllString(docsFence.ReplaceAllString(text, ""), "")
}

// docsAnchor is GitHub's anchor for a heading.
func docsAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// docsAnchors lists the anchors of a markdown file's headings.
func docsAnchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range docsHeading.FindAllStringSubmatch(docsFence.ReplaceAllString(text, ""), -1) {
		out[docsAnchor(m[1])] = true
	}
	return out
}

func TestDocsRelativeLinksResolve(t *testing.T) {
	root := deployRoot(t)
	for _, rel := range docsFiles(t) {
		text := docsRead(t, rel)
		for _, m := range docsLink.FindAllStringSubmatch(docsProse(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := filepath.Join(root, filepath.FromSlash(rel))
			if file != "" {
				path = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
			}
			_, err := os.Stat(path)
			require.NoErrorf(t, err, "%s links to %s, which is not in the repository", rel, target)
			if anchor != "" && strings.HasSuffix(path, ".md") {
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				require.Truef(t, docsAnchors(string(b))[anchor], "%s links to %s: no heading with anchor #%s", rel, target, anchor)
			}
		}
	}
}

func TestREADMEIsAFirstPage(t *testing.T) {
	text := docsRead(t, "README.md")
	lines := strings.Count(text, "\n")
	require.Less(t, lines, 250, "README.md has %d lines: move reference material to docs/", lines)

	// The README's test command is the one CI runs.
	const testCommand = "go test -race -count=1 -timeout 20m ./..."
	require.Contains(t, text, testCommand)
	require.Contains(t, docsRead(t, ".ci/run"), "\n"+testCommand+"\n")

	// It links every page of docs/.
	pages, err := filepath.Glob(filepath.Join(deployRoot(t), "docs", "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, pages)
	for _, p := range pages {
		require.Contains(t, text, "](docs/"+filepath.Base(p)+")", "README.md's index does not link %s", filepath.Base(p))
	}
}

// docsBanned is wording about who wrote a text or when, which a reader a
// year from now cannot use, and references outside the repository.
var docsBanned = map[string]*regexp.Regexp{
	"a work session":           regexp.MustCompile(`\b[Ss]ession\b`),
	"an issue number":          regexp.MustCompile(`[Ii]ssue \d+`),
	"where it was built":       regexp.MustCompile(`build\s+machine`),
	"the writer's computer":    regexp.MustCompile(`this\s+machine`),
	"a folder beside the repo": regexp.MustCompile(`shared\s+folder`),
	"a file outside the repo":  regexp.MustCompile(`DESIGN\.md`),
	"a status for a requester": regexp.MustCompile(`(?m)^#+\s+Status\s*$`),
}

func TestDocsSayWhatNotWhoOrWhen(t *testing.T) {
	files := append(docsFiles(t), ".ci/run", "deploy/connectors.yaml", "examples/connectors.yaml")
	for _, rel := range files {
		text := docsRead(t, rel)
		for what, re := range docsBanned {
			if loc := re.FindStringIndex(text); loc != nil {
				line := strings.Count(text[:loc[0]], "\n") + 1
				t.Errorf("%s:%d: %q names %s", rel, line, text[loc[0]:loc[1]], what)
			}
		}
	}
}

func TestDocsExampleConnectorsFileLoads(t *testing.T) {
	path := filepath.Join(deployRoot(t), "examples", "connectors.yaml")
	none := func(string) (string, bool) { return "", false }
	file, err := config.LoadFile(path, none, deployCheck(catalog.Default()))
	require.NoError(t, err)
	require.Len(t, file.Connectors, 1)
	require.Equal(t, "http", file.Connectors[0].Kind)
}

func TestDocsFaultTableRewrite(t *testing.T) {
	doc := docsRead(t, "docs/durability.md")
	same, err := rewriteFaultTable(doc, nil)
	require.NoError(t, err)
	require.Equal(t, doc, same, "a rewrite without rows must leave the page as it is")

	out, err := rewriteFaultTable(doc, []faultRow{
		{Fault: "extsync SIGKILLed during delivery", Injection: "SIGKILL", Published: 10, Delivered: 10, Duplicated: 3, Note: "n"},
		{Fault: "a new fault", Injection: "how", Published: 1, Delivered: 1, Note: "new"},
	})
	require.NoError(t, err)
	require.Contains(t, out, "| extsync SIGKILLed during delivery (*default*) | SIGKILL | 10 | 10 | 0 | 3 | 0 | **0** | n |\n")
	require.NotContains(t, out, "| SIGKILL with 8 requests held open, restart |")
	require.Contains(t, out, "| a new fault | how | 1 | 1 | 0 | 0 | 0 | **0** | new |\n"+faultTableEnd)
	require.Equal(t, strings.Count(doc, "\n")+1, strings.Count(out, "\n"), "one row added, none lost")
}

// Every `connectors:` block in the pages that show one must load, kind
// block included, as `extsync serve` would load it.
func TestDocsConnectorsBlocksLoad(t *testing.T) {
	block := regexp.MustCompile("(?s)```yaml\n(connectors:.*?)```")
	env := map[string]string{"COURT_TOKEN": "token"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, rel := range []string{"docs/configuration.md", "connectors/httpapi/README.md"} {
		blocks := block.FindAllStringSubmatch(docsRead(t, rel), -1)
		require.NotEmptyf(t, blocks, "%s has no ```yaml connectors: block", rel)
		for _, b := range blocks {
			_, err := config.Parse(rel, []byte(b[1]), lookup, deployCheck(catalog.Default()))
			require.NoErrorf(t, err, "%s: a connectors block does not load", rel)
		}
	}
}
