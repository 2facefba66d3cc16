package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
)

//go:embed static/index.html
var indexHTML []byte

// pageCSP allows only the page's own inline script (by hash), its inline
// styles and requests to this server.
var pageCSP = func() string {
	script := indexHTML
	if i := bytes.Index(script, []byte("<script>")); i >= 0 {
		script = script[i+len("<script>"):]
		if j := bytes.Index(script, []byte("</script>")); j >= 0 {
			script = script[:j]
		}
	}
	sum := sha256.Sum256(script)
	return "default-src 'none'; connect-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; " +
		"script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}()

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	if _, err := w.Write(indexHTML); err != nil {
		s.log.Debug("web: write page", "err", err)
	}
}
