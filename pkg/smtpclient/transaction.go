package smtpclient

import (
	"context"
	"fmt"
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
	// RcptParams, when set, holds the ESMTP parameters of each RCPT
	// (RFC 3461 NOTIFY and ORCPT), parallel to To; "" for none.
	RcptParams []string
	// StopAfter ends the transaction early, for --quit-after: "mail"
	// after MAIL's reply, "rcpt" after the RCPT replies, "data" after
	// DATA's 354 (the message is not sent, and since nothing but the
	// message can follow a 354, the connection is closed: Dropped). The
	// caller decides what follows (QUIT or hanging up).
	StopAfter string
	// DropAfterSend writes the message and its final dot and closes the
	// connection without reading the reply (swaks' --drop-after-send):
	// how a server treats a client that vanishes after the dot.
	DropAfterSend bool
	// LMTP reads one reply per accepted recipient after the message
	// (RFC 2033 §4.2) instead of one.
	LMTP bool
	// Chunking sends the message with BDAT (RFC 3030) instead of DATA,
	// as one chunk marked LAST, unstuffed: the server must have offered
	// CHUNKING. BINARYMIME bodies need it.
	Chunking bool
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
	// LMTP holds one reply per accepted recipient after the message
	// (RFC 2033 §4.2), in RCPT order; Final is the first of them.
	LMTP []Reply
	// Stopped is set when Transaction.StopAfter ended the transaction,
	// Dropped when the connection was closed on purpose (StopAfter
	// "data", DropAfterSend).
	Stopped, Dropped bool
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
		if tx.StopAfter == "mail" {
			res.Stage, res.Stopped = "", true
			return res, nil
		}
		for i := range tx.To {
			rp, err := s.Cmd(ctx, tx.rcptLine(i))
			if err != nil {
				return res, err
			}
			res.Rcpt = append(res.Rcpt, rp)
		}
	}
	if tx.StopAfter == "rcpt" {
		res.Stage, res.Stopped = "", true
		return res, nil
	}
	if !send {
		return s.rset(ctx, res)
	}
	if !res.Accepted(len(tx.To)) {
		res.Stage = ""
		return res, nil
	}
	res.Stage = "data"
	if tx.Chunking {
		err = s.bdat(ctx, tx, &res)
	} else {
		res.Data, err = s.Cmd(ctx, "DATA")
		if err == nil && res.Data.Code == 354 {
			err = s.afterData(ctx, tx, &res)
		}
	}
	if err == nil {
		res.Stage = ""
	}
	return res, err
}

// rcptLine is the RCPT command for recipient i, with its parameters.
func (tx Transaction) rcptLine(i int) string {
	line := "RCPT TO:<" + tx.To[i] + ">"
	if i < len(tx.RcptParams) && strings.TrimSpace(tx.RcptParams[i]) != "" {
		line += " " + strings.TrimSpace(tx.RcptParams[i])
	}
	return line
}

// afterData goes on after a 354: stop there (StopAfter "data"), send the
// message and drop (DropAfterSend), or send it and read the final
// reply, one per recipient over LMTP.
func (s *Session) afterData(ctx context.Context, tx Transaction, res *TxResult) error {
	switch {
	case tx.StopAfter == "data":
		// Nothing but the message may follow a 354 (RFC 5321 §4.1.1.4):
		// even QUIT would become a line of it. Hanging up is the only
		// way out, and the server discards the unfinished transaction.
		s.rec.Event("closing after the 354 without sending the message (--quit-after data)")
		res.Stopped, res.Dropped = true, true
		return s.Close()
	case tx.DropAfterSend:
		if err := s.writeBody(ctx, tx.Message); err != nil {
			return err
		}
		s.rec.Event("closing right after the final dot without reading the reply (--drop-after data)")
		res.Stopped, res.Dropped = true, true
		return s.Close()
	}
	if err := s.writeBody(ctx, tx.Message); err != nil {
		return err
	}
	return s.finalReplies(ctx, tx, res, ".")
}

// finalReplies reads the reply after the message: one, or over LMTP one
// per accepted recipient (RFC 2033 §4.2), each naming its recipient's
// fate. Final is the first.
func (s *Session) finalReplies(ctx context.Context, tx Transaction, res *TxResult, verb string) error {
	n := 1
	if tx.LMTP {
		n = 0
		for _, rp := range res.Rcpt {
			if rp.Class() == 2 {
				n++
			}
		}
	}
	t := s.Timeouts().Data
	for i := 0; i < n; i++ {
		s.answering = verb
		rp, err := s.ReadReply(ctx, t)
		if err != nil {
			return err
		}
		if i == 0 {
			res.Final = rp
		}
		if tx.LMTP {
			res.LMTP = append(res.LMTP, rp)
		}
	}
	return nil
}

// bdat sends the message as one BDAT chunk marked LAST (RFC 3030 §2):
// the size is counted, so the body is sent exactly as given, without
// dot-stuffing, which is what lets BINARYMIME carry any byte. The BDAT
// reply stands where DATA's 354 and the final reply stand otherwise
// (Data is left zero).
func (s *Session) bdat(ctx context.Context, tx Transaction, res *TxResult) error {
	if tx.StopAfter == "data" {
		// BDAT has no intermediate reply: stopping "after DATA" is
		// stopping before the chunk, so QUIT is still possible.
		res.Stopped = true
		return nil
	}
	msg := tx.Message
	if err := s.unsolicited("BDAT"); err != nil {
		return err
	}
	t := s.Timeouts().Data
	if err := s.conn.WriteLine(ctx, t, fmt.Sprintf("BDAT %d LAST", len(msg))); err != nil {
		return err
	}
	s.conn.SetData(true)
	err := s.conn.Write(ctx, t, msg)
	s.conn.SetData(false)
	if err != nil {
		return err
	}
	if tx.DropAfterSend {
		s.rec.Event("closing right after the last chunk without reading the reply (--drop-after data)")
		res.Stopped, res.Dropped = true, true
		return s.Close()
	}
	return s.finalReplies(ctx, tx, res, "BDAT")
}

// transactPipelined writes the whole group at once and reads the replies
// in command order (RFC 2920 §3.2: the server answers in order, and the
// client must check every reply, not only the last).
func (s *Session) transactPipelined(ctx context.Context, tx Transaction, mail string, send bool, res TxResult) (TxResult, error) {
	var group strings.Builder
	group.WriteString(mail + "\r\n")
	if tx.StopAfter != "mail" {
		for i := range tx.To {
			group.WriteString(tx.rcptLine(i) + "\r\n")
		}
	}
	if send && tx.StopAfter != "mail" && tx.StopAfter != "rcpt" && !tx.Chunking {
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
	if tx.StopAfter == "mail" {
		res.Stage, res.Stopped = "", true
		return res, nil
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
	if tx.StopAfter == "rcpt" {
		res.Stage, res.Stopped = "", true
		return res, nil
	}
	if !send {
		return s.rset(ctx, res)
	}
	res.Stage = "data"
	if tx.Chunking {
		// BDAT is never part of a group here: its chunk may only follow
		// an accepted envelope.
		if !res.Accepted(len(tx.To)) {
			res.Stage = ""
			return res, nil
		}
		if err := s.bdat(ctx, tx, &res); err != nil {
			return res, err
		}
		res.Stage = ""
		return res, nil
	}
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
	if err = s.afterData(ctx, tx, &res); err != nil {
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
