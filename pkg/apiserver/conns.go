package apiserver

import (
	"sync"

	"google.golang.org/grpc"
)

// connCache holds one client connection per leader API address. A
// connection is created once and kept: gRPC reconnects it by itself, so
// an election that comes back to a known leader costs no new handshake.
// Addresses of former leaders are kept too (a cluster has few members).
type connCache struct {
	dial []grpc.DialOption

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by address; guarded by mu
}

func newConnCache(dial []grpc.DialOption) *connCache {
	return &connCache{dial: dial, conns: map[string]*grpc.ClientConn{}}
}

func (c *connCache) get(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr, c.dial...)
	if err != nil {
		return nil, err
	}
	c.conns[addr] = cc
	return cc, nil
}

func (c *connCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, cc := range c.conns {
		cc.Close()
		delete(c.conns, addr)
	}
}
