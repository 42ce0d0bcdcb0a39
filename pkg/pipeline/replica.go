package pipeline

import p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

// Replica is a multicast group replica to port, instance 0. It names the
// port as egress_port, which P4Runtime 1.4 deprecates for the bytes field
// port: PI (BMv2) takes both and reads back what was written, but targets
// built against an older P4Runtime (Stratum among them) know only
// egress_port. This is the one place that writes it.
func Replica(port uint32) *p4v1.Replica {
	//lint:ignore SA1019 egress_port is what every target reads; see above.
	return &p4v1.Replica{PortKind: &p4v1.Replica_EgressPort{EgressPort: port}}
}

// ReplicaPort is the port a replica names, in either form: egress_port,
// or port as a big-endian bytestring of at most 4 bytes.
func ReplicaPort(r *p4v1.Replica) (uint32, bool) {
	switch k := r.GetPortKind().(type) {
	case *p4v1.Replica_EgressPort:
		//lint:ignore SA1019 read for the targets that write it; see Replica.
		return k.EgressPort, true
	case *p4v1.Replica_Port:
		v := Canonical(k.Port)
		if len(v) > 4 {
			return 0, false
		}
		n := uint32(0)
		for _, b := range v {
			n = n<<8 | uint32(b)
		}
		return n, true
	}
	return 0, false
}
