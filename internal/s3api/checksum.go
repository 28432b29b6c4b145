package s3api

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
)

// The checksum algorithms of S3's x-amz-checksum-* headers, by the
// header's suffix. CRC64NVME is the reflected CRC-64 of NVMe (polynomial
// 0xad93d23594c935a9, initial value and final xor all ones), which
// hash/crc64 computes from the reversed polynomial.
var checksums = map[string]func() hash.Hash{
	"crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"crc32c":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"crc64nvme": func() hash.Hash { return crc64.New(crc64NVME) },
	"sha1":      sha1.New,
	"sha256":    sha256.New,
}

var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// digests hashes a payload as it streams: its MD5 (the ETag) and, when
// the client names one, the checksum it announced, in a header or in the
// streaming payload's trailer; and, when sent, Content-MD5.
type digests struct {
	r   io.Reader
	md5 hash.Hash
	// algorithm and sum are the announced checksum's name ("crc32c") and
	// hash; header is its value from the headers, "" when it comes in the
	// trailer.
	algorithm string
	sum       hash.Hash
	header    string
	// contentMD5 is Content-MD5, decoded; nil when not sent.
	contentMD5 []byte
	// trailer returns the payload's trailing headers once read.
	trailer func() http.Header
	checked bool
}

// newDigests returns the digests of rq's payload, or an S3 error for a
// Content-MD5 or checksum header that cannot be right.
func newDigests(rq *request) (*digests, *Error) {
	d := &digests{md5: md5.New(), trailer: rq.trailer}
	if v, ok := rq.Header["Content-Md5"]; ok {
		sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[0]))
		if err != nil || len(sum) != md5.Size {
			return nil, errInvalidDigest
		}
		d.contentMD5 = sum
	}
	for name, newHash := range checksums {
		header := "X-Amz-Checksum-" + strings.ToUpper(name[:1]) + name[1:]
		v := rq.Header.Get(header)
		inTrailer := false
		for _, t := range rq.Header.Values("X-Amz-Trailer") {
			for _, f := range strings.Split(t, ",") {
				inTrailer = inTrailer || strings.EqualFold(strings.TrimSpace(f), "x-amz-checksum-"+name)
			}
		}
		if v == "" && !inTrailer {
			continue
		}
		if d.sum != nil {
			return nil, errInvalidRequest.with("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		d.algorithm, d.sum, d.header = name, newHash(), v
	}
	d.r = rq.body
	return d, nil
}

// Read reads the payload, hashing it.
func (d *digests) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.md5.Write(p[:n])
	if d.sum != nil {
		d.sum.Write(p[:n])
	}
	return n, err
}

// check compares, once the payload was read whole, the digests with what
// the client announced, and returns the hex MD5: [blob.Upload.Check].
func (d *digests) check() (string, error) {
	d.checked = true
	sum := d.md5.Sum(nil)
	if d.contentMD5 != nil && string(sum) != string(d.contentMD5) {
		return "", errBadDigest
	}
	if d.sum != nil {
		want := d.header
		if want == "" && d.trailer != nil {
			want = d.trailer().Get("x-amz-checksum-" + d.algorithm)
		}
		if base64.StdEncoding.EncodeToString(d.sum.Sum(nil)) != strings.TrimSpace(want) {
			return "", errBadDigest.with("The %s you specified did not match the calculated checksum.", strings.ToUpper(d.algorithm))
		}
	}
	return hex.EncodeToString(sum), nil
}

// announced returns the header of the checksum the client announced and
// its verified value, for the response; "" when none.
func (d *digests) announced() (string, string) {
	if d.sum == nil {
		return "", ""
	}
	return "x-amz-checksum-" + d.algorithm, base64.StdEncoding.EncodeToString(d.sum.Sum(nil))
}
