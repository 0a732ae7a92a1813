package replycode

// advice is the developer-facing part of an explanation: what happened, why
// it probably happened and what to do.
type advice struct {
	Summary, Cause, Fix string
}

// basicCode describes one basic reply code: its meaning as the defining RFC
// words it, advice, and where it is defined.
type basicCode struct {
	Meaning string
	advice
	Refs []string
}

// Section references used throughout. RFC 5321 §4.2.2 lists the codes by
// function and §4.2.3 in numeric order; the later RFCs add codes of their own.
const (
	ref5321Codes  = "RFC 5321 §4.2.3"
	ref5321Theory = "RFC 5321 §4.2.1"
	ref4954Codes  = "RFC 4954 §6"
	ref3207       = "RFC 3207 §4"
	ref7504       = "RFC 7504"
)

// basicCodes holds every reply code defined by RFC 5321 §4.2.2/§4.2.3, plus
// 235/334/432/454/500/530/534/535/538 from SMTP AUTH (RFC 4954 §6), 454/530
// from STARTTLS (RFC 3207 §4) and 521/556 from RFC 7504.
var basicCodes = map[int]basicCode{
	// 2yz positive completion (RFC 5321 §4.2.1): the requested action is done.
	211: {
		Meaning: "System status, or system help reply",
		advice:  advice{Summary: "The server answered a status or help request."},
		Refs:    []string{ref5321Codes},
	},
	214: {
		Meaning: "Help message (how to use the receiver or the meaning of a non-standard command; useful only to a human)",
		advice:  advice{Summary: "The server sent help text, in answer to HELP."},
		Refs:    []string{ref5321Codes, "RFC 5321 §4.1.1.8"},
	},
	220: {
		Meaning: "<domain> Service ready",
		advice: advice{
			Summary: "The server is ready: this is its greeting, or its go-ahead to start TLS after STARTTLS.",
			Cause:   "Sent once when the connection opens (RFC 5321 §3.1) and in answer to STARTTLS (RFC 3207 §4).",
		},
		Refs: []string{ref5321Codes, "RFC 5321 §3.1"},
	},
	221: {
		Meaning: "<domain> Service closing transmission channel",
		advice: advice{
			Summary: "The server is closing the connection.",
			Cause:   "Normally the answer to QUIT. Sent at any other time, including instead of a greeting, it means the server ended the session on its own (RFC 5321 §3.8).",
		},
		Refs: []string{ref5321Codes, "RFC 5321 §4.1.1.10"},
	},
	235: {
		Meaning: "Authentication succeeded",
		advice:  advice{Summary: "Login (SMTP AUTH) succeeded: the server accepts mail from this account now."},
		Refs:    []string{ref4954Codes},
	},
	250: {
		Meaning: "Requested mail action okay, completed",
		advice: advice{
			Summary: "The server accepted the command.",
			Cause:   "After the final dot of DATA, 250 means the server took responsibility for the message (RFC 5321 §4.1.1.4 and §6.1). A message that never arrives after a 250 was filtered (spam folder, quarantine) or lost later, not refused.",
		},
		Refs: []string{ref5321Codes},
	},
	251: {
		Meaning: "User not local; will forward to <forward-path>",
		advice:  advice{Summary: "Accepted: the server will forward the message to another address."},
		Refs:    []string{ref5321Codes, "RFC 5321 §3.4"},
	},
	252: {
		Meaning: "Cannot VRFY user, but will accept message and attempt delivery",
		advice: advice{
			Summary: "The server will not confirm whether the address exists (VRFY), but will accept mail for it.",
			Cause:   "Most servers disable VRFY to stop address harvesting (RFC 5321 §7.3) and answer 252 instead.",
		},
		Refs: []string{ref5321Codes, "RFC 5321 §3.5.3"},
	},
	// 3yz positive intermediate: the command is accepted, more input is
	// expected (AUTH continuation, DATA).
	334: {
		Meaning: "Server challenge during AUTH; the text is base64 (RFC 4954 §4)",
		advice: advice{
			Summary: "The server waits for the next step of the AUTH exchange.",
			Cause:   "The text after 334 is a base64 challenge: with AUTH LOGIN, \"VXNlcm5hbWU6\" is \"Username:\" and \"UGFzc3dvcmQ6\" is \"Password:\".",
		},
		Refs: []string{"RFC 4954 §4"},
	},
	354: {
		Meaning: "Start mail input; end with <CRLF>.<CRLF>",
		advice:  advice{Summary: "The server accepted DATA and waits for the message, ended by a line holding a single dot."},
		Refs:    []string{ref5321Codes, "RFC 5321 §4.1.1.4"},
	},
	// 4yz transient negative completion: the same command may succeed later;
	// a well-behaved client queues and retries (RFC 5321 §4.5.4.1).
	421: {
		Meaning: "<domain> Service not available, closing transmission channel",
		advice: advice{
			Summary: "The server is closing the connection and temporarily accepts no mail; the sender must retry later.",
			Cause:   "Overload, a rate limit or too many connections from your IP, a reputation-based deferral, or the server shutting down (RFC 5321 §3.8).",
			Fix:     "Retry later with back-off and fewer parallel connections. If it persists, read the text: providers name the limit that was hit.",
		},
		Refs: []string{ref5321Codes, "RFC 5321 §3.8"},
	},
	432: {
		Meaning: "A password transition is needed",
		advice: advice{
			Summary: "The server wants the account's password changed or re-entered before this AUTH mechanism works.",
			Fix:     "Log in once through the provider's web interface or with a plaintext mechanism over TLS to complete the transition.",
		},
		Refs: []string{ref4954Codes},
	},
	450: {
		Meaning: "Requested mail action not taken: mailbox unavailable (e.g., mailbox busy or temporarily blocked for policy reasons)",
		advice: advice{
			Summary: "The server temporarily refused this sender or recipient; the sender should retry later.",
			Cause:   "Greylisting, a temporary policy block (unknown reverse DNS, rate limit) or a mailbox that is busy right now.",
			Fix:     "Let your mail queue retry: greylisting clears after a few minutes. If it persists, the text names the policy that triggered.",
		},
		Refs: []string{ref5321Codes},
	},
	451: {
		Meaning: "Requested action aborted: local error in processing",
		advice: advice{
			Summary: "The server hit a temporary problem, or deferred the message on purpose; the sender should retry later.",
			Cause:   "Trouble on the receiving side (a DNS lookup, filter or database that failed), greylisting, or a temporary policy deferral.",
			Fix:     "Retry later. If it never clears, send the full reply and the time to the receiving postmaster.",
		},
		Refs: []string{ref5321Codes},
	},
	452: {
		Meaning: "Requested action not taken: insufficient system storage",
		advice: advice{
			Summary: "The server is temporarily short of storage, or a limit on recipients or messages was hit.",
			Cause:   "A full disk or mailbox on the receiving side, or too many recipients in one transaction: RFC 5321 §4.5.3.1.10 makes 452 the answer to one RCPT too many.",
			Fix:     "Retry later; after a 452 to RCPT, send the refused recipients in a new transaction.",
		},
		Refs: []string{ref5321Codes, "RFC 5321 §4.5.3.1.10"},
	},
	454: {
		Meaning: "TLS not available due to temporary reason (RFC 3207), or temporary authentication failure (RFC 4954)",
		advice: advice{
			Summary: "STARTTLS or AUTH failed because of a temporary problem on the server.",
			Cause:   "A broken TLS setup on the server (missing or unreadable certificate or key), an authentication backend that is down, or (Gmail) too many login attempts.",
			Fix:     "Retry later. If you run the server, check its TLS certificate and key and its authentication service logs.",
		},
		Refs: []string{ref3207, ref4954Codes},
	},
	455: {
		Meaning: "Server unable to accommodate parameters",
		advice: advice{
			Summary: "The server cannot accept the MAIL FROM or RCPT TO parameters right now.",
			Fix:     "Retry later, or without the parameter (e.g. a smaller SIZE declaration).",
		},
		Refs: []string{ref5321Codes},
	},
	// 5yz permanent negative completion: repeating the same command fails
	// again. x0z codes are syntax errors, x3z authentication and x5z mail
	// system conditions (RFC 5321 §4.2.1, second digit).
	500: {
		Meaning: "Syntax error, command unrecognized (may include errors such as command line too long)",
		advice: advice{
			Summary: "The server did not understand the command.",
			Cause:   "A typo, a command the server does not know, a line longer than the 512 octets of RFC 5321 §4.5.3.1.4, plain SMTP sent to an implicit-TLS port (465), or a non-SMTP client on port 25/587.",
			Fix:     "Check the command spelling and the port: 587 takes STARTTLS, 465 needs TLS from the first byte.",
		},
		Refs: []string{ref5321Codes},
	},
	501: {
		Meaning: "Syntax error in parameters or arguments",
		advice: advice{
			Summary: "The command was understood but its argument is malformed.",
			Cause:   "An address without angle brackets, an invalid HELO/EHLO name, bad base64 in an AUTH exchange, or a parameter the server refuses.",
			Fix:     "Send addresses exactly as MAIL FROM:<user@example.com> and RCPT TO:<user@example.com> (RFC 5321 §4.1.2) and a fully-qualified domain name in EHLO.",
		},
		Refs: []string{ref5321Codes},
	},
	502: {
		Meaning: "Command not implemented",
		advice: advice{
			Summary: "The server does not implement this command.",
			Cause:   "VRFY or EXPN disabled, or AUTH, STARTTLS or another extension not offered on this port or before TLS.",
			Fix:     "Use only the extensions the server lists in its EHLO reply.",
		},
		Refs: []string{ref5321Codes},
	},
	503: {
		Meaning: "Bad sequence of commands",
		advice: advice{
			Summary: "The command came in the wrong order.",
			Cause:   "RCPT before MAIL, DATA without an accepted RCPT, MAIL before EHLO, AUTH twice or after MAIL, or a client that ignored an earlier error and carried on.",
			Fix:     "Follow RFC 5321 §4.1.4: EHLO, [STARTTLS, EHLO], [AUTH], MAIL, RCPT..., DATA; check every reply before the next command (unless PIPELINING is offered).",
		},
		Refs: []string{ref5321Codes, "RFC 5321 §4.1.4"},
	},
	504: {
		Meaning: "Command parameter not implemented",
		advice: advice{
			Summary: "The server does not support this parameter, e.g. an AUTH mechanism it did not offer.",
			Fix:     "Use only mechanisms and parameters listed in the EHLO reply.",
		},
		Refs: []string{ref5321Codes},
	},
	// RFC 7504 §3: a host that never accepts mail says so at connection
	// time, sparing the client a queue of pointless retries.
	521: {
		Meaning: "Host does not accept mail",
		advice: advice{
			Summary: "This host does not accept mail at all.",
			Cause:   "It is not meant to receive mail (RFC 7504); usually the wrong host was dialled.",
			Fix:     "Deliver to the hosts in the recipient domain's MX records (mailprobe dns DOMAIN).",
		},
		Refs: []string{ref7504},
	},
	// RFC 4954 §6 and RFC 3207 §4 share 530: a server wants TLS or AUTH
	// first, and the text says which.
	530: {
		Meaning: "Authentication required (RFC 4954), or must issue a STARTTLS command first (RFC 3207)",
		advice: advice{
			Summary: "The server requires TLS and/or authentication before this command.",
			Cause:   "Mail submitted without logging in, or on a plaintext connection to a server that demands STARTTLS.",
			Fix:     "Connect to port 587 and issue STARTTLS, or use implicit TLS on 465, then AUTH, then MAIL FROM.",
		},
		Refs: []string{ref4954Codes, ref3207},
	},
	534: {
		Meaning: "Authentication mechanism is too weak",
		advice: advice{
			Summary: "The server refuses this AUTH mechanism as too weak.",
			Cause:   "The account requires a stronger method: an app password or OAuth2 (Gmail answers 534 5.7.9 \"Application-specific password required\").",
			Fix:     "Use an app password or XOAUTH2, or a stronger mechanism the server lists in EHLO.",
		},
		Refs: []string{ref4954Codes},
	},
	535: {
		Meaning: "Authentication credentials invalid",
		advice: advice{
			Summary: "Login failed: the server rejected the username or password.",
			Cause:   "Wrong username or password, a username that must be the full address, an account that needs an app password or OAuth2, or SMTP AUTH disabled for the account.",
			Fix:     "Check the credentials and the provider's SMTP AUTH settings; create an app password where 2-step verification is on.",
		},
		Refs: []string{ref4954Codes},
	},
	538: {
		Meaning: "Encryption required for requested authentication mechanism",
		advice: advice{
			Summary: "The server requires TLS before this AUTH mechanism.",
			Cause:   "AUTH PLAIN or LOGIN was tried on a plaintext connection.",
			Fix:     "Issue STARTTLS (port 587) or use implicit TLS (port 465) before AUTH; never send a password in the clear.",
		},
		Refs: []string{ref4954Codes},
	},
	// 550 is the common permanent refusal: RFC 5321 allows it both for a
	// missing mailbox and for policy, so the enhanced code and text matter.
	550: {
		Meaning: "Requested action not taken: mailbox unavailable (e.g., mailbox not found, no access, or command rejected for policy reasons)",
		advice: advice{
			Summary: "The server permanently refused: the mailbox does not exist, or a policy rejected the sender, the sending IP or the message.",
			Cause:   "Either the address is wrong, or policy: missing authentication (SPF/DKIM/DMARC), a blocklisted IP, relaying without AUTH, or spam filtering.",
			Fix:     "Read the enhanced code and text: 5.1.x points at the address, 5.7.x at policy.",
		},
		Refs: []string{ref5321Codes},
	},
	551: {
		Meaning: "User not local; please try <forward-path>",
		advice:  advice{Summary: "The recipient is not here; the server names another address to try."},
		Refs:    []string{ref5321Codes, "RFC 5321 §3.4"},
	},
	552: {
		Meaning: "Requested mail action aborted: exceeded storage allocation",
		advice: advice{
			Summary: "The message is too large, or the recipient's mailbox is full.",
			Cause:   "The message exceeds the SIZE limit or the mailbox quota. Old servers also used 552 for too many recipients (RFC 5321 §4.5.3.1.10).",
			Fix:     "Send a smaller message (link to large files instead of attaching them), or reach the recipient another way.",
		},
		Refs: []string{ref5321Codes},
	},
	553: {
		Meaning: "Requested action not taken: mailbox name not allowed (e.g., mailbox syntax incorrect)",
		advice: advice{
			Summary: "The address was refused: bad syntax, or an address you may not use.",
			Cause:   "A malformed address, or (often at submission) a MAIL FROM that the logged-in account is not allowed to send as.",
			Fix:     "Check the address syntax; send from an address that belongs to the authenticated account.",
		},
		Refs: []string{ref5321Codes},
	},
	554: {
		Meaning: "Transaction failed (or, in answer to a connection, \"No SMTP service here\")",
		advice: advice{
			Summary: "The server refused the transaction outright, usually for policy reasons.",
			Cause:   "Spam filtering, a blocklisted sending IP, failed authentication checks, or (as a greeting) a server refusing your IP entirely.",
			Fix:     "Read the text: it usually names the blocklist or policy. Check your IP and domain with mailprobe dns.",
		},
		Refs: []string{ref5321Codes},
	},
	555: {
		Meaning: "MAIL FROM/RCPT TO parameters not recognized or not implemented",
		advice: advice{
			Summary: "The server does not know a parameter added to MAIL FROM or RCPT TO.",
			Cause:   "A parameter such as SMTPUTF8, BODY=8BITMIME, SIZE= or NOTIFY= used without the server advertising its extension.",
			Fix:     "Only add parameters for extensions listed in the EHLO reply.",
		},
		Refs: []string{ref5321Codes},
	},
	556: {
		Meaning: "Domain does not accept mail",
		advice: advice{
			Summary: "The recipient's domain accepts no mail at all.",
			Cause:   "The domain publishes a null MX (\"MX 0 .\", RFC 7505).",
			Fix:     "The address cannot receive mail; correct or remove it.",
		},
		Refs: []string{ref7504, "RFC 7505"},
	},
}

// Reply classes, named after RFC 5321 §4.2.1's wording for the first digit.
const (
	ClassPositiveCompletion   = "positive completion"
	ClassPositiveIntermediate = "positive intermediate"
	ClassTransientNegative    = "transient negative"
	ClassPermanentNegative    = "permanent negative"
	ClassInvalid              = "invalid"
)

// classOf names the class of a first digit. RFC 5321 §4.2.1 also defines 1yz
// (positive preliminary) but notes SMTP has no command that allows it, so a
// 1xx reply is as invalid as 6xx.
func classOf(digit int) string {
	switch digit {
	case 2:
		return ClassPositiveCompletion
	case 3:
		return ClassPositiveIntermediate
	case 4:
		return ClassTransientNegative
	case 5:
		return ClassPermanentNegative
	}
	return ClassInvalid
}

// classMeanings paraphrase RFC 5321 §4.2.1, for codes with no entry above.
var classMeanings = map[int]string{
	2: "Positive completion: the requested action was completed",
	3: "Positive intermediate: the command was accepted and the server waits for more information",
	4: "Transient negative completion: the action was not taken, but the condition is temporary and the request may be retried",
	5: "Permanent negative completion: the action was not taken and the same request will fail again",
}
