package mask

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// corpus is a set of values as a result would carry them.
type corpus struct {
	name   string
	values [][]byte
}

func (c corpus) size() int64 {
	n := 0
	for _, v := range c.values {
		n += len(v)
	}
	return int64(n)
}

var words = strings.Fields(`the of and to in is was for that on with as by at from his her
they this which were be are had not but have it an their been has more one who would
payment order customer shipped delivered refund account balance invoice review notes
about after because before between during under while within without against`)

// benchCorpora builds the corpora deterministically: prose without a
// match, JSON records of which one in ten carries PII, and numbers-heavy
// CSV rows (timestamps, decimals, UUIDs, ids) without a match.
func benchCorpora() []corpus {
	r := rand.New(rand.NewPCG(1, 2))
	word := func() string { return words[r.IntN(len(words))] }
	var prose, json, csv [][]byte
	for range 1000 {
		var b strings.Builder
		for k := range 20 + r.IntN(40) {
			if k > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(word())
			if r.IntN(12) == 0 {
				fmt.Fprintf(&b, " %d", r.IntN(1000))
			}
			if r.IntN(15) == 0 {
				b.WriteString(". The")
			}
		}
		prose = append(prose, []byte(b.String()))
	}
	for i := range 1000 {
		email, card := fmt.Sprintf("user%d at %s", i, word()), fmt.Sprintf("%d", 1000000+i)
		if i%10 == 0 {
			email, card = fmt.Sprintf("user%d@example.com", i), "4242 4242 4242 4242"
		}
		json = append(json, fmt.Appendf(nil,
			`{"id":%d,"uuid":"%08x-%04x-4%03x-a%03x-%012x","created_at":"2024-%02d-%02dT%02d:%02d:%02d.%06dZ","email":%q,"ref":%q,"amount":%d.%02d,"status":"%s","note":"%s %s %s"}`,
			i, r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Int64N(1<<48),
			1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e6),
			email, card, r.IntN(10000), r.IntN(100), word(), word(), word(), word()))
	}
	for i := range 1000 {
		csv = append(csv, fmt.Appendf(nil,
			"%d,%d,2024-01-%02d 10:%02d:%02d+00,%d.%05d,%x,%d,v%d.%d.%d,%d,-%d.%d,%s",
			i, 1700000000000+r.Int64N(1e9), 1+r.IntN(28), r.IntN(60), r.IntN(60),
			r.IntN(1000), r.IntN(1e5), r.Uint64(), r.IntN(1e9), r.IntN(10), r.IntN(30), r.IntN(100),
			r.IntN(100000), r.IntN(180), r.IntN(1e6), word()))
	}
	return []corpus{{"prose", prose}, {"json", json}, {"csv", csv}}
}

func BenchmarkText(b *testing.B) {
	for _, with := range []string{"redact", "hash"} {
		m := MustCompile(b, with)
		for _, c := range benchCorpora() {
			b.Run(c.name+"/"+with, func(b *testing.B) {
				b.SetBytes(c.size())
				b.ReportAllocs()
				dst := make([]byte, 0, 4096)
				var hits Hits
				for b.Loop() {
					for _, v := range c.values {
						dst, _, _ = m.Text(dst[:0], v, &hits)
					}
				}
			})
		}
	}
}

// BenchmarkTextDetector runs one detector at a time over the JSON corpus, to
// see which pass costs what.
func BenchmarkTextDetector(b *testing.B) {
	c := benchCorpora()[1]
	for _, d := range allDetectors {
		m, err := Compile(map[string]Profile{"p": {Detect: []string{d}}}, []string{"p"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(d, func(b *testing.B) {
			b.SetBytes(c.size())
			b.ReportAllocs()
			dst := make([]byte, 0, 4096)
			for b.Loop() {
				for _, v := range c.values {
					dst, _, _ = m.Text(dst[:0], v, nil)
				}
			}
		})
	}
}

// BenchmarkTextNoDetectors is the floor: a Masker with only column rules.
func BenchmarkTextNoDetectors(b *testing.B) {
	m, err := Compile(map[string]Profile{"p": {Columns: []ColumnRule{{Match: "*.ssn"}}}}, []string{"p"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := benchCorpora()[1]
	b.SetBytes(c.size())
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range c.values {
			m.Text(nil, v, nil)
		}
	}
}

func BenchmarkValue(b *testing.B) {
	p := Profile{Columns: []ColumnRule{{Match: "p", With: "partial"}, {Match: "h", With: "hash"}}}
	m, err := Compile(map[string]Profile{"p": p}, []string{"p"}, testKey)
	if err != nil {
		b.Fatal(err)
	}
	v := []byte("4242 4242 4242 4242")
	for _, col := range []string{"p", "h"} {
		c, _ := m.Column("", "", col)
		b.Run(col, func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]byte, 0, 64)
			for b.Loop() {
				dst, _ = m.Value(dst[:0], v, c, nil)
			}
		})
	}
}
