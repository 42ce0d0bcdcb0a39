package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestFlowLog: the flow log's snapshot and stream. An allowed flow the
// switch reports is streamed within 2 s, judged (its deciding policy)
// and with its endpoints' labels; a denial comes as a flow denied by the
// segment default; the label, verdict and policy filters apply to both;
// bad input is refused with the reason (400, or 404 for what the model
// does not have); with a staged policy a flow says what it would be.
func TestFlowLog(t *testing.T) {
	st := startStack(t)
	base := st.serveConsole(t, Options{KeepAlive: 200 * time.Millisecond}, nil)
	stream := func(q url.Values) (<-chan sseEvent, func()) {
		return openSSE(t, nil, base+"/api/v1/flows/stream?"+q.Encode(), "")
	}
	all, stopAll := stream(nil)
	defer stopAll()
	webAllowed, stopWeb := stream(url.Values{"from": {"tier: web"}, "verdict": {"allow"}})
	defer stopWeb()
	fromApp, stopApp := stream(url.Values{"from": {"tier in (app)"}})
	defer stopApp()
	denied, stopDenied := stream(url.Values{"verdict": {"deny"}})
	defer stopDenied()

	start := time.Now()
	st.flow(t, "web-1", "app-1", 1, 8080)
	ev := next(t, all, "flow", 2*time.Second)
	t.Logf("allowed flow streamed %s after the report", time.Since(start).Round(time.Millisecond))
	var f FlowView
	if err := json.Unmarshal([]byte(ev.data), &f); err != nil {
		t.Fatal(err)
	}
	if f.SrcEndpoint != "web-1" || f.DstEndpoint != "app-1" || f.SrcLabels["tier"] != "web" || f.DstLabels["tier"] != "app" || f.Dport != 8080 ||
		f.Proto != "tcp" || f.Verdict != "allow" || f.DecidedBy != "policy" || f.Policy != "web-to-app" || f.Device != "leaf1" || f.Segment != "prod" ||
		f.Count != 1 || f.First == 0 || f.Last < f.First || f.WouldBe != "" || f.StagedVerdict != "" || ev.id != fmt.Sprint(f.Last) ||
		f.Key != "leaf1|prod|10.0.0.1|10.0.0.3|6|8080" {
		t.Errorf("flow %+v (id %s)", f, ev.id)
	}
	next(t, webAllowed, "flow", 2*time.Second)

	// A denial is in the flow log too, as the segment default's deny.
	st.denial(t, "web-1", "db-1", 1, 5432)
	ev = next(t, denied, "flow", 2*time.Second)
	var d FlowView
	json.Unmarshal([]byte(ev.data), &d)
	if d.Verdict != "deny" || d.DecidedBy != "default" || d.Policy != "" || d.DstEndpoint != "db-1" || d.Dport != 5432 {
		t.Errorf("denied flow %+v", d)
	}
	// The web-allowed stream skips it, the app one got nothing.
	for _, c := range []struct {
		name string
		evs  <-chan sseEvent
	}{{"web, allowed", webAllowed}, {"from app", fromApp}} {
		select {
		case ev := <-c.evs:
			if ev.event == "flow" {
				t.Errorf("the %s stream got %s", c.name, ev.data)
			}
		case <-time.After(300 * time.Millisecond):
		}
	}
	// The same flow reported again comes again, counted.
	st.flow(t, "web-1", "app-1", 1, 8080)
	for {
		var again FlowView
		json.Unmarshal([]byte(next(t, all, "flow", 2*time.Second).data), &again)
		if again.Key == f.Key {
			if again.Count != 2 {
				t.Errorf("reported again: %+v", again)
			}
			break
		}
	}

	// The snapshot, newest first, with the same filters.
	snap := func(q url.Values) FlowsView {
		t.Helper()
		var v FlowsView
		if code, body := get(t, nil, base, "/api/v1/flows?"+q.Encode(), &v); code != 200 {
			t.Fatalf("flows?%s: %d %s", q.Encode(), code, body)
		}
		return v
	}
	v := snap(nil)
	if len(v.Flows) != 2 || v.Total != 2 || v.Flows[0].Key != f.Key || v.Flows[1].Verdict != "deny" {
		t.Errorf("snapshot %+v", v)
	}
	for _, c := range []struct {
		q    url.Values
		want string // the flows' destination endpoints
	}{
		{url.Values{"verdict": {"allow"}}, "app-1"},
		{url.Values{"verdict": {"deny"}}, "db-1"},
		{url.Values{"from": {"tier: web"}, "to": {"tier in (db)"}}, "db-1"},
		{url.Values{"from": {"tier: app"}}, ""},
		{url.Values{"to": {"!legacy"}, "verdict": {"allow"}}, "app-1"},
		{url.Values{"policy": {"web-to-app"}}, "app-1"},
		{url.Values{"policy": {"default"}}, "db-1"},
		{url.Values{"policy": {"acl"}}, ""},
		{url.Values{"device": {"leaf2"}}, ""},
		{url.Values{"since": {fmt.Sprint(time.Now().Add(time.Second).UnixMilli())}}, ""},
		{url.Values{"limit": {"1"}}, "app-1"},
	} {
		var got []string
		v := snap(c.q)
		for _, f := range v.Flows {
			got = append(got, f.DstEndpoint)
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("flows?%s: %q, want %q", c.q.Encode(), got, c.want)
		}
	}
	if v := snap(url.Values{"limit": {"1"}}); v.Total != 2 {
		t.Errorf("limit 1: total %d, want 2", v.Total)
	}

	// Bad input: refused with the reason, the snapshot and the stream.
	for _, path := range []string{"/api/v1/flows", "/api/v1/flows/stream"} {
		wantError(t, base, path+"?from="+url.QueryEscape("tier in (web"), 400, `from selector "tier in (web"`)
		wantError(t, base, path+"?to="+url.QueryEscape("tier notin web"), 400, `to selector "tier notin web"`)
		wantError(t, base, path+"?verdict=maybe", 400, `verdict "maybe": want allow or deny`)
		wantError(t, base, path+"?device=leaf9", 404, `device "leaf9": not in the model`)
		wantError(t, base, path+"?policy=nope", 404, `policy "nope": not in the model`)
		wantError(t, base, path+"?since=yesterday", 400, `since "yesterday"`)
		wantError(t, base, path+"?since="+fmt.Sprint(time.Now().Add(time.Hour).UnixMilli()), 400, "in the future")
		wantError(t, base, path+"?limit=-1", 400, "limit")
	}

	// A staged policy that would deny web to app on 8080: the flow says
	// so, and staged=1 selects it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := st.ctl.Apply(ctx, "staged.yaml", []byte("kind: Policy\nname: web-lockdown\nsegment: prod\npriority: 300\nmode: staged\n"+
		"from: \"tier: web\"\nto: \"tier: app\"\nrules:\n  - {proto: tcp, ports: [8080], action: deny}\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the staged policy judged", func() bool {
		v := snap(url.Values{"staged": {"1"}})
		return len(v.Flows) == 1 && v.Flows[0].Key == f.Key
	})
	s := snap(url.Values{"policy": {"web-lockdown"}})
	if len(s.Flows) != 1 {
		t.Fatalf("flows web-lockdown decides: %+v", s)
	}
	if g := s.Flows[0]; g.Verdict != "allow" || g.Policy != "web-to-app" || g.StagedVerdict != "deny" || g.StagedPolicy != "web-lockdown" || !g.StagedDecides ||
		g.WouldBe != "would be denied by staged web-lockdown" {
		t.Errorf("staged flow %+v", g)
	}
	// The denial's segment has staged policies now; they change nothing.
	if g := snap(url.Values{"verdict": {"deny"}}).Flows[0]; g.StagedVerdict != "deny" || g.WouldBe != "" {
		t.Errorf("denied flow with a staged policy %+v", g)
	}
}
