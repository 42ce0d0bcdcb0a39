package swxtests

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// TestBadInput: a spec the pipeline refuses, a P4Info that does not match
// the spec, a port the device does not have, an unknown table, a value
// wider than its field: each a clear error, and the running pipeline
// forwards as before.
func TestBadInput(t *testing.T) {
	requireDPDK(t)
	ctx := ctxT(t)
	p := env.pipe
	web, app := h(t, "web-1"), h(t, "app-1")
	forwards := func(when string) {
		t.Helper()
		tok := token(t)
		send(t, web.Port, tcp(web, app, 40001, 8080, true, false).WithToken(tok).Frame(t))
		expectDelivery(t, tok, app.Port)
		if t.Failed() {
			t.Fatalf("the pipeline stopped forwarding %s", when)
		}
	}
	forwards("before")

	a, err := pipeline.UnpackBfrt(p.DeviceConfig)
	if err != nil {
		t.Fatal(err)
	}
	a.Profiles[0].Binary = append([]byte("this is not a spec\n"), a.Profiles[0].Binary...)
	bad, err := a.Pack(pipeline.FormatBfrt)
	if err != nil {
		t.Fatal(err)
	}
	err = env.sess.SetPipeline(ctx, &pipeline.Pipeline{Target: p.Target, Info: p.Info, DeviceConfig: bad, Cookie: 0xbad})
	t.Logf("refused spec: %v", err)
	if !p4rttest.HasCode(err, codes.InvalidArgument) || !strings.Contains(err.Error(), "refuses the spec") {
		t.Errorf("refused spec: err = %v, want INVALID_ARGUMENT saying the pipeline refuses the spec", err)
	}
	forwards("after a refused spec")

	p4i := proto.Clone(p.Info.P4Info).(*p4cfg.P4Info)
	for _, act := range p4i.GetActions() {
		if act.GetPreamble().GetName() == "set_egress_port" {
			act.Params = append(act.Params, &p4cfg.Action_Param{Id: 99, Name: "vlan", Bitwidth: 12})
		}
	}
	other, err := pipeline.NewInfo(p4i)
	if err != nil {
		t.Fatal(err)
	}
	err = env.sess.SetPipeline(ctx, &pipeline.Pipeline{Target: p.Target, Info: other, DeviceConfig: p.DeviceConfig, Cookie: 0xbad2})
	t.Logf("mismatched P4Info: %v", err)
	if !p4rttest.HasCode(err, codes.InvalidArgument) || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched P4Info: err = %v", err)
	}
	forwards("after a mismatched P4Info")
	if cookie, ok, err := env.sess.PipelineCookie(ctx); err != nil || !ok || cookie != p.Cookie {
		t.Errorf("cookie after refused pushes: %#x %v %v, want %#x", cookie, ok, err, p.Cookie)
	}

	U := pipeline.Uint
	eg, err := p.Info.NewEntry("egress.ports").Exact("egress_port", U(9)).Action("set_egress_port",
		pipeline.P("port", U(9)), pipeline.P("segment", U(10)), pipeline.P("role", U(0)), pipeline.P("community", U(0)), pipeline.P("tagged", U(0))).Build()
	if err != nil {
		t.Fatal(err)
	}
	wide := pipeline.NormalizeEntry(eg)
	wide.Match[0].GetExact().Value = []byte{1, 0, 0, 0, 0}
	unknown := pipeline.NormalizeEntry(eg)
	unknown.TableId = 12345
	up := func(e *p4v1.TableEntry) *p4v1.Update {
		return &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}}
	}
	err = env.sess.Write(ctx, up(eg), up(wide), up(unknown))
	var we *p4rt.WriteError
	if !errors.As(err, &we) {
		t.Fatalf("err = %v, want a WriteError", err)
	}
	got := map[int]string{}
	for _, u := range we.Updates {
		got[u.Index] = u.Code.String() + ": " + u.Message
		t.Logf("update %d: %s", u.Index, got[u.Index])
	}
	if !strings.Contains(got[0], "InvalidArgument") || !strings.Contains(got[0], "port 9 does not exist") {
		t.Errorf("missing port: %q", got[0])
	}
	if !strings.Contains(got[1], "InvalidArgument") {
		t.Errorf("value too wide: %q", got[1])
	}
	if !strings.Contains(got[2], "NotFound") {
		t.Errorf("unknown table: %q", got[2])
	}
	forwards("after refused writes")
}

// TestMissingPortRefused: a port whose device cannot be created stops the
// server at start, naming the port.
func TestMissingPortRefused(t *testing.T) {
	requireDPDK(t)
	cmd := exec.Command(env.bin, "--listen", "127.0.0.1:0", "--work-dir", env.workDir, "--dpdk-src", DPDKSource(),
		"--port", "1=net_af_packet0,iface=p4ctl-no-such-if")
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("p4ctl-swx with a missing port did not exit")
	}
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "port 1:") {
		t.Errorf("exit %d, output:\n%s\nwant a failure naming port 1", cmd.ProcessState.ExitCode(), out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("refusal: %s", lines[len(lines)-1])
}
