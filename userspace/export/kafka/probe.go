package kafka

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Probe asks the brokers, within timeout, whether they answer and hold
// the topics the sink writes to. What it finds is a warning, not an
// error: the sink spools until the brokers (or topics) are there.
func Probe(s Settings, tc *tls.Config, timeout time.Duration) []string {
	s = s.withDefaults()
	opts, err := connOpts(&s, tc)
	if err != nil {
		return []string{err.Error()}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return []string{err.Error()}
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return []string{fmt.Sprintf("brokers %v not reachable: %v; events will wait in the spool (%s) until they are", s.Brokers, err, s.SpoolDir)}
	}
	want := make([]string, 0, len(datasets))
	for _, d := range datasets {
		want = append(want, TopicFor(s.Topic, d))
	}
	details, err := kadm.NewClient(cl).ListTopics(ctx, want...)
	if err != nil {
		return []string{fmt.Sprintf("listing topics: %v", err)}
	}
	var warn []string
	seen := map[string]bool{}
	for _, t := range want {
		if seen[t] {
			continue
		}
		seen[t] = true
		if d, ok := details[t]; !ok || d.Err != nil {
			warn = append(warn, fmt.Sprintf("topic %q does not exist on the brokers; create it, or its events wait in the spool", t))
		}
	}
	return warn
}
