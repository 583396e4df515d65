// tiles.go - checks what `ldg publish` wrote with code nobody here wrote:
// Go's golang.org/x/mod/sumdb/note opens the published checkpoint under the
// log key, and sumdb/tlog reads the C2SP tlog-tiles hash tiles through
// TileHashReader (which checks every tile it reads against the signed tree
// hash), recomputes the tree hash and proves the inclusion of the entries
// named, each taken from its entry bundle.
//
//	go run tiles.go LOG.pub PUBDIR INDEX...
//
// Exits non-zero with a message on the first check that fails.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "interop tiles: "+format+"\n", args...)
	os.Exit(1)
}

// C2SP tlog-tiles: N as 3-digit elements, all but the last prefixed with "x".
func index(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n /= 1000; n > 0; n /= 1000 {
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// C2SP path of a Go tile (no height element; level -1 is the entry bundle).
func c2spPath(t tlog.Tile) string {
	kind := strconv.Itoa(t.L)
	if t.L < 0 {
		kind = "entries"
	}
	p := "tile/" + kind + "/" + index(t.N)
	if t.W < 1<<t.H {
		p += ".p/" + strconv.Itoa(t.W)
	}
	return p
}

type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return 8 }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(d.dir, c2spPath(t)))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// Entry i from its bundle: 2-byte big-endian length, then the bytes.
func entry(dir string, size, i int64) []byte {
	t := tlog.Tile{H: 8, L: -1, N: i / 256, W: 256}
	if rest := size - t.N*256; rest < 256 {
		t.W = int(rest)
	}
	b, err := os.ReadFile(filepath.Join(dir, c2spPath(t)))
	if err != nil {
		fail("%v", err)
	}
	for k := int64(0); ; k++ {
		if len(b) < 2 {
			fail("%s: entry %d not framed", c2spPath(t), i)
		}
		n := int(b[0])<<8 | int(b[1])
		if len(b) < 2+n {
			fail("%s: entry %d truncated", c2spPath(t), i)
		}
		if k == i%256 {
			return b[2 : 2+n]
		}
		b = b[2+n:]
	}
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: tiles LOG.pub PUBDIR INDEX...")
	}
	key, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(key)))
	if err != nil {
		fail("verifier key: %v", err)
	}
	dir := os.Args[2]
	msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint: too few lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	rb, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rb) != 32 {
		fail("checkpoint root %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rb)
	tree := tlog.Tree{N: size, Hash: root}
	thr := tlog.TileHashReader(tree, dirTiles{dir})
	th, err := tlog.TreeHash(size, thr)
	if err != nil || th != root {
		fail("tree hash from the tiles: %v (%v, want %v)", err, th, root)
	}
	for _, a := range os.Args[3:] {
		i, err := strconv.ParseInt(a, 10, 64)
		if err != nil || i < 0 || i >= size {
			fail("index %q", a)
		}
		p, err := tlog.ProveRecord(size, i, thr)
		if err != nil {
			fail("prove %d: %v", i, err)
		}
		e := entry(dir, size, i)
		if err := tlog.CheckRecord(p, size, root, i, tlog.RecordHash(e)); err != nil {
			fail("entry %d: %v", i, err)
		}
		if !bytes.Equal(e, entry(dir, size, i)) {
			fail("entry %d read twice differs", i)
		}
	}
	fmt.Printf("interop tiles: Go's sumdb/tlog read %d entries' tiles and proved %d of them against the checkpoint (%s)\n",
		size, len(os.Args)-3, n.Sigs[0].Name)
}
