package p4rt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// MaxMessageSize is the gRPC message size limit of a session in both
// directions: large enough for a write batch of tens of thousands of
// entries and for a BMv2 JSON pipeline of several megabytes.
const MaxMessageSize = 256 << 20

// MaxHeaderListSize bounds the gRPC metadata a session accepts; a device's
// error statuses carry one detail per failed update, in trailers.
const MaxHeaderListSize = 16 << 20

// ElectionID is a P4Runtime 128-bit election id; the higher wins.
type ElectionID struct{ High, Low uint64 }

func (e ElectionID) proto() *p4v1.Uint128 { return &p4v1.Uint128{High: e.High, Low: e.Low} }

func (e ElectionID) String() string { return fmt.Sprintf("%d:%d", e.High, e.Low) }

func electionOf(u *p4v1.Uint128) ElectionID { return ElectionID{High: u.GetHigh(), Low: u.GetLow()} }

// Options configure a Session.
type Options struct {
	// DeviceID is the P4Runtime device id of the target.
	DeviceID uint64
	// ElectionID is this client's election id. The zero value is not
	// allowed: P4Runtime reserves it for clients that never write.
	ElectionID ElectionID
	// Role is the P4Runtime role name; "" is the default (full) role.
	Role string
	// TLS, if set, secures the connection (server verification, and a
	// client certificate for mutual TLS when it holds one). Nil means
	// plaintext, meant for loopback and lab networks.
	TLS *tls.Config
	// DialOptions are added after the session's own (message and header
	// size limits, the transport credentials).
	DialOptions []grpc.DialOption
	// Logger receives the session's events; nil means slog.Default().
	Logger *slog.Logger
	// PacketInBuffer is the number of packet-ins held for PacketIn before
	// newer ones are dropped and counted; 0 means 1024.
	PacketInBuffer int
	// MinBackoff and MaxBackoff bound the wait between attempts to reopen
	// a broken stream; it doubles from min to max (defaults 100 ms, 5 s).
	MinBackoff, MaxBackoff time.Duration
}

// ErrNotPrimary is returned by Open when another client holds a higher
// election id for the device.
var ErrNotPrimary = errors.New("not primary")

// Mastership is the arbitration state of a session, as the device last
// reported it.
type Mastership struct {
	// Primary is true when this client may write.
	Primary bool
	// PrimaryID is the primary's election id: the highest the device has
	// seen for the role (zero if there has never been one).
	PrimaryID ElectionID
	// Answer is the device's arbitration status for this client: OK
	// (primary), ALREADY_EXISTS (another client is primary) or NOT_FOUND
	// (there is no primary).
	Answer codes.Code
	// Err is set while the stream is down or was refused (for example a
	// duplicate election id); Primary is then false.
	Err error
}

// Session is a P4Runtime client for one device: a gRPC connection and a
// StreamChannel on which it arbitrates. A goroutine owns the stream for the
// life of the session; when the stream breaks it reopens it with backoff
// and arbitrates again, reporting every mastership change.
//
// Every method may be called from any goroutine, concurrently; writes,
// reads and pipeline pushes block until the device answers or ctx ends,
// and PacketOut until the stream takes the message. MastershipChanges
// (buffered, holding the latest state) and PacketIn (buffered; packets a
// slow reader leaves are dropped and counted) are fed by the session's
// goroutine and never closed: stop reading at Close.
type Session struct {
	addr     string
	deviceID uint64
	election ElectionID // guarded by mu: Rearbitrate changes it
	role     string
	log      *slog.Logger
	minBack  time.Duration
	maxBack  time.Duration

	conn *grpc.ClientConn
	rt   p4v1.P4RuntimeClient

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the stream owner returns

	sendMu sync.Mutex                         // gRPC streams allow one Send at a time
	stream p4v1.P4Runtime_StreamChannelClient // current stream, nil while down; guarded by sendMu

	packetIn chan *p4v1.PacketIn
	digests  chan *p4v1.DigestList
	events   chan Mastership // capacity 1, holds the latest state

	mu          sync.Mutex
	state       Mastership
	answered    chan struct{} // closed at the first arbitration answer or stream failure
	droppedPkts uint64
	droppedDigs uint64

	// running is the P4Info of the pipeline the device runs, when this
	// session pushed it or found its cookie there (nil if unknown);
	// PlanSet takes the table sizes from it.
	running atomic.Pointer[pipeline.Info]
}

// Connect starts a session with the device at addr and returns at once; the
// session arbitrates in the background. Use Mastership or WaitArbitrated to
// learn the outcome, and Close to end it.
func Connect(addr string, o Options) (*Session, error) {
	if o.ElectionID == (ElectionID{}) {
		return nil, fmt.Errorf("p4rt %s: election id 0 cannot write", addr)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	buf := o.PacketInBuffer
	if buf <= 0 {
		buf = 1024
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		creds = credentials.NewTLS(o.TLS)
	}
	dopts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithMaxHeaderListSize(MaxHeaderListSize),
	}, o.DialOptions...)
	conn, err := grpc.NewClient(addr, dopts...)
	if err != nil {
		return nil, fmt.Errorf("p4rt %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		addr:     addr,
		deviceID: o.DeviceID,
		election: o.ElectionID,
		role:     o.Role,
		log:      log.With("device_addr", addr, "device_id", o.DeviceID),
		minBack:  o.MinBackoff,
		maxBack:  o.MaxBackoff,
		conn:     conn,
		rt:       p4v1.NewP4RuntimeClient(conn),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		packetIn: make(chan *p4v1.PacketIn, buf),
		digests:  make(chan *p4v1.DigestList, buf),
		events:   make(chan Mastership, 1),
		answered: make(chan struct{}),
	}
	go s.run()
	return s, nil
}

// Open connects and waits for the device's first arbitration answer. It
// returns a primary session, or ErrNotPrimary (wrapped with the device's
// answer) when another client holds a higher election id.
func Open(ctx context.Context, addr string, o Options) (*Session, error) {
	s, err := Connect(addr, o)
	if err != nil {
		return nil, err
	}
	m, err := s.WaitArbitrated(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	if !m.Primary {
		s.Close()
		return nil, fmt.Errorf("p4rt %s: %w: primary is election id %s", addr, ErrNotPrimary, m.PrimaryID)
	}
	return s, nil
}

// WaitArbitrated waits for the device's first answer to this session's
// arbitration, or for the first stream failure, and returns it.
//
// Transient failures (device not up yet, connection refused, handshake
// failed) are retried until ctx ends; the error then carries the last one.
// A refusal by the device (duplicate election id, unknown device id) is
// returned at once.
func (s *Session) WaitArbitrated(ctx context.Context) (Mastership, error) {
	select {
	case <-s.answered:
	case <-ctx.Done():
		if last := s.Mastership().Err; last != nil {
			return Mastership{}, fmt.Errorf("p4rt %s: arbitration: %w (last error: %v)", s.addr, ctx.Err(), last)
		}
		return Mastership{}, fmt.Errorf("p4rt %s: arbitration: %w", s.addr, ctx.Err())
	}
	m := s.Mastership()
	if m.Err != nil {
		return m, m.Err
	}
	return m, nil
}

// Mastership returns the session's current arbitration state.
func (s *Session) Mastership() Mastership {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// MastershipChanges delivers the session's arbitration state each time it
// changes. It holds only the latest state: a slow reader skips
// intermediate ones but always sees the last.
func (s *Session) MastershipChanges() <-chan Mastership { return s.events }

// ElectionID is the session's own election id.
func (s *Session) ElectionID() ElectionID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.election
}

// Rearbitrate arbitrates the session again with election id id on the
// live stream, as a controller whose role changed does (a new leader
// raising its id, a deposed one stepping down to a backup's): the stream,
// and the device's view of this client, stay. The device's answer comes
// through MastershipChanges; until then Mastership is the old state. With
// the stream down, the next stream arbitrates with id. Writes in flight
// keep the id they were sent with.
func (s *Session) Rearbitrate(id ElectionID) error {
	if id == (ElectionID{}) {
		return fmt.Errorf("p4rt %s: election id 0 cannot write", s.addr)
	}
	s.mu.Lock()
	s.election = id
	s.mu.Unlock()
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.stream == nil {
		return nil
	}
	if err := s.stream.Send(&p4v1.StreamMessageRequest{Update: &p4v1.StreamMessageRequest_Arbitration{Arbitration: s.arbitration(id)}}); err != nil {
		return fmt.Errorf("p4rt %s: rearbitrate: %w", s.addr, err)
	}
	return nil
}

// arbitration is the session's arbitration message with election id id.
func (s *Session) arbitration(id ElectionID) *p4v1.MasterArbitrationUpdate {
	arb := &p4v1.MasterArbitrationUpdate{DeviceId: s.deviceID, ElectionId: id.proto()}
	if s.role != "" {
		arb.Role = &p4v1.Role{Name: s.role}
	}
	return arb
}

// IsPrimary reports whether the device last named this session primary.
func (s *Session) IsPrimary() bool { return s.Mastership().Primary }

func (s *Session) setState(m Mastership) {
	s.mu.Lock()
	changed := m.Primary != s.state.Primary || m.PrimaryID != s.state.PrimaryID || m.Answer != s.state.Answer ||
		(m.Err == nil) != (s.state.Err == nil)
	s.state = m
	if m.Err == nil || !transient(m.Err) {
		select {
		case <-s.answered:
		default:
			close(s.answered)
			changed = true
		}
	}
	s.mu.Unlock()
	if !changed {
		return
	}
	select { // replace a stale unread state
	case <-s.events:
	default:
	}
	s.events <- m
}

// transient reports whether a stream failure may go away by itself (the
// device is not up yet, or the network failed) rather than being the
// device's answer to this client.
func transient(err error) bool {
	switch status.Code(errors.Unwrap(err)) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown, codes.Aborted, codes.Internal:
		return true
	}
	return errors.Is(err, io.EOF)
}

// run owns the stream for the session's life: open, arbitrate, receive,
// and on failure wait and start again.
func (s *Session) run() {
	defer close(s.done)
	backoff := s.minBack
	for {
		err := s.serveStream()
		if s.ctx.Err() != nil {
			return
		}
		s.log.Warn("p4rt stream down", "err", err, "retry_in", backoff)
		s.setState(Mastership{Err: fmt.Errorf("p4rt %s: stream: %w", s.addr, err), PrimaryID: s.Mastership().PrimaryID, Answer: codes.Unavailable})
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, s.maxBack)
	}
}

// serveStream runs one StreamChannel until it fails.
func (s *Session) serveStream() error {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// Fail fast when the device cannot be reached: run retries with its own
	// backoff and reports each failure, which waiting inside gRPC would hide.
	stream, err := s.rt.StreamChannel(ctx)
	if err != nil {
		return err
	}
	s.sendMu.Lock()
	arb := s.arbitration(s.ElectionID())
	s.stream = stream
	err = stream.Send(&p4v1.StreamMessageRequest{Update: &p4v1.StreamMessageRequest_Arbitration{Arbitration: arb}})
	s.sendMu.Unlock()
	defer func() {
		s.sendMu.Lock()
		s.stream = nil
		s.sendMu.Unlock()
	}()
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		switch u := m.GetUpdate().(type) {
		case *p4v1.StreamMessageResponse_Arbitration:
			a := u.Arbitration
			answer := codes.Code(a.GetStatus().GetCode())
			st := Mastership{Primary: answer == codes.OK, PrimaryID: electionOf(a.GetElectionId()), Answer: answer}
			if was := s.Mastership(); was.Primary != st.Primary {
				s.log.Info("p4rt mastership", "primary", st.Primary, "primary_election_id", st.PrimaryID, "election_id", s.ElectionID())
			}
			s.setState(st)
		case *p4v1.StreamMessageResponse_Packet:
			select {
			case s.packetIn <- u.Packet:
			default:
				s.mu.Lock()
				s.droppedPkts++
				s.mu.Unlock()
			}
		case *p4v1.StreamMessageResponse_Digest:
			select {
			case s.digests <- u.Digest:
			default:
				// Unacknowledged: the device sends the list again after
				// its ack timeout.
				s.mu.Lock()
				s.droppedDigs++
				s.mu.Unlock()
			}
		case *p4v1.StreamMessageResponse_Error:
			s.log.Warn("p4rt stream error", "code", codes.Code(u.Error.GetCanonicalCode()), "message", u.Error.GetMessage())
		}
	}
}

func (s *Session) send(m *p4v1.StreamMessageRequest) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.stream == nil {
		return fmt.Errorf("stream is down")
	}
	return s.stream.Send(m)
}

// Close ends the stream and the connection and waits for the session's
// goroutine. It is safe to call more than once.
func (s *Session) Close() error {
	s.cancel()
	<-s.done
	return s.conn.Close()
}

// PacketIn returns the packets the device sends to the controller.
func (s *Session) PacketIn() <-chan *p4v1.PacketIn { return s.packetIn }

// DroppedPacketIns is the number of packet-ins dropped because PacketIn was
// not drained fast enough.
func (s *Session) DroppedPacketIns() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.droppedPkts
}

// PacketOut sends payload to the device's CPU port with the given
// packet_out metadata.
func (s *Session) PacketOut(payload []byte, metadata ...*p4v1.PacketMetadata) error {
	err := s.send(&p4v1.StreamMessageRequest{Update: &p4v1.StreamMessageRequest_Packet{
		Packet: &p4v1.PacketOut{Payload: payload, Metadata: metadata},
	}})
	if err != nil {
		return fmt.Errorf("p4rt %s: packet-out: %w", s.addr, err)
	}
	return nil
}

// SetPipeline installs p on the device with VERIFY_AND_COMMIT, carrying
// p.Cookie so that later sessions can tell which pipeline runs there.
func (s *Session) SetPipeline(ctx context.Context, p *pipeline.Pipeline) error {
	return s.setPipeline(ctx, p, p4v1.SetForwardingPipelineConfigRequest_VERIFY_AND_COMMIT)
}

// Push is how a pipeline reached a device.
type Push string

// Pushes.
const (
	PushNone Push = "" // the device ran it already
	// PushInstall is VERIFY_AND_COMMIT onto a device that ran no
	// pipeline: it enforced nothing before.
	PushInstall Push = "install"
	// PushReconcile is RECONCILE_AND_COMMIT: the device kept the
	// forwarding state the new pipeline can hold, with no gap.
	PushReconcile Push = "reconcile_and_commit"
	// PushVerifyCommit is VERIFY_AND_COMMIT: the device starts with empty
	// tables, to be written again.
	PushVerifyCommit Push = "verify_and_commit"
)

func (s *Session) setPipeline(ctx context.Context, p *pipeline.Pipeline, action p4v1.SetForwardingPipelineConfigRequest_Action) error {
	s.running.Store(nil) // whatever the outcome, the old one may be gone
	_, err := s.rt.SetForwardingPipelineConfig(ctx, &p4v1.SetForwardingPipelineConfigRequest{
		DeviceId:   s.deviceID,
		Role:       s.role,
		ElectionId: s.ElectionID().proto(),
		Action:     action,
		Config: &p4v1.ForwardingPipelineConfig{
			P4Info:         p.Info.P4Info,
			P4DeviceConfig: p.DeviceConfig,
			Cookie:         &p4v1.ForwardingPipelineConfig_Cookie{Cookie: p.Cookie},
		},
	})
	if err != nil {
		return fmt.Errorf("p4rt %s: set pipeline (%s): %w", s.addr, action, err)
	}
	s.running.Store(p.Info)
	return nil
}

// PipelineCookie returns the cookie of the pipeline the device runs, and
// false when it runs none.
func (s *Session) PipelineCookie(ctx context.Context) (uint64, bool, error) {
	resp, err := s.rt.GetForwardingPipelineConfig(ctx, &p4v1.GetForwardingPipelineConfigRequest{
		DeviceId:     s.deviceID,
		ResponseType: p4v1.GetForwardingPipelineConfigRequest_COOKIE_ONLY,
	})
	switch status.Code(err) {
	case codes.OK:
	case codes.FailedPrecondition, codes.NotFound:
		return 0, false, nil // no pipeline yet
	default:
		return 0, false, fmt.Errorf("p4rt %s: get pipeline cookie: %w", s.addr, err)
	}
	c := resp.GetConfig().GetCookie()
	if c == nil {
		return 0, false, nil
	}
	return c.GetCookie(), true, nil
}

// EnsurePipeline pushes p unless the device already runs it (same
// cookie), and says how. When p's target allows it (Target.Reconcile), a
// device that runs another pipeline is asked to RECONCILE_AND_COMMIT,
// which keeps the forwarding state the new pipeline can hold; a device
// that refuses it (Stratum answers UNIMPLEMENTED on every target) gets
// VERIFY_AND_COMMIT, which empties its tables, as do other targets and a
// device that runs no pipeline.
func (s *Session) EnsurePipeline(ctx context.Context, p *pipeline.Pipeline) (Push, error) {
	cookie, ok, err := s.PipelineCookie(ctx)
	if err != nil {
		return PushNone, err
	}
	if ok && cookie == p.Cookie {
		s.running.Store(p.Info)
		return PushNone, nil
	}
	if ok && p.Target.Reconcile {
		err := s.setPipeline(ctx, p, p4v1.SetForwardingPipelineConfigRequest_RECONCILE_AND_COMMIT)
		if err == nil {
			return PushReconcile, nil
		}
		switch status.Code(errors.Unwrap(err)) {
		case codes.PermissionDenied, codes.Canceled, codes.DeadlineExceeded, codes.Unavailable:
			return PushNone, err // not an answer about reconciling
		}
		s.log.Info("device cannot reconcile the pipeline; committing it with empty tables", "err", err)
	}
	if err := s.SetPipeline(ctx, p); err != nil {
		return PushNone, err
	}
	if !ok {
		return PushInstall, nil
	}
	return PushVerifyCommit, nil
}

// UpdateError is the failure of one update of a Write.
type UpdateError struct {
	Index   int // position of the update in the request
	Code    codes.Code
	Message string
}

// WriteError is returned by Write when the device refused some updates; the
// others were applied (P4Runtime writes are not atomic by default).
type WriteError struct {
	Device  string
	Updates []UpdateError // the failed updates only
	Err     error         // the RPC's own status
}

func (e *WriteError) Error() string {
	if len(e.Updates) == 0 {
		return fmt.Sprintf("p4rt %s: write: %v", e.Device, e.Err)
	}
	u := e.Updates[0]
	more := ""
	if len(e.Updates) > 1 {
		more = fmt.Sprintf(" (and %d more failed updates)", len(e.Updates)-1)
	}
	return fmt.Sprintf("p4rt %s: write: update %d: %s: %s%s", e.Device, u.Index, u.Code, u.Message, more)
}

func (e *WriteError) Unwrap() error { return e.Err }

// Write sends updates in one WriteRequest. A refused request returns a
// *WriteError naming each failed update by its index in updates.
func (s *Session) Write(ctx context.Context, updates ...*p4v1.Update) error {
	_, err := s.rt.Write(ctx, &p4v1.WriteRequest{
		DeviceId:   s.deviceID,
		Role:       s.role,
		ElectionId: s.ElectionID().proto(),
		Updates:    updates,
	})
	if err == nil {
		return nil
	}
	return &WriteError{Device: s.addr, Updates: decodeUpdateErrors(err), Err: err}
}

// decodeUpdateErrors extracts the per-update p4.v1.Error details of a
// failed Write, in request order, keeping only the failed ones.
func decodeUpdateErrors(err error) []UpdateError {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	var out []UpdateError
	for i, d := range st.Proto().GetDetails() {
		var pe p4v1.Error
		if d.UnmarshalTo(&pe) != nil {
			continue
		}
		if code.Code(pe.GetCanonicalCode()) == code.Code_OK {
			continue
		}
		out = append(out, UpdateError{Index: i, Code: codes.Code(pe.GetCanonicalCode()), Message: pe.GetMessage()})
	}
	return out
}

// Read streams the entities matching the given (possibly wildcard)
// entities to fn, in the order the device sends them.
func (s *Session) Read(ctx context.Context, entities []*p4v1.Entity, fn func(*p4v1.Entity) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc, err := s.rt.Read(ctx, &p4v1.ReadRequest{DeviceId: s.deviceID, Role: s.role, Entities: entities})
	if err != nil {
		return fmt.Errorf("p4rt %s: read: %w", s.addr, err)
	}
	for {
		resp, err := rc.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("p4rt %s: read: %w", s.addr, err)
		}
		for _, e := range resp.GetEntities() {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
}
