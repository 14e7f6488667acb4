package craft

// Truth is what a sensor must report for a crafted capture. It keeps
// the JSON keys of the corpus truth files (testutil.Truth reads a craft
// truth file unchanged) and adds what the attacks need.
//
// The reading of each key:
//   - tls: one handshake per entry, matched by client_port/server_port:
//     SNI, JA3, JA3S, JA4 exactly ("" sni: the hello has no SNI; ""
//     ja3s: no ServerHello in the capture).
//   - files: each entry reported whole (complete, SHA-256, name, size);
//     an entry listed twice must be reported twice.
//   - not_files: never reported (whole or not, by name or by hash).
//   - incomplete: reported with complete false, no hash, and this cut;
//     name "" when the sensor cannot know it (any name is accepted).
//   - conflict: reported with edgesensor.file.conflict true and no hash.
//   - tunnel: every event of the case carries this encapsulation.
//   - counters: replay --stats counters that must be non-zero (">0");
//     the names are guidance for whoever maps them to the sensor's.
type Truth struct {
	Pcap       string            `json:"pcap"`
	Case       string            `json:"case,omitempty"`
	TLS        []TLSTruth        `json:"tls"`
	Files      []FileTruth       `json:"files"`
	NotFiles   []FileTruth       `json:"not_files"`
	Incomplete []IncompleteFile  `json:"incomplete,omitempty"`
	Conflict   []string          `json:"conflict,omitempty"`
	Tunnel     *Tunnel           `json:"tunnel,omitempty"`
	Counters   map[string]string `json:"counters,omitempty"`
}

// TLSTruth is one handshake. JA4S is carried over from the corpus truth
// when present (the sensor does not compute it; the key is kept so a
// corpus truth round-trips).
type TLSTruth struct {
	ClientPort int    `json:"client_port"`
	ServerPort int    `json:"server_port"`
	SNI        string `json:"sni"`
	JA3        string `json:"ja3"`
	JA3S       string `json:"ja3s"`
	JA4        string `json:"ja4"`
	JA4S       string `json:"ja4s,omitempty"`
}

// FileTruth is a file that crossed the wire: the name and SHA-256 (and
// size) of the original file.
type FileTruth struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size,omitempty"`
}

// IncompleteFile is a file the sensor cannot have whole, and why.
type IncompleteFile struct {
	Name string `json:"name"`
	Cut  string `json:"cut"`
}

// Tunnel is the encapsulation every event of a case carries: layers
// from the outside in ("vlan", "mpls", "pppoe", "gre", "ipip", "6in4",
// "ip6ip6", "4in6", "vxlan", "geneve", "gtpu", "ethernet" for a bridged
// inner frame), the innermost tunnel's type and id (VNI, GRE key, PPPoE
// session, GTP-U TEID of the uplink), the TEID of the downlink where it
// differs, the outer endpoints (client side first), VLAN ids outer
// first and MPLS labels outer first.
type Tunnel struct {
	Type      string   `json:"type,omitempty"`
	ID        uint32   `json:"id,omitempty"`
	ReverseID uint32   `json:"reverse_id,omitempty"`
	Layers    []string `json:"layers"`
	Outer     []string `json:"outer,omitempty"`
	VLANs     []uint16 `json:"vlans,omitempty"`
	Labels    []uint32 `json:"mpls_labels,omitempty"`
}
