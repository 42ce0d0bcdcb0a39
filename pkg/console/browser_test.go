package console

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/p4ctl/p4ctl/pkg/cluster"
)

// screenshots is where the browser test writes a screenshot of each page
// when P4CTL_SCREENSHOTS=1 (make console-test sets it): the README and
// docs/console.md show them. Otherwise they go to a temporary directory,
// so that make test leaves the tree as it was.
const screenshots = "../../docs/img"

// chromium is the path of Debian's chromium (or another Chrome), or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestConsoleBrowser drives the console in headless chromium over the
// DevTools protocol, against a controller on simulated devices holding
// the README example: every device appears on the Fabric page, and a
// click shows its tables; the matrix shows web to app on tcp/8080 allowed
// by web-to-app and web to db denied (db-admin-locked on its admin
// ports, the segment default elsewhere), and a click traces it; a denial
// the switch reports appears on the Traffic page within 2 s, and the
// label filters select it (a bad selector is refused with its reason);
// so does an allowed flow in the flow log, with its deciding policy, the
// verdict filter selecting, and what a staged policy would make of it;
// History lists the revisions. It takes a screenshot of each page
// (docs/img/console-*.png with P4CTL_SCREENSHOTS=1). It skips where
// chromium is absent.
func TestConsoleBrowser(t *testing.T) {
	path := chromium()
	if path == "" {
		t.Skip("console browser test: skipped: chromium not found on PATH (apt-get install chromium)")
	}
	st := startStack(t)
	base := st.serveConsole(t, Options{}, nil)

	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	defer acancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer tcancel()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	// waitFor polls a JavaScript condition until it holds or d passes.
	waitFor := func(what, js string, d time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
			if err == nil && ok {
				return time.Since(start)
			}
			if time.Since(start) > d {
				t.Fatalf("not within %s: %s (%s; last error: %v; page error: %q)", d, what, js, err,
					eval(`document.querySelector('#error').hidden ? '' : document.querySelector('#error').textContent`))
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	page := func(name string) {
		t.Helper()
		do("open "+name, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/%s'`, name)))
		waitFor(name+" page loaded", fmt.Sprintf(`document.body.dataset.ready === %q`, name), 10*time.Second)
		if e := eval(`document.querySelector('#error').hidden ? '' : document.querySelector('#error').textContent`); e != "" {
			t.Fatalf("%s page shows an error: %s", name, e)
		}
	}
	shotDir := screenshots
	if os.Getenv("P4CTL_SCREENSHOTS") != "1" {
		shotDir = t.TempDir()
	}
	shot := func(name string) {
		t.Helper()
		// Let the fresh-row highlight and layout settle.
		time.Sleep(300 * time.Millisecond)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.MkdirAll(shotDir, 0o755); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(shotDir, "console-"+name+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", file, len(png))
	}

	// Fabric: every device, live status; a click shows its tables.
	st.host(t, "leaf1", 1, "hv-web-1")
	st.host(t, "leaf2", 1, "hv-app-2")
	do("open the console", chromedp.Navigate(base+"/#/fabric"))
	waitFor("fabric page loaded", `document.body.dataset.ready === 'fabric'`, 10*time.Second)
	for _, dev := range []string{"leaf1", "leaf2"} {
		row := fmt.Sprintf(`#devices tbody tr[data-device=%q]`, dev)
		do(dev+" listed", chromedp.WaitVisible(chromedp.CSS(row)), chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#fabric-graph .device.ok[data-device=%q]`, dev))))
		// Connected, primary, in sync (the cable the probes find makes
		// the controller write the fabric's entries: it may take a moment).
		waitFor(dev+" in sync", fmt.Sprintf(`(() => { const t = document.querySelector('%s').innerText; return t.includes('bmv2') && t.split('yes').length === 4; })()`, row), 10*time.Second)
	}
	// The cable the probes found and the hosts, drawn and listed (the
	// fabric view is pushed as it changes).
	waitFor("the link and the hosts", `document.querySelectorAll('#fabric-graph line.link:not(.oneway)').length === 1 &&
		document.querySelectorAll('#fabric-graph .host').length === 2 && !!document.querySelector('#hosts tbody tr[data-host="hv-web-1"]') &&
		!!document.querySelector('#links tbody tr[data-link]')`, 15*time.Second)
	if n := eval(`String(document.querySelectorAll('#devices tbody tr').length)`); n != "2" {
		t.Errorf("%s device rows, want 2", n)
	}
	do("leaf1's tables", chromedp.Click(chromedp.CSS(`#devices tbody tr[data-device="leaf1"]`)), chromedp.WaitVisible(chromedp.CSS(`#device-tables`)))
	if txt := eval(`document.querySelector('#device-tables').innerText`); !strings.Contains(txt, "ingress.policy_port") || !strings.Contains(txt, "%") {
		t.Errorf("leaf1's tables: %q", txt)
	}
	waitFor("live updates", `document.querySelector('#live').textContent === 'live'`, 5*time.Second)
	shot("fabric")

	// Segments: the matrix, and a trace from a cell.
	page("segments")
	decision := func(from, to, svc string) string {
		return eval(fmt.Sprintf(`(() => { const el = document.querySelector('td[data-from=%q][data-to=%q] .decision[data-service=%q]');
			return el && el.offsetParent !== null ? el.dataset.verdict + '|' + (el.dataset.default === 'true' ? 'default' : el.dataset.policy) + '|' + el.innerText : 'absent'; })()`, from, to, svc))
	}
	for _, c := range []struct{ from, to, svc, want string }{
		{web, app, "tcp/8080", "allow|web-to-app|tcp/8080 allow web-to-app"},
		{web, app, "tcp/8443", "allow|web-to-app|tcp/8443 allow web-to-app"},
		{web, db, "tcp/9000-9100", "deny|db-admin-locked|tcp/9000-9100 deny db-admin-locked"},
		{web, db, "other", "deny|default|other deny default"},
		{app, db, "tcp/5432", "allow|app-to-db|tcp/5432 allow app-to-db"},
	} {
		if got := strings.Join(strings.Fields(decision(c.from, c.to, c.svc)), " "); got != c.want {
			t.Errorf("matrix %s -> %s %s: %q, want %q", c.from, c.to, c.svc, got, c.want)
		}
	}
	// One service at a time: web to db on the database port is the
	// segment default's deny, marked as default.
	do("pick tcp/5432", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#service-filter'); s.value = 'tcp/5432'; s.dispatchEvent(new Event('change')); })()`))
	if got := decision(web, db, "tcp/5432"); !strings.HasPrefix(got, "deny|default|") {
		t.Errorf("web -> db tcp/5432: %q, want the default deny", got)
	}
	if got := eval(fmt.Sprintf(`document.querySelector('td[data-from=%q][data-to=%q]').className`, web, db)); got != "default" {
		t.Errorf("web -> db's cell class %q on tcp/5432, want default", got)
	}
	do("every service", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#service-filter'); s.value = ''; s.dispatchEvent(new Event('change')); })()`))
	do("trace web -> app tcp/8080", chromedp.Click(chromedp.CSS(fmt.Sprintf(`td[data-from=%q][data-to=%q] .decision[data-service="tcp/8080"]`, web, app))))
	waitFor("the trace", `!!document.querySelector('#trace-verdict')`, 5*time.Second)
	if v := eval(`document.querySelector('#trace-verdict').innerText`); !strings.Contains(v, "allow") || !strings.Contains(v, "web-to-app") {
		t.Errorf("trace verdict %q", v)
	}
	if e := eval(`document.querySelector('#trace-entries').innerText`); !strings.Contains(e, "ingress.policy_port") || !strings.Contains(e, "web-to-app") {
		t.Errorf("trace entries %q", e)
	}
	shot("segments")

	// Traffic: a denial the switch reports shows within 2 s; filters.
	page("traffic")
	waitFor("live denials", `document.querySelector('#live').textContent === 'live'`, 5*time.Second)
	row := `!!document.querySelector('#denials tbody tr[data-src="web-1"][data-dst="db-1"]')`
	st.denial(t, "web-1", "db-1", 1, 5432)
	took := waitFor("the denial on the page", row, 2*time.Second)
	t.Logf("the denial appeared on the Traffic page %s after the switch reported it", took.Round(time.Millisecond))
	if txt := eval(`document.querySelector('#denials tbody tr[data-src="web-1"]').innerText`); !strings.Contains(txt, "tcp/5432") || !strings.Contains(txt, "tier=web") ||
		!strings.Contains(txt, "segment default") {
		t.Errorf("denial row %q", txt)
	}
	filter := func(src string) {
		t.Helper()
		do("filter "+src, chromedp.SetValue(chromedp.CSS(`#denial-filter input[name=src]`), src),
			chromedp.Click(chromedp.CSS(`#denial-filter button[type=submit]`)))
	}
	filter("tier: app")
	waitFor("web's denial filtered out", `!document.querySelector('#denials tbody tr') && !document.querySelector('#denials-empty').hidden`, 5*time.Second)
	filter("tier in (web")
	waitFor("a bad selector refused", `!document.querySelector('#denial-error').hidden`, 5*time.Second)
	if e := eval(`document.querySelector('#denial-error').textContent`); !strings.Contains(e, `src selector "tier in (web"`) {
		t.Errorf("bad selector's error %q", e)
	}
	filter("tier: web")
	waitFor("web's denial back", row+` && document.querySelector('#denial-error').hidden`, 5*time.Second)
	// Still live under the filter.
	st.denial(t, "web-2", "db-1", 2, 9200)
	waitFor("a second denial, filtered in", `!!document.querySelector('#denials tbody tr[data-src="web-2"]')`, 2*time.Second)
	// The flow log: an allowed flow the switch reports shows within 2 s
	// with its verdict and deciding policy; the denials are there too,
	// the segment default's; the verdict filter selects; a bad selector
	// is refused; with a staged policy the flow says what it would be.
	flowRow := `document.querySelector('#flows tbody tr[data-src="web-1"][data-dst="app-1"][data-verdict="allow"]')`
	st.flow(t, "web-1", "app-1", 1, 8080)
	took = waitFor("the allowed flow on the page", "!!"+flowRow, 2*time.Second)
	t.Logf("the allowed flow appeared on the Traffic page %s after the switch reported it", took.Round(time.Millisecond))
	if txt := eval(flowRow + `.innerText`); !strings.Contains(txt, "tcp/8080") || !strings.Contains(txt, "allow") || !strings.Contains(txt, "web-to-app") ||
		!strings.Contains(txt, "tier=app") {
		t.Errorf("allowed flow row %q", txt)
	}
	denyRow := `document.querySelector('#flows tbody tr[data-src="web-1"][data-dst="db-1"][data-verdict="deny"]')`
	if txt := eval(`(() => { const r = ` + denyRow + `; return r ? r.querySelector('.flow-policy').innerText : 'absent'; })()`); txt != "default" {
		t.Errorf("the denied flow's deciding policy %q, want default", txt)
	}
	flowFilter := func(field, value string) {
		t.Helper()
		do("flow filter "+field+" "+value, chromedp.SetValue(chromedp.CSS(`#flow-filter [name=`+field+`]`), value),
			chromedp.Click(chromedp.CSS(`#flow-filter button[type=submit]`)))
	}
	flowFilter("verdict", "deny")
	waitFor("allowed flows filtered out", `!`+flowRow+` && !!`+denyRow, 5*time.Second)
	flowFilter("from", "tier in (web")
	waitFor("a bad flow selector refused", `!document.querySelector('#flow-error').hidden`, 5*time.Second)
	if e := eval(`document.querySelector('#flow-error').textContent`); !strings.Contains(e, `from selector "tier in (web"`) {
		t.Errorf("bad flow selector's error %q", e)
	}
	do("clear the flow filter", chromedp.Click(chromedp.CSS(`#flow-filter button[type=reset]`)))
	waitFor("every flow back", `!!`+flowRow+` && !!`+denyRow+` && document.querySelector('#flow-error').hidden`, 5*time.Second)
	sctx, scancel := context.WithTimeout(cluster.WithClient(context.Background(), "CN=ops-bob"), 20*time.Second)
	defer scancel()
	if _, err := st.ctl.Apply(sctx, "staged.yaml", []byte("kind: Policy\nname: web-lockdown\nsegment: prod\npriority: 300\nmode: staged\n"+
		"from: \"tier: web\"\nto: \"tier: app\"\nrules:\n  - {proto: tcp, ports: [8080], action: deny}\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the controller holds the staged policy", func() bool { return st.ctl.Model().Policies["web-lockdown"] != nil })
	do("reload the flow log", chromedp.Click(chromedp.CSS(`#flow-filter button[type=submit]`)))
	waitFor("what the staged policy would do", `(() => { const r = `+flowRow+`; return !!r && r.querySelector('.flow-staged').innerText === 'would be denied by staged web-lockdown'; })()`, 5*time.Second)
	// Policy hits: the switches count, the page reads them on request;
	// zeroing the view leaves the switches alone.
	waitFor("counters", `document.querySelectorAll('#resets tbody tr').length === 2`, 5*time.Second)
	st.hits(t, "leaf1", "ingress.policy_port", 7)
	do("read the counters", chromedp.Click(chromedp.CSS(`#counters-read`)))
	waitFor("web-to-app's hits", `!!document.querySelector('#counters tbody tr[data-policy="web-to-app"]')`, 5*time.Second)
	if txt := eval(`document.querySelector('#counters tbody tr[data-policy="web-to-app"]').innerText`); !strings.Contains(txt, "14") {
		t.Errorf("web-to-app's hits %q, want 14 (7 on each of its two port entries)", txt)
	}
	do("zero the view", chromedp.Click(chromedp.CSS(`#counters-zero`)))
	if txt := eval(`document.querySelector('#counters tbody tr[data-policy="web-to-app"]').innerText`); strings.Contains(txt, "14") {
		t.Errorf("zeroed view %q", txt)
	}
	do("totals again", chromedp.Click(chromedp.CSS(`#counters-unzero`)))
	shot("traffic")

	// History: the revisions, who and what.
	page("history")
	waitFor("revisions", `document.querySelectorAll('#history tbody tr').length > 0`, 5*time.Second)
	if txt := eval(`document.querySelector('#history tbody').innerText`); !strings.Contains(txt, "+ Policy web-to-app") || !strings.Contains(txt, "+ Device leaf1") ||
		!strings.Contains(txt, "CN=ops-alice") {
		t.Errorf("history %q", txt)
	}
	// A change shows up live, with who made it.
	cctx, ccancel := context.WithTimeout(cluster.WithClient(context.Background(), "CN=ops-bob"), 20*time.Second)
	defer ccancel()
	res, err := st.ctl.Apply(cctx, "web.yaml", []byte("kind: Policy\nname: web-to-app\nsegment: prod\nfrom: \"tier: web\"\nto: \"tier: app\"\n"+
		"rules:\n  - {proto: tcp, ports: [8080, 8443, 9443]}\n  - {proto: icmp}\n  - {proto: icmpv6}\n"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor("the new revision", fmt.Sprintf(`(() => { const r = document.querySelector('#history tbody tr[data-revision="%d"]');
		return !!r && r.innerText.includes('~ Policy web-to-app') && r.innerText.includes('CN=ops-bob'); })()`, res.Index), 2*time.Second)
	shot("history")
}
