// Package demo starts a throwaway PostgreSQL with sample data for
// `gatehouse demo`, and builds the configuration that puts gatehouse in
// front of it.
package demo

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/gatehouse-dev/gatehouse/internal/pgserver"
)

// ServiceRole is the login role the demo's connection uses: not a
// superuser, it may only read and write the sample tables.
const ServiceRole = "gatehouse_svc"

// Postgres is a running throwaway PostgreSQL server.
type Postgres struct {
	*pgserver.Server
	// svcPassword is ServiceRole's password, new for every server and
	// never printed.
	svcPassword string
}

// StartPostgres starts a throwaway server in a new temporary directory.
func StartPostgres() (*Postgres, error) {
	s, err := pgserver.Start(pgserver.Options{})
	if err != nil {
		return nil, err
	}
	// rand.Text is letters and digits only: it needs no quoting in SQL.
	return &Postgres{Server: s, svcPassword: rand.Text()}, nil
}

// Seed creates the sample database "app" with customers and orders, and
// ServiceRole with what it needs on them.
func (p *Postgres) Seed(ctx context.Context) error {
	if err := p.Exec(ctx, "postgres", "CREATE DATABASE app"); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	if err := p.Exec(ctx, "app", seedSQL); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	// The password cannot break the statement, and PostgreSQL's errors
	// for it (the role exists, no privilege) do not quote it.
	if err := p.Exec(ctx, "app", fmt.Sprintf(roleSQL, ServiceRole, p.svcPassword)); err != nil {
		return fmt.Errorf("create role %s: %w", ServiceRole, err)
	}
	return nil
}

// roleSQL creates the connection's role (%[1]s) with its password (%[2]s).
const roleSQL = `
CREATE ROLE %[1]s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '%[2]s';
GRANT CONNECT ON DATABASE app TO %[1]s;
GRANT USAGE ON SCHEMA public TO %[1]s;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %[1]s;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %[1]s;
`

const seedSQL = `
CREATE TABLE customers (
  id serial PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL UNIQUE,
  card_number text,
  phone text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
  id serial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers(id),
  amount_cents int NOT NULL,
  status text NOT NULL DEFAULT 'paid',
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (name, email, card_number, phone) VALUES
  ('Ada Lovelace', 'ada@example.com', '4242 4242 4242 4242', '+44 20 7946 0958'),
  ('Grace Hopper', 'grace@example.com', '5555-5555-5555-4444', '+1 202 555 0143'),
  ('Alan Turing', 'alan@example.org', '378282246310005', '+44 161 496 0321'),
  ('Katherine Johnson', 'katherine@example.net', '6011111111111117', '+1 757 555 0199'),
  ('Edsger Dijkstra', 'edsger@example.nl', '4000056655665556', '+31 20 555 0172');
INSERT INTO orders (customer_id, amount_cents, status)
  SELECT 1 + (i % 5), 500 + (i * 137) % 20000, CASE WHEN i % 7 = 0 THEN 'refunded' ELSE 'paid' END
  FROM generate_series(1, 50) AS i;
`

// Config returns a configuration with one connection, "demo", to the sample
// database as ServiceRole, and a policy that lets group "demo" use it.
func (p *Postgres) Config(dataDir string) *config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.Connections = []config.Connection{{
		Name:      "demo",
		Type:      "postgres",
		Connector: config.EmbeddedConnector,
		Address:   p.Addr(),
		Database:  "app",
		Username:  ServiceRole,
		Password:  config.Secret(p.svcPassword),
		TLS:       "disable",
		Tags:      map[string]string{"env": "demo"},
	}}
	// Card numbers keep their last four digits, emails their first letter
	// and domain; phone numbers found anywhere are redacted.
	cfg.Masking = map[string]mask.Profile{"pii": {
		Columns: []mask.ColumnRule{{Match: "customers.card_number", With: "partial"}, {Match: "*.email", With: "partial"}},
		Detect:  []string{"credit_card", "email", "phone", "us_ssn", "iban"},
	}}
	cfg.Policies = []config.Policy{{
		Name:        "demo-access",
		Subjects:    []string{"group:demo"},
		Connections: []string{"demo"},
		Access:      config.AccessAllow,
		MaxSession:  8 * time.Hour,
		Masking:     []string{"pii"},
	}}
	return cfg
}
