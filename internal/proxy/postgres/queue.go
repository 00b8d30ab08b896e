package postgres

import "time"

// Kinds of outstanding requests in the FIFO: every client message the
// server answers, so each answer (and each error) is matched to the message
// it belongs to.
const (
	kindQuery    = 'Q'
	kindExecute  = 'E'
	kindSync     = 'S'
	kindFunction = 'F'
	kindParse    = 'P'
	kindBind     = 'B'
	kindDescribe = 'D'
	kindClose    = 'C'
)

type pending struct {
	kind   byte
	seq    uint64
	start  time.Time
	denial *Denial // the statement was denied and its stand-in forwarded
	text   string  // the statement text, kept when masking needs it for COPY
	// ofPortal marks a Describe of a portal (not of a statement).
	ofPortal bool
}

func (r *relay) push(p pending) {
	r.mu.Lock()
	r.queue = append(r.queue, p)
	r.mu.Unlock()
}

// front returns the oldest outstanding request, if any.
func (r *relay) front() (pending, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.head == len(r.queue) {
		return pending{}, false
	}
	return r.queue[r.head], true
}

func (r *relay) setFrontStart(t time.Time) {
	r.mu.Lock()
	if r.head < len(r.queue) {
		r.queue[r.head].start = t
	}
	r.mu.Unlock()
}

// pop drops the oldest outstanding request.
func (r *relay) pop() {
	r.mu.Lock()
	r.popLocked()
	r.mu.Unlock()
}

func (r *relay) popLocked() {
	if r.head < len(r.queue) {
		r.queue[r.head] = pending{}
		r.head++
	}
	switch {
	case r.head == len(r.queue):
		r.queue, r.head = r.queue[:0], 0
	case r.head >= 1024 && 2*r.head >= len(r.queue):
		// A client that keeps a pipeline full never lets the FIFO drain:
		// move the live part down instead of growing forever.
		n := copy(r.queue, r.queue[r.head:])
		r.queue, r.head = r.queue[:n], 0
	}
}

// readyForQuery retires the requests its ReadyForQuery answers: up to the
// first Query, Sync or FunctionCall, or, after an error in an extended
// batch, up to its Sync (the server skipped everything before it).
func (r *relay) readyForQuery() {
	r.mu.Lock()
	for r.head < len(r.queue) {
		k := r.queue[r.head].kind
		r.popLocked()
		if k == kindSync || (!r.skipping && (k == kindQuery || k == kindFunction)) {
			break
		}
	}
	r.mu.Unlock()
	r.skipping = false
	r.rows = 0
}
