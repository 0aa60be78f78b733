// Package web holds the dashboard: its front-end sources (src/, built with
// npm and esbuild into dist/) and the Go package that embeds the built
// assets, so the binary serves the dashboard with no internet access.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// FS returns the built dashboard (index.html, app.js, app.css) rooted at the
// dist folder. It is empty but for a placeholder until `make` has run the
// npm build.
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub only fails on an invalid path, and "dist" is a constant.
		panic(err)
	}
	return sub
}

// Built reports whether FS holds a built dashboard.
func Built() bool {
	_, err := fs.Stat(FS(), "index.html")
	return err == nil
}
