package files

import (
	"encoding/hex"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/edgesensor/edgesensor/userspace/export/ecs"
	"github.com/edgesensor/edgesensor/userspace/export/ecs/communityid"
	"github.com/edgesensor/edgesensor/userspace/files/transfer"
	"github.com/edgesensor/edgesensor/userspace/verdict/score"
)

// Event is one edgesensor.file event: one candidate file.
type Event struct {
	ecs.Base
	File       File       `json:"file"`
	URL        *URL       `json:"url,omitempty"`
	HTTP       *HTTP      `json:"http,omitempty"`
	UserAgent  *UserAgent `json:"user_agent,omitempty"`
	Email      *Email     `json:"email,omitempty"`
	Edgesensor Edgesensor `json:"edgesensor"`
}

// File is ECS file.*.
type File struct {
	Name      string `json:"name,omitempty"`      // from Content-Disposition, the MIME part or the URL path; no directories
	Extension string `json:"extension,omitempty"` // of the name, without the dot, lower case
	Size      int64  `json:"size"`                // bytes of the file seen (decoded), whole or not
	MimeType  string `json:"mime_type,omitempty"` // from the content, not from what the sender claimed
	Hash      *Hash  `json:"hash,omitempty"`
	PE        *PE    `json:"pe,omitempty"`
	ELF       *ELF   `json:"elf,omitempty"`
}

// Hash is file.hash.*: digests of the whole file, only when it is whole.
type Hash struct {
	SHA256 string `json:"sha256"`         // lower-case hex
	SHA1   string `json:"sha1,omitempty"` // unless files.hashes leaves it out
	MD5    string `json:"md5,omitempty"`  // unless files.hashes leaves it out
}

// PE is file.pe.*: what the executable says of itself.
type PE struct {
	Company          string `json:"company,omitempty"`            // version resource CompanyName
	Product          string `json:"product,omitempty"`            // version resource ProductName
	OriginalFileName string `json:"original_file_name,omitempty"` // version resource OriginalFilename
	FileVersion      string `json:"file_version,omitempty"`       // version resource FileVersion
	Description      string `json:"description,omitempty"`        // version resource FileDescription
	Architecture     string `json:"architecture,omitempty"`       // x86, x64, arm, arm64... from the COFF machine
	Imphash          string `json:"imphash,omitempty"`            // MD5 of the import table, as pefile computes it
}

// ELF is file.elf.*.
type ELF struct {
	Architecture string `json:"architecture,omitempty"` // from e_machine (x86-64, aarch64...)
	Type         string `json:"type,omitempty"`         // from e_type: exec, dyn, rel, core
}

// URL is url.*.
type URL struct {
	Original string `json:"original"`         // the request's URL, absolute (Host, else the server's address)
	Domain   string `json:"domain,omitempty"` // the Host header without port
}

// HTTP is http.*.
type HTTP struct {
	Request  HTTPRequest   `json:"request"`
	Response *HTTPResponse `json:"response,omitempty"`
}

// HTTPRequest is http.request.*.
type HTTPRequest struct {
	Method string `json:"method,omitempty"` // as sent (GET, POST...)
}

// HTTPResponse is http.response.*.
type HTTPResponse struct {
	StatusCode int    `json:"status_code,omitempty"` // the response's status (200, or 206 for joined ranges)
	MimeType   string `json:"mime_type,omitempty"`   // the body's type from its content (the claim is edgesensor.file.claimed_type)
}

// UserAgent is user_agent.*.
type UserAgent struct {
	Original string `json:"original"` // the User-Agent header
}

// Email is email.*.
type Email struct {
	From      *Addresses `json:"from,omitempty"`       // the message's From header
	To        *Addresses `json:"to,omitempty"`         // the message's To header
	Cc        *Addresses `json:"cc,omitempty"`         // the message's Cc header
	Subject   string     `json:"subject,omitempty"`    // decoded (RFC 2047)
	MessageID string     `json:"message_id,omitempty"` // Message-ID header
}

// Addresses is email.from / email.to.
type Addresses struct {
	Address []string `json:"address"` // addresses only, no display names
}

// Edgesensor holds what ECS has no names for.
type Edgesensor struct {
	File   FileDetails   `json:"file"`
	Score  *score.Result `json:"score,omitempty"`
	SMTP   *SMTP         `json:"smtp,omitempty"`
	IMAP   *IMAP         `json:"imap,omitempty"`
	Tunnel *ecs.Tunnel   `json:"tunnel,omitempty"`
	// Capture: the flow's packets, written on the box because the event
	// alerted ([capture_on_alert]).
	Capture *ecs.Capture `json:"capture,omitempty"`
}

// FileDetails is edgesensor.file.*.
type FileDetails struct {
	Category string `json:"category"`       // executable, document, archive (files.categories); unknown when the head was lost
	Kind     string `json:"kind,omitempty"` // pe, elf, pdf, docx, zip, eicar...
	// Complete is false when a gap or a limit cut the file: then there
	// are no hashes, since they would not be the file's.
	Complete     bool   `json:"complete"`
	Cut          string `json:"cut,omitempty"`           // why it is incomplete
	MissingBytes int64  `json:"missing_bytes,omitempty"` // file bytes lost in gaps, when they can be counted
	// MissingEncodedBytes: bytes missing inside the file's encoding
	// (base64, quoted-printable, gzip...), where the file bytes they held
	// cannot be counted; at least this many were lost.
	MissingEncodedBytes int64 `json:"missing_encoded_bytes,omitempty"`
	Oversize            bool  `json:"oversize,omitempty"` // larger than files.max_size: let through, not hashed
	// DeclaredSize is the size the protocol announced, when it did.
	DeclaredSize *int64 `json:"declared_size,omitempty"`
	// ClaimedType is the media type the sender claimed (Content-Type).
	ClaimedType string `json:"claimed_type,omitempty"`
	// Mismatch says the content disagrees with the claimed type or with
	// the name (a PE named .jpg).
	Mismatch bool `json:"mismatch,omitempty"`
	// HeadLost: a gap took the transfer's head; only what the other side
	// said (the URL, the mail envelope) is known of it.
	HeadLost bool `json:"head_lost,omitempty"`
	// Conflict: bytes of the flow came twice with different content while
	// the file was open (a copy that reached the sensor need not have
	// reached the host): no hash can be called the file's.
	Conflict   bool   `json:"conflict,omitempty"`
	TypeReason string `json:"type_reason,omitempty"` // what decided the type ("content: PE (MZ)")
	Direction  string `json:"direction"`             // download or upload
	// Transfer is how the bytes were framed: HTTP content-length, chunked
	// or close; in mail the part's Content-Transfer-Encoding.
	Transfer string `json:"transfer,omitempty"`
	// ContentEncoding is the HTTP Content-Encoding that was decoded
	// (gzip, deflate, br, stacked in order).
	ContentEncoding string    `json:"content_encoding,omitempty"`
	Document        *Document `json:"document,omitempty"`
	// Macros: an Office file carries VBA macros.
	Macros bool `json:"macros,omitempty"`
	// Shortcut is what a Windows shortcut (LNK) runs.
	Shortcut *Shortcut `json:"shortcut,omitempty"`
	// CompileTime is a PE's COFF time stamp (often fake; often zero).
	CompileTime string `json:"compile_time,omitempty"`
	// Retained is where a retention rule kept the file.
	Retained string `json:"retained,omitempty"`
	// Analysed says the file's bytes were read from the spool (metadata);
	// false when it could not be spooled (spool_limit, an error).
	Analysed bool `json:"analysed"`
	// Ranges: the file was joined from HTTP ranges (rangejoin.go).
	Ranges *Ranges `json:"ranges,omitempty"`
	// ProxyTunnel is the CONNECT target ("host:port") of the proxy
	// tunnel the HTTP exchange travelled in; the URL is the inner one.
	ProxyTunnel string `json:"proxy_tunnel,omitempty"`
}

// Shortcut is edgesensor.file.shortcut.*: what a Windows shortcut runs,
// as it says itself (cleaned, at most 512 bytes each).
type Shortcut struct {
	Target       string `json:"target,omitempty"`           // the path it runs (link info, environment block or ID list)
	Arguments    string `json:"arguments,omitempty"`        // its command-line arguments
	ArgsLength   int    `json:"arguments_length,omitempty"` // characters of arguments as stored (padding shows here)
	IconLocation string `json:"icon_location,omitempty"`    // a remote one leaks credentials when shown
	WorkingDir   string `json:"working_dir,omitempty"`
}

// Document is edgesensor.file.document.*: who made a PDF or an Office
// file, as it says itself.
type Document struct {
	Author      string `json:"author,omitempty"`           // PDF Author, Office creator
	Creator     string `json:"creator,omitempty"`          // PDF Creator (the authoring tool)
	Producer    string `json:"producer,omitempty"`         // PDF Producer
	Title       string `json:"title,omitempty"`            // the document's own title
	LastAuthor  string `json:"last_modified_by,omitempty"` // Office lastModifiedBy
	Application string `json:"application,omitempty"`      // Office Application (app.xml, OLE2 summary)
	Company     string `json:"company,omitempty"`          // Office Company
}

// SMTP is edgesensor.smtp.*: the envelope.
type SMTP struct {
	MailFrom string   `json:"mail_from,omitempty"` // MAIL FROM
	RcptTo   []string `json:"rcpt_to,omitempty"`   // RCPT TO, every accepted recipient
}

// IMAP is edgesensor.imap.*.
type IMAP struct {
	Mailbox string `json:"mailbox,omitempty"` // the mailbox SELECTed or EXAMINEd when the message was fetched
}

// writeEvent writes the event of a candidate file.
func (p *Pipeline) writeEvent(f *file, complete bool) {
	ev := p.event(f, complete)
	// The fields are made once: the capture's path is not among them.
	fields := ev.Fields()
	if p.cfg.Capture != nil {
		ev.Edgesensor.Capture = p.cfg.Capture(&fields)
	}
	b, err := json.Marshal(&ev)
	if err != nil {
		return
	}
	rec := ecs.Record{Fields: fields, Line: append(b, '\n')}
	p.Stats.Files.Add(1)
	if !complete {
		p.Stats.Incomplete.Add(1)
	}
	if f.oversize {
		p.Stats.Oversize.Add(1)
	}
	p.out.Write(&rec)
}

func (p *Pipeline) event(f *file, complete bool) Event {
	m := &f.meta
	fl := f.flow
	client, server := fl.key.client, fl.key.server
	start := m.Time
	end := f.end
	ev := Event{Base: ecs.Base{
		Timestamp: start,
		Event: ecs.Event{
			Kind:     "event",
			Category: []string{"file", "network"},
			Type:     []string{"info"},
			Dataset:  Dataset,
			Start:    &start,
			End:      &end,
			Duration: int64(end.Sub(start) / time.Nanosecond),
		},
		Observer:    ecs.ObserverOf(f.iface),
		Source:      ecs.EndpointOf(client),
		Destination: ecs.ServerOf(server, p.cfg.Geo),
		Network:     ecs.NetworkOf("tcp", m.Protocol, client.Addr(), fl.vlan),
	}}
	ev.Network.CommunityID = communityid.String(p.cfg.CommunityIDSeed, communityid.TCP, client, server)
	if fl.tunnel != nil {
		ev.Network.VLANOf(fl.tunnel)
		ev.Edgesensor.Tunnel = fl.tunnel
	}
	name := baseName(m.Name)
	ev.File = File{
		Name:      name,
		Extension: extension(name),
		Size:      f.size,
		MimeType:  f.typ.MIME,
	}
	if complete && f.sum256 != nil {
		ev.File.Hash = &Hash{
			SHA256: hex.EncodeToString(f.sum256),
			SHA1:   hexOrEmpty(f.sum1),
			MD5:    hexOrEmpty(f.sum5),
		}
	}
	d := FileDetails{
		Category:            f.typ.Category.String(),
		Kind:                f.typ.Kind,
		Complete:            complete,
		Cut:                 string(f.cut),
		MissingBytes:        f.missing,
		MissingEncodedBytes: f.missingEncoded,
		Oversize:            f.oversize,
		ClaimedType:         m.ContentType,
		Mismatch:            f.typ.Mismatch,
		Conflict:            f.conflict,
		HeadLost:            m.HeadLost,
		TypeReason:          f.typ.Reason,
		Direction:           "download",
		Transfer:            m.Transfer,
		ContentEncoding:     m.ContentEncoding,
		Retained:            f.retainedPath,
		Analysed:            f.metadataRead,
		Ranges:              f.joined,
		ProxyTunnel:         m.Tunnel,
	}
	if m.Upload {
		d.Direction = "upload"
	}
	if m.HeadLost && d.Category == "" {
		d.Category, d.Kind = "unknown", "unknown"
	}
	if m.Size >= 0 {
		sz := m.Size
		d.DeclaredSize = &sz
	}
	applyMetadata(&ev, &d, f)
	sc := f.score
	if complete && f.s.p.cfg.Samples != nil && f.s.p.cfg.Samples.Wanted(f.typ.Category) {
		pending := -1
		sc.Cloud = &pending
	}
	ev.Event.RiskScore = &sc.Score
	ev.Edgesensor.Score = &sc
	ev.Edgesensor.File = d
	switch m.Protocol {
	case transfer.HTTP:
		if m.URL != "" {
			u := m.URL
			if strings.HasPrefix(u, "/") {
				// No Host header (HTTP/1.0): the server's address stands in.
				sa := netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
				u = "http://" + strings.TrimSuffix(sa.String(), ":80") + u
			}
			ev.URL = &URL{Original: u, Domain: hostOnly(m.Host)}
		}
		ev.HTTP = &HTTP{Request: HTTPRequest{Method: m.Method}}
		if m.Status != 0 {
			// ECS: the body's type from its content, not Content-Type
			// (that is edgesensor.file.claimed_type).
			ev.HTTP.Response = &HTTPResponse{StatusCode: m.Status, MimeType: f.typ.MIME}
		}
		if m.UserAgent != "" {
			ev.UserAgent = &UserAgent{Original: m.UserAgent}
		}
	case transfer.SMTP, transfer.IMAP:
		e := &Email{Subject: m.Subject, MessageID: m.MessageID}
		if len(m.From) > 0 {
			e.From = &Addresses{Address: m.From}
		}
		if len(m.To) > 0 {
			e.To = &Addresses{Address: m.To}
		}
		if len(m.Cc) > 0 {
			e.Cc = &Addresses{Address: m.Cc}
		}
		ev.Email = e
		if m.Protocol == transfer.SMTP {
			ev.Edgesensor.SMTP = &SMTP{MailFrom: m.MailFrom, RcptTo: m.RcptTo}
		} else if m.Mailbox != "" {
			ev.Edgesensor.IMAP = &IMAP{Mailbox: m.Mailbox}
		}
	}
	return ev
}

// baseName keeps the last element of a name in either path convention.
func baseName(n string) string {
	if i := strings.LastIndexAny(n, `/\`); i >= 0 {
		n = n[i+1:]
	}
	return n
}

// extension is file.extension: without the dot, lower case.
func extension(name string) string {
	e := path.Ext(name)
	if len(e) < 2 || len(e) > 16 {
		return ""
	}
	return strings.ToLower(e[1:])
}

// hostOnly strips a port (and user information, which a Host header
// should not carry but a client may send: "user:pass@host") from a Host
// header value.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, '@'); i >= 0 {
		h = h[i+1:]
	}
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		return h[:i]
	}
	return h
}

// Fields implements ecs.Document.
func (e *Event) Fields() ecs.Fields {
	f := e.BaseFields()
	f.FileName, f.FileSize, f.HasSize = e.File.Name, e.File.Size, true
	if e.File.Hash != nil {
		f.SHA256 = e.File.Hash.SHA256
	}
	d := &e.Edgesensor.File
	f.Category, f.Direction, f.Complete, f.Cut = d.Category, d.Direction, d.Complete, d.Cut
	if e.URL != nil {
		f.URL = e.URL.Original
	}
	if e.HTTP != nil {
		f.Method = e.HTTP.Request.Method
	}
	if e.UserAgent != nil {
		f.UserAgent = e.UserAgent.Original
	}
	if m := e.Email; m != nil {
		if m.From != nil {
			f.From = m.From.Address
		}
		if m.To != nil {
			f.To = m.To.Address
		}
		f.Subject = m.Subject
	}
	f.ScoreFields(e.Edgesensor.Score)
	return f
}
