package eio

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// handshakePolling opens a polling session and answers the handshake GET
// with the open packet (and anything the open callback queued).
func (s *Server) handshakePolling(w http.ResponseWriter, r *http.Request) {
	ss := s.newSession(r, transportPolling, nil, nil)
	ss.mu.Lock()
	if ss.state == stateClosing && ss.linger {
		// Closed by the open callback: this GET carries the close.
		ss.linger = false
		body, compress := ss.takePollBodyLocked(true)
		ss.mu.Unlock()
		ss.finish()
		s.writePoll(w, r, pollResult{status: http.StatusOK, body: body, compress: compress})
		return
	}
	if ss.state == stateClosed {
		// The server closed while this handshake ran.
		ss.mu.Unlock()
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	body, compress := ss.takePollBodyLocked(false)
	ss.mu.Unlock()
	s.writePoll(w, r, pollResult{status: http.StatusOK, body: body, compress: compress})
}

// servePollGet answers a polling GET: at once with what is queued, or when
// something is queued, or with a noop or close packet when the session
// upgrades or closes.
func (s *Session) servePollGet(w http.ResponseWriter, r *http.Request) {
	srv := s.srv
	s.mu.Lock()
	switch {
	case s.state == stateClosed:
		tomb := s.tombstone
		s.tombstone = false
		s.mu.Unlock()
		if tomb {
			// A GET racing the client's own close packet: end it cleanly.
			srv.remove(s)
			srv.writePoll(w, r, pollResult{status: http.StatusOK, body: []byte{typeNoop}})
			return
		}
		srv.refuse(w, http.StatusBadRequest, codeUnknownSID)
		return
	case s.transport != transportPolling:
		s.mu.Unlock()
		srv.refuse(w, http.StatusBadRequest, codeBadRequest)
		return
	case s.poll != nil:
		// Two GETs at once: the session is broken; close answers the first.
		s.mu.Unlock()
		s.close(ReasonTransportError, closeGraceful)
		srv.refuse(w, http.StatusBadRequest, codeBadRequest)
		return
	case s.state == stateClosing:
		if !s.linger {
			s.mu.Unlock()
			srv.refuse(w, http.StatusBadRequest, codeUnknownSID)
			return
		}
		s.linger = false
		body, compress := s.takePollBodyLocked(true)
		s.mu.Unlock()
		s.finish()
		srv.writePoll(w, r, pollResult{status: http.StatusOK, body: body, compress: compress})
		return
	case len(s.queue) > 0 && !s.probed:
		body, compress := s.takePollBodyLocked(false)
		s.mu.Unlock()
		srv.writePoll(w, r, pollResult{status: http.StatusOK, body: body, compress: compress})
		return
	}
	wt := &pollWaiter{ch: make(chan pollResult, 1)}
	if s.probed {
		// The client's "5" may be in flight on the websocket; give it a
		// moment so the answer matches what the client did first.
		wt.duringUpgrade = true
		wt.timer = time.AfterFunc(upgradeGetWait, func() {
			s.mu.Lock()
			if s.poll == wt {
				s.answerPollLocked(pollResult{status: http.StatusOK, body: []byte{typeNoop}})
			}
			s.mu.Unlock()
		})
	}
	s.poll = wt
	s.mu.Unlock()

	select {
	case res := <-wt.ch:
		srv.writePoll(w, r, res)
	case <-r.Context().Done():
		s.mu.Lock()
		mine := s.poll == wt
		if mine {
			s.poll = nil
			if wt.timer != nil {
				wt.timer.Stop()
			}
		}
		s.mu.Unlock()
		if mine {
			// The reference server treats a poll closed by the client as a
			// transport error.
			s.close(ReasonTransportError, closeAbrupt)
		}
	}
}

// servePollPost decodes a polling POST body and processes its packets.
func (s *Session) servePollPost(w http.ResponseWriter, r *http.Request) {
	srv := s.srv
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/octet-stream") {
		// Engine.IO v4 polling never carries raw binary.
		s.close(ReasonTransportError, closeGraceful)
		srv.refuse(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	s.mu.Lock()
	switch {
	case s.state != stateOpen:
		s.mu.Unlock()
		srv.refuse(w, http.StatusBadRequest, codeUnknownSID)
		return
	case s.transport != transportPolling:
		s.mu.Unlock()
		srv.refuse(w, http.StatusBadRequest, codeBadRequest)
		return
	case s.posting:
		s.mu.Unlock()
		s.close(ReasonTransportError, closeGraceful)
		srv.refuse(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	s.posting = true
	s.postRC = http.NewResponseController(w)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.postRC = nil
		s.mu.Unlock()
	}()

	max := srv.opts.MaxPayload
	if r.ContentLength > max {
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		s.close(ReasonTransportError, closeAbrupt)
		srv.refuse(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	if int64(len(body)) > max {
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		return
	}
	pkts, err := decodePayload(body)
	if err != nil {
		s.close(ReasonParseError, closeGraceful)
		srv.refuse(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	for _, p := range pkts {
		if !s.onPacket(p) {
			break
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

// takePollBodyLocked removes queued packets and encodes them as one payload
// of at most MaxPayload bytes (but at least one packet). With closing it
// takes everything and appends a close packet.
func (s *Session) takePollBodyLocked(closing bool) ([]byte, bool) {
	limit := int(s.srv.opts.MaxPayload)
	size, n := 0, 0
	for i := range s.queue {
		ps := pollSize(&s.queue[i])
		if !closing && n > 0 && size+1+ps > limit {
			break
		}
		if n > 0 {
			size++
		}
		size += ps
		n++
	}
	if closing {
		size += 2
	}
	body := make([]byte, 0, size)
	compress := false
	for i := range n {
		p := &s.queue[i]
		if i > 0 {
			body = append(body, recordSep)
		}
		body = appendPollPacket(body, p)
		compress = compress || p.compress
		s.queued -= p.size()
	}
	if closing {
		if n > 0 {
			body = append(body, recordSep)
		}
		body = append(body, typeClose)
	}
	rest := copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	if rest == 0 {
		s.queue = nil // hold no memory while idle
	}
	return body, compress
}

// answerPollLocked hands res to the waiting GET.
func (s *Session) answerPollLocked(res pollResult) {
	wt := s.poll
	s.poll = nil
	if wt.timer != nil {
		wt.timer.Stop()
	}
	wt.ch <- res
}

var (
	gzipPool  sync.Pool
	flatePool sync.Pool
)

// writePoll writes a polling GET response, compressed when the packets ask
// for it, the body is over the threshold and the client accepts it.
func (s *Server) writePoll(w http.ResponseWriter, r *http.Request, res pollResult) {
	if res.status != http.StatusOK {
		s.refuse(w, res.status, codeBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	body := res.body
	if t := s.opts.HTTPCompressionThreshold; res.compress && t >= 0 && len(body) > t {
		if enc := acceptedEncoding(r.Header); enc != "" {
			var buf bytes.Buffer
			buf.Grow(len(body) / 2)
			if enc == "gzip" {
				zw, _ := gzipPool.Get().(*gzip.Writer)
				if zw == nil {
					zw = gzip.NewWriter(&buf)
				} else {
					zw.Reset(&buf)
				}
				_, _ = zw.Write(body)
				_ = zw.Close()
				gzipPool.Put(zw)
			} else {
				fw, _ := flatePool.Get().(*flate.Writer)
				if fw == nil {
					fw, _ = flate.NewWriter(&buf, flate.DefaultCompression)
				} else {
					fw.Reset(&buf)
				}
				_, _ = fw.Write(body)
				_ = fw.Close()
				flatePool.Put(fw)
			}
			body = buf.Bytes()
			h.Set("Content-Encoding", enc)
			h.Add("Vary", "Accept-Encoding")
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// acceptedEncoding picks gzip or deflate from Accept-Encoding, gzip first;
// "" when neither is accepted.
func acceptedEncoding(h http.Header) string {
	gz, df := false, false
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					continue
				}
			}
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "gzip", "*":
				gz = true
			case "deflate":
				df = true
			}
		}
	}
	switch {
	case gz:
		return "gzip"
	case df:
		return "deflate"
	}
	return ""
}
