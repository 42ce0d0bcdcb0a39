package console

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/access"
	"github.com/p4ctl/p4ctl/pkg/tlsconf"
	"github.com/p4ctl/p4ctl/pkg/tlsconf/tlstest"
)

// get fetches base+path and decodes its JSON into v (when not nil),
// returning the status and the raw body.
func get(t *testing.T, c *http.Client, base, path string, v any) (int, string) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(path, "/api/") && ct != "application/json" {
		t.Errorf("GET %s: content type %q", path, ct)
	}
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func wantError(t *testing.T, base, path string, code int, substr string) {
	t.Helper()
	got, body := get(t, nil, base, path, nil)
	var e ErrorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || got != code || !strings.Contains(e.Error, substr) {
		t.Errorf("GET %s: %d %s, want %d with an error saying %q", path, got, body, code, substr)
	}
}

// cell is the decision of the matrix of segment seg for identities from,
// to and service svc.
func cell(t *testing.T, v SegmentsView, seg, from, to, svc string) Decision {
	t.Helper()
	for _, s := range v.Segments {
		if s.Name != seg {
			continue
		}
		for _, c := range s.Matrix {
			if s.Identities[c.From].Key == from && s.Identities[c.To].Key == to {
				for _, d := range c.Decisions {
					if s.Services[d.Service].Label == svc {
						return d
					}
				}
			}
		}
	}
	t.Fatalf("segment %s has no cell %s -> %s for %s", seg, from, to, svc)
	return Decision{}
}

const (
	web = "app=shop,tier=web"
	app = "app=shop,tier=app"
	db  = "app=shop,tier=db"
)

// TestJSON: the shape and content of every JSON endpoint on the example,
// and the errors of bad input.
func TestJSON(t *testing.T) {
	st := startStack(t)
	base := st.serveConsole(t, Options{}, nil)

	// The cable between the leaves, from the controller's own probes,
	// and a host heard on leaf1/1.
	st.host(t, "leaf1", 1, "hv-web-1")
	var f FabricView
	eventually(t, 15*time.Second, "the link both ways and the host", func() bool {
		if code, body := get(t, nil, base, "/api/v1/fabric", &f); code != 200 {
			t.Fatalf("fabric: %d %s", code, body)
		}
		inSync := len(f.Devices) == 2
		for _, d := range f.Devices {
			inSync = inSync && d.InSync
		}
		// The link recompiles the fabric: the devices are written again.
		return len(f.Links) == 1 && f.Links[0].BothWays && len(f.Hosts) == 1 && inSync
	})
	if l := f.Links[0]; !(l.A == "leaf1" && l.APort == 9 && l.B == "leaf2" && l.BPort == 5 || l.A == "leaf2" && l.APort == 5 && l.B == "leaf1" && l.BPort == 9) {
		t.Errorf("link %+v", l)
	}
	if h := f.Hosts[0]; h.Host != "hv-web-1" || h.Device != "leaf1" || h.Port != 1 {
		t.Errorf("host %+v", h)
	}
	if len(f.Devices) != 2 || f.Node != "n1" || f.Leader != "n1" || len(f.Members) != 1 || f.Links == nil || f.Hosts == nil {
		t.Fatalf("fabric %+v", f)
	}
	for _, d := range f.Devices {
		if !d.Connected || !d.Primary || !d.InSync || d.Master != "n1" || d.Target != "bmv2" || d.Entries == 0 || d.DenialLog != "on" ||
			!strings.HasPrefix(d.PipelineCookie, "0x") || !d.Reported {
			t.Errorf("device %+v", d)
		}
	}
	var dd DeviceDetail
	if code, body := get(t, nil, base, "/api/v1/devices/leaf1", &dd); code != 200 {
		t.Fatalf("device: %d %s", code, body)
	}
	var sawPolicy bool
	for _, tb := range dd.Tables {
		if tb.Table == "ingress.policy_port" {
			sawPolicy = tb.Entries > 0 && tb.Size > 0 && tb.Fill > 0 && tb.Fill == float64(tb.Entries)/float64(tb.Size)
		}
	}
	if !sawPolicy || dd.Name != "leaf1" {
		t.Errorf("leaf1's tables: %+v", dd)
	}
	wantError(t, base, "/api/v1/devices/nope", 404, `device "nope": not in the model (devices: leaf1, leaf2)`)

	var sv SegmentsView
	get(t, nil, base, "/api/v1/segments", &sv)
	if len(sv.Segments) != 2 || sv.Revision == 0 {
		t.Fatalf("segments %+v", sv)
	}
	for _, c := range []struct {
		from, to, svc, verdict, policy string
		dflt                           bool
	}{
		{web, app, "tcp/8080", "allow", "web-to-app", false},
		{web, app, "icmp", "allow", "web-to-app", false},
		{web, app, "tcp/5432", "deny", "", true},
		{web, db, "tcp/9000-9100", "deny", "db-admin-locked", false},
		{web, db, "tcp/5432", "deny", "", true},
		{web, db, "other", "deny", "", true},
		{app, db, "tcp/5432", "allow", "app-to-db", false},
		{app, db, "tcp/9000-9100", "deny", "", true},     // db-admin-locked spares the app tier
		{app, web, "icmp", "allow", "web-to-app", false}, // the reply of web-to-app's ICMP
		{app, web, "tcp/8080", "deny", "", true},         // TCP replies need ACK
		{"app=batch", "app=batch", "udp/7000-7010", "allow", "batch-peers", false},
		{"app=batch", web, "udp/7000-7010", "deny", "", true},
	} {
		d := cell(t, sv, "prod", c.from, c.to, c.svc)
		if d.Verdict != c.verdict || d.Policy != c.policy || d.Default != c.dflt {
			t.Errorf("%s -> %s %s: %+v, want %s by %q (default %v)", c.from, c.to, c.svc, d, c.verdict, c.policy, c.dflt)
		}
	}
	if d := cell(t, sv, "guest", "role=guest", "role=guest", "other"); d.Verdict != "allow" || !d.Default {
		t.Errorf("guest: %+v, want the default allow", d)
	}
	for _, s := range sv.Segments {
		if s.Name == "prod" && (len(s.ACL) != 1 || s.ACL[0].Policy != "dns" || s.ACL[0].Rules[0] != "udp/53 allow") {
			t.Errorf("prod's ACL %+v", s.ACL)
		}
	}

	var tv TraceView
	q := url.Values{"from": {web}, "to": {app}, "service": {"tcp/8080"}}
	if code, body := get(t, nil, base, "/api/v1/segments/prod/trace?"+q.Encode(), &tv); code != 200 {
		t.Fatalf("trace: %d %s", code, body)
	}
	if tv.Verdict != "allow" || tv.Policy != "web-to-app" || tv.Agrees == nil || !*tv.Agrees || tv.Packet.Dport != 8080 || tv.Packet.SrcEP != "web-1" {
		t.Errorf("trace %+v", tv)
	}
	var hit bool
	for _, e := range tv.Entries {
		hit = hit || e.Table == "ingress.policy_port" && strings.Contains(strings.Join(e.From, ","), "web-to-app")
	}
	if !hit {
		t.Errorf("trace entries %+v: no ingress.policy_port entry of web-to-app", tv.Entries)
	}
	wantError(t, base, "/api/v1/segments/prod/trace?"+url.Values{"from": {web}, "to": {"tier=none"}, "service": {"tcp/8080"}}.Encode(), 400, "no identity of segment prod")
	wantError(t, base, "/api/v1/segments/prod/trace?"+url.Values{"from": {web}, "to": {app}, "service": {"tcp/1"}}.Encode(), 400, "not a column of segment prod")
	wantError(t, base, "/api/v1/segments/nope/trace", 404, `segment "nope"`)

	get(t, nil, base, "/api/v1/trace?device=leaf1&in_port=1&src=10.0.0.1&dst=10.0.0.4&proto=tcp&dport=5432", &tv)
	if tv.Verdict != "deny" || !strings.Contains(tv.Reason, "segment default") {
		t.Errorf("trace to db on 5432: %+v", tv)
	}
	wantError(t, base, "/api/v1/trace?device=nope&in_port=1&src=10.0.0.1&dst=10.0.0.4", 400, "nope")
	wantError(t, base, "/api/v1/trace?device=leaf1&in_port=1&src=10.0.0.1&dst=10.0.0.4&dport=70000", 400, "dport")
	wantError(t, base, "/api/v1/trace?device=leaf1", 400, "trace needs")

	var hv HistoryView
	get(t, nil, base, "/api/v1/history", &hv)
	if len(hv.Revisions) == 0 || hv.Revisions[0].Time == 0 || len(hv.Revisions[0].Added) == 0 || hv.Revisions[0].Changed == nil {
		t.Errorf("history %+v", hv)
	}
	var cv CountersView
	if code, body := get(t, nil, base, "/api/v1/counters", &cv); code != 200 || len(cv.Devices) != 2 {
		t.Errorf("counters: %d %s", code, body)
	}
	wantError(t, base, "/api/v1/counters?policy=nope", 404, "policy nope")
	var dv DenialsView
	if code, body := get(t, nil, base, "/api/v1/denials", &dv); code != 200 || dv.Denials == nil {
		t.Errorf("denials: %d %s", code, body)
	}
	wantError(t, base, "/api/v1/denials?src="+url.QueryEscape("tier in (web"), 400, `src selector "tier in (web"`)
	wantError(t, base, "/api/v1/denials?device=leaf9", 404, `device "leaf9": not in the model`)
	wantError(t, base, "/api/v1/denials?policy=nope", 404, `policy "nope"`)
	wantError(t, base, "/api/v1/denials?since=yesterday", 400, "since")
	wantError(t, base, "/api/v1/denials/stream?dst="+url.QueryEscape("tier notin web"), 400, "dst selector")
	var fv FlowsView
	if code, body := get(t, nil, base, "/api/v1/flows", &fv); code != 200 || fv.Flows == nil {
		t.Errorf("flows: %d %s", code, body)
	}
	wantError(t, base, "/api/v1/flows?from="+url.QueryEscape("tier in (web"), 400, `from selector "tier in (web"`)
	wantError(t, base, "/api/v1/flows?verdict=maybe", 400, `verdict "maybe": want allow or deny`)
	wantError(t, base, "/api/v1/nope", 404, "no such console endpoint")

	// Read-only: nothing but GET.
	resp, err := http.Post(base+"/api/v1/fabric", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	// The pages themselves, embedded.
	for _, p := range []string{"/", "/app.js", "/app.css"} {
		if code, body := get(t, nil, base, p, nil); code != 200 || len(body) < 100 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
}

// TestMatrixAgreesWithTrace: every cell of the example's matrices, every
// service, traced through the compiled entries, gets the verdict and
// deciding policy the matrix shows.
func TestMatrixAgreesWithTrace(t *testing.T) {
	st := startStack(t)
	base := st.serveConsole(t, Options{}, nil)
	var sv SegmentsView
	get(t, nil, base, "/api/v1/segments", &sv)
	n := 0
	for _, s := range sv.Segments {
		for _, c := range s.Matrix {
			for _, d := range c.Decisions {
				a, b, svc := s.Identities[c.From], s.Identities[c.To], s.Services[d.Service]
				q := url.Values{"from": {a.Key}, "to": {b.Key}, "service": {svc.Label}}
				var tv TraceView
				code, body := get(t, nil, base, "/api/v1/segments/"+s.Name+"/trace?"+q.Encode(), &tv)
				if code == 400 && svc.Label == "icmpv6" && strings.Contains(body, "no packet to trace") && (a.Key == "app=batch" || b.Key == "app=batch") {
					continue // the batch endpoints have no IPv6 address
				}
				if code != 200 {
					t.Errorf("%s -> %s %s: %d %s", a.Key, b.Key, svc.Label, code, body)
					continue
				}
				n++
				if strings.Contains(tv.Note, "traced to itself") {
					// One endpoint: no port delivers it; the policy stage
					// still decides as the matrix says.
					if tv.Verdict != "deny" || (!d.Default && tv.Policy != d.Policy) {
						t.Errorf("%s -> itself %s: trace %s %q (%s), matrix %+v", a.Key, svc.Label, tv.Verdict, tv.Policy, tv.Reason, d)
					}
					continue
				}
				if tv.Agrees == nil || !*tv.Agrees {
					t.Errorf("%s -> %s %s: trace %s by %q (%s), matrix %+v", a.Key, b.Key, svc.Label, tv.Verdict, tv.Policy, tv.Reason, d)
				}
			}
		}
	}
	if n < 100 {
		t.Errorf("%d cells traced", n)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct{ id, event, data string }

// openSSE opens an event stream and delivers its events until the
// response ends (the channel is then closed).
func openSSE(t *testing.T, c *http.Client, u string, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			case strings.HasPrefix(line, "retry: "):
				if line != fmt.Sprintf("retry: %d", retryMillis) {
					t.Errorf("retry line %q", line)
				}
			}
		}
	}()
	return out, cancel
}

// next is the next event of name, skipping others, within d.
func next(t *testing.T, evs <-chan sseEvent, name string, d time.Duration) sseEvent {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("the stream ended before a %s event", name)
			}
			if ev.event == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", name, d)
		}
	}
}

// TestDenialStream: a denied flow is streamed within 2 s with the labels
// of its endpoints; the label filters apply; a stream that reconnects
// with Last-Event-ID resumes from there (the records seen before it are
// not sent again unless they changed).
func TestDenialStream(t *testing.T) {
	st := startStack(t)
	base := st.serveConsole(t, Options{KeepAlive: 200 * time.Millisecond}, nil)
	all, stopAll := openSSE(t, nil, base+"/api/v1/denials/stream", "")
	defer stopAll()
	webOnly, stopWeb := openSSE(t, nil, base+"/api/v1/denials/stream?src="+url.QueryEscape("tier: web"), "")
	defer stopWeb()
	appOnly, stopApp := openSSE(t, nil, base+"/api/v1/denials/stream?src="+url.QueryEscape("tier in (app)"), "")
	defer stopApp()

	start := time.Now()
	st.denial(t, "web-1", "db-1", 1, 5432)
	ev := next(t, all, "denial", 2*time.Second)
	t.Logf("denial streamed %s after the report", time.Since(start).Round(time.Millisecond))
	var d DenialView
	if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
		t.Fatal(err)
	}
	if d.SrcEndpoint != "web-1" || d.DstEndpoint != "db-1" || d.SrcLabels["tier"] != "web" || d.DstLabels["tier"] != "db" || d.Dport != 5432 ||
		d.Proto != "tcp" || d.DeniedBy != "default" || d.Device != "leaf1" || ev.id != fmt.Sprint(d.Last) {
		t.Errorf("denial %+v (id %s)", d, ev.id)
	}
	next(t, webOnly, "denial", 2*time.Second)
	select {
	case ev := <-appOnly:
		if ev.event == "denial" {
			t.Errorf("the app-only stream got %s", ev.data)
		}
	case <-time.After(300 * time.Millisecond):
	}

	// Reconnect after the first record with its id: only what is newer.
	stopAll()
	time.Sleep(20 * time.Millisecond)
	st.denial(t, "web-1", "db-1", 1, 22)
	again, stopAgain := openSSE(t, nil, base+"/api/v1/denials/stream", fmt.Sprint(d.Last+1))
	defer stopAgain()
	ev = next(t, again, "denial", 2*time.Second)
	var d2 DenialView
	json.Unmarshal([]byte(ev.data), &d2)
	if d2.Dport != 22 {
		t.Errorf("after reconnecting: %+v, want the flow to port 22 only", d2)
	}
	// The keep-alive comments keep an idle stream open: it is still
	// there, and still delivers.
	time.Sleep(500 * time.Millisecond)
	st.denial(t, "web-2", "db-1", 2, 443)
	ev = next(t, again, "denial", 2*time.Second)
	json.Unmarshal([]byte(ev.data), &d2)
	if d2.SrcEndpoint != "web-2" {
		t.Errorf("later: %+v", d2)
	}
	// The snapshot endpoint applies the same filter.
	var dv DenialsView
	get(t, nil, base, "/api/v1/denials?dst="+url.QueryEscape("tier: db")+"&src="+url.QueryEscape("!batch"), &dv)
	if len(dv.Denials) != 3 {
		t.Errorf("snapshot: %+v", dv)
	}
	get(t, nil, base, "/api/v1/denials?policy=default&device=leaf2", &dv)
	if len(dv.Denials) != 0 {
		t.Errorf("leaf2's denials: %+v", dv)
	}
}

// TestEvents: the model stream sends the current index, then every
// change; with fabric=1 the fabric view when it changes; the counter
// stream its first view at once. When the API goes away the stream ends
// with an error event, which makes a browser reconnect.
func TestEvents(t *testing.T) {
	st := startStack(t)
	base := st.serveConsole(t, Options{FabricInterval: 100 * time.Millisecond}, nil)
	evs, stop := openSSE(t, nil, base+"/api/v1/events?fabric=1", "")
	defer stop()
	var m EventModel
	json.Unmarshal([]byte(next(t, evs, "model", 5*time.Second).data), &m)
	if m.Index != st.ctl.ModelIndex() {
		t.Errorf("first model event %d, model at %d", m.Index, st.ctl.ModelIndex())
	}
	var f FabricView
	json.Unmarshal([]byte(next(t, evs, "fabric", 5*time.Second).data), &f)
	if len(f.Devices) != 2 {
		t.Errorf("fabric event %+v", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := st.ctl.Apply(ctx, "more.yaml", []byte("kind: Endpoint\nname: db-2\nsegment: prod\nmac: 02:00:00:00:02:04\nips: [10.0.2.4]\ndevice: leaf2\nport: 1\nlabels: {app: shop, tier: db}\n")); err != nil {
		t.Fatal(err)
	}
	// A topology change (the probes find the cable) recompiles at the
	// same index: wait for the change's.
	deadline := time.Now().Add(5 * time.Second)
	for m2 := m; m2.Index <= m.Index; {
		json.Unmarshal([]byte(next(t, evs, "model", time.Until(deadline)).data), &m2)
	}
	// The fabric view follows (entries of leaf2 change).
	next(t, evs, "fabric", 5*time.Second)

	cs, stopC := openSSE(t, nil, base+"/api/v1/counters/stream", "")
	defer stopC()
	var cv CountersView
	json.Unmarshal([]byte(next(t, cs, "counters", 5*time.Second).data), &cv)
	if len(cv.Devices) != 2 {
		t.Errorf("counters event %+v", cv)
	}

	// The API stops: the stream says so and ends (the API gives its
	// streams up to 5 s).
	st.stopAPI()
	e := next(t, evs, "error", 10*time.Second)
	if !strings.Contains(e.data, "controller API") {
		t.Errorf("error event %s", e.data)
	}
	for range evs {
	}
	// A reconnect now is refused with the reason, as JSON.
	code, body := get(t, nil, base, "/api/v1/events", nil)
	if code != http.StatusServiceUnavailable && code != http.StatusBadGateway {
		t.Errorf("events without an API: %d %s", code, body)
	}
}

// TestReadOnly: the in-process client refuses, before sending, every
// RPC above the viewer role.
func TestReadOnly(t *testing.T) {
	st := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, call := range map[string]func() error{
		"Apply": func() error {
			_, err := st.client.Apply(ctx, &p4ctlv1.ApplyRequest{File: "x", Docs: []byte("kind: Segment\nname: x\nid: 9\n")})
			return err
		},
		"Delete":   func() error { _, err := st.client.Delete(ctx, &p4ctlv1.DeleteRequest{}); return err },
		"Rollback": func() error { _, err := st.client.Rollback(ctx, &p4ctlv1.RollbackRequest{Revision: 1}); return err },
		"Leave":    func() error { _, err := st.client.Leave(ctx, &p4ctlv1.LeaveRequest{Id: "n1"}); return err },
	} {
		if err := call(); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "the console is read-only") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := st.client.ClusterStatus(ctx, &p4ctlv1.ClusterStatusRequest{}); err != nil {
		t.Errorf("a viewer call: %v", err)
	}
}

// TestTLSAndRoles: with TLS the console admits a viewer's certificate
// (and stronger roles), refuses a client without one (401), one of
// another CA (401) or one without a role (403), each with the reason;
// without TLS a console address off loopback is refused unless
// --insecure-listen.
func TestTLSAndRoles(t *testing.T) {
	st := startStack(t)
	pki := tlstest.New(t)
	roles, err := access.NewRoles([]string{"CN=p4ctl test viewer"}, []string{"CN=p4ctl test operator"}, []string{"CN=p4ctl test admin"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := tlsconf.NewVerifier(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	members, err := tlsconf.NewVerifier(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := access.NewAuthenticator(access.Config{TLS: true, Clients: clients, Members: members, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsconf.Files{Cert: pki.ServerCert, Key: pki.ServerKey}.ServerRequestingClientCerts()
	if err != nil {
		t.Fatal(err)
	}
	base := st.serveConsole(t, Options{Auth: auth}, cfg)
	client := func(cert, key string) *http.Client {
		ca, err := os.ReadFile(pki.CA)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		tc := &tls.Config{RootCAs: pool}
		if cert != "" {
			kp, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{kp}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 20 * time.Second}
	}
	issue := func(cn string, o tlstest.Options) *http.Client {
		o.CN = cn
		c, k := pki.IssueWith(t, strings.ReplaceAll(cn, " ", "-"), o)
		return client(c, k)
	}
	for _, c := range []struct {
		who    string
		client *http.Client
		code   int
		says   string
	}{
		{"viewer", issue("p4ctl test viewer", tlstest.Options{}), 200, ""},
		{"operator", issue("p4ctl test operator", tlstest.Options{}), 200, ""},
		{"no role", issue("p4ctl test nobody", tlstest.Options{}), 403, "needs the viewer role"},
		{"no certificate", client("", ""), 401, "no certificate presented"},
		{"another CA", issue("p4ctl test viewer", tlstest.Options{ByOther: true}), 401, "unknown authority"},
		{"expired", issue("p4ctl test viewer", tlstest.Options{NotAfter: time.Now().Add(-time.Minute)}), 401, "expired"},
	} {
		for _, p := range []string{"/", "/api/v1/fabric"} {
			code, body := get(t, c.client, base, p, nil)
			if code != c.code || !strings.Contains(body, c.says) {
				t.Errorf("%s, %s: %d %q, want %d saying %q", c.who, p, code, strings.TrimSpace(body), c.code, c.says)
			}
		}
	}
	// A viewer's event stream over TLS.
	evs, stop := openSSE(t, issue("p4ctl test viewer", tlstest.Options{}), base+"/api/v1/events", "")
	next(t, evs, "model", 5*time.Second)
	stop()
	// Plaintext to the TLS port gets nothing.
	if resp, err := http.Get("http://" + strings.TrimPrefix(base, "https://") + "/api/v1/fabric"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plaintext request served")
		}
		resp.Body.Close()
	}

	for _, c := range []struct {
		addr          string
		tls, insecure bool
		ok            bool
	}{
		{"", false, false, true}, // no console
		{"127.0.0.1:9700", false, false, true},
		{"localhost:9700", false, false, true},
		{"[::1]:9700", false, false, true},
		{"0.0.0.0:9700", false, false, false},
		{":9700", false, false, false},
		{"10.1.2.3:9700", false, true, true},
		{"0.0.0.0:9700", true, false, true},
	} {
		err := CheckListen(c.addr, c.tls, c.insecure)
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "--insecure-listen")) {
			t.Errorf("CheckListen(%s, tls %v, insecure %v): %v", c.addr, c.tls, c.insecure, err)
		}
	}
}
