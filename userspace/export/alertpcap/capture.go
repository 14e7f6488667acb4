package alertpcap

import (
	"fmt"
	"time"
)

// Capture writes the kept packets of the flow key, in arrival order, to
// a new pcapng file in the directory and returns its path:
// <dir>/<when, UTC>_<communityID made safe>.pcapng. when is the alert's
// time (now when zero); communityID the event's network.community_id
// (the key's, seed 0, when ""); eventID and reason go into the file as
// comments, on the section header (capinfos shows them as capture
// comments) and on the first packet (tshark's frame.comment).
//
// A second Capture of a flow with no packet observed since the first
// returns the first file's path (if the quota has not deleted it) and
// writes nothing; after new packets it writes a new file with all the
// flow still keeps (its head and latest packets), so each file stands
// alone.
//
// The flow's packets stay kept after a capture. Capture fails with
// ErrNoFlow when no packet of the flow is kept (never seen, evicted,
// swept); a file that cannot be written, or a quota no room can be made
// in, is an error counted in WriteErrors. Captures are serialized (one
// file at a time, synced before it is renamed into place); Observe goes
// on meanwhile but for the flow's shard while its file is assembled in
// memory.
func (k *Keeper) Capture(key FlowKey, when time.Time, communityID, eventID, reason string) (string, error) {
	if k == nil {
		return "", ErrDisabled
	}
	fs := &k.files
	fs.mu.Lock()
	defer fs.mu.Unlock()

	sh := &k.shards[key.hash()&k.mask]
	sh.mu.Lock()
	f := sh.flows[key]
	if f == nil || f.count() == 0 {
		sh.mu.Unlock()
		return "", fmt.Errorf("capturing %s: %w", key, ErrNoFlow)
	}
	if f.capPath != "" && f.capSeen == f.seen && fs.has(f.capPath) {
		path := f.capPath
		sh.mu.Unlock()
		return path, nil
	}
	// The file is made in memory under the shard lock (a copy at most
	// flow_bytes long): Observe may overwrite a packet's buffer as soon
	// as the lock is let go.
	fs.scratch = k.encode(fs.scratch[:0], f, key, eventID, reason)
	seen, npkts := f.seen, f.count()
	sh.mu.Unlock()

	if when.IsZero() {
		when = time.Now()
	}
	if communityID == "" {
		communityID = key.CommunityID(0)
	}
	path, err := fs.write(when.UTC().Format(timeLayout)+"_"+fileID(communityID), fs.scratch)
	if err != nil {
		fs.errors++
		k.log.Warn().Err(err).Str(logFlow, key.String()).Msg("capture on alert failed")
		return "", fmt.Errorf("capturing %s: %w", key, err)
	}
	k.log.Debug().Str(logPath, path).Str(logFlow, key.String()).Int(logPackets, npkts).Int(logBytes, len(fs.scratch)).Msg("flow captured")

	sh.mu.Lock()
	if sh.flows[key] == f {
		f.capSeen, f.capPath = seen, path
	}
	sh.mu.Unlock()
	if cap(fs.scratch) > 4*k.flowBytes+maxHeaderBytes {
		fs.scratch = nil // do not hold on to an outsize buffer
	}
	return path, nil
}

// encode appends f as a pcapng file to b.
func (k *Keeper) encode(b []byte, f *flow, key FlowKey, eventID, reason string) []byte {
	eventID, reason = cleanOption(eventID, maxComment), cleanOption(reason, maxComment)
	comments := []string{Application + " capture on alert: " + key.String()}
	if eventID != "" {
		comments = append(comments, "event.id: "+eventID)
	}
	if reason != "" {
		comments = append(comments, "reason: "+reason)
	}
	b = appendSHB(b, comments...)
	for _, ifc := range f.ifaces {
		b = appendIDB(b, ifc.name, k.set.Snaplen)
	}
	first := Application + " alert"
	if eventID != "" {
		first += " " + eventID
	}
	if reason != "" {
		first += ": " + reason
	}
	f.packets(func(p *packet) {
		b = appendEPB(b, uint32(p.ifc), p.ts, p.data, int(p.orig), first)
		first = ""
	})
	return b
}
