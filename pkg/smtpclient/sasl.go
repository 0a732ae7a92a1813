package smtpclient

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// The SASL mechanisms beyond PLAIN, LOGIN, CRAM-MD5 and XOAUTH2 (session.go).
// Each is a go-sasl Client stepped by one loop (saslExchange), so every
// mechanism redacts, cancels and reports the same way. The cryptography
// comes from the standard library (HMAC, MD5, SHA-1) and, for SCRAM, from
// github.com/xdg-go/scram, which also does the channel binding of the
// -PLUS variants; nothing here invents a primitive.

// Mechanisms lists every mechanism Auth implements, for help texts and
// usage errors.
var Mechanisms = []string{"PLAIN", "LOGIN", "CRAM-MD5", "CRAM-SHA1", "DIGEST-MD5",
	"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "XOAUTH2", "OAUTHBEARER"}

// IsMechanism reports whether Auth implements mech.
func IsMechanism(mech string) bool {
	for _, m := range Mechanisms {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}

// IsOAuth reports whether mech takes an OAuth 2.0 access token in place
// of a password.
func IsOAuth(mech string) bool {
	m := strings.ToUpper(mech)
	return m == "XOAUTH2" || m == "OAUTHBEARER"
}

// SetServerName sets the host name SASL mechanisms name the server by
// (DIGEST-MD5's digest-uri, OAUTHBEARER's host=); default the address.
func (s *Session) SetServerName(name string) { s.serverName = name }

func (s *Session) saslHost() string {
	if s.serverName != "" {
		return s.serverName
	}
	host := s.addr
	if h, _, ok := strings.Cut(host, ":"); ok && !strings.Contains(host, "]") {
		host = h
	}
	return strings.Trim(host, "[]")
}

// OAuthError is the error the server sent as a challenge during the last
// XOAUTH2 or OAUTHBEARER exchange, decoded from base64 (RFC 7628 §3.2.2:
// a JSON object with status, schemes and scope), or "".
func (s *Session) OAuthError() string { return s.oauthErr }

// saslClient builds the client of one of the step-by-step mechanisms.
func (s *Session) saslClient(mech, user, password string) (sasl.Client, error) {
	switch mech {
	case "CRAM-SHA1":
		return &cramClient{user: user, password: password, mech: mech}, nil
	case "DIGEST-MD5":
		return &digestMD5Client{user: user, password: password, service: "smtp", host: s.saslHost()}, nil
	case "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS":
		return newSCRAMClient(mech, user, password, s.TLS())
	case "OAUTHBEARER":
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: password, Host: s.saslHost(), Port: s.port()}), nil
	}
	return nil, fmt.Errorf("unsupported AUTH mechanism %q (supported: %s)", mech, strings.Join(Mechanisms, ", "))
}

func (s *Session) port() int {
	_, p, err := netx.SplitHostPort(s.addr, 0)
	if err != nil {
		return 0
	}
	return p
}

// saslExchange runs AUTH mech with c (RFC 4954 §4): the initial response
// on the AUTH line when the mechanism has one, then one response per 334
// challenge. Every response is registered as a secret before it is sent.
// A mechanism that refuses a challenge (a server that fails SCRAM's
// server signature, a malformed DIGEST-MD5 challenge) cancels the
// exchange with "*", and the error says why.
func (s *Session) saslExchange(ctx context.Context, mech string, c sasl.Client) (Reply, error) {
	_, ir, err := c.Start()
	if err != nil {
		return Reply{}, err
	}
	line := "AUTH " + mech
	if ir != nil {
		enc := base64.StdEncoding.EncodeToString(ir)
		if enc == "" {
			enc = "=" // an empty initial response (RFC 4954 §4)
		}
		s.rec.AddSecret(enc)
		line += " " + enc
	}
	r, err := s.Cmd(ctx, line)
	for steps := 0; err == nil && r.Code == 334 && steps < 8; steps++ {
		chal, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Text()))
		if derr != nil {
			return s.cancelAuth(ctx, fmt.Errorf("%s challenge is not base64: %q", mech, netx.Clip(r.Text())))
		}
		if mech == "OAUTHBEARER" {
			// RFC 7628 §3.2.2: the challenge is the error; the client
			// answers with a single %x01 and the server then fails the
			// exchange with a final reply.
			s.oauthErr = string(chal)
			r, err = s.Cmd(ctx, base64.StdEncoding.EncodeToString([]byte{1}))
			break
		}
		resp, nerr := c.Next(chal)
		if nerr != nil {
			return s.cancelAuth(ctx, fmt.Errorf("AUTH %s: %v", mech, nerr))
		}
		enc := base64.StdEncoding.EncodeToString(resp)
		if enc != "" {
			s.rec.AddSecret(enc)
		}
		r, err = s.Cmd(ctx, enc)
	}
	if err == nil && r.Code == 235 {
		if v, ok := c.(interface{ verified() error }); ok {
			if verr := v.verified(); verr != nil {
				return r, fmt.Errorf("AUTH %s: the server accepted, but %v", mech, verr)
			}
		}
	}
	return r, err
}

// cancelAuth ends an exchange the client cannot go on with (RFC 4954 §4:
// "*" cancels) and returns why, with the server's answer to the cancel.
func (s *Session) cancelAuth(ctx context.Context, why error) (Reply, error) {
	if err := s.Send(ctx, "*"); err != nil {
		return Reply{}, err
	}
	s.answering = "*"
	r, _ := s.ReadReply(ctx, 0)
	return r, why
}

// ---------------------------------------------------------------- CRAM-SHA1

// cramClient is CRAM-MD5's scheme (RFC 2195) with HMAC-SHA1, as Cyrus
// SASL and some appliances name it CRAM-SHA1: user SP hex(HMAC(password,
// challenge)).
type cramClient struct{ user, password, mech string }

func (c *cramClient) Start() (string, []byte, error) { return c.mech, nil, nil }
func (c *cramClient) Next(chal []byte) ([]byte, error) {
	m := hmac.New(sha1.New, []byte(c.password))
	m.Write(chal)
	return []byte(c.user + " " + hex.EncodeToString(m.Sum(nil))), nil
}

// ---------------------------------------------------------------- DIGEST-MD5

// digestMD5Client is RFC 2831's DIGEST-MD5 with qop=auth (authentication
// only; no integrity or privacy layer). It is obsolete (RFC 6331) but old
// servers still offer it. The server's rspauth is checked: a server that
// does not know the password cannot produce it.
type digestMD5Client struct {
	user, password, service, host string
	cnonce                        string // "" = random
	step                          int
	wantRspauth                   string
	rspauthOK                     bool
}

func (c *digestMD5Client) Start() (string, []byte, error) { return "DIGEST-MD5", nil, nil }

func (c *digestMD5Client) Next(chal []byte) ([]byte, error) {
	c.step++
	fields, err := parseDigestChallenge(string(chal))
	if err != nil {
		return nil, err
	}
	if c.step > 1 {
		// The second challenge is rspauth=...: the server proves it knew
		// the password; the answer is empty (RFC 2831 §2.1.3).
		if got := fields["rspauth"]; got == "" || got != c.wantRspauth {
			return nil, errors.New("DIGEST-MD5: the server's rspauth does not match: it does not know the password")
		}
		c.rspauthOK = true
		return []byte{}, nil
	}
	nonce := fields["nonce"]
	if nonce == "" {
		return nil, errors.New("DIGEST-MD5 challenge without a nonce")
	}
	if q := fields["qop"]; q != "" && !containsFold(strings.Split(q, ","), "auth") {
		return nil, fmt.Errorf("DIGEST-MD5: the server offers qop %q, not auth", q)
	}
	realm := fields["realm"]
	cnonce := c.cnonce
	if cnonce == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		cnonce = hex.EncodeToString(b)
	}
	const nc = "00000001"
	uri := c.service + "/" + c.host
	resp, rspauth := digestMD5Response(c.user, realm, c.password, nonce, cnonce, nc, uri)
	c.wantRspauth = rspauth
	out := fmt.Sprintf(`charset=utf-8,username=%s,realm=%s,nonce=%s,nc=%s,cnonce=%s,digest-uri=%s,response=%s,qop=auth`,
		quoteDigest(c.user), quoteDigest(realm), quoteDigest(nonce), nc, quoteDigest(cnonce), quoteDigest(uri), resp)
	return []byte(out), nil
}

func (c *digestMD5Client) verified() error {
	if !c.rspauthOK {
		return errors.New("it never proved it knew the password (no rspauth)")
	}
	return nil
}

// digestMD5Response computes the response and the rspauth the server
// must send back (RFC 2831 §2.1.2.1, qop=auth, no authzid).
func digestMD5Response(user, realm, password, nonce, cnonce, nc, uri string) (response, rspauth string) {
	h := func(s string) []byte { b := md5.Sum([]byte(s)); return b[:] }
	hx := func(s string) string { b := md5.Sum([]byte(s)); return hex.EncodeToString(b[:]) }
	a1 := string(h(user+":"+realm+":"+password)) + ":" + nonce + ":" + cnonce
	kd := func(a2 string) string {
		return hx(hx(a1) + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + hx(a2))
	}
	return kd("AUTHENTICATE:" + uri), kd(":" + uri)
}

// parseDigestChallenge reads key=value and key="quoted value" pairs
// separated by commas (RFC 2831 §7.1), at most 64 of them.
func parseDigestChallenge(s string) (map[string]string, error) {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; {
		if len(out) >= 64 {
			return nil, errors.New("DIGEST-MD5 challenge has too many fields")
		}
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("DIGEST-MD5 challenge is malformed near %q", netx.Clip(s))
		}
		k = strings.ToLower(strings.TrimSpace(k))
		rest = strings.TrimLeft(rest, " \t")
		var v string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			if i >= len(rest) {
				return nil, errors.New("DIGEST-MD5 challenge has an unterminated quoted value")
			}
			v, rest = b.String(), rest[i+1:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			v = strings.TrimSpace(v)
			rest = "," + rest
		}
		if _, dup := out[k]; !dup || k != "realm" {
			out[k] = v
		}
		rest = strings.TrimLeft(rest, " \t")
		rest = strings.TrimPrefix(rest, ",")
		s = strings.TrimSpace(rest)
	}
	return out, nil
}

func quoteDigest(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- SCRAM

// scramClient adapts xdg-go/scram's conversation to go-sasl's Client.
type scramClient struct {
	mech string
	conv *scram.ClientConversation
}

// newSCRAMClient starts SCRAM-SHA-1 or SCRAM-SHA-256 (RFC 5802, RFC
// 7677). The -PLUS variants bind the exchange to the TLS connection
// (RFC 5056): tls-exporter on TLS 1.3 (RFC 9266), tls-server-end-point
// otherwise (RFC 5929), so a man in the middle holding another
// certificate cannot relay the login. Without TLS there is nothing to
// bind to, and -PLUS is refused before anything is sent.
func newSCRAMClient(mech, user, password string, ts *tls.ConnectionState) (*scramClient, error) {
	base := strings.TrimSuffix(mech, "-PLUS")
	hash := scram.SHA1
	if base == "SCRAM-SHA-256" {
		hash = scram.SHA256
	}
	cl, err := hash.NewClient(user, password, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", mech, err)
	}
	c := &scramClient{mech: mech}
	switch {
	case strings.HasSuffix(mech, "-PLUS"):
		if ts == nil {
			return nil, fmt.Errorf("%s needs TLS to bind to; the connection is not encrypted", mech)
		}
		cb, err := channelBinding(ts)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", mech, err)
		}
		c.conv = cl.NewConversationWithChannelBinding(cb)
	case ts != nil:
		// "y": the client could bind but the server did not offer -PLUS,
		// which lets a server that does detect a downgrade (RFC 5802 §6).
		c.conv = cl.NewConversationAdvertisingChannelBinding()
	default:
		c.conv = cl.NewConversation()
	}
	return c, nil
}

func channelBinding(ts *tls.ConnectionState) (scram.ChannelBinding, error) {
	if ts.Version >= tls.VersionTLS13 {
		return scram.NewTLSExporterBinding(ts)
	}
	return scram.NewTLSServerEndpointBinding(ts)
}

func (c *scramClient) Start() (string, []byte, error) {
	first, err := c.conv.Step("")
	return c.mech, []byte(first), err
}

func (c *scramClient) Next(chal []byte) ([]byte, error) {
	if c.conv.Done() {
		return []byte{}, nil
	}
	resp, err := c.conv.Step(string(chal))
	if err != nil {
		return nil, err
	}
	return []byte(resp), nil
}

func (c *scramClient) verified() error {
	if !c.conv.Valid() {
		return errors.New("it never proved it knew the password (no valid SCRAM server signature)")
	}
	return nil
}

// ---------------------------------------------------------------- OAuth errors

// OAuthErrorInfo is a decoded OAuth error challenge (RFC 7628 §3.2.2;
// Google's and Microsoft's XOAUTH2 send the same JSON).
type OAuthErrorInfo struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes,omitempty"`
	Scope   string `json:"scope,omitempty"`
}

// ExplainOAuthError decodes the JSON and says what it means and what to
// do; ok is false when raw is not such an object.
func ExplainOAuthError(raw string) (info OAuthErrorInfo, explanation string, ok bool) {
	if len(raw) > 4096 || json.Unmarshal([]byte(raw), &info) != nil || info.Status == "" {
		return info, "", false
	}
	switch strings.ToLower(info.Status) {
	case "400", "invalid_request":
		explanation = "the server could not read the token request (status 400, invalid_request): check the user name sent with the token."
	case "401", "invalid_token":
		explanation = "the access token was refused (status 401, invalid_token): it expired (they last about an hour), was revoked, or was issued for another account than --user. Get a fresh token."
	case "403", "insufficient_scope":
		explanation = "the token is valid but lacks the scope this service needs (status 403, insufficient_scope)"
		if info.Scope != "" {
			explanation += "; the server asks for scope " + info.Scope
		}
		explanation += ". Request a token with that scope (Gmail: https://mail.google.com/; Microsoft 365: https://outlook.office.com/SMTP.Send, IMAP.AccessAsUser.All or POP.AccessAsUser.All)."
	default:
		explanation = "the server refused the token with status " + info.Status + "."
	}
	if info.Scope != "" && !strings.Contains(explanation, info.Scope) {
		explanation += " Scope required: " + info.Scope + "."
	}
	return info, explanation, true
}

// OAuthInitialResponse is the first message of XOAUTH2 (Google's and
// Microsoft's format) or OAUTHBEARER (RFC 7628 §3.1) for user and token:
// what every protocol (SMTP AUTH, IMAP AUTHENTICATE, POP3 AUTH) sends,
// base64-encoded, as the initial response.
func OAuthInitialResponse(mech, user, token, host string, port int) []byte {
	if strings.EqualFold(mech, "OAUTHBEARER") {
		_, ir, _ := sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: token, Host: host, Port: port}).Start()
		return ir
	}
	return []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
}

// OAuthErrorResponse is what a client answers to an OAuth error
// challenge: %x01 for OAUTHBEARER (RFC 7628 §3.2.3), an empty response
// for XOAUTH2. The server then fails the exchange.
func OAuthErrorResponse(mech string) []byte {
	if strings.EqualFold(mech, "OAUTHBEARER") {
		return []byte{1}
	}
	return []byte{}
}

// OAuthClient is a go-sasl client for XOAUTH2 or OAUTHBEARER (for
// go-imap's Authenticate) that keeps the server's error challenge
// (Err) instead of failing on it, so the error can be explained.
type OAuthClient struct {
	Mech, User, Token, Host string
	Port                    int
	Err                     string // the decoded error challenge, if any
}

// Start implements sasl.Client.
func (c *OAuthClient) Start() (string, []byte, error) {
	return strings.ToUpper(c.Mech), OAuthInitialResponse(c.Mech, c.User, c.Token, c.Host, c.Port), nil
}

// Next implements sasl.Client: any challenge is the error.
func (c *OAuthClient) Next(chal []byte) ([]byte, error) {
	if len(chal) > 4096 {
		chal = chal[:4096]
	}
	c.Err = string(chal)
	return OAuthErrorResponse(c.Mech), nil
}
