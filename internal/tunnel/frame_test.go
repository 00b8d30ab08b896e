package tunnel_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
	"github.com/google/go-cmp/cmp"
)

type header struct {
	Kind    string            `json:"kind"`
	Session string            `json:"session,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	want := []header{
		{Kind: "postgres", Session: "s_1", Tags: map[string]string{"env": "prod"}},
		{Kind: "events"},
	}
	for _, h := range want {
		if err := tunnel.WriteFrame(&buf, h); err != nil {
			t.Fatal(err)
		}
	}
	buf.WriteString("raw bytes after the frames")
	for i, w := range want {
		var got header
		if err := tunnel.ReadFrame(&buf, &got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("frame %d (-want +got):\n%s", i, diff)
		}
	}
	if got, want := buf.String(), "raw bytes after the frames"; got != want {
		t.Errorf("bytes after frames: got %q, want %q (ReadFrame must not over-read)", got, want)
	}
}

func frameBytes(n uint32, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, n)
	return append(b, body...)
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   []byte
		wantErr string
	}{
		{name: "empty input", input: nil, wantErr: "EOF"},
		{name: "short header", input: []byte{0, 0}, wantErr: "truncated"},
		{name: "empty frame", input: frameBytes(0, ""), wantErr: "empty frame"},
		{name: "oversize", input: frameBytes(tunnel.MaxFrameSize+1, "{}"), wantErr: "exceeds"},
		{name: "huge length", input: frameBytes(0xffffffff, ""), wantErr: "exceeds"},
		{name: "short body", input: frameBytes(10, "{}"), wantErr: "read frame body"},
		{name: "garbage json", input: frameBytes(5, "nope!"), wantErr: "decode frame"},
		{name: "trailing data in body", input: frameBytes(4, "{}{}"), wantErr: "decode frame"},
		{name: "wrong type", input: frameBytes(7, `{"kind"`), wantErr: "decode frame"},
		{name: "wrong field type", input: frameBytes(10, `{"kind":1}`), wantErr: "decode frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h header
			err := tunnel.ReadFrame(bytes.NewReader(tt.input), &h)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteFrameTooLarge(t *testing.T) {
	var buf bytes.Buffer
	big := header{Kind: strings.Repeat("x", tunnel.MaxFrameSize)}
	if err := tunnel.WriteFrame(&buf, big); err == nil {
		t.Fatal("got nil error for an oversize frame, want one")
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes of a refused frame", buf.Len())
	}
	if err := tunnel.WriteFrame(&buf, func() {}); err == nil {
		t.Fatal("got nil error for an unencodable value, want one")
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frameBytes(2, "{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h header
		r := bytes.NewReader(data)
		if err := tunnel.ReadFrame(r, &h); err != nil {
			return
		}
		// A frame that decoded must re-encode and decode to the same value.
		var buf bytes.Buffer
		if err := tunnel.WriteFrame(&buf, h); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var again header
		if err := tunnel.ReadFrame(&buf, &again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if diff := cmp.Diff(h, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
