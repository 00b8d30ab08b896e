package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseFull(t *testing.T) {
	src := `
data_dir: /var/lib/gatehouse
gateway:
  api: 127.0.0.1:9080
  postgres: 0.0.0.0:15432
  tunnel: 0.0.0.0:8443
  public_url: https://gw.example.com
auth:
  token_ttl: 30m
connections:
  - name: prod-db
    address: 10.0.0.5:5432
    database: app
    username: svc
    password: ${PROD_PW}
    tls: verify-full
    tags: {env: prod}
policies:
  - name: ci
    subjects: [group:ci, identity:alice@example.com]
    connections: [prod-db, tag:env=staging]
    access: allow
    max_session: 1h
`
	c, err := Parse(strings.NewReader(src), env(map[string]string{"PROD_PW": "s3cr#t: {x}"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cn := c.Connections[0]
	if got := string(cn.Password); got != "s3cr#t: {x}" {
		t.Errorf("got password %q, want the expanded value verbatim", got)
	}
	if cn.Connector != EmbeddedConnector || cn.Type != "postgres" {
		t.Errorf("got connector %q type %q, want defaults", cn.Connector, cn.Type)
	}
	if c.Auth.TokenTTL != 30*time.Minute || c.Auth.WorkloadTokenTTL != 15*time.Minute || c.Auth.MaxTokenTTL != 24*time.Hour {
		t.Errorf("got ttls %v %v %v", c.Auth.TokenTTL, c.Auth.WorkloadTokenTTL, c.Auth.MaxTokenTTL)
	}
	if c.Policies[0].MaxSession != time.Hour || c.Policies[0].Access != AccessAllow {
		t.Errorf("got policy %+v", c.Policies[0])
	}
	if c.Gateway.Postgres != "0.0.0.0:15432" || c.Gateway.API != "127.0.0.1:9080" {
		t.Errorf("got gateway %+v", c.Gateway)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		field string
	}{
		{"unknown top key", "bogus: 1\n", "bogus"},
		{"unknown nested key", "gateway:\n  tlss: {}\n", "gateway.tlss"},
		{"unknown key in list", "connections:\n  - name: a\n    adress: x:1\n", "connections[0].adress"},
		{"missing env", "connections:\n  - name: a\n    password: ${NOPE}\n", "connections[0].password"},
		{"bad tls mode", "connections:\n  - name: a\n    tls: maybe\n", "connections[0].tls"},
		{"bad address", "connections:\n  - name: a\n    address: nohost\n", "connections[0].address"},
		{"duplicate connection", "connections:\n  - name: a\n  - name: a\n", "connections[1].name"},
		{"bad subject", "policies:\n  - name: p\n    subjects: [team:x]\n    connections: ['*']\n", "policies[0].subjects[0]"},
		{"bad access", "policies:\n  - name: p\n    subjects: ['*']\n    connections: ['*']\n    access: maybe\n", "policies[0].access"},
		{"review rule without approvers", "policies:\n  - name: p\n    subjects: ['*']\n    connections: ['*']\n    rules:\n      - match: {statement: [drop]}\n        action: review\n", "policies[0].rules[0].approvers"},
		{"bad rule regex", "policies:\n  - name: p\n    subjects: ['*']\n    connections: ['*']\n    rules:\n      - match: {regex: '('}\n        action: deny\n", "policies[0].rules[0].match.regex"},
		{"unknown rule key", "policies:\n  - name: p\n    subjects: ['*']\n    connections: ['*']\n    rules:\n      - match: {statment: [drop]}\n        action: deny\n", "policies[0].rules[0].match.statment"},
		{"access review without approvers", "policies:\n  - name: p\n    subjects: ['*']\n    connections: ['*']\n    access: review\n", "policies[0].approvers"},
		{"bad webhook url", "notify:\n  webhooks:\n    - url: ftp://x\n", "notify.webhooks[0].url"},
		{"unknown webhook event", "notify:\n  webhooks:\n    - url: https://h/x\n      events: [review.creatd]\n", "notify.webhooks[0].events[0]"},
		{"unknown masking detector", "masking:\n  pii: {detect: [email, ssn]}\n", "masking.pii.detect[1]"},
		{"unknown masking transform", "masking:\n  pii:\n    columns: [{match: a.b}, {match: '*.email', with: blur}]\n", "masking.pii.columns[1].with"},
		{"unknown masking key", "masking:\n  pii: {detects: [email]}\n", "masking.pii.detects"},
		{"bad custom regex", "masking:\n  pii:\n    custom: [{name: emp, regex: '('}]\n", "masking.pii.custom[0].regex"},
		{"unknown profile in policy", "masking:\n  pii: {detect: [email]}\npolicies:\n  - name: p\n    subjects: ['*']\n    connections: ['*']\n    masking: [pii, phi]\n", "policies[0].masking[1]"},
		{"workload without match", "auth:\n  workloads:\n    - {issuer: 'https://token.actions.githubusercontent.com', audience: gatehouse, identity: ci}\n", "auth.workloads[0].match"},
		{"workload over http", "auth:\n  workloads:\n    - {issuer: 'http://idp.example.com', audience: a, identity: ci, match: {sub: x}}\n", "auth.workloads[0].issuer"},
		{"workload bad identity", "auth:\n  workloads:\n    - {issuer: 'https://idp.example.com', audience: a, identity: 'a b', match: {sub: x}}\n", "auth.workloads[0].identity"},
		{"workload unknown key", "auth:\n  workloads:\n    - {issuer: 'https://idp.example.com', audiences: [a]}\n", "auth.workloads[0].audiences"},
		{"oidc without client id", "auth:\n  oidc:\n    - {issuer: 'https://idp.example.com'}\n", "auth.oidc[0].client_id"},
		{"oidc bad domain", "auth:\n  oidc:\n    - {issuer: 'https://idp.example.com', client_id: c, allowed_domains: ['a@b']}\n", "auth.oidc[0].allowed_domains[0]"},
		{"saml unknown key", "auth:\n  saml: {metadata: x}\n", "auth.saml.metadata"},
		{"saml without metadata", "auth:\n  saml: {groups_attribute: g}\n", "auth.saml.idp_metadata_file"},
		{"unserved protocol", "gateway:\n  ssh: 127.0.0.1:2222\n", "gateway.ssh"},
		{"bad log level", "log: {level: loud}\n", "log.level"},
		{"zero max token ttl", "auth:\n  max_token_ttl: 0s\n", "auth.max_token_ttl"},
		{"negative max token ttl", "auth:\n  max_token_ttl: -1h\n", "auth.max_token_ttl"},
		{"no policy subjects", "policies:\n  - name: p\n    connections: ['*']\n", "policies[0].subjects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.src), env(nil))
			if err == nil {
				err = c.Validate()
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got error %v, want a *ValidationError", err)
			}
			if ve.Field != tt.field {
				t.Errorf("got field %q, want %q (error: %v)", ve.Field, tt.field, err)
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c := Connection{Name: "x", Password: "hunter2"}
	for _, s := range []string{
		c.Password.String(),
		strings.Join([]string{fmtV(c), fmtPlusV(c), fmtGoV(c)}, " "),
	} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestEmptyIsDefault(t *testing.T) {
	c, err := Parse(strings.NewReader(""), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Gateway.Postgres != "127.0.0.1:15432" || c.Gateway.API != "127.0.0.1:8080" {
		t.Errorf("got %+v, want the documented default listeners", c.Gateway)
	}
}

// unsetenv unsets an environment variable for the rest of the test.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the old value at cleanup
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

// TestLoadForCheck: LoadForCheck leaves secrets whose variable is unset
// empty, and still fails on any other unset variable; Load fails on both,
// naming the field.
func TestLoadForCheck(t *testing.T) {
	for _, v := range []string{"GH_TEST_DB_PW", "GH_TEST_OIDC_SECRET", "GH_TEST_HOOK", "GH_TEST_HOST", "GH_TEST_JOIN"} {
		unsetenv(t, v)
	}
	t.Setenv("GH_TEST_SET_PW", "from-env")
	src := `
connections:
  - name: prod-db
    address: 10.0.0.5:5432
    username: svc
    password: ${GH_TEST_DB_PW}
    tags: {env: prod}
  - name: staging-db
    password: ${GH_TEST_SET_PW}
auth:
  oidc:
    - {issuer: 'https://idp.example.com', client_id: gatehouse, client_secret: '${GH_TEST_OIDC_SECRET}'}
notify:
  webhooks:
    - url: ${GH_TEST_HOOK}
connector:
  name: dc1
  join_token: ${GH_TEST_JOIN}
policies:
  - name: ci
    subjects: [group:ci]
    connections: [tag:env=prod]
`
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	var ve *ValidationError
	if _, err := Load(path); !errors.As(err, &ve) || ve.Field != "connections[0].password" || !strings.Contains(err.Error(), "GH_TEST_DB_PW is not set") {
		t.Errorf("Load: got %v, want connections[0].password: environment variable GH_TEST_DB_PW is not set", err)
	}

	c, err := LoadForCheck(path)
	if err != nil {
		t.Fatalf("LoadForCheck: %v", err)
	}
	if c.Connections[0].Password != "" || c.Auth.OIDC[0].ClientSecret != "" || c.Notify.Webhooks[0].URL != "" || c.Connector.JoinToken != "" {
		t.Errorf("secrets of unset variables: got %q %q %q, want empty", c.Connections[0].Password, c.Auth.OIDC[0].ClientSecret, c.Notify.Webhooks[0].URL)
	}
	if got := string(c.Connections[1].Password); got != "from-env" {
		t.Errorf("a set variable: got %q, want it expanded", got)
	}
	if c.Connections[0].Tags["env"] != "prod" || len(c.Policies) != 1 || c.Policies[0].Connections[0] != "tag:env=prod" {
		t.Errorf("got connections %+v and policies %+v", c.Connections, c.Policies)
	}

	// Only secrets may be left unset.
	src = strings.Replace(src, "address: 10.0.0.5:5432", "address: ${GH_TEST_HOST}:5432", 1)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadForCheck(path); !errors.As(err, &ve) || ve.Field != "connections[0].address" {
		t.Errorf("LoadForCheck with an unset address: got %v, want an error naming connections[0].address", err)
	}
}

// TestStore: the store is SQLite by default, PostgreSQL when store.postgres
// is set (which drops the default SQLite file), never both; the DSN is a
// secret that no error or print shows.
func TestStore(t *testing.T) {
	const pw = "s3cr3t-Pw-71c9"
	dsn := "postgres://gatehouse:" + pw + "@db.internal:5432/gatehouse?sslmode=verify-full"
	tests := []struct {
		name           string
		src            string
		env            map[string]string
		sqlite, pg     string
		errField, errs string
	}{
		{name: "default", src: "", sqlite: "gatehouse.db"},
		{name: "sqlite file", src: "store: {sqlite: g2.db}\n", sqlite: "g2.db"},
		{name: "postgres", src: "store: {postgres: '" + dsn + "'}\n", pg: dsn},
		{name: "postgres from the environment", src: "store:\n  postgres: ${GH_STORE_DSN}\n", env: map[string]string{"GH_STORE_DSN": dsn}, pg: dsn},
		{name: "postgres key=value", src: "store: {postgres: 'host=db user=g password=" + pw + " dbname=g'}\n", pg: "host=db user=g password=" + pw + " dbname=g"},
		{name: "both", src: "store: {sqlite: g.db, postgres: '" + dsn + "'}\n", errField: "store.postgres", errs: "not both"},
		{name: "neither", src: "store: {sqlite: ''}\n", errField: "store.sqlite"},
		{name: "postgres not a DSN", src: "store: {postgres: 'db.internal " + pw + "'}\n", errField: "store.postgres", errs: "postgres:// URL"},
		{name: "postgres bad URL", src: "store: {postgres: 'postgres://u:" + pw + "@db:x y/%zz'}\n", errField: "store.postgres", errs: "postgres:// URL"},
		{name: "postgres unset", src: "store: {postgres: '${GH_NOPE}'}\n", errField: "store.postgres", errs: "GH_NOPE is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.src), env(tt.env))
			if err == nil {
				err = c.Validate()
			}
			if tt.errField != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.errField || !strings.Contains(err.Error(), tt.errs) {
					t.Fatalf("got error %v, want one on %s saying %q", err, tt.errField, tt.errs)
				}
				if strings.Contains(err.Error(), pw) {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Store.SQLite != tt.sqlite || string(c.Store.Postgres) != tt.pg {
				t.Errorf("got sqlite %q postgres %q, want %q %q", c.Store.SQLite, c.Store.Postgres, tt.sqlite, tt.pg)
			}
			if s := strings.Join([]string{fmtV(c), fmtPlusV(c), fmtGoV(c), fmtV(c.Store), fmtPlusV(c.Store), fmtGoV(c.Store)}, " "); strings.Contains(s, pw) {
				t.Errorf("config prints the password: %s", s)
			}
		})
	}
}

// TestStoreForCheck: LoadForCheck accepts a store.postgres whose variable
// is unset, as it does other secrets.
func TestStoreForCheck(t *testing.T) {
	unsetenv(t, "GH_TEST_STORE_DSN")
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte("store:\n  postgres: ${GH_TEST_STORE_DSN}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadForCheck(path); err != nil {
		t.Errorf("LoadForCheck: %v", err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "store.postgres") {
		t.Errorf("Load: got %v, want an error naming store.postgres", err)
	}
}
