package p4rtsim

// Internals for the external tests.

import "github.com/p4ctl/p4ctl/pkg/pipeline"

// Info is the committed pipeline's index (tests of sharing).
func (s *Server) Info() *pipeline.Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// DeviceConfig is the committed device config (tests of sharing).
func (s *Server) DeviceConfig() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.config.GetP4DeviceConfig()
}

// PendingRaws is how many requests' raw entries the codec holds for s.
func (s *Server) PendingRaws() int {
	s.rawMu.Lock()
	defer s.rawMu.Unlock()
	return len(s.raw)
}
