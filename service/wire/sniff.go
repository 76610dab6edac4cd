package wire

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// settingsWait is how long a new HTTP/2 connection may stay silent after its
// preface before the server sends its own SETTINGS: some clients (grpc-java)
// send no request until they have the server's.
const settingsWait = 100 * time.Millisecond

// classify reads the start of c until it knows whether c is an HTTP/2
// connection whose first request is gRPC. It returns a connection that
// replays what was read. A connection that is not HTTP/2, or that breaks
// HTTP/2's framing, goes to net/http, which answers it as it would have.
func classify(c net.Conn, timeout time.Duration) (net.Conn, bool, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})

	rec := &recorder{r: c}
	if !readPreface(rec) {
		if len(rec.buf) == 0 {
			return nil, false, rec.err
		}
		return &replayConn{Conn: c, buf: rec.buf}, false, nil
	}

	// The client may wait for the server's SETTINGS before its first request.
	var (
		mu      sync.Mutex
		decided bool
		sent    bool
	)
	timer := time.AfterFunc(settingsWait, func() {
		mu.Lock()
		defer mu.Unlock()
		if decided {
			return
		}
		c.SetWriteDeadline(time.Now().Add(timeout))
		if err := http2.NewFramer(c, nil).WriteSettings(); err == nil {
			sent = true
		}
		c.SetWriteDeadline(time.Time{})
	})
	isGRPC, ok := firstRequestIsGRPC(rec)
	timer.Stop()
	mu.Lock()
	decided = true
	sentSettings := sent
	mu.Unlock()

	if rec.err != nil && len(rec.buf) == 0 {
		return nil, false, rec.err
	}
	rc := &replayConn{Conn: c, buf: rec.buf}
	if ok && isGRPC {
		// grpc-go ignores a SETTINGS acknowledgement it did not ask for.
		return rc, true, nil
	}
	if sentSettings {
		// net/http's HTTP/2 server fails a connection on an acknowledgement
		// of SETTINGS it did not send: drop the client's ack of ours.
		return &replayConn{Conn: c, buf: rec.buf, filter: &ackFilter{}}, false, nil
	}
	return rc, false, nil
}

// readPreface reads the HTTP/2 client preface, stopping at the first byte
// that differs from it (an HTTP/1 request may be shorter than the preface).
func readPreface(rec *recorder) bool {
	preface := []byte(http2.ClientPreface)
	var b [1]byte
	for i := range preface {
		if _, err := io.ReadFull(rec, b[:]); err != nil || b[0] != preface[i] {
			return false
		}
	}
	return true
}

// firstRequestIsGRPC reads HTTP/2 frames up to the first request's headers.
// ok is false when the framing broke first.
func firstRequestIsGRPC(rec *recorder) (isGRPC, ok bool) {
	fr := http2.NewFramer(nil, rec)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 1 << 20
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return false, false
		}
		mh, isHeaders := f.(*http2.MetaHeadersFrame)
		if !isHeaders {
			continue
		}
		var ct string
		for _, hf := range mh.RegularFields() {
			if hf.Name == "content-type" {
				ct = hf.Value
				break
			}
		}
		return strings.HasPrefix(ct, "application/grpc") && !strings.HasPrefix(ct, "application/grpc-web"), true
	}
}

// recorder keeps every byte read through it.
type recorder struct {
	r   io.Reader
	buf []byte
	err error
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}

// replayConn is a net.Conn whose reads first return buf. With a filter, what
// it reads passes through the filter (into out) first.
type replayConn struct {
	net.Conn
	buf    []byte
	filter *ackFilter
	out    []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.filter == nil && len(c.out) == 0 {
		if len(c.buf) > 0 {
			n := copy(p, c.buf)
			c.buf = c.buf[n:]
			return n, nil
		}
		return c.Conn.Read(p)
	}
	for len(c.out) == 0 {
		var chunk []byte
		if len(c.buf) > 0 {
			chunk, c.buf = c.buf, nil
		} else {
			n, err := c.Conn.Read(p)
			if n == 0 {
				return 0, err
			}
			chunk = p[:n]
		}
		if c.filter != nil {
			chunk = c.filter.apply(chunk)
			if c.filter.done() {
				c.filter = nil
			}
		}
		c.out = append(c.out, chunk...)
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// ackFilter removes the first empty SETTINGS frame with the ACK flag from an
// HTTP/2 client's byte stream (after the preface) and passes the rest.
type ackFilter struct {
	prefaceLeft int // bytes of the client preface still to pass
	started     bool
	head        []byte // a partial frame header
	skip        int    // payload bytes of the current frame still to pass
	dropped     bool
}

func (f *ackFilter) done() bool { return f.dropped }

// apply returns what passes of the next bytes of the stream, p; a frame
// header split across calls is held back until it is whole.
func (f *ackFilter) apply(p []byte) []byte {
	if !f.started {
		f.started, f.prefaceLeft = true, len(http2.ClientPreface)
	}
	var out bytes.Buffer
	out.Grow(len(p))
	for len(p) > 0 {
		switch {
		case f.dropped:
			out.Write(p)
			p = nil
		case f.prefaceLeft > 0:
			n := min(f.prefaceLeft, len(p))
			out.Write(p[:n])
			p, f.prefaceLeft = p[n:], f.prefaceLeft-n
		case f.skip > 0:
			n := min(f.skip, len(p))
			out.Write(p[:n])
			p, f.skip = p[n:], f.skip-n
		default:
			n := min(9-len(f.head), len(p))
			f.head = append(f.head, p[:n]...)
			p = p[n:]
			if len(f.head) < 9 {
				continue
			}
			length := int(f.head[0])<<16 | int(f.head[1])<<8 | int(f.head[2])
			typ, flags := http2.FrameType(f.head[3]), http2.Flags(f.head[4])
			if typ == http2.FrameSettings && flags.Has(http2.FlagSettingsAck) && length == 0 {
				f.dropped = true
			} else {
				out.Write(f.head)
				f.skip = length
			}
			f.head = f.head[:0]
		}
	}
	return out.Bytes()
}
