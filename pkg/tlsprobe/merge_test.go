package tlsprobe

import "testing"

// The TLS scan's vulnerability findings reach the mailbox audits (the
// list of scan areas once left tls.vuln.* out).
func TestScanOnly(t *testing.T) {
	for code, want := range map[string]bool{
		"tls.vuln.heartbleed": true, "tls.protocol.tls10": true, "tls.cipher.weak": true,
		"tls.starttls.injection": false, "tls.handshake.failed": false, "cert.expired": false, "smtp.starttls.ok": false,
	} {
		if got := ScanOnly(code); got != want {
			t.Errorf("%s: %v", code, got)
		}
	}
}
