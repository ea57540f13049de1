// tlogcheck reads an nftreg registration log over HTTP with Go's own transparency-log code
// (golang.org/x/mod/sumdb/tlog and sumdb/note) and checks it: the checkpoint signature, the
// tree hash of every tile it needs, inclusion of random entries, consistency with an older
// checkpoint and, optionally, the inclusion proofs nftreg's receipts carry. It prints one JSON
// object and exits 1 on the first failure.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type httpTiles struct {
	base  string
	dir   string // read the log's files from this directory instead of over HTTP
	reads int
}

func (h *httpTiles) get(path string) ([]byte, error) {
	if h.dir != "" {
		return os.ReadFile(h.dir + "/" + path)
	}
	resp, err := http.Get(h.base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

func (h *httpTiles) Height() int { return 8 }

// ReadTiles fetches tiles at their C2SP tlog-tiles paths: Go names them tile/8/<L>/<N>, the
// C2SP layout (height fixed at 8) drops the height.
func (h *httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := "tile/" + strings.TrimPrefix(t.Path(), "tile/8/")
		data, err := h.get(p)
		if err != nil {
			return nil, err
		}
		h.reads++
		out[i] = data
	}
	return out, nil
}

func (h *httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func openCheckpoint(msg []byte, v note.Verifier) (checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return checkpoint{}, err
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		return checkpoint{}, errors.New("checkpoint has fewer than 3 lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return checkpoint{}, err
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != 32 {
		return checkpoint{}, errors.New("bad root hash line")
	}
	var root tlog.Hash
	copy(root[:], raw)
	return checkpoint{lines[0], size, root}, nil
}

// entry reads entry index from its bundle (full, or the partial of the checkpoint's size).
func entry(h *httpTiles, size, index int64) ([]byte, error) {
	n := index / 256
	w := size - n*256
	p := "tile/entries/" + strings.TrimPrefix(tlog.Tile{H: 8, L: 0, N: n, W: 256}.Path(), "tile/8/0/")
	if w < 256 {
		p += fmt.Sprintf(".p/%d", w)
	}
	data, err := h.get(p)
	if err != nil {
		return nil, err
	}
	for i := int64(0); len(data) > 0; i++ {
		if len(data) < 2 {
			return nil, errors.New("truncated bundle")
		}
		l := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+l {
			return nil, errors.New("truncated entry")
		}
		if i == index%256 {
			return data[2 : 2+l], nil
		}
		data = data[2+l:]
	}
	return nil, fmt.Errorf("entry %d not in bundle %s", index, p)
}

type receipt struct {
	Index    int64    `json:"index"`
	LeafHash string   `json:"leaf_hash"`
	TreeSize int64    `json:"tree_size"`
	Root     string   `json:"root"`
	Proof    []string `json:"proof"`
	Entry    string   `json:"entry"`
}

func hexHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := hexDecode(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("bad hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

func hexDecode(s string) ([]byte, error) {
	out := make([]byte, len(s)/2)
	for i := range out {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		out[i] = byte(v)
	}
	return out, nil
}

// cachedTiles keeps every tile read, so the benchmark times proof computation, not I/O.
type cachedTiles struct {
	inner *httpTiles
	cache map[tlog.Tile][]byte
}

func (c *cachedTiles) Height() int { return 8 }

func (c *cachedTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	var miss []tlog.Tile
	for _, t := range tiles {
		if _, ok := c.cache[t]; !ok {
			miss = append(miss, t)
		}
	}
	if len(miss) > 0 {
		data, err := c.inner.ReadTiles(miss)
		if err != nil {
			return nil, err
		}
		for i, t := range miss {
			c.cache[t] = data[i]
		}
	}
	for i, t := range tiles {
		out[i] = c.cache[t]
	}
	return out, nil
}

func (c *cachedTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func runBench(h *httpTiles, tree tlog.Tree, n int, seed int64, result map[string]any) {
	ct := &cachedTiles{inner: h, cache: map[tlog.Tile][]byte{}}
	hr := tlog.TileHashReader(tree, ct)
	rng := rand.New(rand.NewSource(seed))
	idx := make([]int64, n)
	leaves := make([]tlog.Hash, n)
	for i := range idx {
		idx[i] = rng.Int63n(tree.N)
		hs, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, idx[i])})
		if err != nil {
			fail("leaf %d: %v", idx[i], err)
		}
		leaves[i] = hs[0]
	}
	maxReads := 0
	proofs := make([]tlog.RecordProof, n)
	start := time.Now()
	for i, x := range idx {
		before := h.reads
		p, err := tlog.ProveRecord(tree.N, x, hr)
		if err != nil {
			fail("prove %d: %v", x, err)
		}
		if r := h.reads - before; r > maxReads {
			maxReads = r
		}
		proofs[i] = p
	}
	el := time.Since(start).Seconds()
	for i, x := range idx {
		if err := tlog.CheckRecord(proofs[i], tree.N, tree.Hash, x, leaves[i]); err != nil {
			fail("check %d: %v", x, err)
		}
	}
	result["proofs_per_s"] = float64(n) / el
	result["max_tile_reads_per_proof"] = maxReads
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	base := flag.String("url", "", "log prefix, e.g. http://127.0.0.1:8000/log/")
	vkey := flag.String("vkey", "", "the log's note verifier key (<name>+<hash>+<keydata>)")
	old := flag.String("old-checkpoint", "", "file with an earlier checkpoint to check consistency with")
	receipts := flag.String("receipts", "", "file with nftreg receipts (JSON lines) whose proofs to check")
	n := flag.Int("n", 50, "random entries to check for inclusion")
	seed := flag.Int64("seed", 1, "random seed")
	dir := flag.String("dir", "", "read the log from this directory instead of -url")
	bench := flag.Int("bench", 0, "time this many ProveRecord+CheckRecord calls (tiles cached in memory)")
	flag.Parse()

	v, err := note.NewVerifier(*vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	h := &httpTiles{base: *base, dir: *dir}
	msg, err := h.get("checkpoint")
	if err != nil {
		fail("%v", err)
	}
	cp, err := openCheckpoint(msg, v)
	if err != nil {
		fail("checkpoint: %v", err)
	}
	tree := tlog.Tree{N: cp.size, Hash: cp.root}
	hr := tlog.TileHashReader(tree, h)
	th, err := tlog.TreeHash(cp.size, hr)
	if err != nil {
		fail("tree hash from tiles: %v", err)
	}
	if th != cp.root {
		fail("tree hash from tiles %v != checkpoint root %v", th, cp.root)
	}
	result := map[string]any{"origin": cp.origin, "size": cp.size, "root": cp.root.String()}
	if *bench > 0 {
		runBench(h, tree, *bench, *seed, result)
		return
	}

	rng := rand.New(rand.NewSource(*seed))
	maxReads, checked := 0, 0
	for i := 0; i < *n && cp.size > 0; i++ {
		idx := rng.Int63n(cp.size)
		if i == 0 {
			idx = cp.size - 1
		} else if i == 1 {
			idx = 0
		}
		e, err := entry(h, cp.size, idx)
		if err != nil {
			fail("entry %d: %v", idx, err)
		}
		before := h.reads
		p, err := tlog.ProveRecord(cp.size, idx, hr)
		if err != nil {
			fail("prove %d: %v", idx, err)
		}
		if r := h.reads - before; r > maxReads {
			maxReads = r
		}
		if err := tlog.CheckRecord(p, cp.size, cp.root, idx, tlog.RecordHash(e)); err != nil {
			fail("inclusion of %d: %v", idx, err)
		}
		checked++
	}
	result["inclusion_checked"] = checked
	result["max_tile_reads_per_proof"] = maxReads

	if *old != "" {
		omsg, err := os.ReadFile(*old)
		if err != nil {
			fail("%v", err)
		}
		ocp, err := openCheckpoint(omsg, v)
		if err != nil {
			fail("old checkpoint: %v", err)
		}
		if ocp.origin != cp.origin {
			fail("old checkpoint origin %q != %q", ocp.origin, cp.origin)
		}
		p, err := tlog.ProveTree(cp.size, ocp.size, hr)
		if err != nil {
			fail("prove consistency: %v", err)
		}
		if err := tlog.CheckTree(p, cp.size, cp.root, ocp.size, ocp.root); err != nil {
			fail("consistency %d -> %d: %v", ocp.size, cp.size, err)
		}
		result["consistent_from"] = ocp.size
	}

	if *receipts != "" {
		data, err := os.ReadFile(*receipts)
		if err != nil {
			fail("%v", err)
		}
		count := 0
		for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			var r receipt
			if err := json.Unmarshal(line, &r); err != nil {
				fail("receipt: %v", err)
			}
			root, err := hexHash(r.Root)
			if err != nil {
				fail("receipt root: %v", err)
			}
			var proof tlog.RecordProof
			for _, s := range r.Proof {
				ph, err := hexHash(s)
				if err != nil {
					fail("receipt proof: %v", err)
				}
				proof = append(proof, ph)
			}
			e, err := hexDecode(strings.TrimPrefix(r.Entry, "0x"))
			if err != nil {
				fail("receipt entry: %v", err)
			}
			if err := tlog.CheckRecord(proof, r.TreeSize, root, r.Index, tlog.RecordHash(e)); err != nil {
				fail("receipt %d: %v", r.Index, err)
			}
			count++
		}
		result["receipts_checked"] = count
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
}
