package httpapi

import (
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/httpx"
)

// parseStream parses body with a createStream as the create handler does,
// the body arriving in pieces of at most chunk bytes (all at once when
// chunk is 0) and the blob read step bytes at a time (io.ReadAll's
// growing buffer when step is 0). It returns the id and the decoded blob,
// or the fault found.
func parseStream(body string, maxBlob int64, chunk, step int) (id string, data []byte, err error) {
	var src io.Reader = strings.NewReader(body)
	if chunk > 0 {
		src = pieces{src, chunk}
	}
	s := newCreateStream(src, maxBlob)
	defer s.release()
	if err := s.head(); err != nil {
		return "", nil, err
	}
	if step == 0 {
		data, err = io.ReadAll(s)
	} else {
		data, err = io.ReadAll(pieces{s, step})
	}
	if err != nil {
		if s.fault() != err {
			panic("the stream's read error is not its recorded fault")
		}
		return "", nil, err
	}
	if data == nil {
		data = []byte{}
	}
	return s.lateID(), data, nil
}

// pieces reads r at most n bytes at a time.
type pieces struct {
	r io.Reader
	n int
}

func (p pieces) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), p.n)]) }

// jsonText returns s as the inside of a JSON string, escaping the control
// characters only.
func jsonText(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`, "\t", `\t`, `"`, `\"`, `\`, `\\`).Replace(s)
}

// TestStreamedBase64AgreesWithDecoder checks the stream's incremental
// base64 validation and decoding against the strict decoder on many
// generated inputs, read in pieces of several sizes.
func TestStreamedBase64AgreesWithDecoder(t *testing.T) {
	const alphabet = "AQgw+/=\r\n-_ Az09"
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := []string{"", "eA==", "eB==", "eA=", "eA", "eA==\r\n", "e\r\nA==", "====", "e===", "eA=x", "eA==eA==", "YWJj", "YWJjZA==", "YWJjZGU="}
	for range 20000 {
		b := make([]byte, rng.IntN(14))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	for range 2000 { // valid encodings, some with line breaks
		raw := make([]byte, rng.IntN(40))
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		enc := []byte(base64.StdEncoding.EncodeToString(raw))
		if len(enc) > 4 && rng.IntN(2) == 0 {
			enc = append(enc[:4], append([]byte("\r\n"), enc[4:]...)...)
		}
		inputs = append(inputs, string(enc))
	}
	for i, in := range inputs {
		decoded, decErr := base64Strict.DecodeString(in)
		chunk, step := []int{0, 1, 2, 5}[i%4], []int{0, 1, 3, 4096}[i/4%4]
		_, data, err := parseStream(`{"id":"x","data":"`+jsonText(in)+`"}`, 1<<20, chunk, step)
		if (err == nil) != (decErr == nil) {
			t.Fatalf("data %q: stream error = %v, but the strict decoder says %v", in, err, decErr)
		}
		if err == nil && string(data) != string(decoded) {
			t.Fatalf("data %q: streamed %q; want %q", in, data, decoded)
		}
		if err != nil && errCode(err) != httpx.CodeInvalidBase64 {
			t.Fatalf("data %q: %v (code %q); want invalid_base64", in, err, errCode(err))
		}
	}
}

// errCode returns the problem code err is answered with.
func errCode(err error) string {
	_, code, _ := httpx.Classify(err)
	return code
}
