package connstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/connstore"
)

// Each stored document is the connector's own text: quoting, block
// scalars and comments survive, so every value reads back as written.
func TestSplitKeepsTheTextAsWritten(t *testing.T) {
	src := `# the court and the clinic
connectors:
  # the county court
  - name: court          # PUT per workflow
    kind: soap
    subjects: ["hms.workflow.updated"]
    key: "123"
    mapping: {a: "1.0", b: "yes", g: "1e3", h: "0755"}
    soap:
      url: "http://court.example/{id}"
      version: "1.2"
      action: urn:schedule
      template: |
        <a>{{.x}}</a>
        multi: line

  - name: clinic
    kind: http
    subjects: [hms.scheduling.updated]
    http: {url: 'http://clinic.example/it''s/{id}', headers: {X-Flag: "true"}}
`
	names, docs, err := connstore.Split([]byte(src))
	require.NoError(t, err)
	require.Equal(t, []string{"court", "clinic"}, names)
	require.Equal(t, `connectors:
  # the county court
  - name: court # PUT per workflow
    kind: soap
    subjects: ["hms.workflow.updated"]
    key: "123"
    mapping: {a: "1.0", b: "yes", g: "1e3", h: "0755"}
    soap:
      url: "http://court.example/{id}"
      version: "1.2"
      action: urn:schedule
      template: |
        <a>{{.x}}</a>
        multi: line
`, string(docs["court"]))
	require.Equal(t, "connectors:\n  - name: clinic\n    kind: http\n    subjects: [hms.scheduling.updated]\n"+
		"    http: {url: 'http://clinic.example/it''s/{id}', headers: {X-Flag: \"true\"}}\n", string(docs["clinic"]))

	whole, err := config.Parse("f.yaml", []byte(src), nil, nil)
	require.NoError(t, err)
	for i, name := range names {
		c, err := connstore.Load(connstore.Entry{Name: name, Doc: docs[name]}, nil, nil)
		require.NoError(t, err)
		want := whole.Connectors[i]
		require.Equal(t, want.Mapping, c.Mapping)
		require.Equal(t, want.Key, c.Key)
		require.Equal(t, want.Subjects, c.Subjects)
	}
}

func TestSplitFlowStyle(t *testing.T) {
	names, docs, err := connstore.Split([]byte(`connectors: [{name: a, kind: http, mapping: {g: "1e3"}}, {name: b, kind: http}]`))
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, names)
	require.Equal(t, "connectors: [{name: a, kind: http, mapping: {g: \"1e3\"}}]\n", string(docs["a"]))
}
