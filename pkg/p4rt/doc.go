// Package p4rt is p4ctl's P4Runtime client: a session per device with
// StreamChannel arbitration, pipeline push, writes with per-update error
// decoding, streamed reads and packet I/O.
//
// It carries table entries built by pkg/pipeline and knows nothing about
// policy or about how the controller chooses election ids.
//
// # The controller's path
//
// The desired entries of a device are an EntrySet (compact key and action
// bytes, not messages). Keeping a device equal to them is two steps:
//
//  1. Session.PlanDevice reads the device's multicast groups and tables
//     (ReadKeys: wire bytes straight to keys, no messages) and works out
//     the Plan: inserts, modifies, deletes, group changes, and how full
//     each table is (Plan.Held against the P4Info sizes, Plan.Sizes).
//  2. Session.WritePlan writes the plan in dependency order (groups an
//     entry names before it, each table's inserts before its deletes when
//     the table has room for both), in batches, several in flight, with
//     progress through BulkOptions.OnBatch.
//
// Keys are built and read only through pipeline.KeyWriter, ActionWriter,
// ReadKey and ReadAction, whatever they are made from (messages, read
// responses' wire bytes) or encoded into (messages, WriteRequest bytes);
// both write paths share one batching loop (bulkWrite) and so one error
// form.
//
// ReconcileDevice is the two in one call. PlanSet is PlanDevice without
// the groups, and WriteSet inserts a whole set (a first fill, the bench).
// Those are the only write paths; the protobuf-message forms kept to test
// them against live in export_test.go.
package p4rt
