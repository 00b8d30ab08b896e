package notify

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

func TestWebhooksReceiveWantedEvents(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]Event{}
	handler := func(name string, status *int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", r.Header.Get("Content-Type"))
			}
			var e Event
			if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
				t.Errorf("decode: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if *status != 0 {
				s := *status
				*status = 0 // fail once, then succeed
				w.WriteHeader(s)
				return
			}
			got[name] = append(got[name], e)
		}
	}
	allStatus, reviewStatus := 0, http.StatusBadGateway
	all := httptest.NewServer(handler("all", &allStatus))
	defer all.Close()
	reviews := httptest.NewServer(handler("reviews", &reviewStatus))
	defer reviews.Close()

	n := New([]Webhook{{URL: all.URL}, {URL: reviews.URL, Events: []string{"review.created"}}}, nil, nil)
	n.Send(Event{Event: "review.created", Text: "gatehouse: review r_1 waits for approval", URL: "https://gw/reviews/r_1"})
	n.Send(Event{Event: "session.blocked", Text: "blocked"})
	n.Close()

	if len(got["all"]) != 2 || got["all"][0].Event != "review.created" || got["all"][1].Event != "session.blocked" {
		t.Errorf("all: got %+v, want both events in order", got["all"])
	}
	if len(got["reviews"]) != 1 || got["reviews"][0].Text != "gatehouse: review r_1 waits for approval" || got["reviews"][0].URL != "https://gw/reviews/r_1" {
		t.Errorf("reviews: got %+v, want the review event, delivered after one retry", got["reviews"])
	}
}

func TestSendNeverBlocks(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	n := New([]Webhook{{URL: srv.URL}}, nil, nil)
	for range queueLen + 10 {
		n.Send(Event{Event: "x"})
	}
	close(block)
	n.Close()
}
