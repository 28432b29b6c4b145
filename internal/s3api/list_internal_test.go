package s3api

import (
	"context"
	"encoding/xml"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// listServer returns a Server over a blob service on SQLite holding ids,
// each with its id as its bytes.
func listServer(t *testing.T, ids ...string) *Server {
	t.Helper()
	m := sqlmeta.New(testenv.OpenDB(t, filepath.Join(t.TempDir(), "meta.db")))
	svc := blob.New(m, storage.NewBucket("memory", memory.New()), blob.Options{Timeout: 10 * time.Second}, slog.New(slog.DiscardHandler))
	for _, id := range ids {
		if _, err := svc.Create(context.Background(), id, strings.NewReader(id), int64(len(id))); err != nil {
			t.Fatal(err)
		}
	}
	return New(Config{Bucket: "drive", Blobs: svc})
}

// list runs the listing handler on query as principal p would, decided as
// package access decides it, and returns the status and body.
func listRaw(t *testing.T, s *Server, p access.Principal, query string) (int, []byte) {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/drive?"+query, nil)
	rq := &request{Request: r, method: r.Method, id: "TESTREQUEST", bucket: "drive", path: "/drive", query: q, principal: p}
	rq.decision = access.New(access.Config{}).Decide(access.Request{
		Principal: p, Action: access.List, Target: access.Target{Kind: access.ListPrefix, ID: q.Get("prefix")}, Now: time.Now(),
	})
	w := httptest.NewRecorder()
	if q.Get("list-type") == "2" {
		s.listObjectsV2(w, rq)
	} else {
		s.listObjects(w, rq)
	}
	return w.Code, w.Body.Bytes()
}

// listResult is either version's document, as a client reads it.
type listResult struct {
	XMLName               xml.Name
	Name, Prefix          string
	Delimiter             string
	Marker, NextMarker    string
	MaxKeys, KeyCount     int
	IsTruncated           bool
	ContinuationToken     string
	NextContinuationToken string
	StartAfter            string
	EncodingType          string
	Contents              []struct {
		Key, LastModified, ETag, StorageClass string
		Size                                  int64
		Owner                                 *struct{ ID string }
	}
	CommonPrefixes []struct{ Prefix string }
}

// list runs the listing and parses its document.
func list(t *testing.T, s *Server, p access.Principal, query string) listResult {
	t.Helper()
	status, body := listRaw(t, s, p, query)
	var res listResult
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	if err := xml.Unmarshal(body, &res); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if res.XMLName.Space != xmlns || res.XMLName.Local != "ListBucketResult" {
		t.Fatalf("root element %v; want ListBucketResult in %s", res.XMLName, xmlns)
	}
	return res
}

func (r listResult) names() (keys, prefixes []string) {
	for _, c := range r.Contents {
		keys = append(keys, c.Key)
	}
	for _, p := range r.CommonPrefixes {
		prefixes = append(prefixes, p.Prefix)
	}
	return keys, prefixes
}

// ids are the listing tests' ids, in bytewise order.
var ids = []string{"a", "a b+c", "a/1", "a/2", "a/b/c", "b/x", "b/y/z", "c", "é/1"}

// TestListObjectsV2Document: the document's elements as S3 writes them.
func TestListObjectsV2Document(t *testing.T) {
	s := listServer(t, ids...)
	res := list(t, s, access.OperatorPrincipal, "list-type=2&delimiter=/")
	keys, prefixes := res.names()
	if !slices.Equal(keys, []string{"a", "a b+c", "c"}) || !slices.Equal(prefixes, []string{"a/", "b/", "é/"}) {
		t.Fatalf("keys %q, prefixes %q", keys, prefixes)
	}
	if res.Name != "drive" || res.MaxKeys != 1000 || res.KeyCount != 6 || res.IsTruncated || res.Delimiter != "/" || res.NextContinuationToken != "" {
		t.Fatalf("document %+v", res)
	}
	c := res.Contents[0]
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", c.LastModified); err != nil || c.Size != 1 || c.StorageClass != "STANDARD" ||
		len(c.ETag) < 3 || c.ETag[0] != '"' || c.ETag[len(c.ETag)-1] != '"' || c.Owner != nil {
		t.Fatalf("entry %+v", c)
	}
	res = list(t, s, access.OperatorPrincipal, "list-type=2&prefix=a/&fetch-owner=true&start-after=a/1")
	if keys, _ := res.names(); !slices.Equal(keys, []string{"a/2", "a/b/c"}) || res.StartAfter != "a/1" || res.Prefix != "a/" || res.Contents[0].Owner == nil {
		t.Fatalf("start-after, fetch-owner: %+v", res)
	}
}

// TestListObjectsV2Pages: continuation tokens page through every key and
// folder once, max-keys counting both.
func TestListObjectsV2Pages(t *testing.T) {
	s := listServer(t, ids...)
	for _, c := range []struct {
		query          string
		keys, prefixes []string
	}{
		{"delimiter=/", []string{"a", "a b+c", "c"}, []string{"a/", "b/", "é/"}},
		{"", ids, nil},
		{"prefix=b/&delimiter=/", []string{"b/x"}, []string{"b/y/"}},
	} {
		for _, n := range []int{1, 2, 5} {
			var keys, prefixes []string
			token := ""
			for pages := 0; ; pages++ {
				q := c.query + "&list-type=2&max-keys=" + strconv.Itoa(n)
				if token != "" {
					q += "&continuation-token=" + url.QueryEscape(token)
				}
				res := list(t, s, access.OperatorPrincipal, q)
				k, p := res.names()
				if res.KeyCount != len(k)+len(p) || res.KeyCount > n || res.ContinuationToken != token || pages > 20 {
					t.Fatalf("%s: page %+v", q, res)
				}
				keys, prefixes = append(keys, k...), append(prefixes, p...)
				if !res.IsTruncated {
					break
				}
				token = res.NextContinuationToken
			}
			if !slices.Equal(keys, c.keys) || !slices.Equal(prefixes, c.prefixes) {
				t.Errorf("%q by %d: keys %q, prefixes %q; want %q, %q", c.query, n, keys, prefixes, c.keys, c.prefixes)
			}
		}
	}
}

// TestListObjectsV1Markers: v1 pages by marker; with a delimiter
// NextMarker names the last key or folder and the next page goes on after
// it (after the whole folder).
func TestListObjectsV1Markers(t *testing.T) {
	s := listServer(t, ids...)
	for _, delim := range []string{"", "/"} {
		var keys, prefixes []string
		marker := ""
		for pages := 0; ; pages++ {
			res := list(t, s, access.OperatorPrincipal, "max-keys=2&delimiter="+url.QueryEscape(delim)+"&marker="+url.QueryEscape(marker))
			k, p := res.names()
			if res.Marker != marker || len(res.Contents) > 0 && res.Contents[0].Owner == nil || pages > 20 {
				t.Fatalf("page %+v", res)
			}
			keys, prefixes = append(keys, k...), append(prefixes, p...)
			if !res.IsTruncated {
				if res.NextMarker != "" {
					t.Fatalf("NextMarker %q on the last page", res.NextMarker)
				}
				break
			}
			switch {
			case delim == "" && res.NextMarker != "":
				t.Fatalf("NextMarker %q without a delimiter", res.NextMarker)
			case delim == "":
				marker = k[len(k)-1]
			default:
				marker = res.NextMarker
			}
		}
		want, wantPrefixes := ids, []string(nil)
		if delim != "" {
			want, wantPrefixes = []string{"a", "a b+c", "c"}, []string{"a/", "b/", "é/"}
		}
		if !slices.Equal(keys, want) || !slices.Equal(prefixes, wantPrefixes) {
			t.Errorf("delimiter %q: keys %q, prefixes %q", delim, keys, prefixes)
		}
	}
}

// TestListEncodingURL: encoding-type=url escapes the names clients decode.
func TestListEncodingURL(t *testing.T) {
	s := listServer(t, ids...)
	res := list(t, s, access.OperatorPrincipal, "list-type=2&encoding-type=url&delimiter=/&start-after=a+b")
	keys, prefixes := res.names()
	if !slices.Equal(keys, []string{"a%20b%2Bc", "c"}) || !slices.Equal(prefixes, []string{"a/", "b/", "%C3%A9/"}) || res.EncodingType != "url" ||
		res.StartAfter != "a%20b" {
		t.Fatalf("encoded: %q, %q, %+v", keys, prefixes, res)
	}
	for _, k := range keys {
		if d, err := url.QueryUnescape(k); err != nil || !slices.Contains(ids, d) {
			t.Errorf("%q decodes to %q, %v", k, d, err)
		}
	}
}

// TestListLimits: max-keys above 1000 is 1000, 0 lists nothing, and bad
// parameters are S3's InvalidArgument.
func TestListLimits(t *testing.T) {
	s := listServer(t, ids...)
	if res := list(t, s, access.OperatorPrincipal, "list-type=2&max-keys=5000"); res.MaxKeys != 1000 || len(res.Contents) != len(ids) {
		t.Fatalf("max-keys=5000: %+v", res)
	}
	if res := list(t, s, access.OperatorPrincipal, "list-type=2&max-keys=0"); res.KeyCount != 0 || res.IsTruncated {
		t.Fatalf("max-keys=0: %+v", res)
	}
	for _, q := range []string{"max-keys=-1", "max-keys=x", "encoding-type=base64", "list-type=2&continuation-token=%21%21", "prefix=%FF"} {
		status, body := listRaw(t, s, access.OperatorPrincipal, q)
		if status != http.StatusBadRequest || !strings.Contains(string(body), "<Code>InvalidArgument</Code>") {
			t.Errorf("%s: %d %s", q, status, body)
		}
	}
}

// TestListConfined: a key confined to a prefix lists only ids under it,
// and sees the folders of the prefix it asks for.
func TestListConfined(t *testing.T) {
	s := listServer(t, "a", "team/a/1", "team/a/2/x", "team/ab", "team/b/1", "z")
	p := access.Principal{Kind: access.Key, KeyID: "k", Scopes: access.OperatorPrincipal.Scopes, Prefix: "team/a/"}
	for _, c := range []struct {
		query          string
		keys, prefixes []string
	}{
		{"list-type=2&delimiter=/", nil, []string{"team/"}},
		{"list-type=2&delimiter=/&prefix=team/", nil, []string{"team/a/"}},
		{"list-type=2", []string{"team/a/1", "team/a/2/x"}, nil},
		{"delimiter=/&prefix=team/a/", []string{"team/a/1"}, []string{"team/a/2/"}},
		{"list-type=2&prefix=team/b", nil, nil},
	} {
		keys, prefixes := list(t, s, p, c.query).names()
		if !slices.Equal(keys, c.keys) || !slices.Equal(prefixes, c.prefixes) {
			t.Errorf("%s: keys %q, prefixes %q; want %q, %q", c.query, keys, prefixes, c.keys, c.prefixes)
		}
	}
}
