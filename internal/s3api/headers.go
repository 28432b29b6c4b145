package s3api

import (
	"encoding/json"
	"net/http"
	"strings"
)

// storedHeaders are the headers of a PutObject stored with the object and
// returned on its GETs and HEADs, besides x-amz-meta-* user metadata.
var storedHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"}

// maxUserMetadata is S3's bound on the x-amz-meta-* headers of one
// object: 2 KiB of names and values.
const maxUserMetadata = 2 << 10

// objectHeaders returns the headers of h stored with an object, as the
// JSON object [blob.Upload.S3Headers] keeps; "" for none.
func objectHeaders(h http.Header) (string, *Error) {
	kept := map[string]string{}
	userBytes := 0
	for name, values := range h {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-meta-") {
			v := strings.Join(values, ",")
			userBytes += len(lower) - len("x-amz-meta-") + len(v)
			kept[lower] = v
		}
	}
	if userBytes > maxUserMetadata {
		return "", errMetadataTooLarge
	}
	for _, name := range storedHeaders {
		if v := h.Get(name); v != "" {
			kept[name] = v
		}
	}
	if len(kept) == 0 {
		return "", nil
	}
	b, _ := json.Marshal(kept) // strings always encode
	return string(b), nil
}

// setObjectHeaders sets on h the headers stored with an object.
func setObjectHeaders(h http.Header, stored string) {
	if stored == "" {
		return
	}
	var kept map[string]string
	if json.Unmarshal([]byte(stored), &kept) != nil {
		return
	}
	for name, v := range kept {
		h.Set(name, v)
	}
}
