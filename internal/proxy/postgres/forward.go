package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// DialGateway logs in to a gatehouse gateway's PostgreSQL listener, t, with
// a token as t.Password, for a local forwarder. Unlike Dial, a refusal is
// passed on as the gateway worded it (it is meant for clients: an invalid
// token, no access, an offline connector), wrapped around the cause; the
// token appears in neither.
func DialGateway(ctx context.Context, t Target, params map[string]string) (*Upstream, error) {
	u, err := dial(ctx, t, params)
	if err != nil {
		public := &Error{Severity: "FATAL", Code: "08006", Message: "gatehouse: cannot reach the gateway at " + t.Address}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			public = &Error{Severity: pgErr.Severity, Code: pgErr.Code, Message: pgErr.Message, Detail: pgErr.Detail}
		}
		return nil, &causeError{public: public, cause: fmt.Errorf("dial gateway %s: %w", t.Address, err), secret: t.Password}
	}
	return u, nil
}

// Splice carries bytes between client and u unparsed, until either side
// closes or ctx ends: a forwarder's relay, in front of a gateway that
// parses and records the session itself. It closes client and u.
func (u *Upstream) Splice(ctx context.Context, client net.Conn) error {
	defer u.Close()
	defer client.Close()
	stop := context.AfterFunc(ctx, func() {
		client.Close()
		u.conn.Close()
	})
	defer stop()
	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(u.conn, client)
		errc <- err
	}()
	go func() {
		_, err := io.Copy(client, u.conn)
		if err == nil {
			err = errors.New("gateway closed the connection")
		}
		errc <- err
	}()
	err := <-errc
	client.Close()
	u.conn.Close()
	<-errc
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
