package apiserver

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestConnCache: forwarding reuses one connection per leader address (a
// mutual TLS handshake per call and per retry is what elections cost
// before), and close releases them all.
func TestConnCache(t *testing.T) {
	c := newConnCache([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())})
	a1, err := c.get("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := c.get("127.0.0.1:1")
	b, _ := c.get("127.0.0.1:2")
	if a1 != a2 || a1 == b {
		t.Fatalf("same address: same conn %v; other address: other conn %v", a1 == a2, a1 != b)
	}
	c.close()
	if len(c.conns) != 0 {
		t.Fatalf("%d connections left after close", len(c.conns))
	}
}
