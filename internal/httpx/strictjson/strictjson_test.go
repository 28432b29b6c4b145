package strictjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/simpledrive/simpledrive/internal/httpx/strictjson"
)

type link struct {
	ID        string   `json:"id" strictjson:"required"`
	ExpiresIn *int64   `json:"expires_in"`
	Tags      []string `json:"tags"`
}

// TestDecode: bodies the rules accept decode as encoding/json would.
func TestDecode(t *testing.T) {
	for body, want := range map[string]string{
		`{"id":"x"}`: `{"id":"x","expires_in":null,"tags":null}`,
		" \r\n\t{ \"id\" : \"a\\u00e9\\ud83d\\ude00\\/\\\"\" , \"expires_in\" : 60 , \"tags\" : [ ] } \n": `{"id":"aé😀/\"","expires_in":60,"tags":[]}`,
		`{"tags":["a","b"],"id":"\u0069d"}`:   `{"id":"id","expires_in":null,"tags":["a","b"]}`,
		`{"\u0069d":"x","expires_in":-100}`:   `{"id":"x","expires_in":-100,"tags":null}`,
		`{"id":"\uFFFD literal replacement"}`: "{\"id\":\"\ufffd literal replacement\",\"expires_in\":null,\"tags\":null}",
	} {
		var v link
		if err := strictjson.Decode(strings.NewReader(body), 1024, &v); err != nil {
			t.Errorf("Decode(%q): %v", body, err)
			continue
		}
		got, _ := json.Marshal(v)
		if string(got) != want {
			t.Errorf("Decode(%q) = %s; want %s", body, got, want)
		}
	}
}

// TestRefused: every rule, with the fault and the member it names.
func TestRefused(t *testing.T) {
	for _, c := range []struct {
		body   string
		err    error
		member string
	}{
		{`{"id":"x","expires_in":60}}`, strictjson.ErrTrailing, ""}, // issue 18, finding 7
		{`{"id":"x"} {}`, strictjson.ErrTrailing, ""},
		{`{"id":"x"}x`, strictjson.ErrTrailing, ""},
		{``, strictjson.ErrNotObject, ""},
		{`  `, strictjson.ErrNotObject, ""},
		{`["id"]`, strictjson.ErrNotObject, ""},
		{`"x"`, strictjson.ErrNotObject, ""},
		{`null`, strictjson.ErrNotObject, ""},
		{`{"id":"x"`, strictjson.ErrSyntax, "id"},
		{`{"id":"x",}`, strictjson.ErrSyntax, ""},
		{`{"id" "x"}`, strictjson.ErrSyntax, "id"},
		{`{id:"x"}`, strictjson.ErrSyntax, ""},
		{`{"id":'x'}`, strictjson.ErrSyntax, "id"},
		{`{"id":"x","expires_in":01}`, strictjson.ErrSyntax, "expires_in"},
		{`{"id":"x","expires_in":1.}`, strictjson.ErrSyntax, "expires_in"},
		{`{"id":"x","expires_in":+1}`, strictjson.ErrSyntax, "expires_in"},
		{`{"id":"x","expires_in":1e}`, strictjson.ErrSyntax, "expires_in"},
		{`{"id":"x","tags":[1,]}`, strictjson.ErrSyntax, "tags"},
		{`{"id":"a` + "\t" + `b"}`, strictjson.ErrSyntax, "id"},
		{`{"id":"\x"}`, strictjson.ErrSyntax, "id"},
		{`{"id":"\u12"}`, strictjson.ErrSyntax, "id"},
		{`{"id":"x","tags":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, strictjson.ErrSyntax, "tags"},
		{`{"id":"x","ID":"y"}`, strictjson.ErrUnknown, "ID"},
		{`{"Id":"x"}`, strictjson.ErrUnknown, "Id"},
		{`{"id":"x","extra":1}`, strictjson.ErrUnknown, "extra"},
		{`{"id":"x","id":"y"}`, strictjson.ErrDuplicate, "id"},
		{`{"id":"x","\u0069d":"y"}`, strictjson.ErrDuplicate, "id"},
		{`{"id":"x","tags":[{"a":1,"a":2}]}`, strictjson.ErrDuplicate, "tags"},
		{`{"id":null}`, strictjson.ErrNull, "id"},
		{`{"id":"x","expires_in":null}`, strictjson.ErrNull, "expires_in"},
		{`{"id":"x","tags":["a",null]}`, strictjson.ErrNull, "tags"},
		{`{"id":"\ud800"}`, strictjson.ErrInvalidText, "id"},
		{`{"id":"\udc00\ud800"}`, strictjson.ErrInvalidText, "id"},
		{`{"id":"\ud800\u0041"}`, strictjson.ErrInvalidText, "id"},
		{"{\"id\":\"\xff\"}", strictjson.ErrInvalidText, "id"},
		{"{\"id\":\"x\",\"\xff\":1}", strictjson.ErrInvalidText, ""},
		{`{"id":1}`, strictjson.ErrType, "id"},
		{`{"id":"x","expires_in":1.5}`, strictjson.ErrType, "expires_in"},
		{`{"id":"x","expires_in":"60"}`, strictjson.ErrType, "expires_in"},
		{`{"id":"x","expires_in":99999999999999999999}`, strictjson.ErrType, "expires_in"},
		{`{"id":"x","tags":"a"}`, strictjson.ErrType, "tags"},
		{`{"id":"x","tags":[1]}`, strictjson.ErrType, "tags"},
		{`{"id":true}`, strictjson.ErrType, "id"},
		{`{}`, strictjson.ErrMissing, "id"},
		{`{"expires_in":60}`, strictjson.ErrMissing, "id"},
		{`{"id":"` + strings.Repeat("a", 2000) + `"}`, strictjson.ErrTooLarge, ""},
	} {
		var v link
		err := strictjson.Decode(strings.NewReader(c.body), 1024, &v)
		var e *strictjson.Error
		if !errors.Is(err, c.err) || !errors.As(err, &e) || e.Member != c.member {
			t.Errorf("Decode(%.60q) = %v; want %v in member %q", c.body, err, c.err, c.member)
		}
	}
}

// TestReadError: a failure to read the body is returned, not taken for a
// fault of the body.
func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	var v link
	err := strictjson.Decode(iotest.ErrReader(boom), 1024, &v)
	var e *strictjson.Error
	if !errors.Is(err, boom) || errors.As(err, &e) {
		t.Fatalf("Decode of a failing reader = %v; want the read error", err)
	}
}

// FuzzDecode: whatever Decode accepts is valid UTF-8 and encoding/json
// accepts too, with the same value; Decode never panics.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{`{"id":"x","expires_in":60,"tags":["a"]}`, `{"id":"x"}}`, `{"id":"\ud83d\ude00"}`, `{"id":null}`, `{"id":"x","id":"y"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var strict, loose link
		if strictjson.Decode(bytes.NewReader(body), 4096, &strict) != nil {
			return
		}
		if err := json.Unmarshal(body, &loose); err != nil {
			t.Fatalf("Decode accepted %q, which encoding/json refuses: %v", body, err)
		}
		a, _ := json.Marshal(strict)
		b, _ := json.Marshal(loose)
		if !bytes.Equal(a, b) || !utf8.Valid(body) {
			t.Fatalf("Decode(%q) = %s; encoding/json gives %s", body, a, b)
		}
	})
}
