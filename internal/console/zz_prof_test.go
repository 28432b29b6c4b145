package console_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/cli"
)

func TestZZCompare(t *testing.T) {
	srv := startServer(t)
	const size = 256 << 20
	data := random(t, size)
	p := writeFile(t, t.TempDir(), "big256.bin", data)
	rate := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(0, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for i := range 3 {
		c0 := cpu()
		start := time.Now()
		var out strings.Builder
		vars := map[string]string{"SIMPLEDRIVE_URL": srv.direct, "SIMPLEDRIVE_TOKEN": testToken, "XDG_CACHE_HOME": t.TempDir(), "HOME": t.TempDir()}
		if code := cli.Main(context.Background(), []string{"put", p, "--id", fmt.Sprint("cli", i)}, cli.Env{
			Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(k string) string { return vars[k] },
		}); code != 0 {
			t.Fatalf("simpledrive put = %d: %s", code, out.String())
		}
		c := time.Since(start)
		c1 := cpu()
		put := rawPut(t, srv.direct, fmt.Sprint("put", i), data)
		c2 := cpu()
		fmt.Fprintf(os.Stderr, "ZZ cli %.0f MiB/s cpu %v  put %.0f MiB/s cpu %v  ratio %.2f\n", rate(c), c1-c0, rate(put), c2-c1, put.Seconds()/c.Seconds())
	}
}
