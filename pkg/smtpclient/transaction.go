package smtpclient

import (
	"context"
	"strings"
)

// Transaction is one mail transaction (RFC 5321 §3.3): MAIL, one RCPT per
// recipient, then DATA with Message (a send) or, when Message is nil, RSET
// (a probe, which can never deliver anything).
type Transaction struct {
	From       string   // the reverse-path, without brackets ("" = null sender)
	MailParams string   // ESMTP parameters after MAIL FROM:<...>, e.g. "SIZE=123 SMTPUTF8"
	To         []string // forward-paths, without brackets
	Message    []byte   // nil: a probe ended by RSET
	// Pipeline sends MAIL, every RCPT and (for a send) DATA as one group
	// (RFC 2920 §3.1: DATA may be the last command of a group). Set it
	// when the server advertised PIPELINING.
	Pipeline bool
}

// TxResult holds each command's reply, matched to its command: a reply
// cites the transcript lines it consumed, so pipelined replies cite
// their own lines.
type TxResult struct {
	Mail      Reply
	Rcpt      []Reply // one per recipient, in order; shorter when the transaction stopped
	Data      Reply   // the reply to DATA (354 expected); zero when DATA was not sent
	Final     Reply   // the reply after the message; zero when no message was sent
	Rset      Reply   // a probe's RSET reply
	Pipelined bool
	// Aborted is set when a pipelined DATA was accepted (354) although
	// the envelope was not: the connection was closed without sending
	// the message, so nothing reaches a partial recipient list (RFC 5321
	// §3.8, an unfinished transaction is discarded).
	Aborted bool
	// Stage names where an error stopped the transaction: "mail", "rcpt",
	// "data" or "rset".
	Stage string
}

// Accepted reports whether MAIL and every RCPT were accepted.
func (r TxResult) Accepted(recipients int) bool {
	if r.Mail.Code != 250 || len(r.Rcpt) != recipients {
		return false
	}
	for _, rp := range r.Rcpt {
		if rp.Code != 250 && rp.Code != 251 {
			return false
		}
	}
	return true
}

// Transact runs tx. Without pipelining a refused MAIL stops the
// transaction (a probe still sends RSET); a send stops before DATA unless
// every recipient was accepted, so a message never goes to part of its
// recipient list. The error is a write or read failure; the result holds
// every reply read before it.
func (s *Session) Transact(ctx context.Context, tx Transaction) (TxResult, error) {
	mail := "MAIL FROM:<" + tx.From + ">"
	if p := strings.TrimSpace(tx.MailParams); p != "" {
		mail += " " + p
	}
	send := tx.Message != nil
	res := TxResult{Pipelined: tx.Pipeline}
	if tx.Pipeline {
		return s.transactPipelined(ctx, tx, mail, send, res)
	}
	var err error
	res.Stage = "mail"
	if res.Mail, err = s.Cmd(ctx, mail); err != nil {
		return res, err
	}
	if res.Mail.Code == 250 {
		res.Stage = "rcpt"
		for _, to := range tx.To {
			rp, err := s.Cmd(ctx, "RCPT TO:<"+to+">")
			if err != nil {
				return res, err
			}
			res.Rcpt = append(res.Rcpt, rp)
		}
	}
	if !send {
		return s.rset(ctx, res)
	}
	if !res.Accepted(len(tx.To)) {
		res.Stage = ""
		return res, nil
	}
	res.Stage = "data"
	res.Data, res.Final, err = s.Data(ctx, tx.Message)
	if err == nil {
		res.Stage = ""
	}
	return res, err
}

// transactPipelined writes the whole group at once and reads the replies
// in command order (RFC 2920 §3.2: the server answers in order, and the
// client must check every reply, not only the last).
func (s *Session) transactPipelined(ctx context.Context, tx Transaction, mail string, send bool, res TxResult) (TxResult, error) {
	var group strings.Builder
	group.WriteString(mail + "\r\n")
	for _, to := range tx.To {
		group.WriteString("RCPT TO:<" + to + ">\r\n")
	}
	if send {
		group.WriteString("DATA\r\n")
	}
	res.Stage = "mail"
	// A group is sent on a quiet connection too (RFC 2920 §3.1): replies
	// already waiting would be matched to the group's commands.
	if err := s.unsolicited("MAIL"); err != nil {
		return res, err
	}
	if err := s.SendRaw(ctx, []byte(group.String())); err != nil {
		return res, err
	}
	var err error
	s.answering = "MAIL"
	if res.Mail, err = s.ReadReply(ctx, 0); err != nil {
		return res, err
	}
	res.Stage = "rcpt"
	for range tx.To {
		s.answering = "RCPT"
		rp, err := s.ReadReply(ctx, 0)
		if err != nil {
			return res, err
		}
		res.Rcpt = append(res.Rcpt, rp)
	}
	if !send {
		return s.rset(ctx, res)
	}
	res.Stage = "data"
	s.answering = "DATA"
	if res.Data, err = s.ReadReply(ctx, 0); err != nil {
		return res, err
	}
	if res.Data.Code != 354 {
		res.Stage = ""
		return res, nil
	}
	if !res.Accepted(len(tx.To)) {
		// The server is waiting for the message, and there is no way to
		// cancel DATA but to hang up.
		s.rec.Event("closing without sending the message: the envelope was not fully accepted")
		res.Aborted = true
		res.Stage = ""
		return res, s.Close()
	}
	if res.Final, err = s.sendBody(ctx, tx.Message); err != nil {
		return res, err
	}
	res.Stage = ""
	return res, nil
}

func (s *Session) rset(ctx context.Context, res TxResult) (TxResult, error) {
	res.Stage = "rset"
	var err error
	if res.Rset, err = s.Cmd(ctx, "RSET"); err != nil {
		return res, err
	}
	res.Stage = ""
	return res, nil
}
