package p4rtsim

import (
	"context"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// SetForwardingPipelineConfig verifies, saves and commits pipelines. A
// commit replaces the forwarding state: every table, group and counter
// starts empty, as on a switch that loads a new program.
func (s *Server) SetForwardingPipelineConfig(_ context.Context, req *p4v1.SetForwardingPipelineConfigRequest) (*p4v1.SetForwardingPipelineConfigResponse, error) {
	if err := s.checkDevice(req.GetDeviceId()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkPrimary(req.GetRole(), req.GetElectionId()); err != nil {
		return nil, err
	}
	verify := func() (*sharedPipeline, error) {
		cfg := req.GetConfig()
		if cfg == nil || cfg.GetP4Info() == nil {
			return nil, status.Error(codes.InvalidArgument, "config without P4Info")
		}
		if len(cfg.GetP4DeviceConfig()) == 0 {
			return nil, status.Error(codes.InvalidArgument, "config without p4_device_config")
		}
		sp, err := pipelines.get(cfg)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "invalid P4Info: %v", err)
		}
		if b := s.opts.Backend; b != nil {
			if err := b.Verify(sp.backend()); err != nil {
				return nil, backendError(err, codes.InvalidArgument)
			}
		}
		return sp, nil
	}
	// load runs sp on the backend, if there is one; on failure the
	// running pipeline and the server's state are untouched.
	load := func(sp *sharedPipeline) error {
		if b := s.opts.Backend; b != nil {
			if err := b.Load(sp.backend()); err != nil {
				return backendError(err, codes.Internal)
			}
		}
		return nil
	}
	var cookie *p4v1.ForwardingPipelineConfig_Cookie
	if c := req.GetConfig().GetCookie(); c != nil {
		cookie = &p4v1.ForwardingPipelineConfig_Cookie{Cookie: c.GetCookie()}
	}
	switch req.GetAction() {
	case p4v1.SetForwardingPipelineConfigRequest_VERIFY:
		_, err := verify()
		return &p4v1.SetForwardingPipelineConfigResponse{}, err
	case p4v1.SetForwardingPipelineConfigRequest_VERIFY_AND_SAVE:
		sp, err := verify()
		if err != nil {
			return nil, err
		}
		s.saved, s.savedCookie = sp, cookie
	case p4v1.SetForwardingPipelineConfigRequest_VERIFY_AND_COMMIT:
		sp, err := verify()
		if err != nil {
			return nil, err
		}
		if err := load(sp); err != nil {
			return nil, err
		}
		s.commit(sp, cookie)
	case p4v1.SetForwardingPipelineConfigRequest_RECONCILE_AND_COMMIT:
		if s.opts.NoReconcile || s.opts.Backend != nil {
			return nil, status.Error(codes.Unimplemented, "RECONCILE_AND_COMMIT is not supported by this target")
		}
		sp, err := verify()
		if err != nil {
			return nil, err
		}
		s.reconcileCommit(sp, cookie)
	case p4v1.SetForwardingPipelineConfigRequest_COMMIT:
		if s.saved == nil {
			return nil, status.Error(codes.FailedPrecondition, "COMMIT without a saved config")
		}
		if err := load(s.saved); err != nil {
			return nil, err
		}
		s.commit(s.saved, s.savedCookie)
		s.saved, s.savedCookie = nil, nil
	default:
		return nil, status.Errorf(codes.Unimplemented, "pipeline action %s is not supported", req.GetAction())
	}
	return &p4v1.SetForwardingPipelineConfigResponse{}, nil
}

// commit installs a pipeline with empty forwarding state. Callers hold mu.
func (s *Server) commit(sp *sharedPipeline, cookie *p4v1.ForwardingPipelineConfig_Cookie) {
	s.config = sp.configWith(cookie)
	s.pipe, s.info = sp, sp.info
	s.tables = map[uint32]*table{}
	s.order = make([]*table, 0, len(sp.info.Tables()))
	for _, t := range sp.info.Tables() {
		size := t.Size
		if s.opts.TableSize > 0 {
			size = s.opts.TableSize
		}
		tb := &table{info: t, size: size}
		s.tables[t.ID] = tb
		s.order = append(s.order, tb)
	}
	s.groups = map[uint32]*p4v1.MulticastGroupEntry{}
	s.digests = map[uint32]*digestState{}
	s.indexed = map[uint32]*indexedCounter{}
	for _, c := range sp.info.Counters() {
		s.indexed[c.ID] = &indexedCounter{size: c.Size}
	}
	s.log.Info("pipeline committed", "cookie", cookie.GetCookie(), "tables", len(s.tables))
}

// reconcileCommit installs a pipeline keeping the forwarding state the
// new one can hold, as PI does: the entries of every table whose id,
// match fields and actions are the same in both pipelines stay, with
// the multicast groups; other tables start empty. Callers hold mu.
func (s *Server) reconcileCommit(sp *sharedPipeline, cookie *p4v1.ForwardingPipelineConfig_Cookie) {
	old, oldGroups := s.tables, s.groups
	s.commit(sp, cookie)
	kept := 0
	for id, t := range s.tables {
		o := old[id]
		if o == nil || !sameShape(o.info, t.info) {
			continue
		}
		t.store, t.deflt = o.store, o.deflt
		kept += o.store.count()
	}
	s.groups = oldGroups
	s.log.Info("pipeline reconciled", "cookie", cookie.GetCookie(), "entries_kept", kept)
}

// sameShape reports whether entries of table a mean the same in b.
func sameShape(a, b *pipeline.Table) bool {
	if a.Name != b.Name || len(a.Fields) != len(b.Fields) || len(a.Actions) != len(b.Actions) {
		return false
	}
	for i, f := range a.Fields {
		g := b.Fields[i]
		if f.ID != g.ID || f.Bitwidth != g.Bitwidth || f.Kind != g.Kind {
			return false
		}
	}
	for i, x := range a.Actions {
		y := b.Actions[i]
		if x.Action.ID != y.Action.ID || len(x.Action.Params) != len(y.Action.Params) {
			return false
		}
		for j, p := range x.Action.Params {
			if p.ID != y.Action.Params[j].ID || p.Bitwidth != y.Action.Params[j].Bitwidth {
				return false
			}
		}
	}
	return true
}

// GetForwardingPipelineConfig returns the committed pipeline, in the parts
// the request asks for.
func (s *Server) GetForwardingPipelineConfig(_ context.Context, req *p4v1.GetForwardingPipelineConfigRequest) (*p4v1.GetForwardingPipelineConfigResponse, error) {
	if err := s.checkDevice(req.GetDeviceId()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.config == nil {
		return nil, status.Error(codes.FailedPrecondition, "no forwarding pipeline config set")
	}
	out := &p4v1.ForwardingPipelineConfig{Cookie: s.config.GetCookie()}
	switch req.GetResponseType() {
	case p4v1.GetForwardingPipelineConfigRequest_ALL:
		out.P4Info = s.config.GetP4Info()
		out.P4DeviceConfig = s.config.GetP4DeviceConfig()
	case p4v1.GetForwardingPipelineConfigRequest_COOKIE_ONLY:
	case p4v1.GetForwardingPipelineConfigRequest_P4INFO_AND_COOKIE:
		out.P4Info = s.config.GetP4Info()
	case p4v1.GetForwardingPipelineConfigRequest_DEVICE_CONFIG_AND_COOKIE:
		out.P4DeviceConfig = s.config.GetP4DeviceConfig()
	}
	return &p4v1.GetForwardingPipelineConfigResponse{Config: out}, nil
}
