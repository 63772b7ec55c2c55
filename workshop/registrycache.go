package workshop

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// registryCache remembers, for a short while, the registry's answers to
// the board's checks: the /v2/ challenge, the token for a set of
// credentials and a scope, and a manifest asked for with that token. A
// room's pod checks ask the same questions with the same credentials over
// and over; an attendee who changes their pull secret brings other
// credentials, whose questions are asked afresh. What is kept is keyed by
// method, URL, Authorization and Accept, and only reads are kept.
type registryCache struct {
	rt  http.RoundTripper
	now func() time.Time

	mu      sync.Mutex
	answers map[string]cachedAnswer
}

type cachedAnswer struct {
	status int
	header http.Header
	body   []byte
	// length is the answer's Content-Length: a HEAD's says what a GET
	// would bring.
	length int64
	until  time.Time
}

// How long answers are kept: the challenge and tokens (good for five
// minutes) a minute, a manifest's answer a few seconds — a tag pushed
// again is seen that much later, a changed pod at once.
const (
	cacheTokens    = time.Minute
	cacheManifests = 5 * time.Second
	cacheMax       = 20000
)

func newRegistryCache(rt http.RoundTripper) *registryCache {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &registryCache{rt: rt, now: time.Now, answers: map[string]cachedAnswer{}}
}

// ttl is how long an answer to r may be kept, 0 for not at all.
func ttl(r *http.Request, status int) time.Duration {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return 0
	}
	p := r.URL.Path
	switch {
	case p == "/v2/" && (status == http.StatusOK || status == http.StatusUnauthorized):
		return cacheTokens
	case strings.HasSuffix(p, "/token") && status == http.StatusOK:
		return cacheTokens
	case strings.Contains(p, "/manifests/") && (status == http.StatusOK || status == http.StatusNotFound || status == http.StatusUnauthorized):
		return cacheManifests
	}
	return 0
}

func (c *registryCache) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return c.rt.RoundTrip(r)
	}
	key := r.Method + " " + r.URL.String() + "\x00" + r.Header.Get("Authorization") + "\x00" + r.Header.Get("Accept")
	now := c.now()
	c.mu.Lock()
	a, ok := c.answers[key]
	c.mu.Unlock()
	if ok && now.Before(a.until) {
		return a.response(r), nil
	}
	resp, err := c.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	d := ttl(r, resp.StatusCode)
	if d == 0 || resp.ContentLength > 1<<20 {
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	a = cachedAnswer{status: resp.StatusCode, header: resp.Header.Clone(), body: body, length: int64(len(body)), until: now.Add(d)}
	if r.Method == http.MethodHead {
		a.length = resp.ContentLength
	}
	if len(body) <= 1<<20 {
		c.mu.Lock()
		if len(c.answers) >= cacheMax {
			clear(c.answers)
		}
		c.answers[key] = a
		c.mu.Unlock()
	}
	return a.response(r), nil
}

func (a cachedAnswer) response(r *http.Request) *http.Response {
	return &http.Response{
		Status: http.StatusText(a.status), StatusCode: a.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: a.header.Clone(), Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: a.length, Request: r,
	}
}
