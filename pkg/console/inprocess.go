package console

import (
	"context"
	"errors"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/access"
	"github.com/p4ctl/p4ctl/pkg/apiserver"
)

// PipeListener is an in-memory net.Listener: the node serves its API on
// one for the console, which reaches it without a socket, an address or
// a certificate of its own.
type PipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

// NewPipeListener returns an open PipeListener.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next Dial.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and Dial.
func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a placeholder address.
func (l *PipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial connects to the listener.
func (l *PipeListener) Dial(ctx context.Context, _ string) (net.Conn, error) {
	a, b := net.Pipe()
	select {
	case l.conns <- b:
		return a, nil
	case <-l.done:
		return nil, errors.New("console: the in-process API is closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "in-process" }

// DialInProcess is a read-only client of the API served on l: calls
// of RPCs the viewer role may not make fail before they leave (see
// ReadOnly). Close the connection when done.
func DialInProcess(l *PipeListener) (p4ctlv1.ControllerClient, *grpc.ClientConn, error) {
	cc, err := grpc.NewClient("passthrough:///in-process", append(ReadOnly(),
		grpc.WithContextDialer(l.Dial), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		return nil, nil, err
	}
	return p4ctlv1.NewControllerClient(cc), cc, nil
}

// ReadOnly are dial options that refuse, before sending, every call
// the viewer role may not make (apiserver.RoleFor): whatever the
// connection's own rights, the console cannot change anything.
func ReadOnly() []grpc.DialOption {
	check := func(method string) error {
		if need := apiserver.RoleFor(method); need > access.RoleViewer {
			return status.Errorf(codes.PermissionDenied, "console: %s needs the %s role; the console is read-only", method, need)
		}
		return nil
	}
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if err := check(method); err != nil {
				return err
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			if err := check(method); err != nil {
				return nil, err
			}
			return streamer(ctx, desc, cc, method, opts...)
		}),
	}
}
