package privacy

// What each event field is, for the cloud. The table is an allowlist of
// leaf fields, each named in full (no wildcards: a subtree rule would let
// through whatever a later change puts under it): a field not listed never
// leaves the box, whatever the config. Every rule also says what a value
// must look like (its shape); a value of another shape is dropped. The
// upload (Policy.Record) and the disclosure (Policy.Disclosure) both read
// this table, so what `edgesensor disclosure` prints is what the code
// does.

import "github.com/edgesensor/edgesensor/userspace/packet/decap"

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
	tKeep       transform = iota // as is
	tClientIP                    // privacy.client_ip
	tDrop                        // listed so disclosure can say it never leaves
	tURL                         // rebuilt from its parts (anon.URLRules)
	tDomain                      // a checked host name or address (anon.Host)
	tFileName                    // the name alone, personal parts replaced (anon.FileName)
	tEmail                       // local part keyed-hashed, domain per privacy.email_domain
	tToken                       // keyed hash
	tUser                        // privacy.user_names
	tHost                        // privacy.hostnames
	tUserAgent                   // privacy.user_agent
	tReasons                     // rule and weight of each reason; the free text is dropped
	tServerName                  // a checked host name (SNI)
	tDN                          // a distinguished name rebuilt from allowlisted attributes (anon.DN)
	tDNValue                     // one attribute value, scrubbed (anon.DNValue)
	tSAN                         // a subject alternative name (anon.SAN)
	tErrorText                   // a parser's message, quotes and personal values removed
	tExtension                   // 1 to 8 letters and digits
	tMediaType                   // type/subtype, parameters dropped
	tTokenList                   // comma-separated lower-case tokens (gzip, br)
	tMethod                      // an HTTP method token
	tALPN                        // protocol names: printable, scrubbed
	tTunnelType                  // one of the encapsulations the sensor names
	tText                        // free text: e-mail addresses, the client's address and user paths replaced
)

// Value shapes.
type shape int

const (
	sString  shape = iota
	sNumber        // a JSON number
	sBool          // true or false
	sStrings       // an array of strings
	sNumbers       // an array of numbers
	sObjects       // an array of objects (reasons)
)

type rule struct {
	path  string // dotted, in full
	class string
	tr    transform
	shape shape
	note  string // why, for the disclosure
}

// The notes of the [enrich] fields.
const (
	geoNote       = "the server's address looked up in a public database: nothing destination.ip does not say"
	clientGeoNote = "never filled: the client's place would single a person out"
)

// tunnelTypes are the values of edgesensor.tunnel.type that may leave.
// They are the names the decapsulator gives, so a kind added there is
// allowed here by name, and nothing else is.
var tunnelTypes = func() []string {
	var names []string
	for k := decap.KindVLAN; k <= decap.KindGTPU; k++ {
		names = append(names, k.String())
	}
	return names
}()

var rules = []rule{
	// Every record.
	{"@timestamp", classEvent, tKeep, sString, ""},
	{"event.kind", classEvent, tKeep, sString, ""},
	{"event.category", classEvent, tKeep, sStrings, ""},
	{"event.type", classEvent, tKeep, sStrings, ""},
	{"event.dataset", classEvent, tKeep, sString, ""},
	{"event.start", classEvent, tKeep, sString, ""},
	{"event.end", classEvent, tKeep, sString, ""},
	{"event.duration", classEvent, tKeep, sNumber, ""},
	{"event.risk_score", classEvent, tKeep, sNumber, ""},
	{"observer.product", classEvent, tKeep, sString, ""},
	{"observer.type", classEvent, tKeep, sString, ""},
	{"observer.ingress.interface.name", classEvent, tHost, sString, "device information"},
	{"source.ip", classEvent, tClientIP, sString, "the client"},
	{"source.port", classEvent, tDrop, sNumber, "with the time it would single out a client's connection"},
	{"destination.ip", classEvent, tKeep, sString, "the server"},
	{"destination.port", classEvent, tKeep, sNumber, ""},
	// [enrich]: what a public database says of the server's address.
	// It goes where destination.ip goes: anyone can look the address up
	// in the same databases, so it says nothing destination.ip does not;
	// no personal data (the client, source, is never looked up, and
	// private addresses are not).
	{"destination.geo.continent_code", classEvent, tKeep, sString, geoNote},
	{"destination.geo.continent_name", classEvent, tKeep, sString, geoNote},
	{"destination.geo.country_iso_code", classEvent, tKeep, sString, geoNote},
	{"destination.geo.country_name", classEvent, tKeep, sString, geoNote},
	{"destination.geo.region_iso_code", classEvent, tKeep, sString, geoNote},
	{"destination.geo.region_name", classEvent, tKeep, sString, geoNote},
	{"destination.geo.city_name", classEvent, tKeep, sString, geoNote},
	{"destination.geo.postal_code", classEvent, tKeep, sString, geoNote},
	{"destination.geo.timezone", classEvent, tKeep, sString, geoNote},
	{"destination.geo.location.lat", classEvent, tKeep, sNumber, geoNote},
	{"destination.geo.location.lon", classEvent, tKeep, sNumber, geoNote},
	{"destination.as.number", classEvent, tKeep, sNumber, geoNote},
	{"destination.as.organization.name", classEvent, tKeep, sString, geoNote},
	// The client is never enriched; were it ever, its place would single
	// a person out.
	{"source.geo.continent_code", classEvent, tDrop, sString, clientGeoNote},
	{"source.geo.continent_name", classEvent, tDrop, sString, clientGeoNote},
	{"source.geo.country_iso_code", classEvent, tDrop, sString, clientGeoNote},
	{"source.geo.country_name", classEvent, tDrop, sString, clientGeoNote},
	{"source.geo.region_iso_code", classEvent, tDrop, sString, clientGeoNote},
	{"source.geo.region_name", classEvent, tDrop, sString, clientGeoNote},
	{"source.geo.city_name", classEvent, tDrop, sString, clientGeoNote},
	{"source.geo.postal_code", classEvent, tDrop, sString, clientGeoNote},
	{"source.geo.timezone", classEvent, tDrop, sString, clientGeoNote},
	{"source.geo.location.lat", classEvent, tDrop, sNumber, clientGeoNote},
	{"source.geo.location.lon", classEvent, tDrop, sNumber, clientGeoNote},
	{"source.as.number", classEvent, tDrop, sNumber, clientGeoNote},
	{"source.as.organization.name", classEvent, tDrop, sString, clientGeoNote},
	{"network.transport", classEvent, tKeep, sString, ""},
	{"network.protocol", classEvent, tKeep, sString, ""},
	{"network.type", classEvent, tKeep, sString, ""},
	{"network.vlan.id", classEvent, tDrop, sString, "the customer's network layout; a per-subscriber VLAN would single one out"},
	{"network.inner.vlan.id", classEvent, tDrop, sString, "the customer's network layout; a per-subscriber VLAN would single one out"},
	{"network.community_id", classEvent, tDrop, sString, "an unkeyed hash of the raw addresses and ports: anyone can test guesses against it"},
	{"edgesensor.capture.path", classEvent, tDrop, sString, "a file on the sensor's disk: the packets of an alerting flow stay on the box"},
	{"edgesensor.tunnel.type", classEvent, tTunnelType, sString, "the encapsulation"},
	{"edgesensor.tunnel.id", classEvent, tDrop, sNumber, "a tunnel id can name a subscriber (a GTP-U TEID does)"},
	{"edgesensor.tunnel.outer.source.ip", classEvent, tDrop, sString, "an address of the customer's equipment"},
	{"edgesensor.tunnel.outer.destination.ip", classEvent, tDrop, sString, "an address of the customer's equipment"},
	{"edgesensor.tunnel.layers", classEvent, tDrop, sStrings, "the customer's network layout"},
	{"edgesensor.tunnel.vlans", classEvent, tDrop, sNumbers, "the customer's network layout"},
	{"edgesensor.score.verdict", classEvent, tKeep, sString, ""},
	{"edgesensor.score.reasons", classEvent, tReasons, sObjects, "reason texts can quote names"},
	{"edgesensor.score.cloud", classEvent, tDrop, sNumber, "the sensor's own bookkeeping"},
	// edgesensor.action events stay with the customer: what the sensor
	// blocked on their network is theirs (the dataset is not one the
	// cloud takes; these are listed for the disclosure).
	{"event.action", classEvent, tDrop, sString, "enforcement stays local"},
	{"event.reason", classEvent, tDrop, sString, "enforcement stays local"},
	{"rule.name", classEvent, tDrop, sString, "enforcement stays local"},
	{"rule.category", classEvent, tDrop, sString, "enforcement stays local"},
	{"edgesensor.action.mode", classEvent, tDrop, sString, "enforcement stays local"},
	{"edgesensor.action.matched", classEvent, tDrop, sString, "enforcement stays local"},
	{"edgesensor.action.kind", classEvent, tDrop, sString, "enforcement stays local"},
	{"edgesensor.action.side", classEvent, tDrop, sString, "enforcement stays local"},
	{"edgesensor.action.reset", classEvent, tDrop, sBool, "enforcement stays local"},
	{"edgesensor.action.hold", classEvent, tDrop, sString, "enforcement stays local"},
	// edgesensor.verdict events are the cloud's own answer: they never go
	// back to it.
	{"edgesensor.verdict.source", classEvent, tDrop, sString, "the cloud's answer, not sent back"},
	{"edgesensor.verdict.via", classEvent, tDrop, sString, "the cloud's answer, not sent back"},
	{"edgesensor.verdict.cloud_score", classEvent, tDrop, sNumber, "the cloud's answer, not sent back"},
	{"edgesensor.verdict.cloud_verdict", classEvent, tDrop, sString, "the cloud's answer, not sent back"},
	{"edgesensor.verdict.local_score", classEvent, tDrop, sNumber, "the cloud's answer, not sent back"},

	// Files: the file itself (its category's mode).
	{"file.size", classEvent, tKeep, sNumber, ""},
	{"file.mime_type", classEvent, tMediaType, sString, ""},
	{"file.extension", classEvent, tExtension, sString, "part of the name: only short ones"},
	{"file.hash.sha256", classEvent, tKeep, sString, ""},
	{"file.hash.sha1", classEvent, tKeep, sString, ""},
	{"file.hash.md5", classEvent, tKeep, sString, ""},
	{"file.elf.architecture", classEvent, tKeep, sString, ""},
	{"file.elf.type", classEvent, tKeep, sString, ""},
	{"file.pe.architecture", classEvent, tKeep, sString, ""},
	{"file.pe.imphash", classEvent, tKeep, sString, ""},
	{"edgesensor.file.category", classEvent, tKeep, sString, ""},
	{"edgesensor.file.kind", classEvent, tKeep, sString, ""},
	{"edgesensor.file.complete", classEvent, tKeep, sBool, ""},
	{"edgesensor.file.cut", classEvent, tKeep, sString, ""},
	{"edgesensor.file.missing_bytes", classEvent, tKeep, sNumber, ""},
	{"edgesensor.file.missing_encoded_bytes", classEvent, tKeep, sNumber, ""},
	{"edgesensor.file.oversize", classEvent, tKeep, sBool, ""},
	{"edgesensor.file.declared_size", classEvent, tKeep, sNumber, ""},
	{"edgesensor.file.claimed_type", classEvent, tMediaType, sString, "what the sender claimed"},
	{"edgesensor.file.mismatch", classEvent, tKeep, sBool, ""},
	{"edgesensor.file.type_reason", classEvent, tKeep, sString, "the sensor's own words"},
	{"edgesensor.file.direction", classEvent, tKeep, sString, ""},
	{"edgesensor.file.transfer", classEvent, tTokenList, sString, ""},
	{"edgesensor.file.content_encoding", classEvent, tTokenList, sString, ""},
	{"edgesensor.file.macros", classEvent, tKeep, sBool, ""},
	{"edgesensor.file.compile_time", classEvent, tKeep, sString, ""},
	{"edgesensor.file.shortcut.target", classEvent, tDrop, sString, "a path that may name a local user"},
	{"edgesensor.file.shortcut.arguments", classEvent, tDrop, sString, "free text that may name a local user"},
	{"edgesensor.file.shortcut.arguments_length", classEvent, tKeep, sNumber, ""},
	{"edgesensor.file.shortcut.icon_location", classEvent, tDrop, sString, "a path that may name a local user"},
	{"edgesensor.file.shortcut.working_dir", classEvent, tDrop, sString, "a path that may name a local user"},
	{"edgesensor.file.analysed", classEvent, tKeep, sBool, ""},
	{"edgesensor.file.conflict", classEvent, tKeep, sBool, "a flag"},
	{"edgesensor.file.head_lost", classEvent, tKeep, sBool, "a flag"},
	{"edgesensor.file.retained", classEvent, tDrop, sString, "a local path"},
	{"edgesensor.file.ranges.pieces", classEvent, tKeep, sNumber, ""},
	{"edgesensor.file.ranges.connections", classEvent, tKeep, sNumber, ""},
	{"edgesensor.file.ranges.overlap_bytes", classEvent, tKeep, sNumber, ""},
	{"edgesensor.file.proxy_tunnel", classEvent, tDrop, sString, "the server's name and port: url.domain carries the name under the metadata policy"},

	// Files: metadata (privacy.metadata).
	{"file.name", classMeta, tFileName, sString, ""},
	{"file.pe.company", classMeta, tText, sString, "vendor"},
	{"file.pe.product", classMeta, tText, sString, "vendor"},
	{"file.pe.original_file_name", classMeta, tFileName, sString, "vendor"},
	{"file.pe.file_version", classMeta, tText, sString, "vendor"},
	{"file.pe.description", classMeta, tText, sString, "vendor"},
	{"edgesensor.file.document.creator", classMeta, tText, sString, "the creating application"},
	{"edgesensor.file.document.producer", classMeta, tText, sString, "the creating application"},
	{"edgesensor.file.document.application", classMeta, tText, sString, "the creating application"},
	{"edgesensor.file.document.company", classMeta, tText, sString, "vendor"},
	{"edgesensor.file.document.author", classMeta, tUser, sString, "a person"},
	{"edgesensor.file.document.last_modified_by", classMeta, tUser, sString, "a person"},
	{"edgesensor.file.document.title", classMeta, tDrop, sString, "free text about a person's work"},
	{"url.original", classMeta, tURL, sString, ""},
	{"url.domain", classMeta, tDomain, sString, "the server's name or address"},
	{"http.request.method", classMeta, tMethod, sString, ""},
	{"http.response.status_code", classMeta, tKeep, sNumber, ""},
	{"http.response.mime_type", classMeta, tMediaType, sString, ""},
	{"user_agent.original", classMeta, tUserAgent, sString, "device information"},

	// Files carried by mail (privacy.email).
	{"email.from.address", classEmail, tEmail, sStrings, ""},
	{"email.to.address", classEmail, tEmail, sStrings, ""},
	{"email.cc.address", classEmail, tEmail, sStrings, ""},
	{"edgesensor.smtp.mail_from", classEmail, tEmail, sString, ""},
	{"edgesensor.smtp.rcpt_to", classEmail, tEmail, sStrings, ""},
	{"email.message_id", classEmail, tToken, sString, "names the sender's host"},
	{"email.subject", classEmail, tDrop, sString, "personal content"},
	{"edgesensor.imap.mailbox", classEmail, tDrop, sString, "can name a person"},

	// TLS handshakes (privacy.tls): the server's identity and the
	// client software's fingerprint.
	{"tls.version", classTLS, tKeep, sString, ""},
	{"tls.version_protocol", classTLS, tKeep, sString, ""},
	{"tls.cipher", classTLS, tKeep, sString, ""},
	{"tls.next_protocol", classTLS, tALPN, sString, ""},
	{"tls.established", classTLS, tKeep, sBool, ""},
	{"tls.resumed", classTLS, tKeep, sBool, ""},
	{"tls.client.server_name", classTLS, tServerName, sString, "the server's name"},
	{"tls.client.ja3", classTLS, tKeep, sString, ""},
	{"tls.client.ja4", classTLS, tKeep, sString, ""},
	{"tls.client.ja4_r", classTLS, tKeep, sString, ""},
	{"tls.client.supported_ciphers", classTLS, tKeep, sStrings, ""},
	{"tls.server.ja3s", classTLS, tKeep, sString, ""},
	{"tls.server.subject", classTLS, tDN, sString, "the server's certificate"},
	{"tls.server.issuer", classTLS, tDN, sString, "the server's certificate"},
	{"tls.server.not_before", classTLS, tKeep, sString, ""},
	{"tls.server.not_after", classTLS, tKeep, sString, ""},
	{"tls.server.hash.sha1", classTLS, tKeep, sString, ""},
	{"tls.server.hash.sha256", classTLS, tKeep, sString, ""},
	{"tls.server.x509.alternative_names", classTLS, tSAN, sStrings, "the server's names"},
	{"tls.server.x509.issuer.common_name", classTLS, tDNValue, sStrings, ""},
	{"tls.server.x509.issuer.distinguished_name", classTLS, tDN, sString, ""},
	{"tls.server.x509.subject.common_name", classTLS, tDNValue, sStrings, ""},
	{"tls.server.x509.subject.distinguished_name", classTLS, tDN, sString, ""},
	{"tls.server.x509.not_before", classTLS, tKeep, sString, ""},
	{"tls.server.x509.not_after", classTLS, tKeep, sString, ""},
	{"tls.server.x509.serial_number", classTLS, tKeep, sString, ""},
	{"tls.server.x509.signature_algorithm", classTLS, tKeep, sString, ""},
	{"tls.server.x509.public_key_algorithm", classTLS, tKeep, sString, ""},
	{"tls.server.x509.public_key_size", classTLS, tKeep, sNumber, ""},
	{"tls.server.x509.version_number", classTLS, tKeep, sString, ""},
	{"edgesensor.tls.complete", classTLS, tKeep, sBool, ""},
	{"edgesensor.tls.missing", classTLS, tKeep, sStrings, ""},
	{"edgesensor.tls.end", classTLS, tKeep, sString, ""},
	{"edgesensor.tls.hello_retry", classTLS, tKeep, sBool, ""},
	{"edgesensor.tls.packets", classTLS, tKeep, sNumber, ""},
	{"edgesensor.tls.lost_events", classTLS, tKeep, sBool, ""},
	{"edgesensor.tls.gaps", classTLS, tKeep, sBool, ""},
	{"edgesensor.tls.alerts", classTLS, tKeep, sStrings, ""},
	{"edgesensor.tls.error", classTLS, tErrorText, sString, "parser messages can quote what they read"},
	{"edgesensor.tls.conflict", classTLS, tKeep, sBool, "a flag"},
	{"edgesensor.tls.client.legacy_version", classTLS, tKeep, sString, ""},
	{"edgesensor.tls.client.supported_versions", classTLS, tKeep, sStrings, ""},
	{"edgesensor.tls.client.alpn", classTLS, tALPN, sStrings, ""},
	{"edgesensor.tls.client.extensions", classTLS, tKeep, sNumbers, ""},
	{"edgesensor.tls.client.supported_groups", classTLS, tKeep, sStrings, ""},
	{"edgesensor.tls.client.signature_algorithms", classTLS, tKeep, sStrings, ""},
	{"edgesensor.tls.client.key_share_groups", classTLS, tKeep, sStrings, ""},
	{"edgesensor.tls.client.psk_offered", classTLS, tKeep, sBool, ""},
	{"edgesensor.tls.client.session_ticket", classTLS, tKeep, sBool, ""},
	{"edgesensor.tls.client.session_id", classTLS, tKeep, sBool, ""},
	{"edgesensor.tls.client.early_data", classTLS, tKeep, sBool, ""},
	{"edgesensor.tls.client.ech_offered", classTLS, tKeep, sBool, ""},
	{"edgesensor.tls.client.outer_server_name", classTLS, tServerName, sString, "the server's public name"},
	{"edgesensor.tls.client.ja3_string", classTLS, tKeep, sString, ""},
	{"edgesensor.tls.server.legacy_version", classTLS, tKeep, sString, ""},
	{"edgesensor.tls.server.selected_version", classTLS, tKeep, sString, ""},
	{"edgesensor.tls.server.extensions", classTLS, tKeep, sNumbers, ""},
	{"edgesensor.tls.server.key_share_group", classTLS, tKeep, sString, ""},
	{"edgesensor.tls.server.ja3s_string", classTLS, tKeep, sString, ""},
	{"edgesensor.tls.server.self_signed", classTLS, tKeep, sBool, ""},
	{"edgesensor.tls.server.chain_length", classTLS, tKeep, sNumber, ""},
	{"edgesensor.tls.server.certificate_error", classTLS, tErrorText, sString, "parser messages can quote what they read"},
	{"edgesensor.tls.quic.version", classTLS, tKeep, sString, ""},
	{"edgesensor.tls.quic.client_dcid", classTLS, tKeep, sString, "random, chosen per connection"},
	{"edgesensor.tls.quic.initial_packets", classTLS, tKeep, sNumber, ""},
	{"edgesensor.tls.quic.decrypted", classTLS, tKeep, sNumber, ""},
	{"edgesensor.tls.quic.undecryptable", classTLS, tKeep, sNumber, ""},
	{"edgesensor.tls.quic.connection_close", classTLS, tKeep, sBool, ""},
}

// ruleIndex finds the rule of a dotted path.
type ruleIndex map[string]*rule

func buildIndex() ruleIndex {
	ix := ruleIndex{}
	for i := range rules {
		ix[rules[i].path] = &rules[i]
	}
	return ix
}

func (ix ruleIndex) find(path string) *rule { return ix[path] }
