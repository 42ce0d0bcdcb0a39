package access

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

type identityKey struct{}

// FromContext is the identity the interceptors authenticated for the call
// ctx belongs to.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// WithIdentity is ctx carrying id (for tests and in-process callers).
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// Interceptors authenticate every call on a gRPC server and check the
// role need(method) asks for; the identity is in the handler's context
// (FromContext). A refusal is Unauthenticated, with the certificate's
// problem (no certificate, expired, unknown authority), or
// PermissionDenied naming the role needed and the one held.
func (a *Authenticator) Interceptors(listener string, need func(method string) Role) []grpc.ServerOption {
	check := func(ctx context.Context, method string) (context.Context, error) {
		var remote net.Addr
		var cs *tls.ConnectionState
		if p, ok := peer.FromContext(ctx); ok {
			remote = p.Addr
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
				cs = &ti.State
			}
		}
		id, err := a.Authenticate(listener, remote, cs)
		if err != nil {
			return nil, status.Errorf(codes.Unauthenticated, "%s refused: %v", shortMethod(method), err)
		}
		if err := a.Require(listener, remote, id, need(method), false, shortMethod(method)); err != nil {
			return nil, status.Error(codes.PermissionDenied, err.Error())
		}
		return WithIdentity(ctx, id), nil
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ctx, err := check(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ctx, err := check(ss.Context(), info.FullMethod)
			if err != nil {
				return err
			}
			return h(srv, &identityStream{ServerStream: ss, ctx: ctx})
		}),
	}
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

func shortMethod(full string) string { return full[strings.LastIndex(full, "/")+1:] }

// Handler serves h to peers with role need; with TLS on, only to peers
// that presented a verified certificate. A refusal is 401 (no or a bad
// certificate) or 403 (too weak a role) with the reason as text.
func (a *Authenticator) Handler(listener string, need Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var remote net.Addr
		if ap, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
			remote = ap
		}
		id, err := a.Authenticate(listener, remote, r.TLS)
		if err == nil {
			err = a.Require(listener, remote, id, need, true, r.URL.Path)
		}
		if err != nil {
			code := http.StatusForbidden
			var pe *tlsconf.PeerError
			if errors.As(err, &pe) && pe.Reason != "role" {
				code = http.StatusUnauthorized
			}
			http.Error(w, err.Error(), code)
			return
		}
		h.ServeHTTP(w, r)
	})
}
