package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// Server-sent events. Every stream starts with a retry hint; when the
// API's stream behind it ends (the node restarts, the leader changes),
// the console sends an "error" event and closes, and the browser's
// EventSource reconnects, giving the id of the last event it saw
// (Last-Event-ID), from which a denial stream resumes.

// retryMillis is the reconnect delay the streams ask browsers for.
const retryMillis = 1000

type eventStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	mu sync.Mutex
}

func startStream(w http.ResponseWriter) (*eventStream, error) {
	s := &eventStream{w: w, rc: http.NewResponseController(w)}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", retryMillis); err != nil {
		return nil, err
	}
	return s, s.rc.Flush()
}

// send writes one event of JSON data.
func (s *eventStream) send(event, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf bytes.Buffer
	if id != "" {
		fmt.Fprintf(&buf, "id: %s\n", id)
	}
	fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", event, b)
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *eventStream) comment(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// fail ends a stream with an "error" event the page shows, saying what
// failed.
func (s *eventStream) fail(what string, err error) {
	_, msg := statusOf(err)
	s.send("error", "", ErrorBody{Error: what + ": " + msg})
}

// recv runs next in a goroutine, delivering what it returns on a channel
// until it fails or ctx ends.
func recv[T any](ctx context.Context, next func() (T, error)) (<-chan T, <-chan error) {
	out, errc := make(chan T), make(chan error, 1)
	go func() {
		for {
			v, err := next()
			if err != nil {
				errc <- err
				return
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, errc
}

// EventModel is the "model" event: the model the node holds is at
// Index.
type EventModel struct {
	Index uint64 `json:"index"`
}

// EventLeader is the "leader" event: the answering node gained or lost
// the lead.
type EventLeader struct {
	Leader bool `json:"leader"`
}

// events streams the node's Watch events ("model", "leader") and, with
// fabric=1, the fabric view ("fabric") whenever it changes. Every page
// shares the console's one Watch (hub.go): the fabric view is read again
// when the Watch says a device's status, the topology, the model or the
// leader changed (and every FabricInterval for safety), once for all the
// pages.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sub, err := c.hub.subscribe(r.URL.Query().Get("fabric") == "1")
	if err != nil {
		code, msg := statusOf(err)
		writeError(w, code, errors.New(msg))
		return
	}
	defer c.hub.unsubscribe(sub)
	s, err := startStream(w)
	if err != nil {
		return
	}
	keep := time.NewTicker(c.o.KeepAlive)
	defer keep.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-sub.notify:
			leaders, model, view, what, ferr := sub.take()
			for _, l := range leaders {
				if err == nil {
					err = s.send("leader", "", l)
				}
			}
			if err == nil && model != nil {
				err = s.send("model", "", model)
			}
			if err == nil && view != nil {
				err = s.send("fabric", "", view)
			}
			if err == nil && ferr != nil {
				s.fail(what, ferr)
				return
			}
		case <-keep.C:
			err = s.comment("keep-alive")
		}
		if err != nil {
			if ctx.Err() == nil {
				s.fail("events", err)
			}
			return
		}
	}
}

// DenialView is one denied flow.
type DenialView struct {
	FlowID
	DeniedBy       string `json:"denied_by"`
	Policy         string `json:"policy"`
	Trace          string `json:"trace"`
	TraceDisagrees bool   `json:"trace_disagrees"`
	First          int64  `json:"first_unix_ms"`
	Last           int64  `json:"last_unix_ms"`
	Count          uint64 `json:"count"`
}

// DenialsView is a snapshot of the denied flows.
type DenialsView struct {
	Denials []DenialView `json:"denials"`
}

// denialFilter is what a denials request selects: a device, label
// selectors on either side, a deciding policy.
type denialFilter struct {
	device, policy string
	src, dst       policy.Selector
	since          int64
}

// parseDenialFilter reads device, src, dst (label selectors as policies
// write them), policy and since (unix ms); a device or policy the model
// does not have, or a selector that does not parse, is an error.
func (c *Console) parseDenialFilter(ctx context.Context, r *http.Request, m *model) (denialFilter, error) {
	q := r.URL.Query()
	f := denialFilter{device: q.Get("device"), policy: q.Get("policy")}
	if f.device != "" {
		if _, ok := m.devices[f.device]; !ok {
			return f, notFound("device %q: not in the model (%s)", f.device, m.deviceNames())
		}
	}
	if f.policy != "" {
		if _, ok := m.policies[f.policy]; !ok && f.policy != "default" && f.policy != "acl" {
			return f, notFound("policy %q: not in the model", f.policy)
		}
	}
	var err error
	for _, side := range []struct {
		name string
		out  *policy.Selector
	}{{"src", &f.src}, {"dst", &f.dst}} {
		if s := strings.TrimSpace(q.Get(side.name)); s != "" {
			if *side.out, err = policy.ParseSelector(s); err != nil {
				return f, badRequest("%s selector %q: %v (selectors are written as in policies: \"tier: web\", \"tier in (web, app)\", \"!legacy\")", side.name, s, err)
			}
		}
	}
	since := q.Get("since")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		since = id
	}
	if since != "" {
		if f.since, err = strconv.ParseInt(since, 10, 64); err != nil || f.since < 0 {
			return f, badRequest("since %q: want unix milliseconds", since)
		}
	}
	return f, nil
}

func (f denialFilter) match(v DenialView) bool {
	if f.policy != "" && v.Policy != f.policy && !(f.policy == "default" && v.Policy == "" && v.DeniedBy == "default") && !(f.policy == "acl" && v.DeniedBy == "acl") {
		return false
	}
	return (f.src == nil || f.src.Matches(v.SrcLabels)) && (f.dst == nil || f.dst.Matches(v.DstLabels))
}

func denialView(m *model, d *p4ctlv1.DenialRecord) DenialView {
	return DenialView{FlowID: flowID(m, d), DeniedBy: d.GetDeniedBy(), Policy: d.GetPolicy(),
		Trace: d.GetTrace(), TraceDisagrees: d.GetTraceDisagrees(), First: d.GetFirstUnixMs(), Last: d.GetLastUnixMs(), Count: d.GetCount()}
}

// denials is a snapshot of the denied flows the filter selects.
func (c *Console) denials(ctx context.Context, r *http.Request) (any, error) {
	m, err := c.getModel(ctx)
	if err != nil {
		return nil, err
	}
	f, err := c.parseDenialFilter(ctx, r, m)
	if err != nil {
		return nil, err
	}
	st, err := c.o.API.Denials(ctx, &p4ctlv1.DenialsRequest{Device: f.device, SinceUnixMs: f.since})
	if err != nil {
		return nil, err
	}
	v := DenialsView{Denials: []DenialView{}}
	for {
		d, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if dv := denialView(m, d); f.match(dv) {
			v.Denials = append(v.Denials, dv)
		}
	}
	return v, nil
}

// denialStream streams the denied flows the filter selects ("denial"
// events, id the record's last report in unix ms): those held, then
// every record as it changes. A reconnecting browser resumes from its
// Last-Event-ID (a record may come twice; the key tells).
func (c *Console) denialStream(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	mctx, mcancel := context.WithTimeout(ctx, apiTimeout)
	m, err := c.getModel(mctx)
	mcancel()
	var f denialFilter
	if err == nil {
		f, err = c.parseDenialFilter(ctx, r, m)
	}
	var st p4ctlv1.Controller_DenialsClient
	if err == nil {
		st, err = c.o.API.Denials(ctx, &p4ctlv1.DenialsRequest{Device: f.device, SinceUnixMs: f.since, Follow: true})
	}
	if err != nil {
		code, msg := statusOf(err)
		writeError(w, code, errors.New(msg))
		return
	}
	s, err := startStream(w)
	if err != nil {
		return
	}
	follow(ctx, c, s, m, st.Recv, "denials", "denial", func(m *model, d *p4ctlv1.DenialRecord) (any, bool) {
		dv := denialView(m, d)
		return dv, f.match(dv)
	})
}

// counterStream sends the policy hit counters ("counters" events) at
// once and whenever they change: the console reads them in one loop for
// every open counters stream, every CounterInterval (the API answers
// counters on request only; the leader reads the devices on its own
// interval). device and policy select, as on /api/v1/counters.
// streamRecord is a record of a followed API stream (denials, flows).
type streamRecord interface {
	GetSrcEndpoint() string
	GetDstEndpoint() string
	GetLastUnixMs() int64
}

// follow sends each record next returns as an SSE event called event,
// with its last report time as the event id, where view (on the model m,
// read again at most once a second when a record names an endpoint it
// lacks) selects it; keep-alives between. An API error ends the stream
// with an error event naming what (the stream's name).
func follow[R streamRecord](ctx context.Context, c *Console, s *eventStream, m *model, next func() (R, error), what, event string, view func(*model, R) (any, bool)) {
	recs, errc := recv(ctx, next)
	keep := time.NewTicker(c.o.KeepAlive)
	defer keep.Stop()
	var refreshed time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-errc:
			if ctx.Err() == nil {
				s.fail(what, err)
			}
			return
		case rec := <-recs:
			// An endpoint the console has not seen: the model changed.
			unknown := func(n string) bool { return n != "" && m.endpoints[n] == nil }
			if (unknown(rec.GetSrcEndpoint()) || unknown(rec.GetDstEndpoint())) && time.Since(refreshed) > time.Second {
				refreshed = time.Now()
				mctx, mcancel := context.WithTimeout(ctx, apiTimeout)
				if nm, err := c.getModel(mctx); err == nil {
					m = nm
				}
				mcancel()
			}
			v, ok := view(m, rec)
			if !ok {
				continue
			}
			if err := s.send(event, strconv.FormatInt(rec.GetLastUnixMs(), 10), v); err != nil {
				return
			}
		case <-keep.C:
			if s.comment("keep-alive") != nil {
				return
			}
		}
	}
}

func (c *Console) counterStream(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	device, pol := q.Get("device"), q.Get("policy")
	if device != "" {
		mctx, cancel := context.WithTimeout(ctx, apiTimeout)
		m, err := c.getKind(mctx, "Device")
		cancel()
		if err == nil {
			if _, ok := m.devices[device]; !ok {
				err = notFound("device %q: not in the model (%s)", device, m.deviceNames())
			}
		}
		if err != nil {
			code, msg := statusOf(err)
			writeError(w, code, errors.New(msg))
			return
		}
	}
	sub := c.hub.subscribeCounters()
	defer c.hub.unsubscribeCounters(sub)
	var v *CountersView
	var err error
	select {
	case <-ctx.Done():
		return
	case <-sub.notify:
		v, err = sub.take()
	}
	if err != nil {
		code, msg := statusOf(err)
		writeError(w, code, errors.New(msg))
		return
	}
	s, err := startStream(w)
	if err != nil {
		return
	}
	v = filterCounters(v, device, pol)
	last, _ := json.Marshal(v)
	if s.send("counters", "", v) != nil {
		return
	}
	keep := time.NewTicker(c.o.KeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keep.C:
			if s.comment("keep-alive") != nil {
				return
			}
		case <-sub.notify:
			v, err := sub.take()
			if err != nil {
				if ctx.Err() == nil {
					s.fail("counters", err)
				}
				return
			}
			if v == nil {
				continue
			}
			v = filterCounters(v, device, pol)
			b, _ := json.Marshal(v)
			if bytes.Equal(b, last) {
				continue
			}
			last = b
			if s.send("counters", "", v) != nil {
				return
			}
		}
	}
}

// filterCounters is what of v a device and a policy select (empty: all),
// as the Counters RPC selects them.
func filterCounters(v *CountersView, device, pol string) *CountersView {
	if device == "" && pol == "" {
		return v
	}
	out := &CountersView{Node: v.Node, Devices: []DeviceCountersView{}}
	for _, d := range v.Devices {
		if device != "" && d.Device != device {
			continue
		}
		if pol != "" {
			ps := []PolicyCountersView{}
			for _, p := range d.Policies {
				if p.Policy == pol {
					ps = append(ps, p)
				}
			}
			d.Policies = ps
		}
		out.Devices = append(out.Devices, d)
	}
	return out
}
