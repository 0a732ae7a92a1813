package cli

import (
	"bufio"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// One rule for "could not complete" (PRODUCT.md's exit contract): `tls`
// on a port that does not speak TLS, or whose every handshake fails,
// exits 3 like smtp check, imap audit and pop3 audit do; it exited 1.
func TestTLSCmd_portThatDoesNotSpeakTLSIsIncomplete(t *testing.T) {
	for _, c := range []struct {
		name, answer, code string
	}{
		{"plaintext", "HTTP/1.1 400 Bad Request\r\n\r\n", "tls.handshake.not-tls"},
		{"alert", "\x15\x03\x03\x00\x02\x02\x28", "tls.handshake.failed"},
	} {
		addr := testserver.Start(t, func(sc *testserver.Conn) {
			br := bufio.NewReader(sc)
			if _, err := br.Peek(1); err != nil {
				return
			}
			_, _ = sc.Write([]byte(c.answer))
		})
		r := run(t, nil, "tls", addr, "--tls", "implicit", "--quick")
		if r.code != report.ExitIncomplete || !strings.Contains(r.out, c.code) {
			t.Errorf("%s: exit %d, want 3\n%s", c.name, r.code, r.out)
		}
	}
}
