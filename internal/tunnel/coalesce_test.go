package tunnel_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
)

// recordConn records each Write it gets.
type recordConn struct {
	net.Conn
	writes [][]byte
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func muxHeader(typ byte, length uint32) []byte {
	h := make([]byte, 12)
	h[1] = typ
	binary.BigEndian.PutUint32(h[4:], 7)
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

func TestCoalescer(t *testing.T) {
	small := bytes.Repeat([]byte("q"), 100)
	large := bytes.Repeat([]byte("L"), 200<<10)
	cat := func(a, b []byte) []byte { return append(bytes.Clone(a), b...) }
	tests := []struct {
		name   string
		writes [][]byte
		want   [][]byte
	}{
		{
			name:   "data header joins its body",
			writes: [][]byte{muxHeader(0, 100), small},
			want:   [][]byte{cat(muxHeader(0, 100), small)},
		},
		{
			name:   "window update passes through",
			writes: [][]byte{muxHeader(1, 4096), muxHeader(0, 100), small},
			want:   [][]byte{muxHeader(1, 4096), cat(muxHeader(0, 100), small)},
		},
		{
			name:   "empty data frame passes through",
			writes: [][]byte{muxHeader(0, 0), muxHeader(2, 0)},
			want:   [][]byte{muxHeader(0, 0), muxHeader(2, 0)},
		},
		{
			name:   "large body written separately",
			writes: [][]byte{muxHeader(0, uint32(len(large))), large, muxHeader(0, 100), small},
			want:   [][]byte{muxHeader(0, uint32(len(large))), large, cat(muxHeader(0, 100), small)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordConn{}
			c := tunnel.NewCoalescer(rec)
			for _, w := range tt.writes {
				if n, err := c.Write(w); err != nil || n != len(w) {
					t.Fatalf("Write: got %d, %v; want %d, nil", n, err, len(w))
				}
			}
			if len(rec.writes) != len(tt.want) {
				t.Fatalf("got %d writes, want %d", len(rec.writes), len(tt.want))
			}
			for i := range tt.want {
				if !bytes.Equal(rec.writes[i], tt.want[i]) {
					t.Errorf("write %d: got %d bytes %.16x..., want %d bytes %.16x...", i, len(rec.writes[i]), rec.writes[i], len(tt.want[i]), tt.want[i])
				}
			}
		})
	}
}
