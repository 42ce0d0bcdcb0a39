package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
)

// Occupant is what a device holds before a benchmark takes it over.
type Occupant struct {
	// Primary is true when another client is primary now; PrimaryID is
	// that client's election id, or the highest the device has seen.
	Primary   bool
	PrimaryID p4rt.ElectionID
	// Cookie is the pipeline's cookie (HasPipeline false: none), and
	// Entries the table entries it holds.
	Cookie      uint64
	HasPipeline bool
	Entries     int
}

// ErrOccupied is wrapped by Run's refusal of a device another client is
// primary of.
var ErrOccupied = errors.New("the device has a primary controller")

// inspectTimeout bounds the look at a device before a run, so an address
// where nothing answers is an error, not a wait.
const inspectTimeout = 10 * time.Second

// Inspect looks at the device at addr as a backup client (the lowest
// election id a client may write with, so it takes nobody's place): who
// is primary, which pipeline it runs, how many entries it holds.
func Inspect(ctx context.Context, addr string, deviceID uint64, dial []grpc.DialOption) (Occupant, error) {
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	// Low ids are what tools pick by default; a random one avoids
	// refusal as a duplicate.
	probe := p4rt.ElectionID{Low: 2 + rand.Uint64N(1<<20)}
	s, err := p4rt.Connect(addr, p4rt.Options{DeviceID: deviceID, ElectionID: probe, DialOptions: dial})
	if err != nil {
		return Occupant{}, err
	}
	defer s.Close()
	m, err := s.WaitArbitrated(ctx)
	if err != nil {
		return Occupant{}, fmt.Errorf("%s: %w", addr, err)
	}
	o := Occupant{PrimaryID: m.PrimaryID}
	if m.Answer == codes.AlreadyExists {
		o.Primary = true
	}
	if o.Cookie, o.HasPipeline, err = s.PipelineCookie(ctx); err != nil {
		return o, err
	}
	if o.HasPipeline {
		err = s.ReadKeys(ctx, []uint32{0}, func(_, _ []byte) error { o.Entries++; return nil })
	}
	return o, err
}

// takeover is the election id a run uses on a device with occupant o:
// one above the highest the device has seen, so that it becomes primary.
func takeover(o Occupant) p4rt.ElectionID {
	id := o.PrimaryID
	if id.Low == ^uint64(0) {
		return p4rt.ElectionID{High: id.High + 1}
	}
	if id == (p4rt.ElectionID{}) {
		return p4rt.ElectionID{Low: 1}
	}
	return p4rt.ElectionID{High: id.High, Low: id.Low + 1}
}

// refusal says what a run would do to an occupied device.
func refusal(addr string, o Occupant) error {
	pipe := "no pipeline"
	if o.HasPipeline {
		pipe = fmt.Sprintf("its pipeline (cookie %d) and erase its %d table entries", o.Cookie, o.Entries)
	}
	return fmt.Errorf("%s: %w (election id %s): a run would take mastership from it, replace %s; give --force to do it anyway", addr, ErrOccupied, o.PrimaryID, pipe)
}
