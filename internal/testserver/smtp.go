package testserver

import (
	"encoding/base64"
	"net"
	"strings"
	"time"
)

// SMTP is a deliberately small ESMTP server whose every answer can be
// changed, for the misbehaviour go-smtp (correctly) never shows: a 421
// banner, a STARTTLS that answers commands pipelined before the
// handshake (CVE-2011-0411), AUTH offered in plaintext, odd replies.
type SMTP struct {
	Banner      []string      // default "220 mail.test.example ESMTP testserver"
	BannerDelay time.Duration // wait before the banner
	// Caps are the EHLO keywords before TLS (default PIPELINING, SIZE
	// 10240000, 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS when Cert is set);
	// CapsTLS after (default Caps without STARTTLS, plus AUTH PLAIN LOGIN).
	Caps, CapsTLS []string
	Cert          *Cert
	// InjectionVulnerable answers, inside TLS, commands the client sent
	// in the same packet as STARTTLS.
	InjectionVulnerable bool
	// AfterStartTLS is sent in plaintext right after the 220 to STARTTLS,
	// before the handshake: the response-injection the client must discard.
	AfterStartTLS string
	// Users for AUTH PLAIN/LOGIN; nil accepts nobody.
	Users map[string]string
	// Reply overrides the answer to a command verb ("MAIL", "RCPT",
	// "DATA", "STARTTLS", "EHLO", ...): the lines to send.
	Reply map[string][]string
	// Pipelining answers each group of pipelined commands in one write
	// (Conn.BatchReplies); not combinable with Cert.
	Pipelining bool
	// Hook runs first for every command line; returning true means it
	// answered (or closed) and the default handling is skipped.
	Hook func(c *Conn, line string) bool
}

func (s SMTP) caps(tls bool) []string {
	if tls && s.CapsTLS != nil {
		return s.CapsTLS
	}
	if !tls && s.Caps != nil {
		return s.Caps
	}
	c := []string{"PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES"}
	if tls {
		return append(c, "AUTH PLAIN LOGIN")
	}
	if s.Cert != nil {
		c = append(c, "STARTTLS")
	}
	return c
}

// Handler serves the dialogue.
func (s SMTP) Handler() Handler {
	return func(c *Conn) {
		if s.Pipelining {
			c.BatchReplies()
			defer c.beforeWait() // the last replies (221) before hanging up
		}
		if s.BannerDelay > 0 {
			time.Sleep(s.BannerDelay)
		}
		banner := s.Banner
		if banner == nil {
			banner = []string{"220 mail.test.example ESMTP testserver"}
		}
		c.Send(banner...)
		if strings.HasPrefix(banner[len(banner)-1], "4") || strings.HasPrefix(banner[len(banner)-1], "5") {
			// 421/554 banner: RFC 5321 §3.1, only QUIT is useful now.
			_, _ = c.Line()
			c.Send("221 2.0.0 Bye")
			return
		}
		inTLS := false
		for {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			line, err := c.Line()
			if err != nil {
				return
			}
			if s.Hook != nil && s.Hook(c, line) {
				continue
			}
			verb, arg, _ := strings.Cut(line, " ")
			verb = strings.ToUpper(verb)
			if r, ok := s.Reply[verb]; ok {
				c.Send(r...)
				if strings.HasPrefix(r[len(r)-1], "221") || strings.HasPrefix(r[len(r)-1], "421") {
					return
				}
				continue
			}
			switch verb {
			case "EHLO":
				caps := s.caps(inTLS)
				out := []string{"250-mail.test.example Hello " + arg}
				for i, k := range caps {
					sep := "-"
					if i == len(caps)-1 {
						sep = " "
					}
					out = append(out, "250"+sep+k)
				}
				if len(caps) == 0 {
					out = []string{"250 mail.test.example Hello " + arg}
				}
				c.Send(out...)
			case "HELO":
				c.Send("250 mail.test.example")
			case "STARTTLS":
				if s.Cert == nil || inTLS {
					c.Send("502 5.5.1 Not here")
					continue
				}
				var pending []string
				if s.InjectionVulnerable {
					// The bug: lines already buffered are kept and
					// answered after the handshake.
					for c.R.Buffered() > 0 {
						l, err := c.Line()
						if err != nil {
							break
						}
						pending = append(pending, l)
					}
				} else {
					c.R.Discard(c.R.Buffered())
				}
				// One write, so the planted bytes arrive with the reply,
				// before the client starts its handshake.
				_, _ = c.Write([]byte("220 2.0.0 Ready to start TLS\r\n" + s.AfterStartTLS))
				if err := c.UpgradeTLS(s.Cert.TLS); err != nil {
					return
				}
				inTLS = true
				for range pending {
					c.Send("250 2.0.0 OK (answered inside TLS)")
				}
			case "AUTH":
				mech, initial, _ := strings.Cut(arg, " ")
				user, pass := "", ""
				switch strings.ToUpper(mech) {
				case "PLAIN":
					if initial == "" {
						c.Send("334 ")
						initial, _ = c.Line()
					}
					b, _ := base64.StdEncoding.DecodeString(initial)
					parts := strings.Split(string(b), "\x00")
					if len(parts) == 3 {
						user, pass = parts[1], parts[2]
					}
				case "LOGIN":
					c.Send("334 VXNlcm5hbWU6")
					u, _ := c.Line()
					c.Send("334 UGFzc3dvcmQ6")
					p, _ := c.Line()
					ub, _ := base64.StdEncoding.DecodeString(u)
					pb, _ := base64.StdEncoding.DecodeString(p)
					user, pass = string(ub), string(pb)
				default:
					c.Send("504 5.5.4 Unrecognized authentication type")
					continue
				}
				if want, ok := s.Users[user]; ok && want == pass && user != "" {
					c.Send("235 2.7.0 Authentication successful")
				} else {
					c.Send("535 5.7.8 Error: authentication failed: authentication failure")
				}
			case "MAIL":
				c.Send("250 2.1.0 Ok")
			case "RCPT":
				c.Send("250 2.1.5 Ok")
			case "DATA":
				c.Send("354 End data with <CR><LF>.<CR><LF>")
				for {
					l, err := c.Line()
					if err != nil {
						return
					}
					if l == "." {
						break
					}
				}
				c.Send("250 2.0.0 Ok: queued as 4TESTQ")
			case "RSET", "NOOP":
				c.Send("250 2.0.0 Ok")
			case "VRFY":
				c.Send("252 2.0.0 " + arg)
			case "QUIT":
				c.Send("221 2.0.0 Bye")
				return
			default:
				c.Send("502 5.5.2 Error: command not recognized")
			}
		}
	}
}

// Silent accepts the connection and never says anything.
func Silent(c *Conn) {
	buf := make([]byte, 1024)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// Garbage answers with something that is not SMTP (an HTTP server, say).
func Garbage(c *Conn) {
	c.Send("HTTP/1.1 400 Bad Request", "Content-Type: text/html", "", "\x00\x01\x02\xff\xfe binary")
	time.Sleep(100 * time.Millisecond)
}

// EndlessLine sends a banner line that never ends.
func EndlessLine(c *Conn) {
	_, _ = c.Write([]byte("220 "))
	chunk := []byte(strings.Repeat("A", 4096))
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// EndlessMultiline sends continuation lines forever.
func EndlessMultiline(c *Conn) {
	for {
		if _, err := c.Write([]byte("220-still going\r\n")); err != nil {
			return
		}
	}
}

// SlowDrip sends the banner one byte every interval.
func SlowDrip(interval time.Duration) Handler {
	return func(c *Conn) {
		for _, b := range []byte("220 mail.test.example ESMTP slow\r\n") {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(interval)
		}
		Silent(c)
	}
}

// ResetAfterBanner greets, then answers EHLO with a TCP reset.
func ResetAfterBanner(c *Conn) {
	c.Send("220 mail.test.example ESMTP")
	_, _ = c.Line()
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close with RST
	}
}

// TLSAlertOnStartTLS says yes to STARTTLS and then answers the
// ClientHello with a fatal handshake_failure alert.
func TLSAlertOnStartTLS(c *Conn) {
	c.Send("220 mail.test.example ESMTP")
	for {
		line, err := c.Line()
		if err != nil {
			return
		}
		switch strings.ToUpper(strings.Fields(line + " x")[0]) {
		case "EHLO":
			c.Send("250-mail.test.example", "250 STARTTLS")
		case "STARTTLS":
			c.Send("220 2.0.0 Ready")
			buf := make([]byte, 512)
			_, _ = c.Read(buf) // the ClientHello
			_, _ = c.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28})
			return
		default:
			c.Send("250 ok")
		}
	}
}
