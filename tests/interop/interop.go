// interop.go - checks ldg's checkpoints and proofs with an implementation
// nobody here wrote: Go's golang.org/x/mod/sumdb/note (signed notes, verifier
// keys) and sumdb/tlog (RFC 6962 record and tree proofs).
//
//	go run interop.go LOG.pub CHECKPOINT INCLUSION.json... -- CONSISTENCY.json...
//	go run interop.go cosignature LOG.pub WITNESS.pub COSIGNED-CHECKPOINT
//
// The second form checks a witness's C2SP tlog-cosignature/v1 line
// (spec/witness.md): sumdb/note parses the note and matches the line by
// name and key ID, Go's crypto/ed25519 checks the signature over the message
// the C2SP text defines; that version of sumdb/note has no cosignature
// verifier, so the message is built here from the spec, not from ldg.
//
// Exits non-zero with a message on the first check that fails.
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "interop: "+format+"\n", args...)
	os.Exit(1)
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func hashes(a []string) []tlog.Hash {
	var out []tlog.Hash
	for _, s := range a {
		out = append(out, hash(s))
	}
	return out
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return b
}

// cosigner verifies C2SP tlog-cosignature/v1 (Ed25519) lines for note.Open.
type cosigner struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (c cosigner) Name() string    { return c.name }
func (c cosigner) KeyHash() uint32 { return c.hash }

// Verify: sig is timestamp (8 bytes, big-endian) || Ed25519 signature over
// "cosignature/v1\ntime T\n" || the note text.
func (c cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t > 1<<63-1 {
		return false
	}
	m := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(c.key, m, sig[8:])
}

// newCosigner takes a signed-note verifier key line (type 0x01) and makes the
// cosignature/v1 verifier of the same name and Ed25519 key (key ID type 0x04).
func newCosigner(vkey string) cosigner {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("witness key %q", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 1 {
		fail("witness key %q: not an Ed25519 verifier key", vkey)
	}
	h := sha256.Sum256(append([]byte(parts[0]+"\n\x04"), raw[1:]...))
	return cosigner{parts[0], binary.BigEndian.Uint32(h[:4]), ed25519.PublicKey(raw[1:])}
}

func cosignature(logPub, witnessPub, cosigned string) {
	lv, err := note.NewVerifier(strings.TrimSpace(string(read(logPub))))
	if err != nil {
		fail("log key: %v", err)
	}
	w := newCosigner(strings.TrimSpace(string(read(witnessPub))))
	n, err := note.Open(read(cosigned), note.VerifierList(lv, w))
	if err != nil {
		fail("cosigned checkpoint: %v", err)
	}
	ok := false
	for _, s := range n.Sigs {
		ok = ok || (s.Name == w.name && s.Hash == w.hash)
	}
	if !ok {
		fail("no verified cosignature by %s", w.name)
	}
	fmt.Printf("interop: the cosignature of %s verifies (Go sumdb/note, crypto/ed25519)\n", w.name)
}

func main() {
	if len(os.Args) == 5 && os.Args[1] == "cosignature" {
		cosignature(os.Args[2], os.Args[3], os.Args[4])
		return
	}
	if len(os.Args) < 3 {
		fail("usage: interop LOG.pub CHECKPOINT [INCLUSION.json...] [-- CONSISTENCY.json...]")
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(read(os.Args[1]))))
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open(read(os.Args[2]), note.VerifierList(v))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size %q", lines[1])
	}
	root := hash(lines[2])
	checks := 1
	consistency := false
	for _, path := range os.Args[3:] {
		if path == "--" {
			consistency = true
			continue
		}
		var p struct {
			Index, TreeSize, OldSize, NewSize int64
			Root, Leaf, LeafHash, OldRoot, NewRoot string
			Hashes                                 []string
		}
		dec := json.NewDecoder(strings.NewReader(string(read(path))))
		var raw map[string]interface{}
		if err := dec.Decode(&raw); err != nil {
			fail("%s: %v", path, err)
		}
		get := func(k string) string { s, _ := raw[k].(string); return s }
		num := func(k string) int64 { f, _ := raw[k].(float64); return int64(f) }
		for _, h := range raw["hashes"].([]interface{}) {
			p.Hashes = append(p.Hashes, h.(string))
		}
		if !consistency {
			p.Index, p.TreeSize = num("index"), num("tree_size")
			p.Root, p.Leaf, p.LeafHash = get("root"), get("leaf"), get("leaf_hash")
			leaf, err := base64.StdEncoding.DecodeString(p.Leaf)
			if err != nil {
				fail("%s: leaf: %v", path, err)
			}
			if tlog.RecordHash(leaf) != hash(p.LeafHash) {
				fail("%s: leaf_hash is not the RFC 6962 hash of leaf", path)
			}
			if p.TreeSize == size && hash(p.Root) != root {
				fail("%s: root differs from the signed checkpoint's", path)
			}
			if err := tlog.CheckRecord(hashes(p.Hashes), p.TreeSize, hash(p.Root), p.Index,
				hash(p.LeafHash)); err != nil {
				fail("%s: inclusion: %v", path, err)
			}
			// The check must be able to fail: a proof for another index must not pass.
			if p.TreeSize > 1 && tlog.CheckRecord(hashes(p.Hashes), p.TreeSize, hash(p.Root),
				(p.Index+1)%p.TreeSize, hash(p.LeafHash)) == nil {
				fail("%s: a proof for index %d also passed for another index", path, p.Index)
			}
		} else {
			p.OldSize, p.NewSize = num("old_size"), num("new_size")
			p.OldRoot, p.NewRoot = get("old_root"), get("new_root")
			if p.NewSize == size && hash(p.NewRoot) != root {
				fail("%s: new_root differs from the signed checkpoint's", path)
			}
			if err := tlog.CheckTree(hashes(p.Hashes), p.NewSize, hash(p.NewRoot), p.OldSize,
				hash(p.OldRoot)); err != nil {
				fail("%s: consistency: %v", path, err)
			}
		}
		checks++
	}
	fmt.Printf("interop: %d checks passed (Go sumdb/note and sumdb/tlog)\n", checks)
}
