// Package library ships gatehouse's ready-made caveats, one SpiceDB schema file each.
package library

import (
	"embed"
	"io/fs"
	"slices"
	"strings"
)

// files holds the caveat definitions, one `<name>.zed` file per caveat, each
// a `//` doc comment followed by the caveat in plain SpiceDB schema syntax.
//
//go:embed *.zed
var files embed.FS

const ext = ".zed"

// Names returns the names of the library's caveats, sorted, in a fresh slice.
func Names() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		// The embedded root always exists; ReadDir cannot fail on it.
		panic("library: read embedded caveats: " + err.Error())
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ext); ok && !e.IsDir() {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Source returns the schema text of the named caveat, its doc comment
// included, and whether the library has it.
func Source(name string) (string, bool) {
	if !slices.Contains(Names(), name) {
		return "", false
	}
	b, err := files.ReadFile(name + ext)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// All returns every caveat of the library, in Names order and separated by
// blank lines, ready to paste into a schema.
func All() string {
	var sb strings.Builder
	for i, name := range Names() {
		if i > 0 {
			sb.WriteByte('\n')
		}
		src, _ := Source(name)
		sb.WriteString(src)
		if !strings.HasSuffix(src, "\n") {
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}
