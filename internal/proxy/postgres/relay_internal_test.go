package postgres

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

// nopRecorder records nothing and allocates nothing.
type nopRecorder struct{ statements, results int }

func (n *nopRecorder) Statement(*Statement) error { n.statements++; return nil }
func (n *nopRecorder) Result(*Result) error       { n.results++; return nil }

// encode appends the wire form of msgs.
func encode(tb testing.TB, msgs ...interface{ Encode([]byte) ([]byte, error) }) []byte {
	tb.Helper()
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// selectStream is a target's answer to a simple SELECT of n rows.
func selectStream(tb testing.TB, n int) []byte {
	b := encode(tb, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("v"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}})
	row := encode(tb, &pgproto3.DataRow{Values: [][]byte{[]byte("some row value of moderate length")}})
	for range n {
		b = append(b, row...)
	}
	return append(b, encode(tb, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1000")}, &pgproto3.ReadyForQuery{TxStatus: 'I'})...)
}

// testRelay is a relay whose directions read from memory and write to
// io.Discard.
func testRelay(rec Recorder) *relay {
	r := &relay{
		rec:     rec,
		ctx:     context.Background(),
		tw:      bufio.NewWriterSize(io.Discard, bufSize),
		cw:      bufio.NewWriterSize(io.Discard, bufSize),
		stmts:   map[string]string{},
		portals: map[string]*portal{},
		queue:   make([]pending, 0, 64),
	}
	r.cr.r = bufio.NewReaderSize(nil, bufSize)
	r.tr.r = bufio.NewReaderSize(nil, bufSize)
	r.noticeFn = r.notice
	return r
}

// drainTarget relays every message of the target stream in br.
func drainTarget(tb testing.TB, r *relay, br *bytes.Reader) {
	for {
		if !r.tr.complete() {
			r.cw.Flush()
		}
		if err := r.tr.next(); err == io.EOF {
			return
		} else if err != nil {
			tb.Fatal(err)
		}
		if err := r.targetMessage(); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestRelayDataRowsDoNotAllocate(t *testing.T) {
	tests := []struct {
		name string
		rows int
	}{
		{name: "10 rows", rows: 10},
		{name: "10000 rows", rows: 10000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &nopRecorder{}
			r := testRelay(rec)
			stream := selectStream(t, tt.rows)
			br := bytes.NewReader(stream)
			run := func() {
				br.Reset(stream)
				r.tr.r.Reset(br)
				r.push(pending{kind: kindQuery, seq: 1})
				drainTarget(t, r, br)
			}
			run() // warm up: the tag string is made once
			if got := testing.AllocsPerRun(20, run); got != 0 {
				t.Errorf("allocations per %d-row result: got %v, want 0", tt.rows, got)
			}
			if rec.results != 22 { // AllocsPerRun runs once more to warm up
				t.Errorf("results: got %d, want 22", rec.results)
			}
		})
	}
}

func TestRelayCopyDataDoesNotAllocate(t *testing.T) {
	r := testRelay(&nopRecorder{})
	var stream []byte
	for range 1000 {
		stream = append(stream, encode(t, &pgproto3.CopyData{Data: []byte("1\tsome text\n")})...)
	}
	stream = append(stream, encode(t, &pgproto3.CopyDone{})...)
	br := bytes.NewReader(stream)
	run := func() {
		br.Reset(stream)
		r.cr.r.Reset(br)
		for {
			if err := r.cr.next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if err := r.clientMessage(); err != nil {
				t.Fatal(err)
			}
		}
		r.tw.Flush()
	}
	if got := testing.AllocsPerRun(20, run); got != 0 {
		t.Errorf("allocations per 1000 CopyData: got %v, want 0", got)
	}
}

// TestRelayAllowedExecuteDoesNotAllocate: a Check that allows costs the
// client direction no allocation.
func TestRelayAllowedExecuteDoesNotAllocate(t *testing.T) {
	var calls int
	r := testRelay(&nopRecorder{})
	r.check = func(ctx context.Context, s *Statement, notice func(string) error) *Denial {
		calls++
		return nil
	}
	var stream []byte
	for range 100 {
		stream = append(stream, encode(t, &pgproto3.Execute{}, &pgproto3.Sync{})...)
	}
	br := bytes.NewReader(stream)
	run := func() {
		br.Reset(stream)
		r.cr.r.Reset(br)
		r.queue, r.head = r.queue[:0], 0
		for {
			if err := r.cr.next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if err := r.clientMessage(); err != nil {
				t.Fatal(err)
			}
		}
		r.tw.Flush()
	}
	run() // warm up: the FIFO grows once
	if got := testing.AllocsPerRun(20, run); got != 0 {
		t.Errorf("allocations per 100 allowed Executes: got %v, want 0", got)
	}
	if calls != 2200 {
		t.Errorf("Check calls: got %d, want 2200", calls)
	}
}

func BenchmarkRelaySelect(b *testing.B) {
	b.Run("rows=0", func(b *testing.B) { benchmarkRelaySelect(b, RowLimits{}) })
	b.Run("rows=10", func(b *testing.B) { benchmarkRelaySelect(b, RowLimits{Rows: 10, Bytes: 16 << 10}) })
}

func benchmarkRelaySelect(b *testing.B, lim RowLimits) {
	rec := &nopRecorder{}
	r := testRelay(rec)
	if lim.Rows > 0 {
		r.smp = &sampler{lim: lim}
	}
	stream := selectStream(b, 1000)
	br := bytes.NewReader(stream)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(stream)
		r.tr.r.Reset(br)
		r.push(pending{kind: kindQuery, seq: 1})
		drainTarget(b, r, br)
	}
}

func TestTagRows(t *testing.T) {
	tests := []struct {
		tag  string
		want int64
	}{
		{"INSERT 0 5", 5}, {"UPDATE 3", 3}, {"DELETE 0", 0}, {"SELECT 12", 12}, {"COPY 1000", 1000},
		{"CREATE TABLE", 0}, {"", 0}, {"7", 0}, {"MERGE 99999999999999999999999", 0}, {"BEGIN", 0},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			if got := tagRows(tt.tag); got != tt.want {
				t.Errorf("tagRows(%q): got %d, want %d", tt.tag, got, tt.want)
			}
		})
	}
}

func TestFrameRejectsBadLengths(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "length below 4", in: []byte{'D', 0, 0, 0, 3}},
		{name: "negative length", in: []byte{'D', 0xff, 0xff, 0xff, 0xff}},
		{name: "over 1 GiB", in: []byte{'D', 0x40, 0, 0, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := frameReader{r: bufio.NewReader(bytes.NewReader(tt.in))}
			if err := f.next(); !errors.Is(err, errFrame) {
				t.Errorf("next: got %v, want errFrame", err)
			}
		})
	}
}

// bindMessage frames a Bind body.
func bindMessage(body []byte) []byte {
	b := []byte{'B', 0, 0, 0, 0}
	b = append(b, body...)
	n := len(b) - 1
	b[1], b[2], b[3], b[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return b
}

// checkBindPaths decodes body with pgproto3 and with the streaming parser
// (forced by a tiny read buffer) and compares what they found, and checks
// the streamed bytes are the message unchanged.
func checkBindPaths(t *testing.T, body []byte) {
	var want pgproto3.Bind
	wantErr := want.Decode(body)

	var out bytes.Buffer
	r := testRelay(&nopRecorder{})
	r.tw = bufio.NewWriterSize(&out, 16)
	msg := bindMessage(body)
	r.cr.r = bufio.NewReaderSize(bytes.NewReader(msg), 16)
	if err := r.cr.next(); err != nil {
		t.Fatalf("next: %v", err)
	}
	p, err := r.streamBind()
	if err != nil {
		return // malformed for the stream parser; pgproto3 may be laxer (trailing bytes)
	}
	r.tw.Flush()
	if !bytes.Equal(out.Bytes(), msg) {
		t.Fatalf("streamed bytes differ from the message")
	}
	if wantErr != nil {
		t.Fatalf("stream parser accepted a Bind pgproto3 rejects (%v)", wantErr)
	}
	if p.stmt != want.PreparedStatement || len(p.params) != len(want.Parameters) {
		t.Fatalf("got stmt %q with %d params, want %q with %d", p.stmt, len(p.params), want.PreparedStatement, len(want.Parameters))
	}
	for i, v := range want.Parameters {
		got := p.params[i]
		keep := min(len(v), MaxValueLen)
		if got.Null != (v == nil) || got.Size != len(v) || !bytes.Equal(got.Data, v[:keep]) || got.Truncated != (len(v) > keep) || got.Format != formatCode(want.ParameterFormatCodes, i) {
			t.Fatalf("param %d: got %+v, want size %d null %v", i, got, len(v), v == nil)
		}
	}
}

func TestStreamBindMatchesPgproto3(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 3000)
	tests := []struct {
		name string
		bind pgproto3.Bind
	}{
		{name: "empty", bind: pgproto3.Bind{}},
		{name: "named with values", bind: pgproto3.Bind{DestinationPortal: "portal_with_a_long_name", PreparedStatement: "stmt_1234567890", ParameterFormatCodes: []int16{1, 0}, Parameters: [][]byte{[]byte("abc"), nil, big}, ResultFormatCodes: []int16{1}}},
		{name: "one format for all", bind: pgproto3.Bind{ParameterFormatCodes: []int16{1}, Parameters: [][]byte{big, {}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := encode(t, &tt.bind)
			checkBindPaths(t, msg[5:])
			// And the pgproto3 path of clientBind agrees on the portal.
			r := testRelay(&nopRecorder{})
			r.cr.r = bufio.NewReaderSize(bytes.NewReader(msg), bufSize)
			if err := r.cr.next(); err != nil {
				t.Fatal(err)
			}
			if err := r.clientBind(); err != nil {
				t.Fatal(err)
			}
			p := r.portalFor(tt.bind.DestinationPortal)
			if len(p.params) != len(tt.bind.Parameters) {
				t.Errorf("params: got %d, want %d", len(p.params), len(tt.bind.Parameters))
			}
		})
	}
}

func FuzzStreamBind(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		checkBindPaths(t, body)
	})
}

// FuzzRelayClientMessages feeds arbitrary bytes to both directions of the
// relay: whatever the client and the target send, nothing panics.
// A Check denies or holds (sending a notice) some statements, chosen from
// their text and number.
func FuzzRelayClientMessages(f *testing.F) {
	f.Add(encode(f, &pgproto3.Query{String: "SELECT 1"}, &pgproto3.Parse{Query: "SELECT $1"}, &pgproto3.Bind{Parameters: [][]byte{[]byte("x")}},
		&pgproto3.Execute{}, &pgproto3.Execute{}, &pgproto3.Sync{}, &pgproto3.FunctionCall{Function: 1299}, &pgproto3.CopyData{Data: []byte("1")}, &pgproto3.CopyDone{}),
		encode(f, &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42601", Message: "syntax error", Position: 10}, &pgproto3.ReadyForQuery{TxStatus: 'I'},
			&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, &pgproto3.ErrorResponse{Severity: "ERROR", Code: "26000"}, &pgproto3.ReadyForQuery{TxStatus: 'E'},
			&pgproto3.ErrorResponse{Severity: "FATAL", Code: "57P01"}))
	f.Add(encode(f, &pgproto3.Query{String: "SELECT 1; SELECT 2"}, &pgproto3.Query{String: "SELECT 3"}),
		encode(f, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, &pgproto3.ErrorResponse{Severity: "ERROR", Code: "42601"}, &pgproto3.ReadyForQuery{TxStatus: 'I'},
			&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42601"}, &pgproto3.ReadyForQuery{TxStatus: 'I'}))
	f.Fuzz(func(t *testing.T, client, target []byte) {
		r := testRelay(&nopRecorder{})
		r.check = func(ctx context.Context, s *Statement, notice func(string) error) *Denial {
			switch (s.Seq + uint64(len(s.Text))) % 3 {
			case 0:
				return &Denial{}
			case 1:
				if err := notice("held"); err != nil {
					t.Errorf("notice: %v", err)
				}
			}
			return nil
		}
		r.cr.r.Reset(bytes.NewReader(client))
		r.tr.r.Reset(bytes.NewReader(target))
		r.clientToTarget()
		r.targetToClient()
	})
}

// FuzzFrontStartup plays arbitrary bytes as a client's first messages:
// Front must never panic and must end the connection.
func FuzzFrontStartup(f *testing.F) {
	certPEM, keyPEM := pgtest.SelfSignedCert(f)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		f.Fatal(err)
	}
	front := &Front{
		TLSConfig:      &tls.Config{Certificates: []tls.Certificate{cert}},
		AllowPlaintext: true,
		StartupTimeout: 5 * time.Second,
		Logger:         discardLogger(),
		Open: func(ctx context.Context, req *OpenRequest) (*Opened, error) {
			if req.Token == "ok" {
				return &Opened{
					Params: []Param{{Name: "server_version", Value: "15"}},
					Relay:  func(ctx context.Context, c net.Conn) error { return nil },
					Cancel: func(ctx context.Context) error { return nil },
				}, nil
			}
			return nil, &Error{Severity: "FATAL", Code: "28P01", Message: "no"}
		},
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			front.ServeConn(context.Background(), server)
		}()
		go io.Copy(io.Discard, client)
		client.Write(in)
		client.Close()
		<-done
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestQueueStaysBoundedUnderAFullPipeline(t *testing.T) {
	r := testRelay(&nopRecorder{})
	// Always 10 outstanding requests, a million in total.
	for i := range 10 {
		r.push(pending{kind: kindSync, seq: uint64(i)})
	}
	for i := range 1000000 {
		r.push(pending{kind: kindSync, seq: uint64(i + 10)})
		p, ok := r.front()
		if !ok || p.seq != uint64(i) {
			t.Fatalf("front: got %+v %v, want seq %d", p, ok, i)
		}
		r.pop()
	}
	if c := cap(r.queue); c > 4096 {
		t.Errorf("queue capacity after a million requests with 10 outstanding: got %d, want <= 4096", c)
	}
}
