package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/p4ctl/p4ctl/pkg/tlsconf"
	"github.com/p4ctl/p4ctl/pkg/tlsconf/tlstest"
)

// memberCN is the common name prefix the TLS tests' members have.
const memberCN = "p4ctl member "

func memberOnly(c *x509.Certificate) error {
	if !strings.HasPrefix(c.Subject.CommonName, memberCN) {
		return fmt.Errorf("%s is not a member", c.Subject.CommonName)
	}
	return nil
}

// tlsNode starts a node whose raft speaks mutual TLS with cert and key.
func tlsNode(t *testing.T, pki *tlstest.PKI, id, cert, key string, bootstrap bool) *Node {
	t.Helper()
	peers, err := tlsconf.Files{Cert: cert, Key: key, CA: pki.CA}.Peers(memberOnly)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fast(id, t.TempDir(), bootstrap)
	cfg.TLS, cfg.PeerRecheck = peers, 100*time.Millisecond
	return start(t, cfg)
}

// attacker is hashicorp/raft's own network transport dialling with tlsCfg
// (nil: plaintext), as a program that speaks raft would.
type attackLayer struct {
	tlsCfg *tls.Config
	lis    net.Listener
}

func (a *attackLayer) Accept() (net.Conn, error) { return a.lis.Accept() }
func (a *attackLayer) Close() error              { return a.lis.Close() }
func (a *attackLayer) Addr() net.Addr            { return a.lis.Addr() }
func (a *attackLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil || a.tlsCfg == nil {
		return c, err
	}
	tc := tls.Client(c, a.tlsCfg)
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

func attacker(t *testing.T, tlsCfg *tls.Config) *raft.NetworkTransport {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransport(&attackLayer{tlsCfg: tlsCfg, lis: lis}, 1, 2*time.Second, os.Stderr)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// clientTLS is what an attacker holding cert (none when empty) presents.
func clientTLS(t *testing.T, cert, key string) *tls.Config {
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg
}

// forged is an allow-all change claiming to come from ci-bot.
func forged(t *testing.T) []byte {
	b, err := json.Marshal(command{Op: "apply", File: "forged.yaml", Client: "CN=ci-bot", Time: time.Now(),
		Docs: "kind: Segment\nname: forged\nid: 999\ndefault: allow\n"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRaftTLSRefusesIntruders: on a three-node cluster whose raft speaks
// mutual TLS, a program using hashicorp/raft's own transport sends
// AppendEntries with a forged change at term+1 and RequestVote at term+100
// to a follower: with no certificate, another CA's certificate (with a
// member's name), the cluster CA's certificate of a non-member (a
// viewer), and in plaintext. None is answered and nothing changes on any
// node; the same attack with a member's certificate is answered, which
// shows the attack itself works.
func TestRaftTLSRefusesIntruders(t *testing.T) {
	pki := tlstest.New(t)
	var nodes []*Node
	for i := 1; i <= 3; i++ {
		cert, key := pki.IssueWith(t, fmt.Sprintf("n%d", i), tlstest.Options{CN: fmt.Sprintf("%sn%d", memberCN, i)})
		nodes = append(nodes, tlsNode(t, pki, fmt.Sprintf("n%d", i), cert, key, i == 1))
	}
	n1 := waitLeader(t, nodes[0])
	for _, n := range nodes[1:] {
		if err := n1.Join(ctxT(t, 10*time.Second), n.ID(), n.RaftAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n1.Apply(ctxT(t, 10*time.Second), "seg.yaml", example(t)); err != nil {
		t.Fatal(err)
	}
	follower := nodes[2]
	leader := waitLeader(t, nodes...)
	waitIndex(t, follower, leader)
	modelBefore, indexBefore := follower.Model()
	termBefore := follower.Term()

	otherCert, otherKey := pki.IssueWith(t, "other", tlstest.Options{CN: memberCN + "evil", ByOther: true})
	viewerCert, viewerKey := pki.IssueWith(t, "viewer", tlstest.Options{CN: "p4ctl viewer"})
	cases := []struct {
		name string
		tls  *tls.Config
	}{
		{"no certificate", clientTLS(t, "", "")},
		{"another CA's certificate", clientTLS(t, otherCert, otherKey)},
		{"a viewer's certificate", clientTLS(t, viewerCert, viewerKey)},
		{"plaintext", nil},
	}
	attack := func(tr *raft.NetworkTransport) (resp raft.AppendEntriesResponse, appendErr, voteErr error) {
		term := follower.Term()
		lastIdx := follower.raft.LastIndex()
		req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("intruder"), Addr: []byte(tr.LocalAddr())},
			Term: term + 1, PrevLogEntry: lastIdx, PrevLogTerm: term, LeaderCommitIndex: lastIdx + 1,
			Entries: []*raft.Log{{Index: lastIdx + 1, Term: term + 1, Type: raft.LogCommand, Data: forged(t)}}}
		appendErr = tr.AppendEntries(raft.ServerID(follower.ID()), raft.ServerAddress(follower.RaftAddr()), req, &resp)
		var vote raft.RequestVoteResponse
		voteErr = tr.RequestVote(raft.ServerID(follower.ID()), raft.ServerAddress(follower.RaftAddr()),
			&raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("intruder"), Addr: []byte(tr.LocalAddr())},
				Term: term + 100, LastLogIndex: lastIdx + 100, LastLogTerm: term + 100}, &vote)
		return
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			_, appendErr, voteErr := attack(attacker(t, tt.tls))
			t.Logf("AppendEntries: %v; RequestVote: %v", appendErr, voteErr)
			if appendErr == nil || voteErr == nil {
				t.Fatalf("AppendEntries: %v, RequestVote: %v; want both refused", appendErr, voteErr)
			}
			for _, n := range nodes {
				if m, _ := n.Model(); m.Segments["forged"] != nil {
					t.Fatalf("%s holds the forged segment", n.ID())
				}
			}
			if got := follower.Term(); got != termBefore {
				t.Fatalf("the follower's term moved from %d to %d", termBefore, got)
			}
			if m, at := follower.Model(); m != modelBefore || at != indexBefore {
				t.Fatalf("the follower's model moved from index %d to %d", indexBefore, at)
			}
		})
	}
	// The control: a member's certificate is let in, and the follower
	// takes the higher term (the leader steps down when it hears of it).
	cert, key := pki.IssueWith(t, "rogue-member", tlstest.Options{CN: memberCN + "rogue"})
	resp, appendErr, _ := attack(attacker(t, clientTLS(t, cert, key)))
	if appendErr != nil {
		t.Fatalf("a member's AppendEntries was refused: %v", appendErr)
	}
	if resp.Term <= termBefore {
		t.Fatalf("the follower answered term %d to a member at term %d", resp.Term, termBefore+1)
	}
}

func waitIndex(t *testing.T, n, leader *Node) {
	t.Helper()
	_, want := leader.Model()
	if err := n.WaitApplied(ctxT(t, 10*time.Second), want); err != nil {
		t.Fatal(err)
	}
}

// TestRaftTLSCertificateExpiry: a member whose certificate expires is cut
// off (its live connections closed at the next recheck, new ones refused)
// and falls behind; a new certificate written over the old files brings it
// back without a restart.
func TestRaftTLSCertificateExpiry(t *testing.T) {
	pki := tlstest.New(t)
	var nodes []*Node
	for i := 1; i <= 3; i++ {
		o := tlstest.Options{CN: fmt.Sprintf("%sn%d", memberCN, i)}
		if i == 3 {
			o.NotAfter = time.Now().Add(5 * time.Second)
		}
		cert, key := pki.IssueWith(t, fmt.Sprintf("n%d", i), o)
		nodes = append(nodes, tlsNode(t, pki, fmt.Sprintf("n%d", i), cert, key, i == 1))
	}
	n1 := waitLeader(t, nodes[0])
	for _, n := range nodes[1:] {
		if err := n1.Join(ctxT(t, 10*time.Second), n.ID(), n.RaftAddr()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := n1.Apply(ctxT(t, 10*time.Second), "seg.yaml", example(t))
	if err != nil {
		t.Fatal(err)
	}
	n3 := nodes[2]
	if err := n3.WaitApplied(ctxT(t, 10*time.Second), res.Index); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	time.Sleep(time.Until(time.Now().Add(5 * time.Second))) // the certificate's life; nothing to wait on but the clock
	// n1 and n2 keep a quorum; n3 must not see what they commit now.
	var idx uint64
	deadline := time.Now().Add(15 * time.Second)
	for {
		leader := waitLeader(t, nodes[0], nodes[1])
		r, err := leader.Apply(ctxT(t, 5*time.Second), "more.yaml", []byte("kind: Segment\nname: after-expiry\nid: 77\n"))
		if err == nil {
			idx = r.Index
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 and n2 could not commit after n3's certificate expired: %v", err)
		}
	}
	if err := n3.WaitApplied(ctxT(t, 2*time.Second), idx); err == nil {
		t.Fatal("n3 applied a change committed after its certificate expired")
	}
	// Rotation without restart: a fresh certificate over n3's files.
	cert, key := pki.IssueWith(t, "n3-renewed", tlstest.Options{CN: memberCN + "n3"})
	tlstest.Replace(t, cert, pki.Path("n3.pem"))
	tlstest.Replace(t, key, pki.Path("n3-key.pem"))
	if err := n3.WaitApplied(ctxT(t, 20*time.Second), idx); err != nil {
		t.Fatalf("after renewing n3's certificate: %v", err)
	}
}

// TestRaftMixedModes: a TLS leader refuses to add a plaintext node, and a
// plaintext node refuses a TLS connection; each says which member and
// why.
func TestRaftMixedModes(t *testing.T) {
	pki := tlstest.New(t)
	cert, key := pki.IssueWith(t, "n1", tlstest.Options{CN: memberCN + "n1"})
	n1 := tlsNode(t, pki, "n1", cert, key, true)
	waitLeader(t, n1)
	plain := start(t, fast("p2", t.TempDir(), false))
	err := n1.Join(ctxT(t, 10*time.Second), "p2", plain.RaftAddr())
	if err == nil || !strings.Contains(err.Error(), "member p2 at "+plain.RaftAddr()+" speaks plaintext raft and this node uses TLS") {
		t.Fatalf("join of a plaintext node: %v", err)
	}
	if len(n1.Status().Members) != 1 {
		t.Fatalf("members after a refused join: %+v", n1.Status().Members)
	}
	// Without TLS, raft listens on loopback only unless told otherwise.
	cfg := fast("p3", t.TempDir(), true)
	cfg.RaftAddr = "0.0.0.0:0"
	if _, err := Start(cfg); err == nil || !strings.Contains(err.Error(), "raft address 0.0.0.0:0: without TLS raft listens on loopback only") {
		t.Fatalf("plaintext raft on 0.0.0.0: %v", err)
	}
	// A node whose own certificate is not a member's cannot start with TLS.
	vc, vk := pki.IssueWith(t, "viewer", tlstest.Options{CN: "p4ctl viewer"})
	peers, err := tlsconf.Files{Cert: vc, Key: vk, CA: pki.CA}.Peers(memberOnly)
	if err != nil {
		t.Fatal(err)
	}
	cfg = fast("v", t.TempDir(), true)
	cfg.TLS = peers
	var pe *tlsconf.PeerError
	if _, err := Start(cfg); !errors.As(err, &pe) || pe.Reason != tlsconf.ReasonNotAuthorized {
		t.Fatalf("a node with a viewer's certificate: %v", err)
	}
}
