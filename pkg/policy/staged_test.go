package policy

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

const stagedLockdown = `kind: Policy
name: web-lockdown
segment: prod
priority: 300
mode: staged
from: "tier: web"
to: "tier: app"
rules:
  - {proto: tcp, ports: [8443], action: deny}
`

// TestStagedParse: mode parses (enforce, staged), round-trips through
// Marshal, and anything else is refused naming the field.
func TestStagedParse(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		staged  bool
		wantErr string
	}{
		{"", false, ""},
		{"mode: enforce\n", false, ""},
		{"mode: staged\n", true, ""},
		{"mode: audit\n", false, `want enforce or staged, got "audit"`},
		{"mode: [staged]\n", false, "want a string"},
	} {
		src := "kind: Policy\nname: p\nsegment: s\n" + tc.mode + "from: \"\"\nto: \"\"\nrules: [{proto: tcp}]\n"
		objs, err := Parse("t.yaml", strings.NewReader(src))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "mode") {
				t.Errorf("%q: error %v, want %q", tc.mode, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.mode, err)
		}
		p := objs[0].(*Policy)
		if p.Staged != tc.staged {
			t.Errorf("%q: staged %v", tc.mode, p.Staged)
		}
		back, err := Parse("m.yaml", strings.NewReader(string(Marshal(objs))))
		if err != nil || back[0].(*Policy).Staged != tc.staged {
			t.Errorf("%q: marshal round trip: %v %s", tc.mode, err, Marshal(objs))
		}
	}
}

// TestStagedNotCompiled: a staged policy changes no entry on any device,
// is validated like any policy, cannot take the name of an enforced one,
// and promoting it (mode enforce) compiles it.
func TestStagedNotCompiled(t *testing.T) {
	m := exampleModel(t)
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Parse("staged.yaml", strings.NewReader(stagedLockdown))
	if err != nil {
		t.Fatal(err)
	}
	staged, _, err := m.With(objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Update(staged)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 0 {
		t.Fatalf("a staged policy changed entries: %v", d)
	}
	// The same name as an enforced policy: refused, nothing changed.
	bad := strings.ReplaceAll(stagedLockdown, "web-lockdown", "web-to-app")
	objs2, _ := Parse("bad.yaml", strings.NewReader(bad))
	if _, _, err := staged.With(objs2, nil); err == nil || !strings.Contains(err.Error(), "web-to-app is enforced") {
		t.Fatalf("staged over enforced: %v", err)
	}
	// A staged policy is validated: an unknown segment is an error.
	objs3, _ := Parse("bad.yaml", strings.NewReader(strings.ReplaceAll(stagedLockdown, "segment: prod", "segment: nope")))
	if _, _, err := staged.With(objs3, nil); err == nil {
		t.Fatal("a staged policy of an unknown segment was accepted")
	}
	// Promote: the same policy, enforced.
	p := *staged.Policies["web-lockdown"]
	p.Staged = false
	promoted, _, err := staged.With([]Object{&p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err = c.Update(promoted)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() == 0 {
		t.Fatal("promoting changed no entry")
	}
	// Staging it again over the enforced one is refused.
	if _, _, err := promoted.With(objs, nil); err == nil {
		t.Fatal("staged over the promoted policy was accepted")
	}
}

// TestEvaluatorDecides: the example's flows, enforced and with a staged
// policy.
func TestEvaluatorDecides(t *testing.T) {
	m := exampleModel(t)
	objs, _ := Parse("staged.yaml", strings.NewReader(stagedLockdown))
	m, _, err := m.With(objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEvaluator(m)
	a := netip.MustParseAddr
	for _, tc := range []struct {
		f                Flow
		verdict, policy  string
		sVerdict, sPolic string
	}{
		{Flow{"prod", a("10.0.0.1"), a("10.0.0.3"), ProtoTCP, 40000, 8080}, "allow", "web-to-app", "allow", "web-to-app"},
		{Flow{"prod", a("10.0.0.1"), a("10.0.0.3"), ProtoTCP, 40000, 8443}, "allow", "web-to-app", "deny", "web-lockdown"},
		{Flow{"prod", a("10.0.0.1"), a("10.0.0.4"), ProtoTCP, 40000, 5432}, "deny", "", "deny", ""},
		{Flow{"prod", a("10.0.0.1"), a("192.0.2.53"), ProtoUDP, 40000, 53}, "allow", "dns", "allow", "dns"},
	} {
		d := e.Decide(tc.f, false)
		s := e.Decide(tc.f, true)
		if d.Verdict != tc.verdict || d.Policy != tc.policy || s.Verdict != tc.sVerdict || s.Policy != tc.sPolic {
			t.Errorf("%+v: enforced %+v, with staged %+v", tc.f, d, s)
		}
	}
	if !e.HasStaged("prod") || e.HasStaged("guest") {
		t.Error("HasStaged")
	}
}

// TestEvaluatorMatchesReference: on the semantics test's random worlds,
// the evaluator decides every flow start (TCP SYN, or a protocol without
// replies) as the reference evaluator does, with every other policy
// staged or enforced.
func TestEvaluatorMatchesReference(t *testing.T) {
	worlds := 40
	if testing.Short() {
		worlds = 10
	}
	checked := 0
	for seed := range worlds {
		w := &world{r: rand.New(rand.NewPCG(uint64(seed), 11))}
		m := w.base(t, 5)
		for i := range 14 {
			if next, _, err := m.With([]Object{w.endpoint(m, i)}, nil); err == nil {
				m = next
			}
		}
		for i := range 10 {
			if next, _, err := m.With([]Object{w.policy(i)}, nil); err == nil {
				m = next
			}
		}
		// Half the policies staged: the enforced view is the model
		// without them, the staged view the model with them enforced.
		staged := NewModel()
		*staged = *m
		enforced := NewModel()
		*enforced = *m
		staged.Policies, enforced.Policies = map[string]*Policy{}, map[string]*Policy{}
		i := 0
		for _, name := range slices.Sorted(mapsKeys(m.Policies)) {
			p := *m.Policies[name]
			staged.Policies[name] = m.Policies[name]
			if i%2 == 1 {
				p.Staged = true
			} else {
				enforced.Policies[name] = m.Policies[name]
			}
			m.Policies[name] = &p
			i++
		}
		e := NewEvaluator(m)
		var eps []*Endpoint
		for _, name := range slices.Sorted(mapsKeys(m.Endpoints)) {
			eps = append(eps, m.Endpoints[name])
		}
		if len(eps) == 0 {
			continue
		}
		for range 300 {
			p := w.packet(eps)
			if p.proto == ProtoTCP {
				p.flags = 0x02
			}
			f := Flow{Segment: p.src.Segment, Src: p.srcIP, Dst: p.dstIP, Proto: p.proto, SPort: p.sport, DPort: p.dport}
			for _, view := range []struct {
				m      *Model
				staged bool
			}{{enforced, false}, {staged, true}} {
				want, who := refDecide(view.m, p)
				got := e.Decide(f, view.staged)
				if got.Verdict != want || len(who) > 0 && !slices.Contains(who, got.Policy) || len(who) == 0 && got.Policy != "" {
					t.Fatalf("seed %d %+v staged %v: reference %s by %v, evaluator %+v\n%s", seed, f, view.staged, want, who, got,
						policiesOf(m, p.src.Segment))
				}
				checked++
			}
		}
	}
	t.Logf("decisions checked: %d", checked)
}
