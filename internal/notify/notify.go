// Package notify delivers gatehouse events to webhooks: JSON bodies with a
// Slack-compatible "text" field, sent in the background so that no request
// path waits on a slow receiver. Delivery is best effort with a few
// retries; the recording, not the webhook, is the record.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Webhook is one receiver and the events it wants; no events means all.
type Webhook struct {
	URL    string
	Events []string
}

// Event is what a webhook receives.
type Event struct {
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
	// Text is a one-line summary, the field Slack incoming webhooks show.
	Text string `json:"text"`
	// URL links to the object in the console, when a public URL is set.
	URL  string `json:"url,omitempty"`
	Data any    `json:"data,omitempty"`
}

// Notifier queues events and posts them to webhooks. Build with New; Close
// stops it after sending what is queued.
type Notifier struct {
	hooks  []Webhook
	client *http.Client
	log    *slog.Logger
	queue  chan Event
	wg     sync.WaitGroup
	once   sync.Once
}

// queueLen bounds the events waiting for delivery; beyond it new events
// are dropped with a log line rather than blocking the caller.
const queueLen = 1024

// New starts a notifier. client nil means a client with a 10 s timeout.
func New(hooks []Webhook, client *http.Client, log *slog.Logger) *Notifier {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{hooks: hooks, client: client, log: log, queue: make(chan Event, queueLen)}
	n.wg.Add(1)
	go n.run()
	return n
}

// Send queues e for every webhook that wants it. It never blocks.
func (n *Notifier) Send(e Event) {
	if len(n.hooks) == 0 {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	select {
	case n.queue <- e:
	default:
		n.log.Warn("webhook queue full; event dropped", "event", e.Event)
	}
}

// Close delivers what is queued and stops.
func (n *Notifier) Close() {
	n.once.Do(func() { close(n.queue) })
	n.wg.Wait()
}

func (n *Notifier) run() {
	defer n.wg.Done()
	for e := range n.queue {
		body, err := json.Marshal(e)
		if err != nil {
			n.log.Error("encode webhook event", "event", e.Event, "err", err)
			continue
		}
		for _, h := range n.hooks {
			if len(h.Events) > 0 && !slices.Contains(h.Events, e.Event) {
				continue
			}
			if err := n.post(h.URL, body); err != nil {
				n.log.Warn("webhook delivery failed", "event", e.Event, "err", err)
			}
		}
	}
}

// post sends body, retrying twice on failure. Errors never include the
// URL, which may carry a secret path.
func (n *Notifier) post(url string, body []byte) error {
	var last error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			cancel()
			return fmt.Errorf("build request")
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := n.client.Do(req)
		cancel()
		if err != nil {
			last = fmt.Errorf("post: connection failed")
			continue
		}
		resp.Body.Close()
		if resp.StatusCode < 300 {
			return nil
		}
		last = fmt.Errorf("post: status %d", resp.StatusCode)
	}
	return last
}
