package policy

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// testTargets loads the embedded BMv2 pipeline once for every test.
var testTargets Targets = func() Targets {
	var once sync.Once
	var p *pipeline.Pipeline
	var err error
	return func(name string) (*pipeline.Pipeline, error) {
		if name != "bmv2" {
			return pipeline.Embedded(name)
		}
		once.Do(func() { p, err = pipeline.Embedded("bmv2") })
		return p, err
	}
}()

func mustModel(t testing.TB, src string) *Model {
	t.Helper()
	objs, err := Parse("test.yaml", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func parseMAC(s string) ([]byte, error) { return net.ParseMAC(s) }
