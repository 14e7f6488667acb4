package privacy

// What each event field is, for the cloud. The table is an allowlist: a
// field not listed never leaves the box, whatever the config. The upload
// (Policy.Record) and the disclosure (Policy.Disclosure) both read it, so
// what `edgesensor disclosure` prints is what the code does.

// Field classes: which category's share mode lets a field leave.
const (
	// classEvent fields go with any record of the event: the category is
	// the event's own (tls, executables or documents).
	classEvent = "event"
	classMeta  = "metadata"
	classEmail = "email"
	classTLS   = "tls"
)

// How a field is transformed.
type transform int

const (
	tKeep      transform = iota // as is
	tClientIP                   // privacy.client_ip
	tDrop                       // listed so disclosure can say it never leaves
	tURL                        // user info stripped, privacy.query_params scrubbed
	tFileName                   // user-profile path segments removed
	tEmail                      // local part keyed-hashed, domain per privacy.email_domain
	tToken                      // keyed hash
	tUser                       // privacy.user_names
	tHost                       // privacy.hostnames
	tUserAgent                  // privacy.user_agent
	tReasons                    // rule and weight of each reason; the free text is dropped
)

type rule struct {
	path  string // dotted; "a.b.*" is a subtree
	class string
	tr    transform
	note  string // why, for the disclosure
}

var rules = []rule{
	// Every record.
	{"@timestamp", classEvent, tKeep, ""},
	{"event.kind", classEvent, tKeep, ""},
	{"event.category", classEvent, tKeep, ""},
	{"event.type", classEvent, tKeep, ""},
	{"event.dataset", classEvent, tKeep, ""},
	{"event.start", classEvent, tKeep, ""},
	{"event.end", classEvent, tKeep, ""},
	{"event.duration", classEvent, tKeep, ""},
	{"event.risk_score", classEvent, tKeep, ""},
	{"observer.product", classEvent, tKeep, ""},
	{"observer.type", classEvent, tKeep, ""},
	{"observer.ingress.interface.name", classEvent, tHost, "device information"},
	{"source.ip", classEvent, tClientIP, "the client"},
	{"source.port", classEvent, tDrop, "with the time it would single out a client's connection"},
	{"destination.ip", classEvent, tKeep, "the server"},
	{"destination.port", classEvent, tKeep, ""},
	{"network.*", classEvent, tKeep, ""},
	{"edgesensor.score.verdict", classEvent, tKeep, ""},
	{"edgesensor.score.reasons", classEvent, tReasons, "reason texts can quote names"},

	// Files: the file itself (its category's mode).
	{"file.size", classEvent, tKeep, ""},
	{"file.mime_type", classEvent, tKeep, ""},
	{"file.extension", classEvent, tKeep, ""},
	{"file.hash.*", classEvent, tKeep, ""},
	{"file.elf.*", classEvent, tKeep, ""},
	{"file.pe.architecture", classEvent, tKeep, ""},
	{"file.pe.imphash", classEvent, tKeep, ""},
	{"edgesensor.file.category", classEvent, tKeep, ""},
	{"edgesensor.file.kind", classEvent, tKeep, ""},
	{"edgesensor.file.complete", classEvent, tKeep, ""},
	{"edgesensor.file.cut", classEvent, tKeep, ""},
	{"edgesensor.file.missing_bytes", classEvent, tKeep, ""},
	{"edgesensor.file.missing_encoded_bytes", classEvent, tKeep, ""},
	{"edgesensor.file.oversize", classEvent, tKeep, ""},
	{"edgesensor.file.declared_size", classEvent, tKeep, ""},
	{"edgesensor.file.claimed_type", classEvent, tKeep, ""},
	{"edgesensor.file.mismatch", classEvent, tKeep, ""},
	{"edgesensor.file.type_reason", classEvent, tKeep, ""},
	{"edgesensor.file.direction", classEvent, tKeep, ""},
	{"edgesensor.file.transfer", classEvent, tKeep, ""},
	{"edgesensor.file.content_encoding", classEvent, tKeep, ""},
	{"edgesensor.file.macros", classEvent, tKeep, ""},
	{"edgesensor.file.compile_time", classEvent, tKeep, ""},
	{"edgesensor.file.analysed", classEvent, tKeep, ""},
	{"edgesensor.file.retained", classEvent, tDrop, "a local path"},

	// Files: metadata (privacy.metadata).
	{"file.name", classMeta, tFileName, ""},
	{"file.pe.company", classMeta, tKeep, "vendor"},
	{"file.pe.product", classMeta, tKeep, "vendor"},
	{"file.pe.original_file_name", classMeta, tKeep, "vendor"},
	{"file.pe.file_version", classMeta, tKeep, "vendor"},
	{"file.pe.description", classMeta, tKeep, "vendor"},
	{"edgesensor.file.document.creator", classMeta, tKeep, "the creating application"},
	{"edgesensor.file.document.producer", classMeta, tKeep, "the creating application"},
	{"edgesensor.file.document.application", classMeta, tKeep, "the creating application"},
	{"edgesensor.file.document.company", classMeta, tKeep, "vendor"},
	{"edgesensor.file.document.author", classMeta, tUser, "a person"},
	{"edgesensor.file.document.last_modified_by", classMeta, tUser, "a person"},
	{"edgesensor.file.document.title", classMeta, tDrop, "free text about a person's work"},
	{"url.original", classMeta, tURL, ""},
	{"url.domain", classMeta, tKeep, "the server"},
	{"http.request.method", classMeta, tKeep, ""},
	{"http.response.status_code", classMeta, tKeep, ""},
	{"http.response.mime_type", classMeta, tKeep, ""},
	{"http.version", classMeta, tKeep, ""},
	{"user_agent.original", classMeta, tUserAgent, "device information"},

	// Files carried by mail (privacy.email).
	{"email.from.address", classEmail, tEmail, ""},
	{"email.to.address", classEmail, tEmail, ""},
	{"email.cc.address", classEmail, tEmail, ""},
	{"edgesensor.smtp.mail_from", classEmail, tEmail, ""},
	{"edgesensor.smtp.rcpt_to", classEmail, tEmail, ""},
	{"email.message_id", classEmail, tToken, "names the sender's host"},
	{"email.direction", classEmail, tKeep, ""},
	{"email.subject", classEmail, tDrop, "personal content"},
	{"edgesensor.imap.mailbox", classEmail, tDrop, "can name a person"},

	// TLS handshakes (privacy.tls): the server's identity and the
	// client software's fingerprint.
	{"tls.*", classTLS, tKeep, ""},
	{"edgesensor.tls.*", classTLS, tKeep, ""},
}

// ruleIndex finds the rule of a dotted path: the exact one, else the
// nearest enclosing "x.*".
type ruleIndex map[string]*rule

func buildIndex() ruleIndex {
	ix := ruleIndex{}
	for i := range rules {
		ix[rules[i].path] = &rules[i]
	}
	return ix
}

func (ix ruleIndex) find(path string) *rule {
	if r := ix[path]; r != nil {
		return r
	}
	for i := len(path) - 1; i > 0; i-- {
		if path[i] == '.' {
			if r := ix[path[:i]+".*"]; r != nil {
				return r
			}
		}
	}
	return nil
}
