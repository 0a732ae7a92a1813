// Package replycode is mailprobe's knowledge base of SMTP replies: it says what
// a reply means, why a server probably sent it and what to do about it.
//
// Three layers of knowledge are combined, most specific first:
//
//  1. Known replies of real providers and MTAs (Gmail, Microsoft 365, Yahoo,
//     iCloud, Postfix, Exim, Sendmail, SES, SendGrid, ...), matched on the
//     reply code, the enhanced status code and a regular expression on the
//     text. See Providers.
//  2. Enhanced status codes (RFC 3463, RFC 5248) from the IANA registry,
//     embedded from data/smtp-enhanced-status-codes.xml, with hand-written
//     causes and fixes for the codes a developer meets in practice.
//  3. Basic reply codes of RFC 5321 §4.2.2/§4.2.3, with the later additions of
//     RFC 3207 (STARTTLS), RFC 4954 (AUTH) and RFC 7504 (521/556).
//
// Parsing follows the grammars of RFC 5321 §4.2 (Reply-line) and RFC 3463 §2
// (status-code); Explain itself is lenient and never fails, because it is used
// to explain whatever a misbehaving server sent.
//
// Everything is read-only after first use: the registry is parsed and the
// provider expressions are compiled once (sync.Once), so Explain is safe for
// concurrent use.
package replycode
