package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// The flow log: the flow starts the switches report, allowed and denied
// (the Flows RPC), each judged on the model (deciding policy, and what
// the staged policies would decide), as a snapshot (/api/v1/flows) and a
// stream (/api/v1/flows/stream), as the denials are.

// FlowView is one flow of the flow log.
type FlowView struct {
	FlowID
	// Verdict is the switch's: allow or deny; DecidedBy what decided it
	// as the switch says (acl, policy, default).
	Verdict   string `json:"verdict"`
	DecidedBy string `json:"decided_by"`
	// Policy is the enforced policy that decides the flow on the current
	// model; "" is the segment default.
	Policy         string `json:"policy"`
	Reply          bool   `json:"reply"`
	ModelDisagrees bool   `json:"model_disagrees"`
	// With staged policies in the segment: what the enforced and staged
	// policies together would decide, and whether a staged one decides.
	StagedVerdict string `json:"staged_verdict"`
	StagedPolicy  string `json:"staged_policy"`
	StagedDecides bool   `json:"staged_decides"`
	// WouldBe says it in words when the staged policies matter ("would
	// be denied by staged web-lockdown"), as p4ctl get flows does; "":
	// they change nothing.
	WouldBe string `json:"would_be"`
	First   int64  `json:"first_unix_ms"`
	Last    int64  `json:"last_unix_ms"`
	Count   uint64 `json:"count"`
}

// FlowsView is a snapshot of the flow log, newest first.
type FlowsView struct {
	Flows []FlowView `json:"flows"`
	// Total is how many flows the filter selects; Flows holds the
	// newest limit of them.
	Total int `json:"total"`
}

// flowFilter is what a flows request selects.
type flowFilter struct {
	req    *p4ctlv1.FlowsRequest
	policy string // a policy name, default or acl
	limit  int
}

// selectorHint is how selectors are written, for the messages refusing
// one.
const selectorHint = `selectors are written as in policies: "tier: web", "tier in (web, app)", "!legacy"`

// parseFlowFilter reads device, from and to (label selectors of the
// source and destination endpoints), verdict (allow or deny), policy (a
// name, default or acl), replies=1 (with the replies of allowed flows),
// staged=1 (only flows the staged policies would decide otherwise),
// since (unix ms; a stream's Last-Event-ID overrides it) and limit. A
// selector that does not parse, another verdict, a bad number or a since
// in the future is 400; a device or policy the model does not have is
// 404.
func parseFlowFilter(r *http.Request, m *model) (flowFilter, error) {
	q := r.URL.Query()
	f := flowFilter{req: &p4ctlv1.FlowsRequest{Device: q.Get("device"), Verdict: strings.TrimSpace(q.Get("verdict")),
		Replies: q.Get("replies") == "1", StagedOnly: q.Get("staged") == "1"}, policy: strings.TrimSpace(q.Get("policy"))}
	if d := f.req.Device; d != "" {
		if _, ok := m.devices[d]; !ok {
			return f, notFound("device %q: not in the model (%s)", d, m.deviceNames())
		}
	}
	switch f.req.Verdict {
	case "", policy.VerdictAllow, policy.VerdictDeny:
	default:
		return f, badRequest("verdict %q: want allow or deny", f.req.Verdict)
	}
	if f.policy != "" {
		if _, ok := m.policies[f.policy]; !ok && f.policy != "default" && f.policy != "acl" {
			return f, notFound("policy %q: not in the model", f.policy)
		}
	}
	for _, side := range []struct {
		name string
		sel  *string
		set  *bool
	}{{"from", &f.req.From, &f.req.FromSet}, {"to", &f.req.To, &f.req.ToSet}} {
		s := strings.TrimSpace(q.Get(side.name))
		if s == "" {
			continue
		}
		if _, err := policy.ParseSelector(s); err != nil {
			return f, badRequest("%s selector %q: %v (%s)", side.name, s, err, selectorHint)
		}
		*side.sel, *side.set = s, true
	}
	since := q.Get("since")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		since = id
	}
	if since != "" {
		ms, err := strconv.ParseInt(since, 10, 64)
		if err != nil || ms < 0 {
			return f, badRequest("since %q: want unix milliseconds", since)
		}
		// The API refuses it too, but a stream's refusal would only come
		// after the 200.
		if t := time.UnixMilli(ms); t.After(time.Now().Add(time.Minute)) {
			return f, badRequest("since %s is in the future", t.UTC().Format(time.RFC3339))
		}
		f.req.SinceUnixMs = ms
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return f, badRequest("limit %q: want a number of flows (0: every one)", l)
		}
		f.limit = n
	}
	return f, nil
}

// match applies the policy filter (the rest the API applies): a name
// selects the flows it decides, enforced or staged; default those the
// segment default decides; acl those an ACL entry decided.
func (f flowFilter) match(v FlowView) bool {
	switch f.policy {
	case "":
		return true
	case "acl":
		return v.DecidedBy == "acl"
	case "default":
		return v.DecidedBy != "acl" && v.Policy == ""
	}
	return v.Policy == f.policy || v.StagedPolicy == f.policy
}

// FlowID is what names a reported flow and its ends, in a flow log
// record and a denial alike.
type FlowID struct {
	// Key names the flow: records of one key replace each other.
	Key         string            `json:"key"`
	Device      string            `json:"device"`
	Segment     string            `json:"segment"`
	InPort      uint32            `json:"in_port"`
	Src         string            `json:"src"`
	Dst         string            `json:"dst"`
	Proto       string            `json:"proto"`
	Sport       uint32            `json:"sport"`
	Dport       uint32            `json:"dport"`
	SrcEndpoint string            `json:"src_endpoint"`
	DstEndpoint string            `json:"dst_endpoint"`
	SrcLabels   map[string]string `json:"src_labels"`
	DstLabels   map[string]string `json:"dst_labels"`
}

// flowRecord is what a FlowRecord and a DenialRecord both say of their
// flow.
type flowRecord interface {
	GetDevice() string
	GetSegment() string
	GetInPort() uint32
	GetSrc() string
	GetDst() string
	GetProto() int32
	GetSport() uint32
	GetDport() uint32
	GetSrcEndpoint() string
	GetDstEndpoint() string
}

// flowID is r's flow, its endpoints' labels from m.
func flowID(m *model, r flowRecord) FlowID {
	labels := func(name string) map[string]string {
		if e := m.endpoints[name]; e != nil && e.Labels != nil {
			return e.Labels
		}
		return map[string]string{}
	}
	return FlowID{Key: fmt.Sprintf("%s|%s|%s|%s|%d|%d", r.GetDevice(), r.GetSegment(), r.GetSrc(), r.GetDst(), r.GetProto(), r.GetDport()),
		Device: r.GetDevice(), Segment: r.GetSegment(), InPort: r.GetInPort(), Src: r.GetSrc(), Dst: r.GetDst(),
		Proto: policy.ProtoName(int(r.GetProto())), Sport: r.GetSport(), Dport: r.GetDport(),
		SrcEndpoint: r.GetSrcEndpoint(), DstEndpoint: r.GetDstEndpoint(), SrcLabels: labels(r.GetSrcEndpoint()), DstLabels: labels(r.GetDstEndpoint())}
}

func flowView(m *model, r *p4ctlv1.FlowRecord) FlowView {
	v := FlowView{FlowID: flowID(m, r),
		Verdict: r.GetVerdict(), DecidedBy: r.GetDecidedBy(), Policy: r.GetPolicy(), Reply: r.GetReply(), ModelDisagrees: r.GetModelDisagrees(),
		StagedVerdict: r.GetStagedVerdict(), StagedPolicy: r.GetStagedPolicy(), StagedDecides: r.GetStagedDecides(),
		First: r.GetFirstUnixMs(), Last: r.GetLastUnixMs(), Count: r.GetCount()}
	v.WouldBe = wouldBe(v)
	return v
}

// wouldBe is what the staged policies would make of a flow, in words, as
// p4ctl get flows says it: "would be denied by staged web-lockdown",
// "would still be allowed by staged web-ok"; "" when the segment has no
// staged policies or they neither decide the flow nor change its verdict.
func wouldBe(v FlowView) string {
	if v.StagedVerdict == "" || v.StagedVerdict == v.Verdict && !v.StagedDecides {
		return ""
	}
	s := "would be "
	if v.StagedVerdict == v.Verdict {
		s = "would still be "
	}
	s += cmp.Or(map[string]string{policy.VerdictAllow: "allowed", policy.VerdictDeny: "denied", policy.VerdictPunt: "punted"}[v.StagedVerdict], v.StagedVerdict)
	switch {
	case v.StagedDecides:
		s += " by staged " + v.StagedPolicy
	case v.StagedPolicy != "":
		s += " by " + v.StagedPolicy
	default:
		s += " by the segment default"
	}
	return s
}

// flows is a snapshot of the flow log the filter selects, newest first.
func (c *Console) flows(ctx context.Context, r *http.Request) (any, error) {
	m, err := c.getModel(ctx)
	if err != nil {
		return nil, err
	}
	f, err := parseFlowFilter(r, m)
	if err != nil {
		return nil, err
	}
	st, err := c.o.API.Flows(ctx, f.req)
	if err != nil {
		return nil, err
	}
	v := FlowsView{Flows: []FlowView{}}
	for {
		rec, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if fv := flowView(m, rec); f.match(fv) {
			v.Flows = append(v.Flows, fv)
		}
	}
	slices.SortStableFunc(v.Flows, func(a, b FlowView) int { return cmp.Compare(b.Last, a.Last) })
	v.Total = len(v.Flows)
	if f.limit > 0 && len(v.Flows) > f.limit {
		v.Flows = v.Flows[:f.limit]
	}
	return v, nil
}

// flowStream streams the flow log the filter selects ("flow" events, id
// the record's last report in unix ms): the records held, then every
// record as it changes (a new flow, or a report of one seen before). A
// reconnecting browser resumes from its Last-Event-ID (a record may come
// twice; the key tells).
func (c *Console) flowStream(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	mctx, mcancel := context.WithTimeout(ctx, apiTimeout)
	m, err := c.getModel(mctx)
	mcancel()
	var f flowFilter
	if err == nil {
		f, err = parseFlowFilter(r, m)
	}
	var st p4ctlv1.Controller_FlowsClient
	if err == nil {
		f.req.Follow = true
		st, err = c.o.API.Flows(ctx, f.req)
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
	follow(ctx, c, s, m, st.Recv, "flows", "flow", func(m *model, rec *p4ctlv1.FlowRecord) (any, bool) {
		fv := flowView(m, rec)
		return fv, f.match(fv)
	})
}
