package intel

import "net/netip"

// These walk and change a Set's tables by kind, for the feed's Layer,
// which changes its Set in place under its lock. An IP key is a
// netip.Prefix; the others are the tables' own key types.

// each calls fn for every entry.
func (s *Set) each(fn func(k Kind, key any, e entry)) {
	for k, e := range s.sha256 {
		fn(SHA256, k, e)
	}
	for k, e := range s.sha1 {
		fn(SHA1, k, e)
	}
	for k, e := range s.md5 {
		fn(MD5, k, e)
	}
	for k, e := range s.ja3 {
		fn(JA3, k, e)
	}
	for k, e := range s.ja4 {
		fn(JA4, k, e)
	}
	for k, e := range s.domains {
		fn(Domain, k, e)
	}
	for n, t := range s.v4 {
		for a, e := range t {
			fn(IP, netip.PrefixFrom(netip.AddrFrom4(a), n), e)
		}
	}
	for n, t := range s.v6 {
		for a, e := range t {
			fn(IP, netip.PrefixFrom(netip.AddrFrom16(a), n), e)
		}
	}
}

// eachKey calls fn for every value listed.
func (s *Set) eachKey(fn func(k Kind, key any)) {
	s.each(func(k Kind, key any, _ entry) { fn(k, key) })
}

// drop deletes a value.
func (s *Set) drop(k Kind, key any) {
	switch k {
	case SHA256:
		delete(s.sha256, key.([32]byte))
	case SHA1:
		delete(s.sha1, key.([20]byte))
	case MD5:
		delete(s.md5, key.([16]byte))
	case JA3:
		dropHS(s, s.ja3, key.([16]byte))
	case JA4:
		dropHS(s, s.ja4, key.(string))
	case Domain:
		dropHS(s, s.domains, key.(string))
	case IP:
		p := key.(netip.Prefix)
		if p.Addr().Is4() {
			delete(s.v4[p.Bits()], p.Addr().As4())
		} else {
			delete(s.v6[p.Bits()], p.Addr().As16())
		}
		delete(s.ipUntil, p)
	}
}

// store sets a value's entry, replacing any.
func (s *Set) store(k Kind, key any, e entry) {
	switch k {
	case SHA256:
		s.sha256[key.([32]byte)] = e
	case SHA1:
		s.sha1[key.([20]byte)] = e
	case MD5:
		s.md5[key.([16]byte)] = e
	case JA3:
		storeHS(s, s.ja3, key.([16]byte), e)
	case JA4:
		storeHS(s, s.ja4, key.(string), e)
	case Domain:
		storeHS(s, s.domains, key.(string), e)
	case IP:
		p := key.(netip.Prefix)
		if p.Addr().Is4() {
			if s.v4[p.Bits()] == nil {
				s.v4[p.Bits()] = map[[4]byte]entry{}
			}
			s.v4[p.Bits()][p.Addr().As4()] = e
		} else {
			if s.v6[p.Bits()] == nil {
				s.v6[p.Bits()] = map[[16]byte]entry{}
			}
			s.v6[p.Bits()][p.Addr().As16()] = e
		}
	}
}
