// Package console serves p4ctl's read-only web console: the fabric, the
// segments with their identity policy matrix, live traffic (denials, the
// flow log and policy hit counters) and the history of changes, as
// embedded static pages fed by JSON and server-sent events. It is a
// client of the node's own northbound API (api/p4ctl/v1), calls only its
// viewer RPCs, and admits browsers with the same authenticator, roles and
// TLS as the API.
package console

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/access"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

//go:embed assets
var assets embed.FS

// Options configure a console.
type Options struct {
	// API is a client of the node's northbound API. The console calls
	// only RPCs the viewer role may call (ReadOnly enforces it on a
	// connection).
	API p4ctlv1.ControllerClient
	// Auth admits browsers: the viewer role, and with TLS a verified
	// client certificate (nil: nobody is authenticated, as on a loopback
	// node without TLS).
	Auth *access.Authenticator
	// Pipeline gives a target's pipeline, for table sizes (nil:
	// pipeline.Embedded).
	Pipeline func(target string) (*pipeline.Pipeline, error)
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// FabricInterval is how often the console reads the devices' status
	// and the topology again while a page shows the fabric although the
	// Watch stream said nothing changed: a safety refresh (0: 30s). The
	// Watch's events make it read them at once; only changes are sent.
	FabricInterval time.Duration
	// CounterInterval is how often the console reads the policy hit
	// counters while a counters stream is open: once for all the open
	// streams (0: 5s); only changes are sent.
	CounterInterval time.Duration
	// KeepAlive is how often an idle event stream sends a comment, so
	// that proxies and browsers keep it open (0: 15s).
	KeepAlive time.Duration
}

// Console is the web console's HTTP handler.
type Console struct {
	o   Options
	mux *http.ServeMux
	hub *hub // the one Watch and counters loop every page shares
}

// New returns the console for o.
func New(o Options) *Console {
	if o.Auth == nil {
		o.Auth, _ = access.NewAuthenticator(access.Config{})
	}
	if o.Pipeline == nil {
		o.Pipeline = pipeline.Embedded
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FabricInterval <= 0 {
		o.FabricInterval = 30 * time.Second
	}
	if o.CounterInterval <= 0 {
		o.CounterInterval = 5 * time.Second
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 15 * time.Second
	}
	c := &Console{o: o, mux: http.NewServeMux()}
	c.hub = newHub(c)
	static, _ := fs.Sub(assets, "assets")
	c.mux.Handle("GET /", noStore(http.FileServerFS(static)))
	c.routes()
	return c
}

// Listener is the name the console's refusals are logged under.
const Listener = "console"

// ServeHTTP admits viewers (with TLS, only with a verified certificate)
// and serves them the console; anything but GET and HEAD is refused. A
// refusal is 401 (no certificate, or one that does not verify) or 403 (a
// role weaker than viewer), with the reason as JSON, as the
// authenticator words it for the API.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var remote net.Addr
	if ap, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		remote = ap
	}
	id, err := c.o.Auth.Authenticate(Listener, remote, r.TLS)
	if err == nil {
		err = c.o.Auth.Require(Listener, remote, id, access.RoleViewer, true, "the console")
	}
	if err != nil {
		code := http.StatusForbidden
		var pe *tlsconf.PeerError
		if errors.As(err, &pe) && pe.Reason != "role" {
			code = http.StatusUnauthorized
		}
		writeError(w, code, err)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, errors.New("the console is read-only: GET only"))
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	// Everything the pages load comes from here; nothing from the
	// internet.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	c.mux.ServeHTTP(w, r)
}

// CheckListen refuses a console address other than loopback without TLS,
// unless insecure (--insecure-listen), as serve treats its other
// listeners; "" (no console) passes.
func CheckListen(addr string, tlsOn, insecure bool) error {
	if addr == "" || tlsOn || insecure || access.Loopback(addr) {
		return nil
	}
	return fmt.Errorf("--ui-addr %s: without TLS p4ctl listens on loopback only; give --tls-cert, --tls-key and --tls-ca (and --tls-client-ca for browsers' certificates), or --insecure-listen", addr)
}

// Serve serves the console on lis until ctx ends, over TLS when cfg is
// not nil (ask for client certificates in it; Auth verifies them).
func (c *Console) Serve(ctx context.Context, lis net.Listener, cfg *tls.Config) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer c.hub.close()
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, TLSConfig: cfg,
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    stdlog.New(io.Discard, "", 0)} // refused handshakes are logged by the authenticator
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		// Event streams end with ctx (BaseContext); the rest get 5s.
		sc, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sc)
	}()
	var err error
	if cfg != nil {
		err = srv.ServeTLS(lis, "", "")
	} else {
		err = srv.Serve(lis)
	}
	cancel()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("console: %w", err)
}

// noStore keeps browsers from caching the pages across upgrades of the
// binary that embeds them.
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}
