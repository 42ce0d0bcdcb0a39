package swx

import "github.com/p4ctl/p4ctl/pkg/pipeline"

// Rebuild is another build of the program a `dpdk` device config holds:
// the same spec with a comment line added, so that it compiles to the same
// pipeline under another cookie (p4rttest.Target.Rebuild). A config that
// does not unpack is returned as it is.
func Rebuild(deviceConfig []byte) []byte {
	a, err := pipeline.UnpackBfrt(deviceConfig)
	if err != nil || len(a.Profiles) == 0 {
		return deviceConfig
	}
	p := &a.Profiles[0]
	p.Binary = append(append([]byte{}, p.Binary...), "\n; rebuilt\n"...)
	out, err := a.Pack(pipeline.FormatBfrt)
	if err != nil {
		return deviceConfig
	}
	return out
}
