package p4rtsim

// Pipelines shared by the devices of a process (sharedPipeline).

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"sync"
	"weak"

	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// sharedPipeline is a pipeline as the devices that run it share it: the
// P4Info, the device config and the P4Info's index, one copy for every
// device of the process that was given the same bytes. It is immutable.
type sharedPipeline struct {
	p4info       *p4cfg.P4Info
	deviceConfig []byte
	info         *pipeline.Info
}

// pipelineCache finds the sharedPipeline of a config. It holds them weakly:
// one no device holds any more is collected and forgotten.
type pipelineCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]weak.Pointer[sharedPipeline]
}

// pipelines is the process's cache: a fleet of a thousand devices running
// one program parses its P4Info once and keeps one copy of its (BMv2: some
// hundreds of kilobytes) device config.
var pipelines = &pipelineCache{m: map[[sha256.Size]byte]weak.Pointer[sharedPipeline]{}}

// get returns the shared form of cfg's P4Info and device config, indexing
// the P4Info if no live device has the same. It fails when the P4Info is
// invalid.
func (pc *pipelineCache) get(cfg *p4v1.ForwardingPipelineConfig) (*sharedPipeline, error) {
	p4b, err := proto.MarshalOptions{Deterministic: true}.Marshal(cfg.GetP4Info())
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(p4b))))
	h.Write(p4b)
	h.Write(cfg.GetP4DeviceConfig())
	var key [sha256.Size]byte
	h.Sum(key[:0])

	pc.mu.Lock()
	defer pc.mu.Unlock()
	if sp := pc.m[key].Value(); sp != nil {
		return sp, nil
	}
	p4info := proto.Clone(cfg.GetP4Info()).(*p4cfg.P4Info)
	info, err := pipeline.NewInfo(p4info)
	if err != nil {
		return nil, err
	}
	sp := &sharedPipeline{p4info: p4info, deviceConfig: bytes.Clone(cfg.GetP4DeviceConfig()), info: info}
	pc.m[key] = weak.Make(sp)
	runtime.AddCleanup(sp, pc.forget, key)
	return sp, nil
}

// forget drops key once its pipeline is collected (and not replaced).
func (pc *pipelineCache) forget(key [sha256.Size]byte) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if wp, ok := pc.m[key]; ok && wp.Value() == nil {
		delete(pc.m, key)
	}
}

// configWith is the config a device reports: the shared parts and its
// own cookie.
func (sp *sharedPipeline) configWith(cookie *p4v1.ForwardingPipelineConfig_Cookie) *p4v1.ForwardingPipelineConfig {
	return &p4v1.ForwardingPipelineConfig{P4Info: sp.p4info, P4DeviceConfig: sp.deviceConfig, Cookie: cookie}
}
