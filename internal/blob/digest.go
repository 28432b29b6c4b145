package blob

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"hash"
	"hash/crc32"
)

// castagnoli is the CRC-32C table; hash/crc32 computes it with the
// CPU's CRC instructions (SSE 4.2, ARMv8) where there are some.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Digest computes, in one pass over the bytes written to it, their SHA-256
// (a blob's identity), their CRC-32C (what whole reads verify) and their
// number. Its state can be saved and resumed ([Digest.MarshalBinary]), so
// that bytes arriving in several requests, such as the writes of a
// resumable upload, are hashed once, as they arrive, by whichever process
// receives each of them.
type Digest struct {
	sha hash.Hash
	crc uint32
	n   int64
}

// NewDigest returns the digest of no bytes.
func NewDigest() *Digest { return &Digest{sha: sha256.New()} }

// Write adds p to the digested bytes; it never fails.
func (d *Digest) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	d.crc = crc32.Update(d.crc, castagnoli, p)
	return d.sha.Write(p)
}

// Size returns the number of bytes written.
func (d *Digest) Size() int64 { return d.n }

// digestVersion is the first byte of a saved digest.
const digestVersion = 1

// MarshalBinary saves the digest's state: a version byte, the CRC-32C and
// the count (big-endian), then the SHA-256 state as crypto/sha256 saves it.
func (d *Digest) MarshalBinary() ([]byte, error) {
	sha, err := d.sha.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 13+len(sha))
	b = append(b, digestVersion)
	b = binary.BigEndian.AppendUint32(b, d.crc)
	b = binary.BigEndian.AppendUint64(b, uint64(d.n))
	return append(b, sha...), nil
}

// UnmarshalBinary resumes the state [Digest.MarshalBinary] saved.
func (d *Digest) UnmarshalBinary(b []byte) error {
	if len(b) < 13 || b[0] != digestVersion {
		return errors.New("blob: not a saved digest")
	}
	sha := sha256.New()
	if err := sha.(encoding.BinaryUnmarshaler).UnmarshalBinary(b[13:]); err != nil {
		return err
	}
	d.sha, d.crc, d.n = sha, binary.BigEndian.Uint32(b[1:5]), int64(binary.BigEndian.Uint64(b[5:13]))
	return nil
}
