package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/apiserver"
	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

// apiClient is how a client command reaches a node's API: its address
// and, when the API serves TLS, the files to verify it and to present a
// client certificate (mutual TLS). They come from the flags, the
// environment and the client config's context (clientconfig.go).
type apiClient struct {
	server  string
	context string
	tls     tlsconf.Files
	fs      *pflag.FlagSet // where the flags were defined: to tell which were given; nil: flags only (serve --join)

	resolved *apiTarget
}

// apiTarget is where a client command goes, once its flags, the
// environment and the config file are read.
type apiTarget struct {
	servers []string
	tls     tlsconf.Files
	context string // the context the TLS files are from, if one
	err     error
}

// envServer names the environment variable that gives the API addresses
// when --server is not.
const envServer = "P4CTL_SERVER"

// flags adds --server (-s), --context and the --tls-* flags to fs.
func (a *apiClient) flags(fs *pflag.FlagSet) {
	fs.StringVarP(&a.server, "server", "s", defaultAPIAddr, "API address of a controller node, or several comma-separated, tried in order until one takes the connection (default $"+envServer+", else the context's servers, else "+defaultAPIAddr+")")
	fs.StringVar(&a.context, "context", "", "the client config's context to use (default $"+envContext+", else the config's current context; see p4ctl config)")
	tlsClientFlags(fs, "tls-", "the API", &a.tls)
	a.fs = fs
}

// changed reports whether flag name was given.
func (a *apiClient) changed(name string) bool { return a.fs != nil && a.fs.Changed(name) }

// target works out, once, the addresses and TLS files: each setting from
// its flag, else the environment, else the context (--context, else
// $P4CTL_CONTEXT, else the config's current context), else the default.
func (a *apiClient) target() *apiTarget {
	if a.resolved == nil {
		a.resolved = a.resolve()
	}
	return a.resolved
}

func (a *apiClient) resolve() *apiTarget {
	t := &apiTarget{tls: a.tls}
	list := a.server
	if a.fs == nil {
		// serve --join: its own flags only.
		t.servers = splitList(list)
		return t
	}
	path, err := clientConfigPath()
	var cfg *clientConfig
	if err == nil {
		cfg, err = loadClientConfig(path)
	}
	name, from := a.context, "--context"
	if !a.changed("context") {
		name, from = os.Getenv(envContext), "$"+envContext
	}
	explicit := name != ""
	if name == "" && cfg != nil {
		name, from = cfg.CurrentContext, "the current context of "+path
	}
	var cx *clientContext
	switch {
	case err != nil && explicit:
		t.err = fmt.Errorf("client config: %w", err)
		return t
	case err != nil:
		// No context asked for: an unreadable config file is not this
		// command's business (p4ctl config says what is wrong with it).
	case name != "":
		var ok bool
		if cx, ok = cfg.find(name); !ok {
			t.err = cfg.notFound(name, from, path)
			return t
		}
	}
	// The addresses: --server, else --context's, else $P4CTL_SERVER, else
	// the context's ($P4CTL_CONTEXT's or the current one's), else the
	// default. The context's TLS files go with them, or with any
	// addresses when the context was asked for by name; a --tls-* flag
	// wins over its setting.
	env := os.Getenv(envServer)
	fromContext := false
	switch {
	case a.changed("server"):
	case a.changed("context") && cx != nil && len(cx.Servers) > 0:
		list, fromContext = strings.Join(cx.Servers, ","), true
	case env != "":
		list = env
	case cx != nil && len(cx.Servers) > 0:
		list, fromContext = strings.Join(cx.Servers, ","), true
	}
	t.servers = splitList(list)
	if cx != nil && (fromContext || explicit) {
		t.context = cx.Name
		ctls := cx.tlsFiles(filepath.Dir(path))
		for _, f := range []struct {
			flag     string
			out, ctx *string
		}{{"tls-ca", &t.tls.CA, &ctls.CA}, {"tls-cert", &t.tls.Cert, &ctls.Cert}, {"tls-key", &t.tls.Key, &ctls.Key}, {"tls-server-name", &t.tls.ServerName, &ctls.ServerName}} {
			if !a.changed(f.flag) {
				*f.out = *f.ctx
			}
		}
	}
	return t
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// servers are the API addresses to try, in order.
func (a *apiClient) servers() []string { return a.target().servers }

// tlsClientFlags adds the flags of a TLS client to fs, named prefix+ca etc.
func tlsClientFlags(fs *pflag.FlagSet, prefix, what string, f *tlsconf.Files) {
	fs.StringVar(&f.CA, prefix+"ca", "", "CA bundle (PEM) that verifies "+what+"; setting any --"+prefix+"* flag turns TLS on")
	fs.StringVar(&f.Cert, prefix+"cert", "", "client certificate (PEM) for mutual TLS with "+what)
	fs.StringVar(&f.Key, prefix+"key", "", "key (PEM) of --"+prefix+"cert")
	fs.StringVar(&f.ServerName, prefix+"server-name", "", "name to verify in the certificate of "+what+" (default: the host dialled)")
}

// dialOptions returns the gRPC transport for f: TLS when any setting is
// given, plaintext otherwise.
func dialOptions(f tlsconf.Files) ([]grpc.DialOption, error) {
	size := grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(apiserver.MaxMessageSize), grpc.MaxCallSendMsgSize(apiserver.MaxMessageSize))
	if !f.Enabled() {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), size}, nil
	}
	cfg, err := f.Client()
	if err != nil {
		return nil, err
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg)), size}, nil
}

// dial connects to the API of a running node: with several addresses, the
// first that takes the connection (gRPC's pick_first over them, in
// order; a node that refuses or goes away is passed over for the next).
func (a *apiClient) dial() (p4ctlv1.ControllerClient, func(), error) {
	t := a.target()
	if t.err != nil {
		return nil, nil, t.err
	}
	opts, err := dialOptions(t.tls)
	if err != nil && t.context != "" {
		return nil, nil, fmt.Errorf("--tls-* or context %q's TLS files: %w", t.context, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--tls-*: %w", err)
	}
	servers := a.servers()
	var target string
	switch len(servers) {
	case 0:
		return nil, nil, errors.New("--server: no address given")
	case 1:
		target = servers[0]
	default:
		r := manual.NewBuilderWithScheme("p4ctl-servers")
		st := resolver.State{}
		for _, s := range servers {
			addr := resolver.Address{Addr: s}
			if host, _, err := net.SplitHostPort(s); err == nil {
				addr.ServerName = host // each node's certificate is checked for its own name
			}
			st.Addresses = append(st.Addresses, addr)
		}
		r.InitialState(st)
		opts = append(opts, grpc.WithResolvers(r))
		target = r.Scheme() + ":///servers"
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("--server %s: %w", strings.Join(servers, ","), err)
	}
	return p4ctlv1.NewControllerClient(conn), func() { conn.Close() }, nil
}

// rpcErr turns a gRPC status into its message, naming the server (nil
// stays nil).
func (a *apiClient) rpcErr(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	servers := a.servers()
	if len(servers) != 1 {
		return fmt.Errorf("%s: %s (%s)", strings.Join(servers, ","), st.Message(), st.Code())
	}
	server := servers[0]
	tlsOn := a.target().tls.Enabled()
	if st.Code() == codes.Unavailable {
		// A TLS client of a plaintext server, or the reverse, sees only a
		// broken connection: say which it is.
		if speaks, perr := tlsconf.Probe(server, 2*time.Second); perr == nil {
			switch {
			case speaks && !tlsOn:
				return fmt.Errorf("%s serves TLS and this client dialled in plaintext: give --tls-ca (and --tls-cert/--tls-key for mutual TLS): %s (%s)", server, st.Message(), st.Code())
			case !speaks && tlsOn:
				return fmt.Errorf("%s serves plaintext and this client dialled with TLS: drop the --tls-* flags: %s (%s)", server, st.Message(), st.Code())
			}
		}
	}
	return fmt.Errorf("%s: %s (%s)", server, st.Message(), st.Code())
}

func withTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), d)
}

// staleNote says on stderr when a follower answered a read, and how stale
// its answer may be (apiserver's staleness headers).
func staleNote(cmd *cobra.Command, hdr metadata.MD) {
	if by := hdr.Get(apiserver.HeaderServedBy); len(by) == 0 || by[0] != "follower" {
		return
	}
	contact, applied := "unknown", "unknown"
	if v := hdr.Get(apiserver.HeaderLastContact); len(v) > 0 {
		contact = v[0] + " ms ago"
		if v[0] == "never" {
			contact = "never"
		}
	}
	if v := hdr.Get(apiserver.HeaderApplied); len(v) > 0 {
		applied = v[0]
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "note: answered by a follower (last heard from the leader: %s; applied index %s): a change committed since may be missing\n", contact, applied)
}

// callAPI dials the API, makes one call with a context that ends after d,
// and names the server in the error.
func callAPI[T any](cmd *cobra.Command, a *apiClient, d time.Duration, call func(context.Context, p4ctlv1.ControllerClient) (T, error)) (T, error) {
	var zero T
	c, ctx, done, err := a.session(cmd, d)
	if err != nil {
		return zero, err
	}
	defer done()
	resp, err := call(ctx, c)
	if err != nil {
		return zero, a.rpcErr(err)
	}
	return resp, nil
}

// session dials the API and gives a context that ends after d; done
// releases both.
func (a *apiClient) session(cmd *cobra.Command, d time.Duration) (p4ctlv1.ControllerClient, context.Context, func(), error) {
	c, closeConn, err := a.dial()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := withTimeout(cmd, d)
	return c, ctx, func() { cancel(); closeConn() }, nil
}

// unknownKind refuses a kind, listing the known ones and the nearest
// (within two edits) as a suggestion.
func unknownKind(kind string, known ...string) error {
	best, dist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(kind), k); d < dist {
			best, dist = k, d
		}
	}
	msg := fmt.Sprintf("unknown kind %q (%s)", kind, strings.Join(known, ", "))
	if best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return errors.New(msg)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
