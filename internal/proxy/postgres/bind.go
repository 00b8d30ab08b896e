package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// portal is what a Bind left behind for a later Execute.
type portal struct {
	stmt   string
	text   string
	params []Value
	arena  []byte // holds params' Data
}

// clientBind remembers the portal's statement and parameters and forwards
// the Bind. A Bind that fits in the read buffer is decoded by pgproto3; a
// larger one (a big bytea) is parsed as it streams through.
func (r *relay) clientBind() error {
	var p *portal
	if r.cr.fits() {
		body, err := r.cr.body()
		if err != nil {
			return fmt.Errorf("read from client: %w", err)
		}
		if err := r.bind.Decode(body); err != nil {
			return r.malformed(err)
		}
		p = r.portalFor(r.bind.DestinationPortal)
		p.params, p.arena = p.params[:0], p.arena[:0]
		for i, v := range r.bind.Parameters {
			p.addParam(formatCode(r.bind.ParameterFormatCodes, i), v, v == nil, len(v))
		}
		p.fix()
		p.stmt = r.bind.PreparedStatement
		if err := r.writeTarget(body); err != nil {
			return err
		}
	} else {
		var err error
		if p, err = r.streamBind(); err != nil {
			return err
		}
	}
	p.text = r.stmts[p.stmt]
	if p.stmt == "" {
		p.text = r.unnamed
	}
	return nil
}

func (r *relay) portalFor(name string) *portal {
	if name == "" {
		return &r.unnamedP
	}
	p := r.portals[name]
	if p == nil {
		if len(r.portals) >= maxPortals {
			clear(r.portals)
		}
		p = new(portal)
		r.portals[name] = p
	}
	return p
}

// streamBind parses a Bind larger than the read buffer while forwarding it,
// keeping the first MaxValueLen bytes of each parameter.
func (r *relay) streamBind() (*portal, error) {
	f, w := &r.cr, r.tw
	if _, err := w.Write(f.hdr[:]); err != nil {
		return nil, fmt.Errorf("write to target: %w", err)
	}
	name, err := f.takeCString(w)
	if err != nil {
		return nil, r.streamErr(err)
	}
	stmt, err := f.takeCString(w)
	if err != nil {
		return nil, r.streamErr(err)
	}
	p := r.portalFor(name)
	p.params, p.arena, p.stmt = p.params[:0], p.arena[:0], stmt

	var formats []int16
	nf, err := r.takeUint16()
	if err != nil {
		return nil, err
	}
	for range nf {
		v, err := r.takeUint16()
		if err != nil {
			return nil, err
		}
		formats = append(formats, int16(v))
	}
	np, err := r.takeUint16()
	if err != nil {
		return nil, err
	}
	for i := range np {
		b, err := f.take(w, 4)
		if err != nil {
			return nil, r.streamErr(err)
		}
		n := int(int32(binary.BigEndian.Uint32(b)))
		if n == -1 {
			p.addParam(formatCode(formats, i), nil, true, 0)
			continue
		}
		if n < 0 || n > f.left {
			return nil, r.malformed(errFrame)
		}
		keep := min(n, MaxValueLen)
		b, err = f.take(w, keep)
		if err != nil {
			return nil, r.streamErr(err)
		}
		p.addParam(formatCode(formats, i), b, false, n)
		if err := f.copyN(w, n-keep); err != nil {
			return nil, fmt.Errorf("relay Bind to target: %w", err)
		}
	}
	p.fix()
	// Result format codes: validate the count and pass them through.
	nr, err := r.takeUint16()
	if err != nil {
		return nil, err
	}
	if f.left != 2*nr {
		return nil, r.malformed(errFrame)
	}
	if err := f.copyN(w, f.left); err != nil {
		return nil, fmt.Errorf("relay Bind to target: %w", err)
	}
	return p, nil
}

func (r *relay) takeUint16() (int, error) {
	b, err := r.cr.take(r.tw, 2)
	if err != nil {
		return 0, r.streamErr(err)
	}
	return int(binary.BigEndian.Uint16(b)), nil
}

func (r *relay) streamErr(err error) error {
	if errors.Is(err, errFrame) {
		return r.malformed(err)
	}
	return fmt.Errorf("relay Bind: %w", err)
}

func formatCode[T int16 | uint16](codes []T, i int) T {
	switch len(codes) {
	case 0:
		return 0
	case 1:
		return codes[0]
	}
	if i < len(codes) {
		return codes[i]
	}
	return 0
}

// addParam appends a parameter, copying at most MaxValueLen bytes of data
// into the arena. fix sets the Data slices once the arena stops growing.
func (p *portal) addParam(format int16, data []byte, null bool, size int) {
	keep := min(len(data), MaxValueLen)
	p.params = append(p.params, Value{Null: null, Format: format, Truncated: size > keep, Size: size})
	p.arena = append(p.arena, data[:keep]...)
}

// fix points each parameter's Data into the arena.
func (p *portal) fix() {
	off := 0
	for i := range p.params {
		v := &p.params[i]
		if v.Null {
			v.Data = nil
			continue
		}
		n := min(v.Size, MaxValueLen)
		v.Data = p.arena[off : off+n : off+n]
		off += n
	}
}
