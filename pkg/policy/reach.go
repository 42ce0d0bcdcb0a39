package policy

import "fmt"

// Destination identities: which devices hold which endpoints'
// ingress.dst_identity_v4/_v6 rows.
//
// The rule: device D holds the destination-identity rows of identity t
// exactly when D holds a policy row (any policy table, any action, a
// forward row or the reply row of an allow) whose source identity has an
// endpoint on D and whose destination identity is t. Policy rows live on
// the devices of their source identity (place onIdentity), so these are
// the destinations D's own endpoints have a rule about.
//
// Why no packet's fate changes, against writing every endpoint of a
// segment on every device of the segment. The destination identity is
// looked up only for IP packets from an access port (traffic from an
// uplink skips the identity stages; ARP and neighbour discovery are
// forwarded before them), after anti-spoofing has given the packet the
// source identity s of an endpoint on D. The ACL matches addresses, not
// identities, and the segment default does not look at identities; the
// destination identity is read only as a key of the policy tables, every
// one of which is keyed on (source identity, destination identity). Say
// the destination address belongs to an endpoint of identity t. If D
// holds t's rows, the lookup is the one it always was. If it does not, no
// policy row on D has source s (s is local) and destination t, so with t
// every policy table missed, and without it (identity 0, which no row
// names: ids start at 1) every policy table misses: the same miss, the
// same ACL verdict, segment default, rank, counters and deciding entry.
// Deny and punt rows keep their destinations written like allow rows do,
// so rank order among a pair's rules is untouched, and a default-allow
// segment needs no rows of its own: a destination no local rule names
// gets the segment default either way. Only the denial digest's
// dst_identity field reads 0 instead of t for a packet no policy entry
// decided (the controller names the destination by its address).
//
// Transit: a switch that forwards another switch's traffic gets it over
// an uplink, which skips the identity stages, so a spine holds no
// destination identities and a leaf holds only those of its own
// endpoints' rules.
//
// Upkeep: pairCount counts the policy rows of each (source, destination)
// pair as rows come and go (addRow, dropRow), and dstsOf lists each
// source's destinations with rows; reach counts, per
// destination identity and device, the local source identities with a
// row towards it. A pair's first row brings the destination to every
// device of the source identity, an identity arriving on a device brings
// the destinations of its pairs; their last row and the identity leaving
// take them away. Each change of the place onReachable on a device goes
// through reachable, which journals it, so that deltas carry the rows
// that come or go with it.

// pairRowAdded notes a new policy row of pair (f, t); the pair's first
// brings t to f's devices.
func (c *Compiler) pairRowAdded(f, t uint32) {
	k := [2]uint32{f, t}
	n := c.pairCount[k] + 1
	c.pairCount[k] = n
	if n > 1 {
		return
	}
	dsts := c.dstsOf[f]
	if dsts == nil {
		dsts = map[uint32]struct{}{}
		c.dstsOf[f] = dsts
	}
	dsts[t] = struct{}{}
	if id := c.byID[f]; id != nil {
		for dev := range id.devs {
			c.reachable(dev, t, 1)
		}
	}
}

// pairRowDropped notes that a policy row of pair (f, t) is gone; with the
// pair's last, t leaves f's devices unless another local identity reaches
// it there.
func (c *Compiler) pairRowDropped(f, t uint32) {
	k := [2]uint32{f, t}
	if n := c.pairCount[k] - 1; n > 0 {
		c.pairCount[k] = n
		return
	}
	delete(c.pairCount, k)
	dsts := c.dstsOf[f]
	delete(dsts, t)
	if len(dsts) == 0 {
		delete(c.dstsOf, f)
	}
	if id := c.byID[f]; id != nil {
		for dev := range id.devs {
			c.reachable(dev, t, -1)
		}
	}
}

// reachable adds n (1 or -1) to the local source identities of device dev
// that have policy rows towards identity t; t's destination-identity rows
// come onto the device with the first and leave with the last.
func (c *Compiler) reachable(dev, t uint32, n int) {
	devs := c.reach[t]
	was := devs[dev]
	switch {
	case was+n < 0:
		panic(fmt.Sprintf("policy: identity %d leaves device %s, which does not reach it", t, c.devNames[dev]))
	case was > 0 && was+n > 0:
		devs[dev] = was + n
		return
	}
	pl := place{onReachable, t}
	c.j.touchPlace(c, dev, pl) // before it changes
	if n > 0 {
		if devs == nil {
			devs = map[uint32]int{}
			c.reach[t] = devs
		}
		devs[dev] = n
		c.placeCounted(dev, pl, 1)
		return
	}
	c.placeCounted(dev, pl, -1)
	delete(devs, dev)
	if len(devs) == 0 {
		delete(c.reach, t)
	}
}
