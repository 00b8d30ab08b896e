package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Page sizes: how much one page asks the API for.
const (
	sessionsShown = 200
	reviewsShown  = 100
	auditShown    = 100
	// eventsShown is one page of a session's timeline; smallEvents the
	// retry when those events' kept rows make the answer too large.
	eventsShown = 200
	smallEvents = 10
)

// validID reports whether id can be a session or review ID; anything else
// is not looked up at all.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i, r := range id {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '_' && r != '-' && r != '.') {
			return false
		}
	}
	return true
}

type sessionsData struct {
	frame
	Sessions                     []store.Session
	Identity, Connection, Status string
	Limit                        int
}

func (c *Console) sessionsPage(w http.ResponseWriter, r *http.Request, s *signedIn) {
	q := r.URL.Query()
	d := sessionsData{frame: s.frame("Sessions", "sessions"), Identity: q.Get("identity"), Connection: q.Get("connection"), Status: q.Get("status"), Limit: sessionsShown}
	v := url.Values{"limit": {strconv.Itoa(sessionsShown)}}
	for k, x := range map[string]string{"identity": d.Identity, "connection": d.Connection, "status": d.Status} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if err := c.call(r, s.token, http.MethodGet, "/api/v1/sessions?"+v.Encode(), nil, &d.Sessions); err != nil {
		c.apiErrorPage(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "sessions", d)
}

type sessionData struct {
	frame
	Session  store.Session
	Verify   *api.VerifyResult
	VerifyIn string // why verification is not shown
	Events   []eventView
	After    uint64 // the page starts after this event
	Next     uint64 // the next page starts after this event; 0 when none
}

func (c *Console) sessionPage(w http.ResponseWriter, r *http.Request, s *signedIn) {
	id := r.PathValue("id")
	if !validID(id) {
		c.errorPage(w, r, s, http.StatusNotFound, "Session not found.")
		return
	}
	d := sessionData{frame: s.frame("Session "+id, "sessions")}
	base := "/api/v1/sessions/" + url.PathEscape(id)
	if err := c.call(r, s.token, http.MethodGet, base, nil, &d.Session); err != nil {
		c.apiErrorPage(w, r, s, err)
		return
	}
	if v := r.URL.Query().Get("after"); v != "" {
		after, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			c.errorPage(w, r, s, http.StatusBadRequest, "The page of events asked for is not a number.")
			return
		}
		d.After = after
	}
	var evs []store.Event
	limit := eventsShown
	err := c.call(r, s.token, http.MethodGet, base+"/events?after="+strconv.FormatUint(d.After, 10)+"&limit="+strconv.Itoa(limit), nil, &evs)
	if errors.Is(err, errTooLarge) {
		limit = smallEvents
		err = c.call(r, s.token, http.MethodGet, base+"/events?after="+strconv.FormatUint(d.After, 10)+"&limit="+strconv.Itoa(limit), nil, &evs)
	}
	if err != nil {
		c.apiErrorPage(w, r, s, err)
		return
	}
	if len(evs) == limit {
		d.Next = evs[len(evs)-1].Seq
	}
	d.Events = timeline(evs, d.Session.StartedAt)
	var vr api.VerifyResult
	err = c.call(r, s.token, http.MethodGet, base+"/verify", nil, &vr)
	var ae *apiError
	switch {
	case err == nil:
		d.Verify = &vr
	case errors.As(err, &ae):
		d.VerifyIn = ae.Message
	default:
		c.apiErrorPage(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "session", d)
}

type reviewsData struct {
	frame
	Pending, Decided []api.ReviewInfo
}

// reviewsPage lists pending reviews first, then the latest decided ones.
func (c *Console) reviewsPage(w http.ResponseWriter, r *http.Request, s *signedIn) {
	d := reviewsData{frame: s.frame("Reviews", "reviews")}
	n := strconv.Itoa(reviewsShown)
	if err := c.call(r, s.token, http.MethodGet, "/api/v1/reviews?status=pending&limit="+n, nil, &d.Pending); err != nil {
		c.apiErrorPage(w, r, s, err)
		return
	}
	var all []api.ReviewInfo
	if err := c.call(r, s.token, http.MethodGet, "/api/v1/reviews?limit="+n, nil, &all); err != nil {
		c.apiErrorPage(w, r, s, err)
		return
	}
	for _, rv := range all {
		if rv.Status != store.ReviewPending {
			d.Decided = append(d.Decided, rv)
		}
	}
	c.render(w, r, http.StatusOK, "reviews", d)
}

type reviewData struct {
	frame
	Review api.ReviewInfo
	// Refused is the API's answer to a vote it refused.
	Refused string
	// Voted is "approved" or "rejected" right after a vote.
	Voted string
}

func (c *Console) reviewPage(w http.ResponseWriter, r *http.Request, s *signedIn) {
	d := reviewData{Voted: r.URL.Query().Get("voted")}
	if d.Voted != "approved" && d.Voted != "rejected" {
		d.Voted = ""
	}
	c.showReview(w, r, s, http.StatusOK, d)
}

func (c *Console) showReview(w http.ResponseWriter, r *http.Request, s *signedIn, status int, d reviewData) {
	id := r.PathValue("id")
	if !validID(id) {
		c.errorPage(w, r, s, http.StatusNotFound, "Review not found.")
		return
	}
	d.frame = s.frame("Review "+id, "reviews")
	if err := c.call(r, s.token, http.MethodGet, "/api/v1/reviews/"+url.PathEscape(id), nil, &d.Review); err != nil {
		c.apiErrorPage(w, r, s, err)
		return
	}
	c.render(w, r, status, "review", d)
}

// vote approves or rejects a review through the API; a refusal is shown
// on the review's page with the API's status and message.
func (c *Console) vote(approve bool) func(w http.ResponseWriter, r *http.Request, s *signedIn) {
	action, done := "reject", "rejected"
	if approve {
		action, done = "approve", "approved"
	}
	return func(w http.ResponseWriter, r *http.Request, s *signedIn) {
		if !c.checkCSRF(w, r, s) {
			return
		}
		id := r.PathValue("id")
		if !validID(id) {
			c.errorPage(w, r, s, http.StatusNotFound, "Review not found.")
			return
		}
		err := c.call(r, s.token, http.MethodPost, "/api/v1/reviews/"+url.PathEscape(id)+"/"+action,
			api.VoteRequest{Reason: r.PostFormValue("reason")}, nil)
		var ae *apiError
		switch {
		case err == nil:
			http.Redirect(w, r, "/console/reviews/"+url.PathEscape(id)+"?voted="+done, http.StatusSeeOther)
		case errors.As(err, &ae) && ae.Status != http.StatusNotFound && ae.Status < 500:
			c.showReview(w, r, s, ae.Status, reviewData{Refused: capitalize(ae.Message) + "."})
		default:
			c.apiErrorPage(w, r, s, err)
		}
	}
}

type auditData struct {
	frame
	Events         []store.AuditEvent
	Identity, Type string
	Next           int64 // the next page's "before"; 0 when none
}

// auditPage lists audit events, newest first, for admins; the API
// refuses anyone else.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *signedIn) {
	q := r.URL.Query()
	d := auditData{frame: s.frame("Audit events", "audit"), Identity: q.Get("identity"), Type: q.Get("type")}
	v := url.Values{"limit": {strconv.Itoa(auditShown)}}
	for k, x := range map[string]string{"identity": d.Identity, "type": d.Type, "before": q.Get("before")} {
		if x != "" {
			v.Set(k, x)
		}
	}
	err := c.call(r, s.token, http.MethodGet, "/api/v1/audit/events?"+v.Encode(), nil, &d.Events)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusForbidden {
		c.errorPage(w, r, s, http.StatusForbidden, "Audit events are for admins only, and the gateway says: "+ae.Message+".")
		return
	}
	if err != nil {
		c.apiErrorPage(w, r, s, err)
		return
	}
	if len(d.Events) == auditShown {
		d.Next = d.Events[len(d.Events)-1].ID
	}
	c.render(w, r, http.StatusOK, "audit", d)
}
