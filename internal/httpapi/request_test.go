package httpapi

import (
	"encoding/base64"
	"io"
	"math/rand/v2"
	"testing"
)

// TestBase64SizeAgreesWithDecoder checks base64Size, which validates without
// decoding, against the strict decoder on many generated inputs.
func TestBase64SizeAgreesWithDecoder(t *testing.T) {
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
	for _, in := range inputs {
		decoded, decErr := base64Strict.DecodeString(in)
		size, err := base64Size([]byte(in))
		if (err == nil) != (decErr == nil) {
			t.Fatalf("base64Size(%q) error = %v, but the strict decoder says %v", in, err, decErr)
		}
		if err == nil && size != int64(len(decoded)) {
			t.Fatalf("base64Size(%q) = %d, decoded %d bytes", in, size, len(decoded))
		}
		if err == nil {
			streamed, err := io.ReadAll(createRequest{data: []byte(in), size: size}.blob())
			if err != nil || string(streamed) != string(decoded) {
				t.Fatalf("streaming %q = %q, %v; want %q", in, streamed, err, decoded)
			}
		}
	}
}
