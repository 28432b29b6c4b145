package blob

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"

	"github.com/simpledrive/simpledrive/internal/meta"
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

// SaveDigest returns the saved state of d ([Digest.MarshalBinary]) to
// record with part p: as is for a part stored in clear, else sealed
// under p's data key ([crypt.DataKey.SealState], with p's storage key as
// additional data), since a SHA-256 state holds up to 63 bytes of the
// plaintext, which the database must not see.
func (s *Service) SaveDigest(p Part, d *Digest) ([]byte, error) {
	state, err := d.MarshalBinary()
	if err != nil || p.KeyID == "" {
		return state, err
	}
	defer clear(state)
	dk, err := s.dataKey(partRecord(p))
	if err != nil {
		return nil, err
	}
	return dk.SealState(state, []byte(p.Key)), nil
}

// ResumeDigest returns the digest whose state [Service.SaveDigest] saved
// with part p, or an error when saved is not one (nil: none was saved;
// sealed state altered, or moved to another part: [ErrCorrupt]; master
// key missing: [ErrKeyMissing]).
func (s *Service) ResumeDigest(p Part, saved []byte) (*Digest, error) {
	if p.KeyID != "" && saved != nil {
		dk, err := s.dataKey(partRecord(p))
		if err != nil {
			return nil, err
		}
		if saved, err = dk.OpenState(saved, []byte(p.Key)); err != nil {
			return nil, fmt.Errorf("%w: the saved digest of upload part %q: %w", ErrCorrupt, p.Key, err)
		}
		defer clear(saved)
	}
	d := &Digest{}
	if err := d.UnmarshalBinary(saved); err != nil {
		return nil, err
	}
	return d, nil
}

// partRecord is the record by which the data key of part p is unwrapped
// and its errors name it.
func partRecord(p Part) meta.Record {
	return meta.Record{ID: "upload part " + p.Key, StorageKey: p.Key, Size: p.Size, KeyID: p.KeyID, WrappedKey: p.WrappedKey}
}
