// tlog_proofs.go - the limit for ldg's proof rows in `make bench`: Go's
// golang.org/x/mod/sumdb/tlog (Debian golang-golang-x-mod-dev) proving
// records and trees from an in-memory hash store.
//
//	go run tlog_proofs.go SIZE N
//
// Builds the stored hashes of a tree of SIZE leaves in memory (a []Hash in
// tlog's StoredHashIndex order, filled by tlog.StoredHashes as a log
// server would), then makes N inclusion proofs (tlog.ProveRecord) and N
// consistency proofs (tlog.ProveTree) at SIZE for the same indexes and old
// sizes, in the same order, as `bench_core proofs` makes them from LMDB, and
// prints "SIZE inclusion_us consistency_us": the median of each, in
// microseconds.  Each proof is checked (tlog.CheckRecord, tlog.CheckTree)
// outside the timed part, so the store is a real tree.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlog_proofs: "+format+"\n", args...)
	os.Exit(1)
}

// median in microseconds, nearest rank, as bench_core's pct(v, n, 50)
func median(v []time.Duration) float64 {
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	r := (len(v)*50 + 99) / 100
	if r == 0 {
		r = 1
	}
	return float64(v[r-1].Nanoseconds()) / 1e3
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: go run tlog_proofs.go SIZE N")
	}
	size, err1 := strconv.ParseInt(os.Args[1], 10, 64)
	n, err2 := strconv.Atoi(os.Args[2])
	if err1 != nil || err2 != nil || size < 2 || n < 1 {
		fail("SIZE >= 2 and N >= 1 are numbers")
	}
	store := make([]tlog.Hash, 0, tlog.StoredHashCount(size))
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = store[x]
		}
		return out, nil
	})
	var rec [8]byte
	for i := int64(0); i < size; i++ {
		binary.BigEndian.PutUint64(rec[:], uint64(i))
		leaf := sha256.Sum256(rec[:])
		h, err := tlog.StoredHashesForRecordHash(i, leaf, reader)
		if err != nil {
			fail("%v", err)
		}
		store = append(store, h...)
	}
	root, err := tlog.TreeHash(size, reader)
	if err != nil {
		fail("%v", err)
	}
	ti := make([]time.Duration, n)
	tc := make([]time.Duration, n)
	x := uint64(88172645463325252) // bench_core's xorshift: the same indexes and old sizes
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		idx, old := int64(x%uint64(size)), int64(1+x%uint64(size-1))
		t0 := time.Now()
		rp, err := tlog.ProveRecord(size, idx, reader)
		t1 := time.Now()
		if err != nil {
			fail("%v", err)
		}
		tp, err := tlog.ProveTree(size, old, reader)
		t2 := time.Now()
		if err != nil {
			fail("%v", err)
		}
		ti[i], tc[i] = t1.Sub(t0), t2.Sub(t1)
		binary.BigEndian.PutUint64(rec[:], uint64(idx))
		if tlog.CheckRecord(rp, size, root, idx, sha256.Sum256(rec[:])) != nil {
			fail("record proof %d of %d does not check", idx, size)
		}
		oldRoot, err := tlog.TreeHash(old, reader)
		if err != nil || tlog.CheckTree(tp, size, root, old, oldRoot) != nil {
			fail("tree proof %d -> %d does not check", old, size)
		}
	}
	fmt.Printf("%d %.1f %.1f\n", size, median(ti), median(tc))
}
