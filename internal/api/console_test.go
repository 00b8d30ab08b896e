package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
)

// TestConsoleMount: with a console, /console/ goes to it and a browser
// asking for / is sent there, while API clients keep their JSON 404s.
func TestConsoleMount(t *testing.T) {
	e := apitest.Start(t)
	e.Server.Console = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(e.Server.Handler())
	defer srv.Close()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, accept string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	tests := []struct {
		name, path, accept string
		status             int
		location, ctype    string
	}{
		{"browser at the root", "/", "text/html,application/xhtml+xml,*/*;q=0.8", http.StatusFound, "/console/", ""},
		{"API client at the root", "/", "application/json", http.StatusNotFound, "", "application/json"},
		{"no Accept at the root", "/", "", http.StatusNotFound, "", "application/json"},
		{"browser elsewhere", "/nope", "text/html", http.StatusNotFound, "", "application/json"},
		{"console", "/console/sessions", "text/html", http.StatusTeapot, "", "text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(tt.path, tt.accept)
			if resp.StatusCode != tt.status {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("location: got %q, want %q", got, tt.location)
			}
			if got := resp.Header.Get("Content-Type"); tt.ctype != "" && got != tt.ctype {
				t.Errorf("content type: got %q, want %q", got, tt.ctype)
			}
		})
	}

	// Without a console, the root stays a JSON 404 for browsers too.
	e.Server.Console = nil
	plain := httptest.NewServer(e.Server.Handler())
	defer plain.Close()
	req, _ := http.NewRequest(http.MethodGet, plain.URL+"/", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("root without a console: got %d, want 404", resp.StatusCode)
	}
}
