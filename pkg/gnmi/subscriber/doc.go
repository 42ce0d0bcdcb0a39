// Package subscriber is the controller's gNMI client: it subscribes to one
// device's gNMI server and reports its port state, P4Runtime port ids,
// counters and LLDP neighbors as events (the controller feeds them into
// pkg/topo).
//
// It asks only for standard OpenConfig paths, in JSON_IETF, JSON or PROTO
// as the target offers, so it reads p4ctl's agent (pkg/gnmi/agent) and
// other targets (Stratum) alike.
package subscriber
