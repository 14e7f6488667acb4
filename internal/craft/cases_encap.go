package craft

import (
	"bytes"
	"fmt"
)

// The encapsulation cases wrap every packet of a TLS handshake
// (tls_curl13) and of a download (http_exe) in one encapsulation. The
// inner connection is the source's, with a 1348-byte MSS so the outer
// frames stay within a 1500-byte MTU (as a tunnel's clamped MSS does).
// The host at the tunnel's end gets the inner packets unchanged. Truth:
// the source's, with the tunnel every event must carry.

func encapCases() []Case {
	var cs []Case
	for _, e := range Encaps() {
		e := e
		for _, src := range []struct{ name, short string }{{"tls_curl13", "tls"}, {"http_exe", "http"}} {
			src := src
			cs = append(cs, Case{Name: "encap_" + e.Name + "_" + src.short, What: e.What + " (" + src.name + ")",
				build: func(b *builder) error {
					st, err := b.source(src.name)
					if err != nil {
						return err
					}
					if e.Tunnel != nil {
						t := *e.Tunnel
						b.truth.Tunnel = &t
					}
					cfg := b.connConfig(st)
					if e.V6 {
						cfg = v6Config(cfg)
					}
					cfg.MSS = 1348
					if e.MSS != 0 {
						cfg.MSS = e.MSS
					}
					cfg.Frame = e.Frame()
					cfg.V6Ext, cfg.V6ExtFirst = e.Ext, e.ExtNH
					c := NewConn(b.cap, cfg)
					c.Replay(st)
					return finish(c)
				}})
		}
	}
	cs = append(cs,
		Case{Name: "tunnel_overlap_vxlan", What: "two downloads with the same inner 5-tuple in VXLAN VNIs 42 and 43, interleaved",
			build: tunnelOverlap(func() [2]Framer { return [2]Framer{vxlanFrame(42), vxlanFrame(43)} })},
		Case{Name: "tunnel_overlap_vlan", What: "two downloads with the same 5-tuple in VLANs 10 and 20, interleaved",
			build: tunnelOverlap(func() [2]Framer {
				return [2]Framer{vlanFrame([]uint16{10}, false), vlanFrame([]uint16{20}, false)}
			})},
	)
	return cs
}

// keepaliveDownload is one request and its response out of the
// keep-alive capture, as a connection of its own, with the file's truth.
func (b *builder) keepaliveDownload(name string) (*Stream, FileTruth, error) {
	st, src, err := b.corpus.stream("http_keepalive")
	if err != nil {
		return nil, FileTruth{}, err
	}
	for i, t := range st.Turns {
		if t.Up && bytes.HasPrefix(t.Data, []byte("GET /"+name+" ")) && i+1 < len(st.Turns) {
			for _, f := range src.Truth.Files {
				if f.Name == name {
					return &Stream{Client: st.Client, Server: st.Server, Turns: st.Turns[i : i+2]}, f, nil
				}
			}
		}
	}
	return nil, FileTruth{}, fmt.Errorf("http_keepalive: no download of %s", name)
}

// tunnelOverlap: the http_exe download and a download of tool_linux (out
// of the keep-alive capture) with identical inner addresses and ports,
// in two tunnels (VNIs, VLANs), packet by packet interleaved. They are
// two connections to two hosts in two networks. A sensor whose flow key
// leaves out the tunnel mixes them. Truth: both files whole, each once.
func tunnelOverlap(framers func() [2]Framer) func(b *builder) error {
	return func(b *builder) error {
		st1, err := b.source("http_exe")
		if err != nil {
			return err
		}
		st2, f2, err := b.keepaliveDownload("tool_linux")
		if err != nil {
			return err
		}
		st2.Client, st2.Server = st1.Client, st1.Server
		b.truth.Files = append(b.truth.Files, f2)
		fr := framers()
		var bufs [2]*Buffer
		var conns []*Conn
		for i, st := range []*Stream{st1, st2} {
			bufs[i] = &Buffer{}
			cfg := b.connConfig(st)
			cfg.MSS = 1348
			cfg.Frame = fr[i]
			c := NewConn(bufs[i], cfg)
			c.Replay(st)
			conns = append(conns, c)
		}
		if err := finish(conns...); err != nil {
			return err
		}
		Interleave(b.cap, bufs[0], bufs[1])
		return nil
	}
}
