package tlsprobe

import (
	"net"
	"testing"
	"time"
)

// FuzzConn12Handshake feeds arbitrary server bytes to the minimal TLS 1.2
// client: it must fail cleanly, never panic or read past its caps.
func FuzzConn12Handshake(f *testing.F) {
	f.Add([]byte{0x16, 3, 3, 0, 4, hsServerHello, 0, 0, 0})
	f.Add(appendRecords(nil, recordHandshake, VersionTLS12, append(serverHelloMsg(VersionTLS12, make([]byte, 32), 0xC02F, nil), hsServerHelloDone, 0, 0, 0)))
	f.Add([]byte{0x15, 3, 3, 0, 2, 2, 40})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, s := net.Pipe()
		defer c.Close()
		go func() {
			defer s.Close()
			buf := make([]byte, 4096)
			s.SetDeadline(time.Now().Add(time.Second))
			go func() {
				for {
					if _, err := s.Read(buf); err != nil {
						return
					}
				}
			}()
			s.Write(data)
		}()
		c.SetDeadline(time.Now().Add(time.Second))
		k := newConn12(c, "mail.test")
		if err := k.handshake(nil, nil); err == nil {
			t.Fatalf("a handshake completed against %x", data)
		}
	})
}
