// Package smtpclient is mailprobe's SMTP client session: one connection
// (a netx.Conn, so every byte is recorded and every operation deadlined)
// on which the engines speak SMTP as RFC 5321 defines it — replies
// (§4.2, with RFC 3463 enhanced codes), EHLO capabilities (§4.1.1.1),
// STARTTLS (RFC 3207), AUTH (RFC 4954 with RFC 4616 PLAIN, LOGIN, RFC
// 2195 CRAM-MD5 and XOAUTH2), and one MAIL/RCPT transaction that ends in
// RSET (a probe) or DATA (a send), pipelined when the server offers
// PIPELINING (RFC 2920).
//
// It is lower level than net/smtp or go-smtp's client on purpose: smtp
// check, send, script and shell, the DANE check and the reset-mail test
// must be able to send what a well-behaved client never would and to see
// exactly what came back, with each reply citing its own transcript lines.
package smtpclient
