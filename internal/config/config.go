// Package config defines gatehouse's YAML configuration: its schema,
// defaults, environment expansion and validation. Every error names the
// field it is about, as a dotted path such as "connections[2].tls".
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// Config is the whole configuration file. The gateway, the connector and
// `up` read the same schema; each uses the parts that concern its role.
type Config struct {
	DataDir     string       `yaml:"data_dir"`
	Log         Log          `yaml:"log"`
	Gateway     Gateway      `yaml:"gateway"`
	Store       Store        `yaml:"store"`
	Auth        Auth         `yaml:"auth"`
	Connector   Connector    `yaml:"connector"`
	Connections []Connection `yaml:"connections"`
	Policies    []Policy     `yaml:"policies"`
	// Masking holds the masking profiles by name; policies attach them.
	Masking map[string]mask.Profile `yaml:"masking"`
	Notify  Notify                  `yaml:"notify"`

	// unset holds the paths of the secret fields LoadForCheck left empty
	// because their environment variable is not set.
	unset map[string]bool
}

// Notify configures where events are sent.
type Notify struct {
	Webhooks []Webhook `yaml:"webhooks"`
}

// Webhook is a receiver of events, by name; no events means all.
type Webhook struct {
	URL    Secret   `yaml:"url"` // webhook URLs often carry a secret path
	Events []string `yaml:"events"`
}

// NotifyEvents are the event names webhooks can ask for.
var NotifyEvents = []string{"review.created", "review.approved", "review.rejected", "review.expired", "session.blocked"}

// Log configures the process log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text, json
}

// Gateway configures the gateway's listeners.
type Gateway struct {
	API      string `yaml:"api"`
	Postgres string `yaml:"postgres"`
	// MySQL, SSH and HTTP are reserved for protocols not served yet; an
	// address there is refused.
	MySQL string `yaml:"mysql"`
	SSH   string `yaml:"ssh"`
	HTTP  string `yaml:"http"`
	// Tunnel is where connectors dial in. Empty in `up` mode disables remote
	// connectors; the gateway role defaults it to 127.0.0.1:8443.
	Tunnel    string `yaml:"tunnel"`
	PublicURL string `yaml:"public_url"`
	TLS       *TLS   `yaml:"tls"`
	// Hosts are extra DNS names or IPs for the generated certificate.
	Hosts []string `yaml:"hosts"`
	// AllowPlaintext lets clients connect to the protocol listeners without
	// TLS. Tokens then cross the wire in clear: only for loopback testing.
	AllowPlaintext bool `yaml:"allow_plaintext"`
}

// TLS names a certificate and key in PEM files.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Store selects the gateway's store: exactly one of SQLite and Postgres.
type Store struct {
	// SQLite is the database file, relative to data_dir; the default.
	SQLite string `yaml:"sqlite"`
	// Postgres is a PostgreSQL connection string (a postgres:// URL or
	// key=value settings). It holds a password, so it never prints.
	Postgres Secret `yaml:"postgres"`
}

// UnmarshalYAML decodes a store over the default, except that naming
// postgres alone drops the default sqlite file: the two are exclusive.
func (s *Store) UnmarshalYAML(n *yaml.Node) error {
	type plain Store
	p := plain(*s)
	if err := n.Decode(&p); err != nil {
		return err
	}
	if n.Kind == yaml.MappingNode {
		keys := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys[n.Content[i].Value] = true
		}
		if keys["postgres"] && !keys["sqlite"] {
			p.SQLite = ""
		}
	}
	*s = Store(p)
	return nil
}

// Auth configures token lifetimes and identity providers.
type Auth struct {
	TokenTTL         time.Duration `yaml:"token_ttl"`
	WorkloadTokenTTL time.Duration `yaml:"workload_token_ttl"`
	// MaxTokenTTL is the longest lifetime an admin may ask for when
	// issuing a token for an identity (`gatehouse tokens issue --ttl`).
	MaxTokenTTL time.Duration `yaml:"max_token_ttl"`
	// OIDC are the identity providers people sign in with (`gatehouse
	// login`, device flow run by the gateway).
	OIDC []OIDCProvider `yaml:"oidc"`
	// SAML is a SAML 2.0 identity provider for people (`gatehouse login
	// --saml`); nil means none.
	SAML *SAML `yaml:"saml"`
	// Workloads are the trust rules for exchanging a CI system's or a
	// platform's OIDC token for a gatehouse token; the first rule whose
	// issuer, audience and claims match decides the identity.
	Workloads []Workload `yaml:"workloads"`
}

// OIDCProvider is an OpenID Connect identity provider for people.
type OIDCProvider struct {
	// Name tells providers apart in `gatehouse login --provider`; default
	// the issuer's host.
	Name         string `yaml:"name"`
	Issuer       string `yaml:"issuer"`
	ClientID     string `yaml:"client_id"`
	ClientSecret Secret `yaml:"client_secret"`
	// Scopes to ask for; default openid, profile, email.
	Scopes []string `yaml:"scopes"`
	// GroupsClaim names the claim that lists the user's groups.
	GroupsClaim string `yaml:"groups_claim"`
	// AllowedDomains, when set, admit only verified emails in these
	// domains.
	AllowedDomains []string `yaml:"allowed_domains"`
}

// SAML configures gatehouse as a SAML 2.0 service provider. Its entity
// ID is <public_url>/api/v1/auth/saml/metadata and its assertion consumer
// <public_url>/api/v1/auth/saml/acs.
type SAML struct {
	// IdPMetadataFile is the identity provider's metadata XML.
	IdPMetadataFile string `yaml:"idp_metadata_file"`
	// IdentityAttribute names the attribute holding the identity (default:
	// the NameID, else email); GroupsAttribute the one listing groups.
	IdentityAttribute string `yaml:"identity_attribute"`
	GroupsAttribute   string `yaml:"groups_attribute"`
}

// Workload is one trust rule for workload identity.
type Workload struct {
	// Issuer is the token issuer's URL, exactly as in its tokens' iss.
	Issuer string `yaml:"issuer"`
	// Audience must be one of the token's aud values.
	Audience string `yaml:"audience"`
	// Match lists claims and the values they must have: exactly, or as a
	// glob with '*'. At least one is required, since an issuer such as
	// GitHub Actions signs tokens for every repository in the world.
	Match map[string]string `yaml:"match"`
	// Identity and Groups are what policies see for a matching token.
	Identity string   `yaml:"identity"`
	Groups   []string `yaml:"groups"`
}

// Connector configures the connector role.
type Connector struct {
	Name string `yaml:"name"`
	// Gateway is the gateway's tunnel address, host:port.
	Gateway       string `yaml:"gateway"`
	JoinToken     Secret `yaml:"join_token"`
	JoinTokenFile string `yaml:"join_token_file"`
}

// Connection is a target that clients reach by name.
type Connection struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Connector names the connector that serves the connection; "embedded"
	// (the default) is the in-process connector of `up`.
	Connector    string            `yaml:"connector"`
	Address      string            `yaml:"address"`
	Database     string            `yaml:"database"`
	Username     string            `yaml:"username"`
	Password     Secret            `yaml:"password"`
	PasswordFile string            `yaml:"password_file"`
	TLS          string            `yaml:"tls"`
	TLSCA        string            `yaml:"tls_ca"`
	TLSServer    string            `yaml:"tls_server_name"`
	Tags         map[string]string `yaml:"tags"`
	// Recording bounds the result rows kept in the recording.
	Recording RowRecording `yaml:"recording"`
}

// RowRecording bounds the result rows a recording keeps for each
// statement: the first Rows rows the client received, as masked, up to
// Bytes bytes of values. Rows 0 keeps none (row counts are always kept).
type RowRecording struct {
	Rows  *int `yaml:"rows"`
	Bytes int  `yaml:"bytes"`
}

// Defaults for the rows kept per statement.
const (
	DefaultRecordRows  = 10
	DefaultRecordBytes = 16 << 10
	maxRecordRows      = 10000
	maxRecordBytes     = 1 << 20 // escaped as JSON, well under an event's 16 MiB
)

// Limits returns the rows and bytes to keep per statement, with defaults.
func (r RowRecording) Limits() (rows, bytes int) {
	rows, bytes = DefaultRecordRows, DefaultRecordBytes
	if r.Rows != nil {
		rows = *r.Rows
	}
	if r.Bytes != 0 {
		bytes = r.Bytes
	}
	return rows, bytes
}

// Policy grants subjects access to connections.
type Policy struct {
	Name        string        `yaml:"name"`
	Subjects    []string      `yaml:"subjects"`
	Connections []string      `yaml:"connections"`
	Access      string        `yaml:"access"`
	MaxSession  time.Duration `yaml:"max_session"`
	// OutliveToken lets sessions go on after the token that opened them
	// expires; by default they end with it.
	OutliveToken bool `yaml:"outlive_token"`
	// Rules decide each statement, in order; the first match wins.
	Rules []policy.Rule `yaml:"rules"`
	// Approvers and MinApprovals decide access requests when Access is
	// "review".
	Approvers    []string `yaml:"approvers"`
	MinApprovals int      `yaml:"min_approvals"`
	// Masking names the masking profiles applied to the results of the
	// sessions this policy allows.
	Masking []string `yaml:"masking"`
}

// PolicySet returns the configuration's policies, in order, for deciding
// access and statements.
func (c *Config) PolicySet() *policy.Set {
	out := make([]policy.Policy, len(c.Policies))
	for i, p := range c.Policies {
		out[i] = policy.Policy{Name: p.Name, Subjects: p.Subjects, Connections: p.Connections,
			Access: p.Access, MaxSession: p.MaxSession, OutliveToken: p.OutliveToken, Rules: p.Rules,
			Approvers: p.Approvers, MinApprovals: p.MinApprovals}
		for _, name := range p.Masking {
			out[i].Masking = append(out[i].Masking, policy.MaskProfile{Name: name, Profile: c.Masking[name]})
		}
	}
	return policy.NewSet(out)
}

// Secret is a string that never prints.
type Secret string

// String implements fmt.Stringer without revealing the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString implements fmt.GoStringer without revealing the value.
func (s Secret) GoString() string { return `"[redacted]"` }

// EmbeddedConnector is the name of the in-process connector in `up` mode.
const EmbeddedConnector = "embedded"

// Default returns the configuration used when no file is given.
func Default() *Config {
	return &Config{
		DataDir: "./gatehouse-data",
		Log:     Log{Level: "info", Format: "text"},
		Gateway: Gateway{
			API:      "127.0.0.1:8080",
			Postgres: "127.0.0.1:15432",
		},
		Store: Store{SQLite: "gatehouse.db"},
		Auth:  Auth{TokenTTL: time.Hour, WorkloadTokenTTL: 15 * time.Minute, MaxTokenTTL: 24 * time.Hour},
	}
}

// ValidationError reports a bad configuration field.
type ValidationError struct {
	Field string
	Value string
	Err   error
}

func (e *ValidationError) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("%s: %v (got %q)", e.Field, e.Err, e.Value)
	}
	return fmt.Sprintf("%s: %v", e.Field, e.Err)
}

func (e *ValidationError) Unwrap() error { return e.Err }

func fieldErr(field, value, format string, args ...any) error {
	return &ValidationError{Field: field, Value: value, Err: fmt.Errorf(format, args...)}
}

// Load reads and validates the file at path. Relative paths inside the file
// (data_dir, password_file, tls files) are taken relative to the file's
// directory.
func Load(path string) (*Config, error) { return load(path, false) }

// LoadForCheck is Load for commands that only read policies, masking
// profiles and connections' names and tags, such as `gatehouse policy
// check`: a secret field (a password, a client secret, a webhook URL)
// whose ${VAR} is not set is left empty instead of being an error. Any
// other unset variable is still an error. The result must not be used to
// serve.
func LoadForCheck(path string) (*Config, error) { return load(path, true) }

func load(path string, unsetSecrets bool) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	c, err := parse(f, &expander{lookup: os.LookupEnv, unsetSecrets: unsetSecrets})
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.resolvePaths(filepath.Dir(path))
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a configuration over Default(), expanding ${VAR} in every
// scalar with lookup. It rejects unknown keys with their path. It does not
// validate; call Validate.
func Parse(r io.Reader, lookup func(string) (string, bool)) (*Config, error) {
	return parse(r, &expander{lookup: lookup})
}

// ParsePolicies parses a document for its policies and masking profiles,
// as `gatehouse policy apply` sends a whole config file to the gateway:
// there is no environment, and a secret field's ${VAR} is left empty. The
// result must not be used to serve.
func ParsePolicies(r io.Reader) (*Config, error) {
	return parse(r, &expander{lookup: func(string) (string, bool) { return "", false }, unsetSecrets: true})
}

func parse(r io.Reader, x *expander) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c := Default()
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	if len(root.Content) == 0 {
		return c, nil
	}
	doc := root.Content[0]
	if err := x.expand(doc, reflect.TypeFor[Config](), ""); err != nil {
		return nil, err
	}
	if err := checkKnown(doc, reflect.TypeFor[Config](), ""); err != nil {
		return nil, err
	}
	if err := doc.Decode(c); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	c.unset = x.unset
	return c, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// expander replaces ${VAR} in scalar values. An unset variable is an error
// naming the field, so a missing secret is never silently empty; with
// unsetSecrets, a field of type Secret is left empty instead and its path
// recorded in unset.
type expander struct {
	lookup       func(string) (string, bool)
	unsetSecrets bool
	unset        map[string]bool
}

// expand expands the scalars under n, which decodes into t (nil when it
// is not part of the schema; checkKnown reports that).
func (x *expander) expand(n *yaml.Node, t reflect.Type, path string) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		var missing string
		n.Value = os.Expand(n.Value, func(name string) string {
			v, ok := x.lookup(name)
			if !ok && missing == "" {
				missing = name
			}
			return v
		})
		if missing != "" {
			if !x.unsetSecrets || t != reflect.TypeFor[Secret]() {
				return fieldErr(path, "", "environment variable %s is not set", missing)
			}
			n.Value = ""
			if x.unset == nil {
				x.unset = map[string]bool{}
			}
			x.unset[path] = true
		}
		// An expanded value is data, never YAML structure.
		n.Tag = "!!str"
		n.Style = yaml.DoubleQuotedStyle
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if err := x.expand(n.Content[i+1], keyType(t, key), join(path, key)); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		var elem reflect.Type
		if t = deref(t); t != nil && t.Kind() == reflect.Slice {
			elem = t.Elem()
		}
		for i, c := range n.Content {
			if err := x.expand(c, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case yaml.DocumentNode, yaml.AliasNode:
		for _, c := range n.Content {
			if err := x.expand(c, t, path); err != nil {
				return err
			}
		}
	}
	return nil
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// keyType is the type that key of a mapping decoding into t decodes into,
// or nil when t has no such key.
func keyType(t reflect.Type, key string) reflect.Type {
	t = deref(t)
	switch {
	case t == nil:
		return nil
	case t.Kind() == reflect.Map:
		return t.Elem()
	case t.Kind() != reflect.Struct:
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key && name != "" && name != "-" {
			return f.Type
		}
	}
	return nil
}

// checkKnown walks the document against the struct's yaml tags and reports
// the first unknown key with its full path.
func checkKnown(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[yaml.Node]() {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return fieldErr(orRoot(path), "", "expected a mapping")
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			ft, ok := fields[key]
			if !ok {
				return fieldErr(join(path, key), "", "unknown key")
			}
			if err := checkKnown(n.Content[i+1], ft, join(path, key)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return fieldErr(orRoot(path), "", "expected a list")
		}
		for i, c := range n.Content {
			if err := checkKnown(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return fieldErr(orRoot(path), "", "expected a mapping")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKnown(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	}
	return nil
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	if c.Gateway.TLS != nil {
		abs(&c.Gateway.TLS.Cert)
		abs(&c.Gateway.TLS.Key)
	}
	abs(&c.Connector.JoinTokenFile)
	if c.Auth.SAML != nil {
		abs(&c.Auth.SAML.IdPMetadataFile)
	}
	for i := range c.Connections {
		abs(&c.Connections[i].PasswordFile)
		abs(&c.Connections[i].TLSCA)
	}
}

func checkAddr(field, addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fieldErr(field, addr, "must be host:port")
	}
	_ = host
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fieldErr(field, addr, "invalid port")
	}
	return nil
}

// Validate checks the whole configuration and returns the first problem.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return fieldErr("data_dir", "", "must not be empty")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fieldErr("log.level", c.Log.Level, "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fieldErr("log.format", c.Log.Format, "must be text or json")
	}
	for _, a := range []struct{ field, addr string }{
		{"gateway.api", c.Gateway.API},
		{"gateway.postgres", c.Gateway.Postgres},
		{"gateway.tunnel", c.Gateway.Tunnel},
		{"connector.gateway", c.Connector.Gateway},
	} {
		if err := checkAddr(a.field, a.addr); err != nil {
			return err
		}
	}
	for _, r := range []struct{ field, addr string }{
		{"gateway.mysql", c.Gateway.MySQL},
		{"gateway.ssh", c.Gateway.SSH},
		{"gateway.http", c.Gateway.HTTP},
	} {
		if r.addr != "" {
			return fieldErr(r.field, r.addr, "this protocol is not served by this version of gatehouse")
		}
	}
	if t := c.Gateway.TLS; t != nil && (t.Cert == "" || t.Key == "") {
		return fieldErr("gateway.tls", "", "needs both cert and key")
	}
	// A postgres DSN left unset by LoadForCheck still counts as chosen.
	postgres := c.Store.Postgres != "" || c.unset["store.postgres"]
	switch {
	case postgres && c.Store.SQLite != "":
		return fieldErr("store.postgres", "", "set store.sqlite or store.postgres, not both")
	case postgres:
		if err := checkPostgresDSN(string(c.Store.Postgres)); err != nil && !c.unset["store.postgres"] {
			return &ValidationError{Field: "store.postgres", Err: err}
		}
	case c.Store.SQLite == "":
		return fieldErr("store.sqlite", "", "must not be empty (or set store.postgres)")
	}
	if c.Auth.TokenTTL <= 0 {
		return fieldErr("auth.token_ttl", c.Auth.TokenTTL.String(), "must be positive")
	}
	if c.Auth.WorkloadTokenTTL <= 0 {
		return fieldErr("auth.workload_token_ttl", c.Auth.WorkloadTokenTTL.String(), "must be positive")
	}
	if c.Auth.MaxTokenTTL <= 0 {
		return fieldErr("auth.max_token_ttl", c.Auth.MaxTokenTTL.String(), "must be positive")
	}
	if sm := c.Auth.SAML; sm != nil && sm.IdPMetadataFile == "" {
		return fieldErr("auth.saml.idp_metadata_file", "", "must name the identity provider's metadata file")
	}

	for i, w := range c.Notify.Webhooks {
		field := fmt.Sprintf("notify.webhooks[%d]", i)
		u, err := url.Parse(string(w.URL))
		if (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") && !c.unset[field+".url"] {
			return fieldErr(field+".url", "", "must be an http or https URL")
		}
		for j, e := range w.Events {
			if !slices.Contains(NotifyEvents, e) {
				return fieldErr(fmt.Sprintf("%s.events[%d]", field, j), e, "must be one of %s", strings.Join(NotifyEvents, ", "))
			}
		}
	}
	if c.Connector.JoinToken != "" && c.Connector.JoinTokenFile != "" {
		return fieldErr("connector.join_token", "", "set join_token or join_token_file, not both")
	}
	names := map[string]bool{}
	for i := range c.Connections {
		if err := c.Connections[i].validate(fmt.Sprintf("connections[%d]", i)); err != nil {
			return err
		}
		n := c.Connections[i].Name
		if names[n] {
			return fieldErr(fmt.Sprintf("connections[%d].name", i), n, "duplicate connection name")
		}
		names[n] = true
	}
	if err := c.validateMasking(); err != nil {
		return err
	}
	providers := map[string]bool{}
	for i := range c.Auth.OIDC {
		p := &c.Auth.OIDC[i]
		field := fmt.Sprintf("auth.oidc[%d]", i)
		u, err := url.Parse(p.Issuer)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			return fieldErr(field+".issuer", p.Issuer, "must be the provider's https URL")
		case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()):
			return fieldErr(field+".issuer", p.Issuer, "must be https (http only on a loopback address)")
		case p.ClientID == "":
			return fieldErr(field+".client_id", "", "must be set")
		}
		if p.Name == "" {
			p.Name = u.Hostname()
		}
		if providers[p.Name] {
			return fieldErr(field+".name", p.Name, "two providers have this name")
		}
		providers[p.Name] = true
		for j, d := range p.AllowedDomains {
			if d == "" || strings.ContainsAny(d, "@ ") {
				return fieldErr(fmt.Sprintf("%s.allowed_domains[%d]", field, j), d, "must be a domain such as example.com")
			}
		}
	}
	for i, w := range c.Auth.Workloads {
		if err := w.validate(fmt.Sprintf("auth.workloads[%d]", i)); err != nil {
			return err
		}
	}
	pnames := map[string]bool{}
	for i := range c.Policies {
		p := &c.Policies[i]
		field := fmt.Sprintf("policies[%d]", i)
		if err := p.validate(field, c.Masking); err != nil {
			return err
		}
		if pnames[p.Name] {
			return fieldErr(field+".name", p.Name, "duplicate policy name")
		}
		pnames[p.Name] = true
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '-' || r == '_' || r == '.'))
		if !ok {
			return false
		}
	}
	return true
}

func (cn *Connection) validate(field string) error {
	if !validName(cn.Name) {
		return fieldErr(field+".name", cn.Name, "must be 1-63 letters, digits, '-', '_' or '.'")
	}
	if cn.Type == "" {
		cn.Type = "postgres"
	}
	if cn.Type != "postgres" {
		return fieldErr(field+".type", cn.Type, "only postgres is supported by this version of gatehouse")
	}
	if cn.Connector == "" {
		cn.Connector = EmbeddedConnector
	}
	if !validName(cn.Connector) {
		return fieldErr(field+".connector", cn.Connector, "invalid connector name")
	}
	if err := checkAddr(field+".address", cn.Address); err != nil {
		return err
	}
	if cn.Password != "" && cn.PasswordFile != "" {
		return fieldErr(field+".password", "", "set password or password_file, not both")
	}
	if cn.TLS == "" {
		cn.TLS = "disable"
	}
	switch cn.TLS {
	case "disable", "require", "verify-full":
	default:
		return fieldErr(field+".tls", cn.TLS, "must be disable, require or verify-full")
	}
	for k := range cn.Tags {
		if !validName(k) {
			return fieldErr(field+".tags", k, "invalid tag key")
		}
	}
	if r := cn.Recording.Rows; r != nil && (*r < 0 || *r > maxRecordRows) {
		return fieldErr(field+".recording.rows", strconv.Itoa(*r), "must be 0 to %d", maxRecordRows)
	}
	if b := cn.Recording.Bytes; b < 0 || b > maxRecordBytes {
		return fieldErr(field+".recording.bytes", strconv.Itoa(b), "must be 0 (the default, %d) to %d", DefaultRecordBytes, maxRecordBytes)
	}
	return nil
}

// Targeted reports whether the connection has what a connector needs to
// reach it (an address and a user).
func (cn *Connection) Targeted() bool { return cn.Address != "" && cn.Username != "" }

// ResolvePassword returns the connection's password, reading password_file
// if set. Errors never contain the password.
func (cn *Connection) ResolvePassword() (string, error) {
	if cn.PasswordFile == "" {
		return string(cn.Password), nil
	}
	b, err := os.ReadFile(cn.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("connection %s: read password_file: %w", cn.Name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Access values.
const (
	AccessAllow  = "allow"
	AccessDeny   = "deny"
	AccessReview = "review"
)

func (p *Policy) validate(field string, profiles map[string]mask.Profile) error {
	if !validName(p.Name) {
		return fieldErr(field+".name", p.Name, "must be 1-63 letters, digits, '-', '_' or '.'")
	}
	if len(p.Subjects) == 0 {
		return fieldErr(field+".subjects", "", "must name at least one subject")
	}
	for j, s := range p.Subjects {
		if err := validSubject(s); err != nil {
			return fieldErr(fmt.Sprintf("%s.subjects[%d]", field, j), s, "%v", err)
		}
	}
	if len(p.Connections) == 0 {
		return fieldErr(field+".connections", "", "must name at least one connection, tag:key=value or *")
	}
	for j, s := range p.Connections {
		if err := validConnSelector(s); err != nil {
			return fieldErr(fmt.Sprintf("%s.connections[%d]", field, j), s, "%v", err)
		}
	}
	if p.Access == "" {
		p.Access = AccessAllow
	}
	switch p.Access {
	case AccessAllow, AccessDeny:
	case AccessReview:
		if len(p.Approvers) == 0 {
			return fieldErr(field+".approvers", "", "a policy with access: review needs approvers")
		}
		for j, a := range p.Approvers {
			if err := validSubject(a); err != nil || a == "*" {
				return fieldErr(fmt.Sprintf("%s.approvers[%d]", field, j), a, "must be group:NAME or identity:NAME")
			}
		}
		if p.MinApprovals < 0 {
			return fieldErr(field+".min_approvals", "", "must not be negative")
		}
	default:
		return fieldErr(field+".access", p.Access, "must be allow, review or deny")
	}
	if p.MaxSession < 0 {
		return fieldErr(field+".max_session", p.MaxSession.String(), "must not be negative")
	}
	if _, err := policy.CompileRules(p.Rules); err != nil {
		var re *policy.RuleError
		if errors.As(err, &re) {
			return fieldErr(fmt.Sprintf("%s.rules[%d].%s", field, re.Index, re.Field), "", "%v", re.Err)
		}
		return fieldErr(field+".rules", "", "%v", err)
	}
	for j, name := range p.Masking {
		if _, ok := profiles[name]; !ok {
			return fieldErr(fmt.Sprintf("%s.masking[%d]", field, j), name, "no masking profile of that name (define it under masking:)")
		}
		if slices.Contains(p.Masking[:j], name) {
			return fieldErr(fmt.Sprintf("%s.masking[%d]", field, j), name, "listed twice")
		}
	}
	return nil
}

// validateMasking checks every masking profile.
func (c *Config) validateMasking() error {
	for _, name := range slices.Sorted(maps.Keys(c.Masking)) {
		if err := mask.Validate(name, c.Masking[name]); err != nil {
			var fe *mask.FieldError
			if errors.As(err, &fe) {
				return fieldErr(fe.Field, "", "%v", fe.Err)
			}
			return fieldErr("masking."+name, "", "%v", err)
		}
	}
	return nil
}

func validSubject(s string) error {
	if s == "*" {
		return nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return errors.New(`must be "*", "group:NAME" or "identity:NAME"`)
	}
	switch kind {
	case "group", "identity":
		return nil
	}
	return errors.New(`must be "*", "group:NAME" or "identity:NAME"`)
}

func validConnSelector(s string) error {
	if s == "*" {
		return nil
	}
	if rest, ok := strings.CutPrefix(s, "tag:"); ok {
		k, _, ok := strings.Cut(rest, "=")
		if !ok || k == "" {
			return errors.New(`a tag selector is "tag:key=value"`)
		}
		return nil
	}
	if !validName(s) {
		return errors.New("must be a connection name, tag:key=value or *")
	}
	return nil
}

func (w *Workload) validate(field string) error {
	u, err := url.Parse(w.Issuer)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fieldErr(field+".issuer", w.Issuer, "must be the issuer's https URL")
	case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()):
		return fieldErr(field+".issuer", w.Issuer, "must be https (http only on a loopback address)")
	case w.Audience == "":
		return fieldErr(field+".audience", "", "must be set: the audience your CI asks its token for, e.g. gatehouse")
	case len(w.Match) == 0:
		return fieldErr(field+".match", "", "must name at least one claim (e.g. repository: acme/deploy); an issuer signs tokens for everyone")
	case !auth.ValidIdentity(w.Identity):
		return fieldErr(field+".identity", w.Identity, "must be 1-128 letters, digits or ._@:/+-")
	}
	for k, v := range w.Match {
		if k == "" || v == "" {
			return fieldErr(field+".match", k, "claims and values must not be empty")
		}
	}
	for j, g := range w.Groups {
		if !auth.ValidIdentity(g) {
			return fieldErr(fmt.Sprintf("%s.groups[%d]", field, j), g, "must be 1-128 letters, digits or ._@:/+-")
		}
	}
	return nil
}

// IsLoopbackHost reports whether h, the host of a URL, is "localhost" or a
// loopback IP address: where plain http is allowed.
func IsLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// checkPostgresDSN is a light check of a PostgreSQL connection string; the
// store parses it fully when it opens. Its errors never quote the string,
// which holds a password.
func checkPostgresDSN(dsn string) error {
	const want = "must be a postgres:// URL or key=value settings (the value is not shown: it holds a password)"
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if _, err := url.Parse(dsn); err != nil {
			return errors.New(want)
		}
		return nil
	}
	if !strings.Contains(dsn, "=") {
		return errors.New(want)
	}
	return nil
}
