package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/p4ctl/p4ctl/pkg/policy"
)

// command is one raft log entry: documents to apply, or objects to
// delete. Documents travel as YAML text, so the log reads like the files
// operators wrote.
type command struct {
	Op   string `json:"op"` // "apply", "delete", "change" (both at once), "member" or "assign"
	File string `json:"file,omitempty"`
	Docs string `json:"docs,omitempty"`
	// Files are the documents of an apply of several files at once, one
	// change (File and Docs are then empty).
	Files  []Source          `json:"files,omitempty"`
	Delete []policy.Deletion `json:"delete,omitempty"`
	// Restore marks a "change" that puts back an earlier revision's
	// objects (a rollback): a policy enforced since may become staged
	// again (policy.Model.Restore).
	Restore bool `json:"restore,omitempty"`
	// When the leader prepared the change, and for whom: its revision's
	// time and client.
	Time   time.Time `json:"time,omitzero"`
	Client string    `json:"client,omitempty"`
	// A member's API address ("member"), so that any node can forward
	// writes to the leader's API.
	Member string `json:"member,omitempty"`
	API    string `json:"api,omitempty"`
	// Assign moves devices to members ("assign"): device -> member, ""
	// to forget the device.
	Assign map[string]string `json:"assign,omitempty"`
	// Base is the model revision (the index of the last change to the
	// model) the change was validated and checked against, capacity
	// included: every node refuses it (ErrStale) when the model changed
	// since, so two changes checked against the same model can never
	// both commit. Nil in entries written before the field existed, which
	// validate against whatever model they meet.
	Base *uint64 `json:"base,omitempty"`
}

// Result is what the state machine made of a command.
type Result struct {
	Index    uint64   // the log index it was applied at (unchanged: the model's revision)
	Objects  int      // documents applied or objects deleted
	Warnings []string // from validation; the command was applied
	// Unchanged is true when the change would leave the model as it is
	// (documents equal to the objects they name): nothing was committed,
	// and no revision made.
	Unchanged bool
}

// fsmResult is the FSM's answer through raft: an error means the state
// did not change.
type fsmResult struct {
	res Result
	err error
}

// fsm holds the desired state: a validated policy.Model. Every node
// applies the same commands in the same order and refuses the same bad
// ones, so a command that does not validate changes nothing anywhere.
type fsm struct {
	mu    sync.RWMutex
	model *policy.Model
	apis  map[string]string // member id -> API address
	// assign is the devices' masters; replaced, never modified, on change.
	assign Assignments
	index  uint64
	// revision is the index of the last entry that changed the model
	// (0 for the empty model); a command's Base is checked against it.
	revision uint64

	history   []Revision // oldest first
	retention int        // revisions kept (0: all)

	changed func(index uint64) // called after every change, without mu

	// Proposals this node is committing, whose outcome is already known
	// when they meet the state they were prepared on.
	offered []*Proposal
}

func (f *fsm) offer(p *Proposal) {
	f.mu.Lock()
	f.offered = append(f.offered, p)
	f.mu.Unlock()
}

func (f *fsm) withdraw(p *Proposal) {
	f.mu.Lock()
	f.offered = slices.DeleteFunc(f.offered, func(q *Proposal) bool { return q == p })
	f.mu.Unlock()
}

// prepared is the outcome of an offered proposal whose entry is data and
// whose base is the current model; mu is held.
func (f *fsm) prepared(data []byte) (*Proposal, bool) {
	for _, p := range f.offered {
		if p.base == f.model && bytes.Equal(p.data, data) {
			return p, true
		}
	}
	return nil, false
}

func newFSM(changed func(uint64), retention int) *fsm {
	return &fsm{model: policy.NewModel(), apis: map[string]string{}, changed: changed, retention: retention}
}

func (f *fsm) current() (*policy.Model, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.model, f.index
}

// currentRevision is the model with the revision it is at.
func (f *fsm) currentRevision() (*policy.Model, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.model, f.revision
}

// Source is one file of documents.
type Source struct {
	File string `json:"file"`
	Docs string `json:"docs"`
}

// parse parses cmd's documents, file by file.
func (cmd command) parse() ([]policy.Object, error) {
	if len(cmd.Files) == 0 {
		return ParseSources([]Source{{cmd.File, cmd.Docs}})
	}
	return ParseSources(cmd.Files)
}

// ParseSources parses files of documents in order, with the errors of
// every file.
func ParseSources(srcs []Source) ([]policy.Object, error) {
	var objs []policy.Object
	var errs policy.Errors
	for _, src := range srcs {
		o, err := policy.Parse(src.File, strings.NewReader(src.Docs))
		var pe policy.Errors
		switch {
		case errors.As(err, &pe):
			errs = append(errs, pe...)
		case err != nil:
			return nil, err
		}
		objs = append(objs, o...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return objs, nil
}

// next validates cmd against m and returns the model it leads to.
func next(m *policy.Model, cmd command) (*policy.Model, Result, error) {
	switch cmd.Op {
	case "apply":
		objs, err := cmd.parse()
		if err != nil {
			return nil, Result{}, err
		}
		n, warnings, err := m.With(objs, nil)
		if err != nil {
			return nil, Result{}, err
		}
		return n, Result{Objects: len(objs), Warnings: warnings}, nil
	case "change":
		objs, err := policy.Parse(cmd.File, bytes.NewReader([]byte(cmd.Docs)))
		if err != nil {
			return nil, Result{}, err
		}
		with := m.With
		if cmd.Restore {
			with = m.Restore
		}
		n, warnings, err := with(objs, cmd.Delete)
		if err != nil {
			return nil, Result{}, err
		}
		return n, Result{Objects: len(objs) + len(cmd.Delete), Warnings: warnings}, nil
	case "delete":
		n, warnings, err := m.With(nil, cmd.Delete)
		if err != nil {
			return nil, Result{}, err
		}
		return n, Result{Objects: len(cmd.Delete), Warnings: warnings}, nil
	}
	return nil, Result{}, fmt.Errorf("unknown command %q", cmd.Op)
}

func (f *fsm) Apply(l *raft.Log) any {
	f.mu.Lock()
	if p, ok := f.prepared(l.Data); ok {
		n, res := p.next, p.res
		f.record(revision(p.cmd, l.Index, f.model, n))
		f.model, f.index, f.revision = n, l.Index, l.Index
		f.mu.Unlock()
		res.Index = l.Index
		if f.changed != nil {
			f.changed(l.Index)
		}
		return fsmResult{res: res}
	}
	f.mu.Unlock()
	var cmd command
	if err := json.Unmarshal(l.Data, &cmd); err != nil {
		f.mu.Lock()
		f.index = l.Index
		f.mu.Unlock()
		return fsmResult{err: fmt.Errorf("log entry %d: %w", l.Index, err)}
	}
	f.mu.Lock()
	if cmd.Op == "member" {
		if cmd.API == "" {
			delete(f.apis, cmd.Member)
		} else {
			f.apis[cmd.Member] = cmd.API
		}
		f.index = l.Index
		f.mu.Unlock()
		return fsmResult{res: Result{Index: l.Index}}
	}
	if cmd.Op == "assign" {
		f.applyAssignLocked(cmd.Assign, l.Index+l.Term)
		f.index = l.Index
		f.mu.Unlock()
		if f.changed != nil {
			f.changed(l.Index)
		}
		return fsmResult{res: Result{Index: l.Index}}
	}
	var n *policy.Model
	var res Result
	var err error
	if cmd.Base != nil && *cmd.Base != f.revision {
		err = fmt.Errorf("%w: it was checked against revision %d and the model is at %d", ErrStale, *cmd.Base, f.revision)
	} else if n, res, err = next(f.model, cmd); err == nil {
		f.record(revision(cmd, l.Index, f.model, n))
		f.model, f.revision = n, l.Index
	}
	f.index = l.Index
	f.mu.Unlock()
	if err != nil {
		return fsmResult{err: err}
	}
	res.Index = l.Index
	if f.changed != nil {
		f.changed(l.Index)
	}
	return fsmResult{res: res}
}

func (f *fsm) api(id string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.apis[id]
}

// Snapshot captures the model and the members' API addresses; Persist
// writes them as JSON holding the model as YAML documents.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &snapshot{model: f.model, apis: maps.Clone(f.apis), assign: f.assign, index: f.index, revision: f.revision, history: slices.Clone(f.history)}, nil
}

type snapshotData struct {
	Index uint64 `json:"index"`
	// Revision is the index of the last change to the model; snapshots
	// from before the field existed take Index, which can only make a
	// change prepared before the restore be prepared again.
	Revision *uint64           `json:"revision,omitempty"`
	APIs     map[string]string `json:"apis"`
	Docs     string            `json:"docs"`
	// Identities are the model's identity ids, which the documents alone
	// do not determine (they depend on the order of past changes).
	Identities *policy.IdentityState `json:"identities,omitempty"`
	// History is the revisions kept, oldest first.
	History []Revision `json:"history,omitempty"`
	// Assign is the devices' masters.
	Assign Assignments `json:"assign,omitempty"`
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var data snapshotData
	if err := json.NewDecoder(rc).Decode(&data); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	objs, err := policy.Parse("snapshot", strings.NewReader(data.Docs))
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	m, _, err := policy.Build(objs)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if data.Identities != nil {
		if m, err = m.WithIdentities(*data.Identities); err != nil {
			return fmt.Errorf("restore snapshot: %w", err)
		}
	}
	f.mu.Lock()
	f.model = m
	f.index = data.Index
	f.revision = data.Index
	if data.Revision != nil {
		f.revision = *data.Revision
	}
	f.apis = data.APIs
	f.history = data.History
	f.assign = data.Assign
	if over := len(f.history) - f.retention; f.retention > 0 && over > 0 {
		f.history = f.history[over:]
	}
	if f.apis == nil {
		f.apis = map[string]string{}
	}
	f.mu.Unlock()
	if f.changed != nil {
		f.changed(0)
	}
	return nil
}

type snapshot struct {
	model           *policy.Model
	apis            map[string]string
	assign          Assignments
	index, revision uint64
	history         []Revision
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	ids := s.model.Identities()
	b, err := json.Marshal(snapshotData{Index: s.index, Revision: &s.revision, APIs: s.apis, Docs: string(policy.Marshal(s.model.Objects())), Identities: &ids, History: s.history, Assign: s.assign})
	if err != nil {
		sink.Cancel()
		return err
	}
	if _, err := sink.Write(b); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
