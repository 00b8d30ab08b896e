package postgres

import (
	"os"
	"path/filepath"
	"testing"
)

func TestViewOrigins(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "view_action.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := viewOrigins(string(b))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]origin{1: {16412, 1}, 2: {16412, 2}, 3: {0, 0}, 4: {16412, 3}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("column %d: got %v, want %v", k, got[k], v)
		}
	}
}

func FuzzViewOrigins(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "view_action.txt")); err == nil {
		f.Add(string(b))
	}
	f.Add(`({QUERY :targetList ({TARGETENTRY :resno 1 :resname :resorigtbl\ 5 :resorigtbl 7 :resorigcol 2 :resjunk false}) :x 1})`)
	f.Add(`({QUERY :targetList <>})`)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := viewOrigins(s)
		if err == nil && got == nil {
			t.Fatal("nil map without an error")
		}
	})
}

func TestViewOriginsEscapes(t *testing.T) {
	// A column named like a field stays a name.
	got, err := viewOrigins(`({QUERY :rtable ({RTE :targetList ({TARGETENTRY :resno 1 :resorigtbl 99 :resorigcol 9})}) :targetList ({TARGETENTRY :expr {VAR :varno 1} :resno 1 :resname :resorigtbl\ 5 :resorigtbl 7 :resorigcol 2 :resjunk false} {TARGETENTRY :resno 2 :resname x\}\ y :resorigtbl 0 :resorigcol 0 :resjunk false} {TARGETENTRY :resno 3 :resname j :resorigtbl 7 :resorigcol 1 :resjunk true}) :x 1})`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]origin{1: {7, 2}, 2: {0, 0}}
	if len(got) != len(want) || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{``, `(`, `({QUERY :targetList (`, `({QUERY :targetList ({FOO})})`, `({QUERY :targetList ({TARGETENTRY :resno x})})`, `)))`} {
		if _, err := viewOrigins(bad); err == nil {
			t.Errorf("viewOrigins(%q): no error", bad)
		}
	}
}
