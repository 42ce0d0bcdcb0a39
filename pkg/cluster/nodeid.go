package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// NodeIDFile is the file in a data dir that holds the node's id.
const NodeIDFile = "node-id"

// NodeID is the id of the node whose state is in dataDir: the one stored
// there, or, on a data dir that holds none yet, given, or one generated
// when given is empty ("p4ctl-" and 8 random hex digits); the result is
// stored for the next start. So two nodes on one machine never share a
// default id (a hostname would), and a node keeps its id across restarts.
// An id given that differs from the stored one is refused: the raft state
// in dataDir belongs to the stored id.
func NodeID(dataDir, given string) (string, error) {
	path := filepath.Join(dataDir, NodeIDFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		stored := strings.TrimSpace(string(b))
		if stored == "" {
			return "", fmt.Errorf("%s is empty: remove it, or give --node-id", path)
		}
		if given != "" && given != stored {
			return "", fmt.Errorf("data dir %s belongs to node %s, not %s: give --node-id %s, or another --data-dir", dataDir, stored, given, stored)
		}
		return stored, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("node id: %w", err)
	}
	id := given
	if _, err := os.Stat(filepath.Join(dataDir, "raft.db")); err == nil && id == "" {
		// State from before ids were stored: its id is not known here.
		return "", fmt.Errorf("data dir %s holds raft state but no %s: give --node-id, the id the node was started with", dataDir, NodeIDFile)
	}
	if id == "" {
		var r [4]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", fmt.Errorf("node id: %w", err)
		}
		id = "p4ctl-" + hex.EncodeToString(r[:])
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	return id, nil
}
