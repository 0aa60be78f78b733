package web_test

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"strings"
	"testing"

	"gatewayd/web"
)

// requireBuilt skips when the npm build has not run, except under
// GATEWAYD_STRICT where `make test` must have built it.
func requireBuilt(t *testing.T) {
	t.Helper()
	if web.Built() {
		return
	}
	msg := "dashboard not built: run `make test` (it runs npm ci and the esbuild build in web/)"
	if os.Getenv("GATEWAYD_STRICT") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func TestBuiltAssetsAreComplete(t *testing.T) {
	requireBuilt(t)
	page, err := fs.ReadFile(web.FS(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{`src="app.js"`, `href="app.css"`} {
		if !bytes.Contains(page, []byte(ref)) {
			t.Errorf("index.html does not reference %s", ref)
		}
	}
	for _, name := range []string{"app.js", "app.css"} {
		b, err := fs.ReadFile(web.FS(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}

// The dashboard promises at most 100 KB of JavaScript, gzipped, in total.
func TestJavaScriptBudget(t *testing.T) {
	requireBuilt(t)
	var total int
	err := fs.WalkDir(web.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") {
			return err
		}
		b, err := fs.ReadFile(web.FS(), path)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		total += buf.Len()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 100*1024 {
		t.Fatalf("JavaScript is %d bytes gzipped, over the 100 KB budget", total)
	}
	t.Logf("JavaScript: %d bytes gzipped", total)
}
