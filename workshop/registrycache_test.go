package workshop

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestRegistryCache: reads are answered from memory for the same
// credentials, asked again with others and after their time; writes are
// never kept; a HEAD keeps its Content-Length.
func TestRegistryCache(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		switch r.URL.Path {
		case "/v2/":
			w.WriteHeader(http.StatusUnauthorized)
		case "/token":
			io.WriteString(w, `{"token": "t-`+r.Header.Get("Authorization")+`"}`)
		default:
			w.Header().Set("Content-Length", "1234")
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	c := newRegistryCache(http.DefaultTransport)
	now := time.Now()
	c.now = func() time.Time { return now }
	do := func(method, path, auth string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, step := range []struct {
		method, path, auth string
		asked              int32
	}{
		{"GET", "/v2/", "", 1},
		{"GET", "/v2/", "", 1},
		{"GET", "/token?scope=x", "Basic ana", 2},
		{"GET", "/token?scope=x", "Basic ana", 2},
		{"GET", "/token?scope=x", "Basic ana-new-password", 3},
		{"HEAD", "/v2/w1-ana/apps/x/manifests/1.0", "Bearer t", 4},
		{"HEAD", "/v2/w1-ana/apps/x/manifests/1.0", "Bearer t", 4},
		{"PUT", "/v2/w1-ana/apps/x/manifests/1.0", "Bearer t", 5},
		{"PUT", "/v2/w1-ana/apps/x/manifests/1.0", "Bearer t", 6},
	} {
		resp := do(step.method, step.path, step.auth)
		if asked.Load() != step.asked {
			t.Fatalf("%s %s (%s): the registry was asked %d times, want %d", step.method, step.path, step.auth, asked.Load(), step.asked)
		}
		if step.method == "HEAD" && resp.ContentLength != 1234 {
			t.Errorf("HEAD's Content-Length: %d", resp.ContentLength)
		}
	}
	now = now.Add(cacheManifests + time.Second)
	do("HEAD", "/v2/w1-ana/apps/x/manifests/1.0", "Bearer t")
	if asked.Load() != 7 {
		t.Errorf("a manifest's answer is kept past its time")
	}
	do("GET", "/token?scope=x", "Basic ana")
	if asked.Load() != 7 {
		t.Errorf("a token is asked for again within its minute")
	}
}
